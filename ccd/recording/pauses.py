"""PCI pauses of one recording: a pure value (h11 style, no IO, no clock).

``pause(at)`` opens an interval, ``resume(at)`` closes the open one; asking again for what
is already so changes nothing (``changed`` is False), so a repeated REST call is harmless.
Intervals are in order and never overlap; the recording's end closes an open one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Pause:
    start: datetime
    end: datetime | None = None  # None: still paused


@dataclass(frozen=True, slots=True)
class Pauses:
    intervals: tuple[Pause, ...] = ()

    @property
    def paused(self) -> bool:
        return bool(self.intervals) and self.intervals[-1].end is None

    def pause(self, at: datetime) -> tuple[Pauses, bool]:
        if self.paused:
            return self, False
        return Pauses((*self.intervals, Pause(at))), True

    def resume(self, at: datetime) -> tuple[Pauses, bool]:
        if not self.paused:
            return self, False
        last = self.intervals[-1]
        return Pauses((*self.intervals[:-1], Pause(last.start, max(at, last.start)))), True

    def closed(self, at: datetime) -> Pauses:
        """The pauses once the recording ended at ``at`` (an open one ends there)."""
        return self.resume(at)[0]

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"start": p.start.isoformat(), "end": p.end.isoformat() if p.end else None}
            for p in self.intervals
        ]

    @classmethod
    def from_json(cls, rows: Iterable[Mapping[str, Any]]) -> Pauses:
        return cls(
            tuple(
                Pause(
                    datetime.fromisoformat(row["start"]),
                    datetime.fromisoformat(row["end"]) if row.get("end") else None,
                )
                for row in rows
            )
        )
