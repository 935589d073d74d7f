"""The host's local time zone for the length of a test: what ccd reads as local time (the
wallboard's "today", its hour labels) follows ``TZ`` once ``time.tzset()`` has read it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def host_time_zone(name: str) -> Iterator[None]:
    """``TZ=name`` while the block runs; the previous ``TZ`` (or none) back afterwards."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
