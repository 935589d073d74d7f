"""The failed-authentication limiter: windows, blocking, bounded memory (no loop, no IO)."""

from __future__ import annotations

import pytest

from ccd.domain.auth_failures import FailedAuthLimiter


def limiter(limit: int = 3, window_s: float = 60.0, capacity: int = 100) -> FailedAuthLimiter:
    return FailedAuthLimiter(limit=limit, window_s=window_s, capacity=capacity)


def test_an_address_is_blocked_after_limit_failures_for_the_rest_of_the_window() -> None:
    failures = limiter()
    assert failures.retry_after("198.51.100.1", 0.0) is None
    assert failures.record_failure("198.51.100.1", 0.0) is None
    assert failures.record_failure("198.51.100.1", 10.0) is None
    # The third failure, 20 s into the window, blocks for the 40 s left.
    assert failures.record_failure("198.51.100.1", 20.0) == 40
    assert failures.retry_after("198.51.100.1", 20.0) == 40
    assert failures.retry_after("198.51.100.1", 59.2) == 1  # rounded up, never 0
    assert failures.retry_after("198.51.100.1", 60.0) is None


def test_other_addresses_are_not_affected() -> None:
    failures = limiter(limit=1)
    failures.record_failure("198.51.100.1", 0.0)
    assert failures.retry_after("198.51.100.1", 1.0) == 59
    assert failures.retry_after("198.51.100.2", 1.0) is None


def test_failures_in_an_old_window_do_not_count_towards_a_new_one() -> None:
    failures = limiter(limit=3, window_s=60.0)
    failures.record_failure("a", 0.0)
    failures.record_failure("a", 59.0)
    # The window that opened at 0 closed at 60: this failure opens a new one.
    assert failures.record_failure("a", 61.0) is None
    assert failures.record_failure("a", 62.0) is None
    assert failures.record_failure("a", 63.0) == 58


def test_a_blocked_address_is_free_again_after_the_window() -> None:
    failures = limiter(limit=2, window_s=30.0)
    failures.record_failure("a", 0.0)
    failures.record_failure("a", 1.0)
    assert failures.retry_after("a", 29.0) == 1
    assert failures.retry_after("a", 30.0) is None
    assert len(failures) == 0  # the closed window is forgotten when seen
    assert failures.record_failure("a", 30.0) is None


def test_memory_is_bounded_the_least_recently_failing_address_is_forgotten() -> None:
    failures = limiter(limit=2, capacity=3)
    failures.record_failure("a", 0.0)
    failures.record_failure("b", 1.0)
    failures.record_failure("c", 2.0)
    failures.record_failure("a", 3.0)  # a is blocked, and now the most recent
    failures.record_failure("d", 4.0)  # evicts b, the least recent
    assert len(failures) == 3
    assert failures.retry_after("a", 5.0) == 55
    failures.record_failure("b", 5.0)  # b starts from zero: its first failure again
    assert failures.retry_after("b", 5.0) is None


def test_a_spray_of_addresses_never_grows_past_capacity() -> None:
    failures = limiter(limit=1, capacity=50)
    for n in range(10_000):
        failures.record_failure(f"10.0.{n // 256}.{n % 256}", float(n) / 1000)
    assert len(failures) == 50
    assert failures.retry_after("10.0.39.15", 10.0) is not None  # the newest is kept


@pytest.mark.parametrize(
    ("limit", "window_s", "capacity"), [(0, 60.0, 10), (1, 0.0, 10), (1, 60.0, 0)]
)
def test_nonsense_bounds_are_refused(limit: int, window_s: float, capacity: int) -> None:
    with pytest.raises(ValueError, match="limit and capacity"):
        FailedAuthLimiter(limit=limit, window_s=window_s, capacity=capacity)
