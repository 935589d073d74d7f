"""The recorded AMI fixture (bench/fixtures/ami-calls.raw) is whole real traffic: the
ingest benchmark and replay tests rely on it being complete calls, frame-aligned."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "bench" / "fixtures" / "ami-calls.raw"


@pytest.fixture(scope="module")
def frames() -> list[dict[str, str]]:
    raw = FIXTURE.read_bytes()
    assert raw.endswith(b"\r\n\r\n"), "the fixture must end on a frame boundary"
    parsed = []
    for block in raw[:-4].split(b"\r\n\r\n"):
        frame: dict[str, str] = {}
        for line in block.decode("utf-8").split("\r\n"):
            key, sep, value = line.partition(": ")
            assert sep, f"not a header line: {line!r}"
            frame.setdefault(key, value)
        parsed.append(frame)
    return parsed


def test_starts_after_login_and_is_all_events_or_responses(frames: list[dict[str, str]]) -> None:
    assert all("Event" in f or "Response" in f for f in frames)
    assert not any(f.get("Message") == "Authentication accepted" for f in frames)


def test_every_call_that_starts_also_ends(frames: list[dict[str, str]]) -> None:
    created: dict[str, set[str]] = defaultdict(set)
    hung_up: dict[str, set[str]] = defaultdict(set)
    for f in frames:
        if f.get("Event") == "Newchannel":
            created[f["Linkedid"]].add(f["Uniqueid"])
        elif f.get("Event") == "Hangup":
            hung_up[f["Linkedid"]].add(f["Uniqueid"])
    assert len(created) == 40
    assert created == hung_up


def test_covers_each_outcome(frames: list[dict[str, str]]) -> None:
    outcomes = Counter(
        (f["Response"], f["Reason"]) for f in frames if f.get("Event") == "OriginateResponse"
    )
    assert outcomes[("Success", "4")] > 20  # answered
    assert outcomes[("Failure", "5")] >= 1  # busy
    assert outcomes[("Failure", "8")] >= 1  # congestion
    assert outcomes[("Failure", "3")] >= 1  # no answer
    events = Counter(f.get("Event") for f in frames)
    assert events["BridgeEnter"] >= 40
    assert events["Cdr"] >= 40
    assert events["UserEvent"] >= 1
