"""Idempotent, batched CDR inserts: one transaction per batch, ``ON CONFLICT DO NOTHING``.

A record may reach the database twice (the spool replays after a crash between commit and
acknowledgement); its key — ``linkedid`` for calls, ``uniqueid`` for legs, ``(linkedid,
sequence)`` for Asterisk's own CDRs — makes the second insert a no-op.

One statement per table and batch:

* PostgreSQL: ``INSERT … SELECT … FROM json_populate_recordset(NULL::table, $1) ON
  CONFLICT (key) DO NOTHING`` — the whole batch goes over as ONE JSON parameter that
  orjson writes straight from the frozen records (field names are the column names), so
  a batch of 500 calls is three small prepared statements, cached by asyncpg. SQLAlchemy's
  multi-row insert, and asyncpg's per-element array encoding, both spent more CPU on
  parameters than PostgreSQL spent inserting the rows (``bench/cdr_pipeline.py``).
* SQLite (the embedded default): ``sqlite.insert(…).on_conflict_do_nothing()`` with a
  parameter list, sent by SQLAlchemy as multi-row ``VALUES`` pages.

``RETURNING`` the key tells how many rows were really new, hence how many duplicates were
skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Executable, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.cdr.codec import call_fields, json_default
from ccd.clock import Clock, SystemClock
from ccd.db.models import AsteriskCdrRow, CallDetailRecord, CallLeg
from ccd.domain.cdr import AsteriskCdr, CallRecord, LegRecord

CDRS: Table = CallDetailRecord.__table__  # type: ignore[assignment]
LEGS: Table = CallLeg.__table__  # type: ignore[assignment]
ASTERISK_CDRS: Table = AsteriskCdrRow.__table__  # type: ignore[assignment]

# Written in the batch's own transaction (webhooks' call.ended outbox rows): they commit
# with the CDRs or not at all.
CallsOutbox = Callable[[AsyncConnection, Sequence[CallRecord], datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BatchResult:
    calls: int
    calls_inserted: int
    asterisk_cdrs: int
    asterisk_cdrs_inserted: int

    @property
    def duplicates(self) -> int:
        """Records already in the database (replayed after a crash), skipped."""
        return (self.calls - self.calls_inserted) + (
            self.asterisk_cdrs - self.asterisk_cdrs_inserted
        )


class CdrStore:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock | None = None,
        *,
        outbox: CallsOutbox | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._outbox = outbox
        backend = engine.dialect.name
        if backend not in ("postgresql", "sqlite"):  # settings only allow these two
            raise ValueError(f"CDR store: unsupported database {backend!r}")
        self._postgres = backend == "postgresql"

    async def insert_batch(self, records: Sequence[CallRecord | AsteriskCdr]) -> BatchResult:
        """Insert every record in one transaction; those already present are skipped."""
        written_at = self._clock.now()
        calls: dict[str, CallRecord] = {}
        asterisk: dict[tuple[str, str], AsteriskCdr] = {}
        for record in records:
            if isinstance(record, CallRecord):
                calls.setdefault(record.linkedid, record)
            else:
                asterisk.setdefault((record.linkedid, record.sequence), record)
        legs = {leg.uniqueid: leg for call in calls.values() for leg in call.legs}
        insert = self._insert_postgres if self._postgres else self._insert_sqlite
        async with self._engine.begin() as connection:
            calls_inserted, asterisk_inserted = await insert(
                connection, calls, legs, asterisk, written_at
            )
            if self._outbox is not None and calls:
                await self._outbox(connection, list(calls.values()), written_at)
        return BatchResult(
            calls=len(calls),
            calls_inserted=calls_inserted,
            asterisk_cdrs=len(asterisk),
            asterisk_cdrs_inserted=asterisk_inserted,
        )

    @staticmethod
    async def _insert_postgres(
        connection: AsyncConnection,
        calls: dict[str, CallRecord],
        legs: dict[str, LegRecord],
        asterisk: dict[tuple[str, str], AsteriskCdr],
        written_at: datetime,
    ) -> tuple[int, int]:
        calls_inserted = asterisk_inserted = 0
        if calls:
            # Rows without the legs: PostgreSQL would parse them only to skip them.
            rows = [call_row(call, written_at, raw_ivr=True) for call in calls.values()]
            result = await connection.exec_driver_sql(_CDRS_SQL, (_json(rows),))
            calls_inserted = len(result.all())
        if legs:
            await connection.exec_driver_sql(_LEGS_SQL, (_json(list(legs.values())),))
        if asterisk:
            result = await connection.exec_driver_sql(
                _ASTERISK_SQL, (_json(list(asterisk.values())),)
            )
            asterisk_inserted = len(result.all())
        return calls_inserted, asterisk_inserted

    @staticmethod
    async def _insert_sqlite(
        connection: AsyncConnection,
        calls: dict[str, CallRecord],
        legs: dict[str, LegRecord],
        asterisk: dict[tuple[str, str], AsteriskCdr],
        written_at: datetime,
    ) -> tuple[int, int]:
        calls_inserted = asterisk_inserted = 0
        if calls:
            rows = [call_row(call, written_at) for call in calls.values()]
            calls_inserted = len((await connection.execute(_SQLITE_CDRS, rows)).all())
        if legs:
            await connection.execute(_SQLITE_LEGS, [leg_row(leg) for leg in legs.values()])
        if asterisk:
            rows = [asterisk_cdr_row(cdr) for cdr in asterisk.values()]
            asterisk_inserted = len((await connection.execute(_SQLITE_ASTERISK, rows)).all())
        return calls_inserted, asterisk_inserted


def _sqlite_statement(table: Table, *, returning: bool) -> Executable:
    """``RETURNING`` the key counts what was really inserted; conflicts return nothing."""
    key = [column.name for column in table.primary_key.columns]
    statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=key)
    return statement.returning(*table.primary_key.columns) if returning else statement


_SQLITE_CDRS = _sqlite_statement(CDRS, returning=True)
_SQLITE_LEGS = _sqlite_statement(LEGS, returning=False)
_SQLITE_ASTERISK = _sqlite_statement(ASTERISK_CDRS, returning=True)


def _populate_statement(table: Table, *, returning: bool) -> str:
    """JSON objects whose keys are the column names in, rows out; unknown keys (a call's
    ``legs``) are ignored by PostgreSQL."""
    names = [column.name for column in table.columns]
    key = ", ".join(column.name for column in table.primary_key.columns)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - names from our own tables
        f"SELECT {', '.join(names)} FROM json_populate_recordset(NULL::{table.name}, $1::json) "
        f"ON CONFLICT ({key}) DO NOTHING"
    )
    return sql + f" RETURNING {key}" if returning else sql


_CDRS_SQL = _populate_statement(CDRS, returning=True)
_LEGS_SQL = _populate_statement(LEGS, returning=False)
_ASTERISK_SQL = _populate_statement(ASTERISK_CDRS, returning=True)


def _json(items: list[Any]) -> str:
    return orjson.dumps(items, default=json_default).decode()


def call_row(call: CallRecord, written_at: datetime, *, raw_ivr: bool = False) -> dict[str, Any]:
    """The ``cdrs`` row (``raw_ivr``: see ``call_fields``)."""
    return {**call_fields(call, raw_ivr=raw_ivr), "written_at": written_at}


def leg_row(leg: LegRecord) -> dict[str, Any]:
    return {
        "uniqueid": leg.uniqueid,
        "linkedid": leg.linkedid,
        "channel": leg.channel,
        "started_at": leg.started_at,
        "answered_at": leg.answered_at,
        "ended_at": leg.ended_at,
        "caller_num": leg.caller_num,
        "caller_name": leg.caller_name,
        "connected_num": leg.connected_num,
        "context": leg.context,
        "exten": leg.exten,
        "hangup_cause": leg.hangup_cause,
        "hangup_cause_text": leg.hangup_cause_text,
        "dial_status": leg.dial_status,
        "agent_id": leg.agent_id,
    }


def asterisk_cdr_row(cdr: AsteriskCdr) -> dict[str, Any]:
    return {
        "linkedid": cdr.linkedid,
        "sequence": cdr.sequence,
        "uniqueid": cdr.uniqueid,
        "received_at": cdr.received_at,
        "fields": dict(cdr.fields),
    }
