"""Retry timing, dead-lettering and the per-call order of webhook deliveries (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccd.webhooks.schedule import (
    InFlight,
    Pending,
    RetryPolicy,
    backoff_ceiling,
    next_due,
    pick,
    retry_at,
)

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(min_s=5, max_s=3600, give_up_after_s=86_400)


def pending(
    delivery_id: str, seq: int, *, sub: str = "wh_a", key: str = "call:1", due: datetime = T0
) -> Pending:
    return Pending(delivery_id, sub, key, seq, due)


def test_the_ceiling_doubles_per_failure_up_to_max() -> None:
    ceilings = [backoff_ceiling(POLICY, n) for n in range(1, 14)]
    assert ceilings[:4] == [5, 10, 20, 40]
    assert ceilings[-1] == 3600
    assert max(ceilings) == 3600


def test_full_jitter_draws_anywhere_between_now_and_the_ceiling() -> None:
    assert retry_at(POLICY, window_start=T0, failures=3, now=T0, draw=0.0) == T0
    half = retry_at(POLICY, window_start=T0, failures=3, now=T0, draw=0.5)
    assert half == T0 + timedelta(seconds=10)


def test_a_retry_beyond_24_hours_dead_letters_the_delivery() -> None:
    late = T0 + timedelta(hours=23, minutes=59)
    assert retry_at(POLICY, window_start=T0, failures=30, now=late, draw=0.0) == late
    assert retry_at(POLICY, window_start=T0, failures=30, now=late, draw=0.5) is None


def test_a_replay_starts_a_fresh_window() -> None:
    replayed = T0 + timedelta(days=3)
    again = retry_at(POLICY, window_start=replayed, failures=40, now=replayed, draw=0.99)
    assert again is not None
    assert again > replayed


def test_retrying_for_24_hours_takes_a_bounded_number_of_attempts() -> None:
    now, failures = T0, 0
    while True:
        failures += 1
        nxt = retry_at(POLICY, window_start=T0, failures=failures, now=now, draw=0.5)
        if nxt is None:
            break
        now = nxt
    assert now <= T0 + timedelta(hours=24)
    assert 20 < failures < 60


@pytest.mark.parametrize("draw", [-0.1, 1.0])
def test_a_draw_outside_the_unit_interval_is_a_bug(draw: float) -> None:
    with pytest.raises(ValueError, match="draw"):
        retry_at(POLICY, window_start=T0, failures=1, now=T0, draw=draw)


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_s"):
        RetryPolicy(min_s=10, max_s=5)


def test_a_calls_later_event_waits_for_the_earlier_one() -> None:
    ringing, answered = pending("ringing", 1), pending("answered", 2)
    assert pick([answered, ringing], [], now=T0, per_subscription=4) == [ringing]
    # While the ring is in flight the answer waits.
    assert pick([answered], [InFlight("wh_a", "call:1")], now=T0, per_subscription=4) == []


def test_an_earlier_event_waiting_for_its_retry_holds_the_later_one_back() -> None:
    ringing = pending("ringing", 1, due=T0 + timedelta(seconds=30))
    answered = pending("answered", 2)
    assert pick([ringing, answered], [], now=T0, per_subscription=4) == []
    later = T0 + timedelta(seconds=30)
    assert pick([ringing, answered], [], now=later, per_subscription=4) == [ringing]


def test_other_calls_and_other_subscribers_are_not_held_back() -> None:
    blocked = pending("a1", 1, due=T0 + timedelta(hours=1))
    other_call = pending("b1", 2, key="call:2")
    other_sub = pending("c1", 3, sub="wh_b")
    chosen = pick([blocked, other_call, other_sub], [], now=T0, per_subscription=4)
    assert chosen == [other_call, other_sub]


def test_a_subscription_gets_at_most_its_slots_and_a_slow_one_holds_only_its_own() -> None:
    slow = [pending(f"s{i}", i, sub="wh_slow", key=f"call:{i}") for i in range(10)]
    fast = [pending(f"f{i}", 100 + i, sub="wh_fast", key=f"call:{i}") for i in range(3)]
    flying = [InFlight("wh_slow", "call:90"), InFlight("wh_slow", "call:91")]
    chosen = pick(slow + fast, flying, now=T0, per_subscription=4)
    assert [c.delivery_id for c in chosen] == ["s0", "s1", "f0", "f1", "f2"]


def test_next_due_is_the_earliest_future_attempt() -> None:
    items = [
        pending("a", 1, due=T0 + timedelta(seconds=40)),
        pending("b", 2, key="call:2", due=T0 + timedelta(seconds=7)),
        pending("c", 3, key="call:3", due=T0),
    ]
    assert next_due(items, T0) == T0 + timedelta(seconds=7)
    assert next_due([pending("c", 3)], T0) is None
