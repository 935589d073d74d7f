"""What the report service reads, as a port (implemented by ``ccd.db.report_queries``).

Streams come in bounded batches in time order, so a month of calls is never in memory at
once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from ccd.reports.figures import AttemptRow, CallRow, EvaluationRow, SurveyRow
from ccd.reports.presence import StateChange


class ReportsUnavailable(Exception):
    """The database could not be read."""


class ReportSource(Protocol):
    def calls(
        self,
        start: datetime,
        end: datetime,
        *,
        queue: str | None = None,
    ) -> AsyncIterator[Sequence[CallRow]]:
        """CDRs with start <= started_at < end (of ``queue`` only when given), by
        (started_at, linkedid)."""
        ...

    async def service_level_targets(self) -> Mapping[str, float]:
        """Each configured queue's service-level target in seconds."""
        ...

    async def opening_states(
        self, at: datetime, *, agent: str | None = None
    ) -> Sequence[StateChange]:
        """Each agent's (or ``agent``'s) last session row before ``at``."""
        ...

    def state_changes(
        self, start: datetime, end: datetime, *, agent: str | None = None
    ) -> AsyncIterator[Sequence[StateChange]]:
        """Session rows (of ``agent`` only when given) with start <= at < end, in time
        order."""
        ...

    def attempts(
        self, start: datetime, end: datetime, *, campaign: str | None = None
    ) -> AsyncIterator[Sequence[AttemptRow]]:
        """Dialer attempts with start <= started_at < end."""
        ...

    def surveys(self, start: datetime, end: datetime) -> AsyncIterator[Sequence[SurveyRow]]:
        """Survey answers with start <= answered_at < end."""
        ...

    def evaluations(self, start: datetime, end: datetime) -> AsyncIterator[Sequence[EvaluationRow]]:
        """QA evaluations with start <= evaluated_at < end."""
        ...
