"""Reading stored CDRs for the API: filtered keyset pages and one call with its legs.

Pages are keyset-paginated on (started_at, linkedid) so a page costs the same at row 10
and at row 1,000,000, and rows inserted while a client pages never shift it into
duplicates or gaps. Works unchanged on PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import ColumnElement, Select, Table, and_, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.cdr.queries import (
    CdrDetail,
    CdrFilter,
    CdrPosition,
    CdrSort,
    CdrStoreUnavailable,
    StoredCdr,
)
from ccd.db.engine import driver_error
from ccd.db.models import metadata
from ccd.db.survey_store import scores_by_call
from ccd.domain.cdr import LegRecord

log = structlog.get_logger("ccd.db.cdr_queries")

CDRS: Table = metadata.tables["cdrs"]
LEGS: Table = metadata.tables["cdr_legs"]
LIKE_ESCAPE = "\\"


def _escape_like(text: str) -> str:
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _conditions(filters: CdrFilter) -> list[ColumnElement[bool]]:
    c = CDRS.c
    conditions: list[ColumnElement[bool]] = []
    if filters.started_from is not None:
        conditions.append(c.started_at >= filters.started_from)
    if filters.started_before is not None:
        conditions.append(c.started_at < filters.started_before)
    if filters.number is not None:
        columns = (c.caller_num, c.callee_num, c.did)
        if filters.number_is_prefix:
            pattern = _escape_like(filters.number) + "%"
            conditions.append(or_(*(col.like(pattern, escape=LIKE_ESCAPE) for col in columns)))
        else:
            conditions.append(or_(*(col == filters.number for col in columns)))
    exact = (
        (c.direction, filters.direction),
        (c.disposition, filters.disposition),
        (c.queue, filters.queue),
        (c.agent_id, filters.agent_id),
        (c.campaign_id, filters.campaign_id),
        (c.server, filters.server),
    )
    conditions.extend(column == value for column, value in exact if value is not None)
    return conditions


def _after(position: CdrPosition, sort: CdrSort) -> ColumnElement[bool]:
    c = CDRS.c
    at, linkedid = position.started_at, position.linkedid
    # The first conjunct alone is a plain range on the started_at index; the second
    # breaks ties between calls that started in the same microsecond.
    if sort is CdrSort.NEWEST_FIRST:
        return and_(c.started_at <= at, or_(c.started_at < at, c.linkedid < linkedid))
    return and_(c.started_at >= at, or_(c.started_at > at, c.linkedid > linkedid))


def page_statement(
    filters: CdrFilter, *, sort: CdrSort, after: CdrPosition | None, limit: int
) -> Select[tuple[object, ...]]:
    conditions = _conditions(filters)
    if after is not None:
        conditions.append(_after(after, sort))
    c = CDRS.c
    if sort is CdrSort.NEWEST_FIRST:
        order = (c.started_at.desc(), c.linkedid.desc())
    else:
        order = (c.started_at.asc(), c.linkedid.asc())
    return select(CDRS).where(*conditions).order_by(*order).limit(limit)


class CdrQueries:
    """The ``CdrReader`` port on a SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(
        self,
        filters: CdrFilter,
        *,
        sort: CdrSort,
        after: CdrPosition | None,
        limit: int,
    ) -> Sequence[StoredCdr]:
        if limit < 1:
            raise ValueError("limit must be positive")
        statement = page_statement(filters, sort=sort, after=after, limit=limit)
        try:
            async with self._engine.connect() as connection:
                rows = (await connection.execute(statement)).all()
                surveys = await scores_by_call(connection, [row.linkedid for row in rows])
                return [
                    StoredCdr(**row._asdict(), survey=surveys.get(row.linkedid, {})) for row in rows
                ]
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc

    async def get(self, linkedid: str) -> CdrDetail | None:
        try:
            async with self._engine.connect() as connection:
                row = (
                    await connection.execute(select(CDRS).where(CDRS.c.linkedid == linkedid))
                ).first()
                if row is None:
                    return None
                legs = await connection.execute(
                    select(LEGS)
                    .where(LEGS.c.linkedid == linkedid)
                    .order_by(LEGS.c.started_at, LEGS.c.uniqueid)
                )
                surveys = await scores_by_call(connection, [linkedid])
                return CdrDetail(
                    cdr=StoredCdr(**row._asdict(), survey=surveys.get(linkedid, {})),
                    legs=tuple(LegRecord(**leg._asdict()) for leg in legs),
                )
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> CdrStoreUnavailable:
    name, first_line = driver_error(exc)
    reason = f"{name}: {first_line}"
    log.warning("cdr read failed", reason=reason)
    return CdrStoreUnavailable(reason)
