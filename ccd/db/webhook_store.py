"""Webhook subscriptions and the delivery outbox in the database.

``add_events`` writes outbox rows inside a transaction the caller owns (the CDR batch's),
so an event and the change that caused it commit or vanish together; ``dedupe_key`` makes
writing the same event twice (a CDR batch replayed after a crash) a no-op.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Table, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.db.models import metadata
from ccd.db.stores import (
    StoreConflict,
    StoreNotFound,
    StoreUnavailable,
    failure_reason,
    transaction,
)
from ccd.webhooks.model import Delivery, DeliveryStats, DeliveryStatus, Subscription
from ccd.webhooks.payloads import Event, body

SUBSCRIPTIONS: Table = metadata.tables["webhook_subscriptions"]
DELIVERIES: Table = metadata.tables["webhook_deliveries"]
S = SUBSCRIPTIONS.c
D = DELIVERIES.c


class WebhookUnavailable(StoreUnavailable):
    pass


class WebhookConflict(StoreConflict):
    pass


class WebhookNotFound(StoreNotFound):
    pass


def _unavailable(exc: BaseException) -> WebhookUnavailable:
    return WebhookUnavailable(f"webhook store: {failure_reason(exc)}")


def new_subscription_id() -> str:
    return "wh_" + uuid.uuid4().hex


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        event_types=tuple(row.event_types),
        secret=row.secret,
        enabled=bool(row.enabled),
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        seq=int(row.seq),
        id=row.id,
        subscription_id=row.subscription_id,
        event_type=row.event_type,
        order_key=row.order_key,
        payload=row.payload.encode(),
        status=DeliveryStatus(row.status),
        attempts=int(row.attempts),
        created_at=row.created_at,
        window_start=row.window_start,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        latency_ms=row.latency_ms,
    )


class WebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def _transaction(self) -> Any:
        return transaction(self._engine, conflict=WebhookConflict, unavailable=_unavailable)

    # ---- subscriptions -----------------------------------------------------------

    async def create(self, subscription: Subscription) -> Subscription:
        async with self._transaction() as connection:
            await connection.execute(
                insert(SUBSCRIPTIONS).values(
                    id=subscription.id,
                    url=subscription.url,
                    event_types=list(subscription.event_types),
                    secret=subscription.secret,
                    enabled=subscription.enabled,
                    description=subscription.description,
                    created_at=subscription.created_at,
                    updated_at=subscription.updated_at,
                )
            )
        return subscription

    async def subscriptions(self) -> list[Subscription]:
        async with self._transaction() as connection:
            rows = (
                await connection.execute(select(SUBSCRIPTIONS).order_by(S.created_at, S.id))
            ).all()
        return [_subscription(row) for row in rows]

    async def subscription(self, subscription_id: str) -> Subscription:
        async with self._transaction() as connection:
            row = (
                await connection.execute(select(SUBSCRIPTIONS).where(S.id == subscription_id))
            ).one_or_none()
        if row is None:
            raise WebhookNotFound("webhook subscription", subscription_id)
        return _subscription(row)

    async def update(self, subscription: Subscription) -> Subscription:
        async with self._transaction() as connection:
            result = await connection.execute(
                update(SUBSCRIPTIONS)
                .where(S.id == subscription.id)
                .values(
                    url=subscription.url,
                    event_types=list(subscription.event_types),
                    enabled=subscription.enabled,
                    description=subscription.description,
                    updated_at=subscription.updated_at,
                )
            )
            if result.rowcount == 0:
                raise WebhookNotFound("webhook subscription", subscription.id)
        return subscription

    async def delete(self, subscription_id: str) -> None:
        async with self._transaction() as connection:
            await connection.execute(delete(DELIVERIES).where(D.subscription_id == subscription_id))
            result = await connection.execute(delete(SUBSCRIPTIONS).where(S.id == subscription_id))
            if result.rowcount == 0:
                raise WebhookNotFound("webhook subscription", subscription_id)

    async def stats(self) -> dict[str, DeliveryStats]:
        delivered = D.status == DeliveryStatus.DELIVERED.value
        query = select(
            D.subscription_id,
            func.sum(case((delivered, 1), else_=0)).label("delivered"),
            func.sum(case((D.status == DeliveryStatus.PENDING.value, 1), else_=0)).label("pending"),
            func.sum(case((D.status == DeliveryStatus.DEAD.value, 1), else_=0)).label("dead"),
            # A delivered row's last attempt succeeded: every other attempt failed.
            func.sum(D.attempts - case((delivered, 1), else_=0)).label("failed_attempts"),
            func.max(D.delivered_at).label("last_success_at"),
            func.max(D.last_failure_at).label("last_failure_at"),
            func.avg(D.latency_ms).label("latency_ms_avg"),
            func.max(D.latency_ms).label("latency_ms_max"),
        ).group_by(D.subscription_id)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return {
            row.subscription_id: DeliveryStats(
                delivered=int(row.delivered or 0),
                failed_attempts=int(row.failed_attempts or 0),
                pending=int(row.pending or 0),
                dead=int(row.dead or 0),
                last_success_at=_aware(row.last_success_at),
                last_failure_at=_aware(row.last_failure_at),
                latency_ms_avg=None if row.latency_ms_avg is None else float(row.latency_ms_avg),
                latency_ms_max=None if row.latency_ms_max is None else float(row.latency_ms_max),
            )
            for row in rows
        }

    # ---- the outbox ----------------------------------------------------------------

    async def add(self, entries: Sequence[tuple[str, Event]], now: datetime) -> int:
        """Write outbox rows (subscription id, event) in a transaction of their own."""
        async with self._transaction() as connection:
            return await self.add_in(connection, entries, now)

    async def add_in(
        self, connection: AsyncConnection, entries: Sequence[tuple[str, Event]], now: datetime
    ) -> int:
        """Write outbox rows in the caller's transaction; rows already written (same
        subscription and dedupe key) are skipped. Returns how many were new."""
        if not entries:
            return 0
        rows = []
        for subscription_id, event in entries:
            message_id = new_message_id()
            rows.append(
                {
                    "id": message_id,
                    "subscription_id": subscription_id,
                    "event_type": event.type,
                    "order_key": event.order_key[:200],
                    "dedupe_key": (event.dedupe_key or message_id)[:200],
                    "payload": body(event).decode(),
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "created_at": now,
                    "window_start": now,
                    "next_attempt_at": now,
                }
            )
        dialect = postgresql if self._postgres else sqlite
        statement = (
            dialect.insert(DELIVERIES)
            .on_conflict_do_nothing(index_elements=["subscription_id", "dedupe_key"])
            .returning(D.seq)
        )
        result = await connection.execute(statement, rows)
        return len(result.all())

    async def existing_in(self, connection: AsyncConnection, ids: set[str]) -> set[str]:
        """Which of ``ids`` are subscriptions, in the caller's transaction."""
        if not ids:
            return set()
        rows = await connection.execute(select(S.id).where(S.id.in_(sorted(ids))))
        return {row.id for row in rows}

    async def purge_delivered(self, before: datetime) -> int:
        """Forget deliveries delivered before ``before`` (dead ones stay for replay)."""
        async with self._transaction() as connection:
            result = await connection.execute(
                delete(DELIVERIES).where(
                    D.status == DeliveryStatus.DELIVERED.value, D.delivered_at < before
                )
            )
        return int(result.rowcount or 0)

    async def pending(self, subscription_id: str, limit: int) -> list[Delivery]:
        """The subscription's oldest pending deliveries, in outbox order."""
        query = (
            select(DELIVERIES)
            .where(D.subscription_id == subscription_id, D.status == DeliveryStatus.PENDING.value)
            .order_by(D.seq)
            .limit(limit)
        )
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_delivery(row) for row in rows]

    async def delivered(
        self, delivery_id: str, *, at: datetime, status: int, latency_ms: float
    ) -> None:
        async with self._transaction() as connection:
            await connection.execute(
                update(DELIVERIES)
                .where(D.id == delivery_id)
                .values(
                    status=DeliveryStatus.DELIVERED.value,
                    attempts=D.attempts + 1,
                    last_attempt_at=at,
                    last_status=status,
                    delivered_at=at,
                    latency_ms=latency_ms,
                )
            )

    async def failed(
        self,
        delivery_id: str,
        *,
        at: datetime,
        status: int | None,
        error: str,
        retry_at: datetime | None,
    ) -> None:
        """One failed attempt: retry at ``retry_at``, or dead-letter it (None)."""
        values: dict[str, Any] = {
            "attempts": D.attempts + 1,
            "last_attempt_at": at,
            "last_status": status,
            "last_error": error[:500],
            "last_failure_at": at,
        }
        if retry_at is None:
            values["status"] = DeliveryStatus.DEAD.value
        else:
            values["next_attempt_at"] = retry_at
        async with self._transaction() as connection:
            await connection.execute(update(DELIVERIES).where(D.id == delivery_id).values(**values))

    async def deliveries(
        self, subscription_id: str, *, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        """Newest first."""
        query = select(DELIVERIES).where(D.subscription_id == subscription_id)
        if status is not None:
            query = query.where(D.status == status.value)
        query = query.order_by(D.seq.desc()).limit(limit)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_delivery(row) for row in rows]

    async def replay(self, subscription_id: str, delivery_id: str, now: datetime) -> Delivery:
        """Send a delivery again (same webhook-id), with a fresh 24 h retry window."""
        async with self._transaction() as connection:
            result = await connection.execute(
                update(DELIVERIES)
                .where(D.id == delivery_id, D.subscription_id == subscription_id)
                .values(
                    status=DeliveryStatus.PENDING.value,
                    window_start=now,
                    next_attempt_at=now,
                )
            )
            if result.rowcount == 0:
                raise WebhookNotFound("webhook delivery", delivery_id)
            row = (await connection.execute(select(DELIVERIES).where(D.id == delivery_id))).one()
        return _delivery(row)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite's aggregates return the column's text, not the type's datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
