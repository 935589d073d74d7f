"""The audit trail in the database (``audit_events``), newest first when read."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.clock import Clock, SystemClock
from ccd.db.models import metadata
from ccd.db.stores import StoreConflict, StoreUnavailable, failure_reason, transaction
from ccd.domain.audit import AuditEntry, AuditRecord

AUDIT: Table = metadata.tables["audit_events"]
A = AUDIT.c


class AuditUnavailable(StoreUnavailable):
    pass


class AuditStore:
    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    async def record(self, entry: AuditEntry) -> AuditRecord:
        values: dict[str, Any] = {
            "at": self._clock.now(),
            "actor_token_id": entry.actor.token_id,
            "actor_role": entry.actor.role.value,
            "actor_agent_id": entry.actor.agent_id,
            "action": entry.action,
            "target_kind": entry.target_kind,
            "target_id": entry.target_id,
            "detail": dict(entry.detail),
        }
        async with self._transaction() as connection:
            result = await connection.execute(insert(AUDIT).values(**values).returning(A.id))
            new_id = int(result.scalar_one())
        return AuditRecord(id=new_id, **values)

    async def search(
        self,
        *,
        action: str | None = None,
        target_kind: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> Sequence[AuditRecord]:
        query = select(AUDIT).order_by(A.at.desc(), A.id.desc()).limit(limit)
        if action is not None:
            query = query.where(A.action == action)
        if target_kind is not None:
            query = query.where(A.target_kind == target_kind)
        if target_id is not None:
            query = query.where(A.target_id == target_id)
        if since is not None:
            query = query.where(A.at >= since)
        if until is not None:
            query = query.where(A.at < until)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_record(row) for row in rows]

    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(
            self._engine,
            conflict=StoreConflict,
            unavailable=lambda exc: AuditUnavailable(
                f"audit trail unavailable: {failure_reason(exc)}"
            ),
        )


def _record(row: Row[tuple[object, ...]]) -> AuditRecord:
    m = row._mapping
    return AuditRecord(
        id=int(m["id"]),
        at=m["at"],
        actor_token_id=m["actor_token_id"],
        actor_role=m["actor_role"],
        actor_agent_id=m["actor_agent_id"],
        action=m["action"],
        target_kind=m["target_kind"],
        target_id=m["target_id"],
        detail=m["detail"],
    )
