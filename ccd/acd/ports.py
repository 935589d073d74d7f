"""What the HTTP layer may use of the running ACD (``ccd.acd.service`` implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class AcdRefused(Exception):
    """An agent or queue action the ACD refuses (unknown agent or queue, pause reason not
    configured, agent on a call...); ``str()`` says why and is safe to show."""


class AcdLive(Protocol):
    """The running ACD (``ccd.acd.service``): live views and agent actions. Live views are
    plain JSON-ready data; config rows come from the database, these add what is happening."""

    def queue_live(self, queue_id: str) -> dict[str, Any] | None:
        """Waiting callers (position, waited_s, priority), longest wait, agents by state,
        today's offered/answered/abandoned/overflowed, service level; None if not loaded."""
        ...

    def agent_live(self, agent_id: str) -> dict[str, Any] | None:
        """State, since, reason, call, queues joined; None when logged out / unknown."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """``{"queues": {id: queue_live}, "agents": {id: agent_live}}`` of every loaded queue
        and logged-in agent: the websocket's starting point before ``agent.state`` and
        ``queue.*`` messages."""
        ...

    async def login(self, agent_id: str, queue_ids: Sequence[str] | None) -> None:
        """Log the agent in to ``queue_ids`` (None: its configured memberships)."""
        ...

    async def logout(self, agent_id: str) -> None: ...

    async def pause(self, agent_id: str, reason: str) -> None: ...

    async def unpause(self, agent_id: str) -> None: ...

    async def join(self, agent_id: str, queue_id: str) -> None: ...

    async def leave(self, agent_id: str, queue_id: str) -> None: ...

    async def reload_config(self) -> None:
        """Read agents, queues and pause reasons from the database again (after an admin
        change through the API); running calls are not disturbed."""
        ...
