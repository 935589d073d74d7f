"""Campaign rules that make a campaign unfit to run, each named by its field."""

from __future__ import annotations

from dataclasses import replace
from datetime import time

import pytest

from ccd.dialer.model import (
    AbandonTally,
    AmdMode,
    CallingWindow,
    DialMode,
    RetryRule,
    Weekday,
)
from tests.unit.dialercases import CAMPAIGN as OK


def test_a_sensible_campaign_has_no_problems() -> None:
    assert OK.problems() == []
    assert replace(OK, agent_ids=frozenset(), queue_id="sales").problems() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"agent_ids": frozenset()}, "agent_ids"),
        ({"ring_timeout_s": 14.0}, "ring_timeout_s"),
        ({"abandon_cap_pct": 3.5}, "abandon_cap_pct"),
        ({"abandon_cap_pct": 0.0}, "abandon_cap_pct"),
        ({"mode": DialMode.PREDICTIVE}, "safe_harbor_prompt"),
        ({"amd": AmdMode.LEAVE_MESSAGE}, "machine_message_prompt"),
        ({"windows": ()}, "windows"),
        ({"dispositions": ("sale",)}, "dispositions"),
    ],
)
def test_each_broken_rule_names_its_field(change: dict[str, object], field: str) -> None:
    broken = replace(OK, **change)  # type: ignore[arg-type]
    assert [name for name, _ in broken.problems()] == [field]


def test_a_cap_above_the_legal_three_percent_needs_an_explicit_override() -> None:
    assert replace(OK, abandon_cap_pct=5.0, cap_override=True).problems() == []
    assert replace(OK, abandon_cap_pct=1.5).problems() == []  # lower is always allowed


def test_windows_and_retry_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        CallingWindow(frozenset({Weekday.MON}), time(21, 0), time(8, 0))
    with pytest.raises(ValueError, match="no days"):
        CallingWindow(frozenset(), time(8, 0), time(21, 0))
    with pytest.raises(ValueError, match="max_attempts"):
        RetryRule(delay_s=60, max_attempts=0)


def test_abandon_rate_is_abandoned_over_live_answered() -> None:
    assert AbandonTally(answered=200, abandoned=5).rate_pct == 2.5
    assert AbandonTally().rate_pct == 0.0
    with pytest.raises(ValueError, match="live-answered"):
        AbandonTally(answered=1, abandoned=2)
