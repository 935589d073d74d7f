"""When to (re)send a delivery, and which pending deliveries may go now.

Pure, h11 style: data in, decisions out; the worker (``ccd.webhooks.worker``) does the IO.

* Retries: exponential backoff with full jitter — the n-th failure waits a uniform draw in
  ``[0, min(max_s, min_s * 2**(n-1))]`` — for up to ``give_up_after_s`` (24 h) after the
  delivery was first due (or replayed); a retry that would fall later dead-letters it.
* Order per call: deliveries to one subscription with the same ``order_key`` (a call's
  linkedid, an agent, a campaign) go one at a time, oldest first. A later event waits
  while an earlier one is in flight or waiting for its retry; a dead-lettered one no
  longer holds the others back.
* Isolation: each subscription has its own bound of deliveries in flight, so a slow or
  dead receiver holds only its own slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    min_s: float = 5.0
    max_s: float = 3600.0
    give_up_after_s: float = 86_400.0

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError("retry policy needs 0 < min_s <= max_s")
        if self.give_up_after_s <= 0:
            raise ValueError("give_up_after_s must be positive")


def backoff_ceiling(policy: RetryPolicy, failures: int) -> float:
    """The upper bound of the wait after ``failures`` failed attempts (>= 1)."""
    exponent = min(max(failures - 1, 0), 64)
    return min(policy.max_s, policy.min_s * 2.0**exponent)


def retry_at(
    policy: RetryPolicy, *, window_start: datetime, failures: int, now: datetime, draw: float
) -> datetime | None:
    """When to try again after ``failures`` failed attempts, or None: dead-letter it.

    ``draw`` is a uniform random number in [0, 1) (full jitter); ``window_start`` is when the
    delivery was first due, or when it was replayed."""
    if not 0.0 <= draw < 1.0:
        raise ValueError("draw must be in [0, 1)")
    at = now + timedelta(seconds=draw * backoff_ceiling(policy, failures))
    if at > window_start + timedelta(seconds=policy.give_up_after_s):
        return None
    return at


@dataclass(frozen=True, slots=True)
class Pending:
    """A delivery waiting to be sent (status pending), as the picker needs it."""

    delivery_id: str
    subscription_id: str
    order_key: str
    seq: int  # outbox order: the order events happened in
    due_at: datetime


@dataclass(frozen=True, slots=True)
class InFlight:
    subscription_id: str
    order_key: str


def pick(
    pending: Iterable[Pending],
    in_flight: Iterable[InFlight],
    *,
    now: datetime,
    per_subscription: int,
) -> list[Pending]:
    """The deliveries to start now, oldest first.

    Per (subscription, order_key) only the oldest pending delivery is a candidate, and only
    if none of that key is in flight; it goes if it is due and its subscription has a free
    slot (``per_subscription`` in flight at most)."""
    flying = list(in_flight)
    busy_keys = {(f.subscription_id, f.order_key) for f in flying}
    used: dict[str, int] = {}
    for f in flying:
        used[f.subscription_id] = used.get(f.subscription_id, 0) + 1
    chosen: list[Pending] = []
    for delivery in sorted(pending, key=lambda p: p.seq):
        key = (delivery.subscription_id, delivery.order_key)
        if key in busy_keys:
            continue
        # The oldest of its key decides for the key: later ones wait behind it either way.
        busy_keys.add(key)
        if delivery.due_at > now:
            continue
        if used.get(delivery.subscription_id, 0) >= per_subscription:
            continue
        used[delivery.subscription_id] = used.get(delivery.subscription_id, 0) + 1
        chosen.append(delivery)
    return chosen


def next_due(pending: Sequence[Pending], now: datetime) -> datetime | None:
    """The earliest future due time among ``pending`` (None when nothing waits for time)."""
    future = [p.due_at for p in pending if p.due_at > now]
    return min(future) if future else None
