"""Reconnect backoff: bounded, growing, jittered, deterministic with a seeded Random."""

from __future__ import annotations

import random

import pytest

from ccd.backoff import Backoff, BackoffPolicy


@pytest.mark.parametrize("jitter", ["full", "decorrelated"])
def test_same_seed_gives_same_delays(jitter: str) -> None:
    policy = BackoffPolicy(min_s=0.5, max_s=30, jitter=jitter)  # type: ignore[arg-type]
    first = Backoff(policy, random.Random(42))
    second = Backoff(policy, random.Random(42))
    assert [first.next_delay() for _ in range(20)] == [second.next_delay() for _ in range(20)]


@pytest.mark.parametrize("jitter", ["full", "decorrelated"])
def test_delays_stay_within_bounds(jitter: str) -> None:
    policy = BackoffPolicy(min_s=0.25, max_s=8, jitter=jitter)  # type: ignore[arg-type]
    backoff = Backoff(policy, random.Random(7))
    delays = [backoff.next_delay() for _ in range(500)]
    assert min(delays) >= 0.25
    assert max(delays) <= 8


def test_full_jitter_ceiling_grows_exponentially() -> None:
    policy = BackoffPolicy(min_s=1, max_s=1000, factor=2, jitter="full")
    backoff = Backoff(policy, random.Random(1))
    for attempt in range(8):
        assert backoff.next_delay() <= 2**attempt


def test_delays_grow_then_saturate_at_max() -> None:
    for jitter in ("full", "decorrelated"):
        policy = BackoffPolicy(min_s=0.5, max_s=10, jitter=jitter)
        backoff = Backoff(policy, random.Random(3))
        early = [backoff.next_delay() for _ in range(3)]
        for _ in range(30):
            backoff.next_delay()
        late = [backoff.next_delay() for _ in range(50)]
        assert sum(late) / len(late) > max(early) / 2
        assert sum(late) / len(late) > 3


def test_attempt_counts_consecutive_failures_and_reset_starts_over() -> None:
    backoff = Backoff(BackoffPolicy(min_s=1, max_s=60, jitter="full"), random.Random(5))
    for _ in range(6):
        backoff.next_delay()
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 1  # ceiling is min_s again


def test_only_a_stable_connection_resets() -> None:
    backoff = Backoff(BackoffPolicy(min_s=1, max_s=60, stable_after_s=30), random.Random(5))
    for _ in range(4):
        backoff.next_delay()
    backoff.connection_ended(lasted_s=2.0)
    assert backoff.attempt == 4
    backoff.connection_ended(lasted_s=45.0)
    assert backoff.attempt == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"min_s": 0}, {"min_s": 5, "max_s": 1}, {"factor": 0.5}, {"jitter": "none"}],
)
def test_invalid_policy_is_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"backoff|jitter"):
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]
