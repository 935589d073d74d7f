"""A cumulative latency histogram as plain data (pure: no clock, no metrics library).

Components record into it (``observe``); the metrics collector turns it into a Prometheus
histogram at scrape time. Like a Prometheus histogram it never resets: rates and quantiles
over a window are the monitoring system's job."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

# Seconds: from a fast local commit to a database struggling under load.
DEFAULT_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS_S) -> None:
        bounds = tuple(float(b) for b in buckets)
        if not bounds or any(b >= c for b, c in itertools.pairwise(bounds)):
            raise ValueError("buckets must be a non-empty, strictly increasing sequence")
        self.bounds = bounds
        # One count per bound, plus the last for samples above every bound (+Inf).
        self._counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, samples <= it)`` for every bound, then ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out
