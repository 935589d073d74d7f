"""The recording policy: its JSON shape, validation, and the per-call decision (pure,
the same choices for the same seed)."""

from __future__ import annotations

import random

import pytest

from ccd.recording.policy import (
    NO_RECORDING,
    InvalidPolicy,
    RecordingMode,
    RecordingPolicy,
    parse_policy,
    should_record,
)


def test_default_records_nothing() -> None:
    assert RecordingPolicy(RecordingMode.NONE, 0) == NO_RECORDING
    rng = random.Random(1)
    assert not any(should_record(NO_RECORDING, rng) for _ in range(100))


def test_all_records_every_call_without_drawing() -> None:
    rng = random.Random(7)
    before = rng.getstate()
    assert all(should_record(RecordingPolicy(RecordingMode.ALL), rng) for _ in range(50))
    assert rng.getstate() == before  # other queues' percentages keep their sequence


def test_percent_is_deterministic_when_seeded() -> None:
    policy = RecordingPolicy(RecordingMode.PERCENT, 25)
    rng_a, rng_b = random.Random(42), random.Random(42)
    run_a = [should_record(policy, rng_a) for _ in range(200)]
    run_b = [should_record(policy, rng_b) for _ in range(200)]
    assert run_a == run_b
    assert run_a != [should_record(policy, random.Random(43)) for _ in range(200)]


def test_percent_records_about_that_share() -> None:
    rng = random.Random(3)
    policy = RecordingPolicy(RecordingMode.PERCENT, 25)
    recorded = sum(should_record(policy, rng) for _ in range(10_000))
    assert 2300 < recorded < 2700


@pytest.mark.parametrize(("percent", "expected"), [(0, 0), (100, 1000)])
def test_percent_bounds(percent: int, expected: int) -> None:
    rng = random.Random(5)
    policy = RecordingPolicy(RecordingMode.PERCENT, percent)
    assert sum(should_record(policy, rng) for _ in range(1000)) == expected


@pytest.mark.parametrize(
    ("body", "policy"),
    [
        ({"mode": "all"}, RecordingPolicy(RecordingMode.ALL)),
        ({"mode": "none"}, RecordingPolicy(RecordingMode.NONE)),
        ({"mode": "percent", "percent": 25}, RecordingPolicy(RecordingMode.PERCENT, 25)),
    ],
)
def test_parse_round_trips(body: dict[str, object], policy: RecordingPolicy) -> None:
    assert parse_policy(body) == policy
    assert policy.as_json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "mode"),
        ({"mode": "some"}, "mode"),
        ({"mode": 1}, "mode"),
        ({"mode": "percent"}, "percent"),
        ({"mode": "percent", "percent": 101}, "percent"),
        ({"mode": "percent", "percent": -1}, "percent"),
        ({"mode": "percent", "percent": 12.5}, "percent"),
        ({"mode": "percent", "percent": "25"}, "percent"),
        ({"mode": "percent", "percent": True}, "percent"),
        ({"mode": "all", "percent": 50}, "percent"),
        ({"mode": "all", "rate": 50}, "rate"),
    ],
)
def test_invalid_policies_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_policy(body)
    assert caught.value.field == field


def test_unknown_stored_mode_records_nothing() -> None:
    assert RecordingPolicy.from_stored("sometimes", 50) == NO_RECORDING
    assert RecordingPolicy.from_stored("percent", 30) == RecordingPolicy(RecordingMode.PERCENT, 30)
