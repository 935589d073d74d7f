"""Recordings in the database (``recordings``) and the recording policy columns of queues
(``acd_queues``) and campaigns (``dialer_campaigns``), migration 0008."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.db.models import metadata
from ccd.db.stores import StoreConflict, StoreUnavailable, failure_reason, transaction
from ccd.recording.model import Recording, RecordingFilter
from ccd.recording.pauses import Pauses
from ccd.recording.policy import RecordingPolicy

RECORDINGS: Table = metadata.tables["recordings"]
R = RECORDINGS.c
POLICY_TABLES: dict[str, Table] = {
    "queue": metadata.tables["acd_queues"],
    "campaign": metadata.tables["dialer_campaigns"],
}


class RecordingUnavailable(StoreUnavailable):
    pass


class RecordingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # ---- policies ------------------------------------------------------------------

    async def policy(self, kind: str, target_id: str) -> RecordingPolicy | None:
        """The policy of queue or campaign ``target_id`` (``kind``: queue, campaign);
        None when there is no such queue or campaign."""
        table = POLICY_TABLES[kind]
        query = select(table.c.recording_mode, table.c.recording_percent).where(
            table.c.id == target_id
        )
        async with self._transaction() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return RecordingPolicy.from_stored(row.recording_mode, row.recording_percent)

    async def set_policy(self, kind: str, target_id: str, policy: RecordingPolicy) -> bool:
        """False when there is no such queue or campaign."""
        table = POLICY_TABLES[kind]
        statement = (
            update(table)
            .where(table.c.id == target_id)
            .values(recording_mode=policy.mode.value, recording_percent=policy.percent)
        )
        async with self._transaction() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    # ---- recordings ----------------------------------------------------------------

    async def add(self, recording: Recording) -> None:
        async with self._transaction() as connection:
            await connection.execute(insert(RECORDINGS).values(**_values(recording)))

    async def save(self, recording: Recording) -> None:
        """Store what changed since ``add``: end, pauses, size, deletion."""
        values = _values(recording)
        del values["id"]
        async with self._transaction() as connection:
            await connection.execute(
                update(RECORDINGS).where(R.id == recording.id).values(**values)
            )

    async def get(self, recording_id: str) -> Recording | None:
        async with self._transaction() as connection:
            row = (await connection.execute(select(RECORDINGS).where(R.id == recording_id))).first()
        return None if row is None else _recording(row)

    async def search(self, where: RecordingFilter) -> Sequence[Recording]:
        """Newest first."""
        query = select(RECORDINGS).order_by(R.started_at.desc(), R.id.desc()).limit(where.limit)
        for column, value in (
            (R.linkedid, where.linkedid),
            (R.agent_id, where.agent_id),
            (R.queue_id, where.queue_id),
            (R.campaign_id, where.campaign_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.since is not None:
            query = query.where(R.started_at >= where.since)
        if where.until is not None:
            query = query.where(R.started_at < where.until)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_recording(row) for row in rows]

    async def unfinished(self, limit: int = 1000) -> Sequence[Recording]:
        """Recordings whose end is not stored (running, or cut off by a ccd stop), oldest
        first."""
        query = (
            select(RECORDINGS)
            .where(R.ended_at.is_(None), R.deleted_at.is_(None))
            .order_by(R.started_at, R.id)
            .limit(limit)
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_recording(row) for row in rows]

    async def expired(self, started_before: datetime, limit: int = 1000) -> Sequence[Recording]:
        """Recordings not yet deleted that started before ``started_before``, oldest first
        (whether their end was stored or not: a ccd stopped mid-call never stores it)."""
        query = (
            select(RECORDINGS)
            .where(R.started_at < started_before, R.deleted_at.is_(None))
            .order_by(R.started_at, R.id)
            .limit(limit)
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_recording(row) for row in rows]

    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(
            self._engine,
            conflict=StoreConflict,
            unavailable=lambda exc: RecordingUnavailable(
                f"recordings unavailable: {failure_reason(exc)}"
            ),
        )


def _values(recording: Recording) -> dict[str, Any]:
    return {
        "id": recording.id,
        "linkedid": recording.linkedid,
        "channel": recording.channel,
        "agent_id": recording.agent_id,
        "queue_id": recording.queue_id,
        "campaign_id": recording.campaign_id,
        "file": recording.file,
        "started_at": recording.started_at,
        "ended_at": recording.ended_at,
        "pauses": recording.pauses.as_json(),
        "size_bytes": recording.size_bytes,
        "deleted_at": recording.deleted_at,
        "server": recording.server,
    }


def _recording(row: Row[Any]) -> Recording:
    return Recording(
        id=row.id,
        linkedid=row.linkedid,
        channel=row.channel,
        agent_id=row.agent_id,
        queue_id=row.queue_id,
        campaign_id=row.campaign_id,
        file=row.file,
        started_at=row.started_at,
        ended_at=row.ended_at,
        pauses=Pauses.from_json(row.pauses),
        size_bytes=row.size_bytes,
        deleted_at=row.deleted_at,
        server=row.server,
    )
