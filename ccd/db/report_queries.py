"""The rows reports read (the ``ccd.reports.ports.ReportSource`` port), on PostgreSQL and
SQLite alike.

Each stream is a keyset walk over an indexed time column in batches of ``batch_rows``
(one short query per batch, no server-side cursor held across them), so a month of calls
is read in constant memory and never locks a connection for the whole report. The
bucketing and the figures are done by the caller (``ccd.reports``): bucket boundaries in
a report's time zone across daylight-saving changes are not portable SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import ColumnElement, Row, Select, Table, and_, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.engine import driver_error
from ccd.db.models import metadata
from ccd.reports.figures import AttemptRow, CallRow, EvaluationRow, SurveyRow
from ccd.reports.ports import ReportsUnavailable
from ccd.reports.presence import StateChange

log = structlog.get_logger("ccd.db.report_queries")

CDRS: Table = metadata.tables["cdrs"]
ATTEMPTS: Table = metadata.tables["dialer_attempts"]
SESSIONS: Table = metadata.tables["acd_agent_sessions"]
QUEUES: Table = metadata.tables["acd_queues"]
SURVEYS: Table = metadata.tables["survey_responses"]
EVALUATIONS: Table = metadata.tables["qa_evaluations"]
DEFAULT_BATCH_ROWS = 5000

RowT = TypeVar("RowT")


class ReportQueries:
    def __init__(self, engine: AsyncEngine, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be positive")
        self._engine = engine
        self._batch_rows = batch_rows

    async def _stream(
        self,
        statement: Select[Any],
        at: ColumnElement[Any],
        tiebreak: ColumnElement[Any],
        start: datetime,
        end: datetime,
        convert: Callable[[Row[Any]], RowT],
    ) -> AsyncIterator[Sequence[RowT]]:
        """Rows with start <= at < end, in (at, tiebreak) order, ``batch_rows`` at a time.
        The statement's first two columns must be ``at`` and ``tiebreak``."""
        after: tuple[Any, Any] | None = None
        while True:
            bounded = statement.where(at >= start, at < end)
            if after is not None:
                # The first conjunct alone is a range on the time index, so each batch
                # starts where the last one ended instead of sorting the rest of the range.
                bounded = bounded.where(at >= after[0], or_(at > after[0], tiebreak > after[1]))
            bounded = bounded.order_by(at, tiebreak).limit(self._batch_rows)
            try:
                async with self._engine.connect() as connection:
                    rows = (await connection.execute(bounded)).all()
            except (DBAPIError, OSError, TimeoutError) as exc:
                raise _unavailable(exc) from exc
            if not rows:
                return
            yield [convert(row) for row in rows]
            if len(rows) < self._batch_rows:
                return
            after = (rows[-1][0], rows[-1][1])

    async def _all(self, statement: Select[Any]) -> Sequence[Row[Any]]:
        try:
            async with self._engine.connect() as connection:
                rows: Sequence[Row[Any]] = (await connection.execute(statement)).all()
                return rows
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc

    # --- calls -------------------------------------------------------------------------

    def calls(
        self,
        start: datetime,
        end: datetime,
        *,
        queue: str | None = None,
    ) -> AsyncIterator[Sequence[CallRow]]:
        c = CDRS.c
        # The agent's disposition of the dialer attempt behind the call (one per call).
        agent_disposition = (
            select(ATTEMPTS.c.disposition)
            .where(ATTEMPTS.c.linkedid == c.linkedid)
            .order_by(ATTEMPTS.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        statement = select(
            c.started_at,
            c.linkedid,
            c.direction,
            c.caller_num,
            c.callee_num,
            c.answered_at,
            c.ended_at,
            c.talk_s,
            c.hold_s,
            c.disposition,
            c.queue,
            c.wait_s,
            c.agent_id,
            c.wrapup_s,
            c.campaign_id,
            agent_disposition.label("agent_disposition"),
        )
        if queue is not None:
            statement = statement.where(c.queue == queue)
        return self._stream(
            statement, c.started_at, c.linkedid, start, end, lambda row: CallRow(**row._asdict())
        )

    # --- configuration -----------------------------------------------------------------

    async def service_level_targets(self) -> Mapping[str, float]:
        rows = await self._all(select(QUEUES.c.id, QUEUES.c.service_level_s))
        return {row.id: float(row.service_level_s) for row in rows}

    # --- the agent session log ---------------------------------------------------------

    async def opening_states(
        self, at: datetime, *, agent: str | None = None
    ) -> Sequence[StateChange]:
        s = SESSIONS.c
        before = s.at < at if agent is None else and_(s.at < at, s.agent_id == agent)
        rank = (
            func.row_number()
            .over(partition_by=s.agent_id, order_by=(s.at.desc(), s.id.desc()))
            .label("rank")
        )
        ranked = select(s.agent_id, s.status, s.reason, s.at, rank).where(before).subquery()
        rows = await self._all(
            select(ranked.c.agent_id, ranked.c.status, ranked.c.reason, ranked.c.at).where(
                ranked.c.rank == 1
            )
        )
        return [_state(row) for row in rows]

    def state_changes(
        self, start: datetime, end: datetime, *, agent: str | None = None
    ) -> AsyncIterator[Sequence[StateChange]]:
        s = SESSIONS.c
        statement = select(s.at, s.id, s.agent_id, s.status, s.reason)
        if agent is not None:
            statement = statement.where(s.agent_id == agent)
        return self._stream(statement, s.at, s.id, start, end, _state)

    # --- dialer ------------------------------------------------------------------------

    def attempts(
        self, start: datetime, end: datetime, *, campaign: str | None = None
    ) -> AsyncIterator[Sequence[AttemptRow]]:
        a = ATTEMPTS.c
        statement = select(
            a.started_at,
            a.id,
            a.campaign_id,
            a.answered_at,
            a.agent_connected_at,
            a.outcome,
            a.disposition,
        )
        if campaign is not None:
            statement = statement.where(a.campaign_id == campaign)
        return self._stream(
            statement,
            a.started_at,
            a.id,
            start,
            end,
            lambda row: AttemptRow(
                campaign_id=row.campaign_id,
                started_at=row.started_at,
                answered_at=row.answered_at,
                agent_connected_at=row.agent_connected_at,
                outcome=row.outcome,
                disposition=row.disposition,
            ),
        )

    # --- surveys and QA ------------------------------------------------------------------

    def surveys(self, start: datetime, end: datetime) -> AsyncIterator[Sequence[SurveyRow]]:
        t = SURVEYS.c
        statement = select(
            t.answered_at, t.id, t.linkedid, t.queue, t.agent_id, t.campaign_id, t.score
        )
        return self._stream(
            statement,
            t.answered_at,
            t.id,
            start,
            end,
            lambda row: SurveyRow(
                linkedid=row.linkedid,
                queue=row.queue,
                agent_id=row.agent_id,
                campaign_id=row.campaign_id,
                score=row.score,
                answered_at=row.answered_at,
            ),
        )

    def evaluations(self, start: datetime, end: datetime) -> AsyncIterator[Sequence[EvaluationRow]]:
        t = EVALUATIONS.c
        statement = select(
            t.evaluated_at, t.id, t.linkedid, t.queue, t.agent_id, t.campaign_id, t.score_pct
        )
        return self._stream(
            statement,
            t.evaluated_at,
            t.id,
            start,
            end,
            lambda row: EvaluationRow(
                linkedid=row.linkedid,
                queue=row.queue,
                agent_id=row.agent_id,
                campaign_id=row.campaign_id,
                score_pct=row.score_pct,
                evaluated_at=row.evaluated_at,
            ),
        )


def _state(row: Row[Any]) -> StateChange:
    return StateChange(agent_id=row.agent_id, status=row.status, reason=row.reason, at=row.at)


def _unavailable(exc: BaseException) -> ReportsUnavailable:
    name, first_line = driver_error(exc)
    log.warning("report read failed", reason=f"{name}: {first_line}")
    return ReportsUnavailable(f"{name}: {first_line}")
