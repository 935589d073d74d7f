"""Waiting for the real rig: poll until a condition holds, or fail the test saying what."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest


async def eventually(
    check: Callable[[], Any], *, within_s: float, what: str, interval_s: float = 0.05
) -> Any:
    """Call ``check`` (sync or async) every ``interval_s`` until it returns something
    truthy, and return that; fail with ``what`` after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within_s} s: {what}", pytrace=False)
        await asyncio.sleep(interval_s)
