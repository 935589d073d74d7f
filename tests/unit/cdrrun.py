"""Driving the pure CDR builder in unit tests: AMI frames → translate → CdrBuilder.

Moved out of test_cdr_builder.py (test_cdr_builder_queue imports these); test_cdr_builder.py
keeps its own copy until its concurrent rewrite lands and it imports them from here."""

from __future__ import annotations

from datetime import UTC, datetime

from ccd.ami.translate import translate
from ccd.cdr.builder import CdrBuilder
from ccd.domain.cdr import CallRecord
from ccd.domain.events import DomainEvent

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def ts(frame: dict[str, str]) -> datetime:
    """The frame's own ``Timestamp`` (manager.conf ``timestampevents``)."""
    return datetime.fromtimestamp(float(frame["Timestamp"]), UTC)


class Run:
    """Frames → translate → builder, keeping every record produced."""

    def __init__(self, builder: CdrBuilder | None = None) -> None:
        self.builder = builder if builder is not None else CdrBuilder()
        self.records: list[CallRecord] = []

    def frames(self, *frames: dict[str, str]) -> list[CallRecord]:
        out: list[CallRecord] = []
        for frame in frames:
            event = translate(frame, NOW)
            if event is not None:
                out += self.builder.apply(event)
        self.records += out
        return out

    def events(self, *events: DomainEvent) -> list[CallRecord]:
        out: list[CallRecord] = []
        for event in events:
            out += self.builder.apply(event)
        self.records += out
        return out

    def only(self) -> CallRecord:
        assert len(self.records) == 1, self.records
        return self.records[0]

    def assert_empty(self) -> None:
        b = self.builder
        assert (b.call_count, b.leg_count, b.bridge_count) == (0, 0, 0)
