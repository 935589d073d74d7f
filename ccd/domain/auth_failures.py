"""Failed-authentication limiting per source address, as a pure bounded structure.

Each address gets a fixed window that opens at its first failure. When ``limit`` failures
fall inside one window, the address is blocked until the window closes: every request
from it is refused without its token being checked (a blocked address learns nothing
about any token, and a spray of guesses costs no database reads). The map holds at most
``capacity`` addresses; a new address beyond that evicts the one that failed least
recently, so a spray from many addresses cannot grow memory without bound.

Time is a monotonic reading in seconds, passed in by the caller.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    opened_at: float
    failures: int


class FailedAuthLimiter:
    def __init__(self, *, limit: int, window_s: float, capacity: int) -> None:
        if limit < 1 or window_s <= 0 or capacity < 1:
            raise ValueError("limit and capacity must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self.capacity = capacity
        # Order is recency of the last failure: the first key is evicted first. An
        # OrderedDict, not a dict: a dict's first key after many deletions is found by
        # scanning the deleted slots before it (O(n) per eviction under a spray).
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def retry_after(self, address: str, now: float) -> int | None:
        """Whole seconds until ``address`` may try again, or None if it is not blocked."""
        window = self._current(address, now)
        if window is None or window.failures < self.limit:
            return None
        return max(1, math.ceil(window.opened_at + self.window_s - now))

    def record_failure(self, address: str, now: float) -> int | None:
        """Count one failed attempt; returns ``retry_after`` as it stands afterwards."""
        window = self._current(address, now)
        if window is None:
            window = _Window(opened_at=now, failures=0)
            if len(self._windows) >= self.capacity:
                self._windows.popitem(last=False)
            self._windows[address] = window
        else:
            self._windows.move_to_end(address)
        window.failures += 1
        return self.retry_after(address, now)

    def _current(self, address: str, now: float) -> _Window | None:
        window = self._windows.get(address)
        if window is not None and now >= window.opened_at + self.window_s:
            del self._windows[address]
            return None
        return window
