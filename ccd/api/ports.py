"""What the HTTP layer needs from the rest of ccd: small Protocols, built in ``ccd.app``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ccd.domain.auth import Principal
from ccd.domain.calls import Call


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise."""
        ...


class CallDirectory(Protocol):
    def calls(self) -> Sequence[Call]: ...

    def call(self, linkedid: str) -> Call | None: ...


class ReadinessCheck(Protocol):
    async def not_ready_reasons(self) -> list[str]:
        """Empty when ccd is ready; otherwise one human-readable reason per problem."""
        ...


class OriginateRejected(Exception):
    """Asterisk or ccd refused the originate; ``str()`` says why, safe to show to the caller."""


class CallControl(Protocol):
    async def originate(
        self,
        *,
        endpoint: str,
        destination: str,
        caller_id: str | None,
        variables: dict[str, str],
        ring_timeout_s: int,
    ) -> str:
        """Place a call: ring ``endpoint``; when answered, run ``destination`` in ccd's
        configured originate context. Returns the originate's ActionID. The dialplan
        application is never chosen by the caller."""
        ...

    async def hangup(self, linkedid: str) -> bool:
        """Hang up every channel of a live call; False if there is no such call."""
        ...
