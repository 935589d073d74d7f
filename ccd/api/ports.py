"""What the HTTP layer needs from the rest of ccd: small Protocols, built in ``ccd.app``."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ccd.domain.auth import Principal
from ccd.domain.calls import Call
from ccd.domain.cdr import LegRecord


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


class CdrSort(enum.StrEnum):
    NEWEST_FIRST = "-started_at"
    OLDEST_FIRST = "started_at"


@dataclass(frozen=True, slots=True)
class CdrFilter:
    """Which stored CDRs to read; every set field must match (AND)."""

    started_from: datetime | None = None  # inclusive
    started_before: datetime | None = None  # exclusive
    # Matches caller_num, callee_num or did: exactly, or as a prefix when number_is_prefix.
    number: str | None = None
    number_is_prefix: bool = False
    direction: str | None = None
    disposition: str | None = None
    queue: str | None = None
    agent_id: str | None = None
    campaign_id: str | None = None


@dataclass(frozen=True, slots=True)
class CdrPosition:
    """Keyset position: the last row of the previous page. Rows are ordered by
    (started_at, linkedid), both descending or both ascending."""

    started_at: datetime
    linkedid: str


@dataclass(frozen=True, slots=True)
class StoredCdr:
    """One row of the ``cdrs`` table, every column, in table order. Direction and
    disposition stay plain text so a value written by a newer ccd never breaks a read."""

    linkedid: str
    direction: str
    caller_num: str
    caller_name: str
    callee_num: str
    did: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    ring_s: float
    talk_s: float
    hold_s: float
    hangup_cause: int | None
    hangup_cause_text: str
    hung_up_by: str | None
    disposition: str
    ivr_path: list[dict[str, Any]]  # as written (JSON), passed through untouched
    queue: str | None
    wait_s: float | None
    agent_id: str | None
    wrapup_s: float | None
    campaign_id: str | None
    contact_id: str | None
    recording_ref: str | None
    written_at: datetime


@dataclass(frozen=True, slots=True)
class CdrDetail:
    cdr: StoredCdr
    legs: tuple[LegRecord, ...]  # ordered by start time


class CdrStoreUnavailable(Exception):
    """The CDR database cannot be read right now; ``str()`` is safe to log, not to show."""


class CdrReader(Protocol):
    async def page(
        self,
        filters: CdrFilter,
        *,
        sort: CdrSort,
        after: CdrPosition | None,
        limit: int,
    ) -> Sequence[StoredCdr]:
        """Up to ``limit`` CDRs matching ``filters``, ordered by ``sort`` with linkedid as
        tiebreak, strictly after ``after``. Raises CdrStoreUnavailable."""
        ...

    async def get(self, linkedid: str) -> CdrDetail | None:
        """One CDR with its legs; None if unknown. Raises CdrStoreUnavailable."""
        ...


class IvrReloadOutcome(Protocol):
    """What a reload of the IVR flows did (``ccd.ivr.holder.ReloadResult``)."""

    @property
    def ok(self) -> bool: ...

    @property
    def flows(self) -> int: ...

    @property
    def dids(self) -> int: ...

    @property
    def problems(self) -> tuple[str, ...]: ...


class IvrFlows(Protocol):
    def summaries(self) -> list[dict[str, Any]]:
        """One plain-data summary per loaded flow (``ccd.ivr.flows.flow_summary``)."""
        ...

    def reload(self) -> IvrReloadOutcome:
        """Load the flows again; a refused reload keeps the running flows."""
        ...


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
