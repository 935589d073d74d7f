"""An in-memory Asterisk for the services that act on calls (monitoring, recording): it
keeps the typed actions ccd asks of it, in order; ``refuse`` makes the next ones fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ccd.ami.actions import HangupAction, OriginateAction, RedirectAction
from ccd.ami.framing import Frame


@dataclass
class ActionAmi:
    actions: list[object] = field(default_factory=list)
    refuse: Exception | None = None

    def _take(self, action: object) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.actions.append(action)

    async def originate(self, action: OriginateAction) -> str:
        self._take(action)
        return action.action_id or "generated"

    async def redirect(self, action: RedirectAction) -> None:
        self._take(action)

    async def hangup(self, action: HangupAction) -> None:
        self._take(action)

    async def send_action(
        self, fields: Mapping[str, str], *, as_list: Literal[False], timeout_s: float | None = None
    ) -> Frame:
        self._take(dict(fields))
        return Frame({"Response": "Success"})

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]
