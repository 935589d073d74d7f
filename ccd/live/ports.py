"""What the rest of ccd (the HTTP layer) may use of the live calls: the call directory and
call control (placing and hanging up calls). ``ccd.live.service`` and ``ccd.live.control``
implement them; ``ccd.app`` hands them to whoever needs them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ccd.domain.calls import Call


class CallDirectory(Protocol):
    def calls(self) -> Sequence[Call]: ...

    def call(self, linkedid: str) -> Call | None: ...


class OriginateRejected(Exception):
    """Asterisk or ccd refused the originate; ``str()`` says why, safe to show to the caller."""


class UnknownDestination(OriginateRejected):
    """The originate context has no extension ``destination``: nothing rang."""

    def __init__(self, destination: str, context: str) -> None:
        super().__init__(f"no extension {destination!r} in the originate context {context!r}")
        self.destination = destination
        self.context = context


class UnknownServerName(OriginateRejected):
    """No Asterisk server of that name is configured: nothing rang."""


class CallControl(Protocol):
    async def originate(
        self,
        *,
        endpoint: str,
        destination: str,
        caller_id: str | None,
        variables: dict[str, str],
        ring_timeout_s: int,
        server: str | None = None,
    ) -> str:
        """Place a call on Asterisk server ``server`` (None: the first configured one):
        ring ``endpoint``; when answered, run ``destination`` in ccd's
        configured originate context. Returns the originate's ActionID. The dialplan
        application is never chosen by the caller."""
        ...

    async def hangup(self, linkedid: str) -> bool:
        """Hang up every channel of a live call; False if there is no such call."""
        ...
