"""Webhook subscriptions and deliveries as the rest of ccd sees them. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from ccd.webhooks.catalog import subscribed


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first attempt or a retry
    DELIVERED = "delivered"  # a receiver answered 2xx
    DEAD = "dead"  # retries gave up (24 h); replayable by id


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    enabled: bool
    description: str
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        return self.enabled and subscribed(self.event_types, event_type)


@dataclass(frozen=True, slots=True)
class Delivery:
    seq: int
    id: str  # the webhook-id, the same on every attempt
    subscription_id: str
    event_type: str
    order_key: str
    payload: bytes
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    window_start: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    delivered: int = 0
    failed_attempts: int = 0
    pending: int = 0
    dead: int = 0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    latency_ms_avg: float | None = None
    latency_ms_max: float | None = None
