"""Which calls of a queue or campaign are recorded. Pure.

A policy is ``all``, ``none`` (the default) or ``percent`` with a whole ``percent`` from 0
to 100. The percentage is decided per call by one draw from a ``random.Random`` the caller
owns: seeded, the same calls are chosen every run (tests, simulations); the daemon seeds
it from the system. Over many calls the share recorded tends to ``percent``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class RecordingMode(enum.StrEnum):
    ALL = "all"
    NONE = "none"
    PERCENT = "percent"


class InvalidPolicy(ValueError):
    """A policy that cannot be: ``field`` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    mode: RecordingMode = RecordingMode.NONE
    percent: int = 0  # read only in percent mode

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 100:
            raise InvalidPolicy("percent", "must be a whole number from 0 to 100")

    @classmethod
    def from_stored(cls, mode: str, percent: int) -> RecordingPolicy:
        try:
            return cls(RecordingMode(mode), percent)
        except ValueError:
            return cls()  # a value no version of ccd writes: record nothing rather than fail

    def as_json(self) -> dict[str, Any]:
        if self.mode is RecordingMode.PERCENT:
            return {"mode": self.mode.value, "percent": self.percent}
        return {"mode": self.mode.value}


NO_RECORDING = RecordingPolicy()


def parse_policy(value: Mapping[str, Any]) -> RecordingPolicy:
    """``{"mode": "all"|"none"}`` or ``{"mode": "percent", "percent": 0..100}``; anything
    else raises ``InvalidPolicy`` naming the field."""
    unknown = sorted(set(value) - {"mode", "percent"})
    if unknown:
        raise InvalidPolicy(unknown[0], "unknown field (expected mode, percent)")
    raw_mode = value.get("mode")
    try:
        mode = RecordingMode(str(raw_mode) if isinstance(raw_mode, str) else "")
    except ValueError:
        raise InvalidPolicy("mode", "must be one of all, none, percent") from None
    if mode is not RecordingMode.PERCENT:
        if "percent" in value:
            raise InvalidPolicy("percent", f"only with mode percent, not {mode.value}")
        return RecordingPolicy(mode)
    percent = value.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise InvalidPolicy("percent", "required with mode percent: a whole number 0-100")
    return RecordingPolicy(mode, percent)


def should_record(policy: RecordingPolicy, rng: random.Random) -> bool:
    """Whether this call is recorded. Draws from ``rng`` only in percent mode, so a
    seeded generator gives the same choices whatever the other queues' policies are."""
    if policy.mode is RecordingMode.ALL:
        return True
    if policy.mode is RecordingMode.NONE:
        return False
    return rng.randrange(100) < policy.percent
