"""The staffing forecast's history: a queue's calls per 15-minute bucket, counted by the
database (``GROUP BY``), so reading a day costs at most 100 rows whatever its number of
calls. The bucket is the whole seconds since the range's start divided by 900; the epoch
is read with each backend's own function (PostgreSQL ``extract``, SQLite ``strftime``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import BigInteger, ColumnElement, Table, case, cast, func, literal_column, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.engine import driver_error
from ccd.db.models import metadata
from ccd.db.stores import StoreUnavailable
from ccd.domain.cdr import Disposition
from ccd.forecast.history import BucketCount
from ccd.forecast.intervals import BUCKET_MINUTES

log = structlog.get_logger("ccd.db.forecast_history")

CDRS: Table = metadata.tables["cdrs"]
BUCKET_S = BUCKET_MINUTES * 60


def _epoch_seconds(dialect: str, column: ColumnElement[datetime]) -> ColumnElement[int]:
    if dialect == "sqlite":
        # Stored as UTC text; strftime('%s') is whole seconds since the epoch.
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


class ForecastHistory:
    """``ccd.forecast.run.HistoryReader`` on a SQLAlchemy engine (PostgreSQL, SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def buckets(self, queue: str, start: datetime, end: datetime) -> Sequence[BucketCount]:
        c = CDRS.c
        start_epoch = int(start.timestamp())
        # Inline integers (ours, not input): PostgreSQL must see the GROUP BY expression as
        # the selected one, which two bind parameters would make different.
        offset = _epoch_seconds(self._engine.dialect.name, c.started_at) - literal_column(
            str(start_epoch), BigInteger
        )
        # Whole buckets on both backends: the offset is never negative (started_at >= start).
        bucket = (offset // literal_column(str(BUCKET_S), BigInteger)).label("bucket")
        answered = c.disposition == Disposition.ANSWERED.value
        statement = (
            select(
                bucket,
                func.count().label("offered"),
                func.sum(case((answered, 1), else_=0)).label("answered"),
                func.sum(
                    case((answered, c.talk_s + func.coalesce(c.wrapup_s, 0.0)), else_=0.0)
                ).label("handle_s"),
            )
            .where(c.queue == queue, c.started_at >= start, c.started_at < end)
            .group_by(bucket)
            .order_by(bucket)
        )
        try:
            async with self._engine.connect() as connection:
                rows = (await connection.execute(statement)).all()
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from exc
        return [
            BucketCount(
                start=start + timedelta(seconds=int(row.bucket) * BUCKET_S),
                offered=int(row.offered),
                answered=int(row.answered or 0),
                handle_s=float(row.handle_s or 0.0),
            )
            for row in rows
        ]


def _unavailable(exc: BaseException) -> StoreUnavailable:
    name, first_line = driver_error(exc)
    log.warning("forecast history read failed", reason=f"{name}: {first_line}")
    return StoreUnavailable(f"{name}: {first_line}")
