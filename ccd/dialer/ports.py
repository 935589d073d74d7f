"""What the dialer service needs from the rest of ccd, as small protocols: the ACD (which
owns every agent's state: the dialer borrows agents from it), Asterisk (typed operations)
and the attempt records. Built by hand in ``ccd.app``; fakes in tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ccd.acd.model import AgentState
from ccd.ami.actions import HangupAction, OriginateAction, RedirectAction, SetVariableAction


class DialerAgents(Protocol):
    """The ACD's side of outbound calls. ``reserve_outbound`` raises when the agent is not
    free for an outbound call (not logged in, paused, busy, or needed by an inbound queue:
    inbound callers come first)."""

    def claimable(self, agent_ids: Iterable[str]) -> list[str]: ...

    def reserve_outbound(self, agent_id: str, call_id: str) -> None: ...

    def release_outbound(self, agent_id: str, call_id: str) -> None: ...

    def outbound_connected(self, agent_id: str, call_id: str) -> None: ...

    def outbound_ended(self, agent_id: str, call_id: str, wrapup_s: float | None) -> None: ...

    def wrap_up_done(self, agent_id: str) -> None: ...

    def agent_interface(self, agent_id: str) -> str | None: ...

    def queue_members(self, queue_id: str) -> list[str]: ...

    def agent_status(self, agent_id: str) -> AgentState: ...

    def wants_out(self, agent_id: str) -> bool:
        """A pause or logout asked while reserved waits for the release."""
        ...


class DialerAmi(Protocol):
    @property
    def connected(self) -> bool: ...

    async def originate(self, action: OriginateAction) -> str: ...

    async def hangup(self, action: HangupAction) -> None: ...

    async def redirect(self, action: RedirectAction) -> None: ...

    async def set_variable(self, action: SetVariableAction) -> None: ...
