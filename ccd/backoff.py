"""Reconnect delays: exponential backoff with jitter, reset once a connection proved stable.

Pure: no clock, no sleeping. The caller asks for the next delay after each failure and
reports how long a connection lasted; the random source is injected so tests are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Jitter = Literal["full", "decorrelated"]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    min_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: Jitter = "decorrelated"
    # A connection that lived this long was healthy: the next failure starts over at min_s.
    stable_after_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError("backoff needs 0 < min_s <= max_s")
        if self.factor < 1:
            raise ValueError("backoff factor must be >= 1")
        if self.jitter not in ("full", "decorrelated"):
            raise ValueError(f"unknown jitter {self.jitter!r}")


class Backoff:
    """Delays for consecutive failures.

    ``full``: uniform in [min_s, min(max_s, min_s * factor**n)].
    ``decorrelated``: uniform in [min_s, previous * 3], capped at max_s (spreads a herd of
    clients that all lost the same PBX without synchronising their retries).
    """

    def __init__(self, policy: BackoffPolicy | None = None, rng: random.Random | None = None):
        self.policy = policy or BackoffPolicy()
        self._rng = rng or random.Random()
        self.attempt = 0
        self._previous = self.policy.min_s

    def next_delay(self) -> float:
        policy = self.policy
        if policy.jitter == "full":
            ceiling = min(policy.max_s, policy.min_s * policy.factor**self.attempt)
            delay = self._rng.uniform(policy.min_s, ceiling)
        else:
            delay = min(policy.max_s, self._rng.uniform(policy.min_s, self._previous * 3))
        self._previous = delay
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
        self._previous = self.policy.min_s

    def connection_ended(self, lasted_s: float) -> None:
        """Report how long a connection was up; a stable one resets the backoff."""
        if lasted_s >= self.policy.stable_after_s:
            self.reset()
