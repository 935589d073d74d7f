"""Reading stored CDRs: the filter, keyset position and row shapes, and the ``CdrReader``
port that ``ccd.db.cdr_queries`` implements for the HTTP layer."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ccd.domain.cdr import LegRecord


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
    server: str | None = None


@dataclass(frozen=True, slots=True)
class CdrPosition:
    """Keyset position: the last row of the previous page. Rows are ordered by
    (started_at, linkedid), both descending or both ascending."""

    started_at: datetime
    linkedid: str


@dataclass(frozen=True, slots=True)
class StoredCdr:
    """One row of the ``cdrs`` table, every column, in table order, then the call's survey.
    Direction and disposition stay plain text so a value written by a newer ccd never
    breaks a read."""

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
    server: str
    # Not a cdrs column: the call's post-call survey (survey_responses), question → score
    # 1..5 or None when asked and not answered; {} when the caller took no survey.
    survey: Mapping[str, int | None] = field(default_factory=dict)


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
