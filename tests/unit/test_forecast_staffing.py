"""Agents per interval: Erlang C, the occupancy cap, shrinkage (ccd.forecast.staffing)."""

from __future__ import annotations

import pytest

from ccd.forecast.staffing import LimitedBy, StaffingTarget, staff

HALF_HOUR = 1800.0
EIGHTY_IN_TWENTY = StaffingTarget(service_level=0.8, threshold_s=20, max_occupancy=0.85)


def test_textbook_case_needs_14_agents() -> None:
    # 100 calls in 30 minutes, AHT 180 s: 10 Erlangs; 13 agents answer 79.6 % in 20 s,
    # 14 answer 88.8 % (occupancy 10/14 = 71.4 %, under the cap).
    result = staff(100, 180, HALF_HOUR, EIGHTY_IN_TWENTY)
    assert result.traffic == pytest.approx(10.0)
    assert result.agents_for_service_level == 14
    assert result.agents == 14
    assert result.scheduled == 14
    assert result.limited_by is LimitedBy.SERVICE_LEVEL
    assert result.service_level == pytest.approx(0.888, abs=1e-3)
    assert result.occupancy == pytest.approx(10 / 14)
    assert result.asa_s == pytest.approx(0.1741 * 180 / 4, abs=0.05)


def test_occupancy_cap_adds_agents_erlang_c_would_run_too_hot() -> None:
    # 1000 calls in 30 minutes at 180 s: 100 Erlangs. Erlang C meets 80/20 with 107
    # agents, each busy 93.5 % of the time; at most 85 % takes ceil(100 / 0.85) = 118.
    result = staff(1000, 180, HALF_HOUR, EIGHTY_IN_TWENTY)
    assert result.agents_for_service_level == 107
    assert result.agents == 118
    assert result.limited_by is LimitedBy.OCCUPANCY
    assert result.occupancy == pytest.approx(100 / 118)
    assert result.service_level is not None
    assert result.service_level > 0.99


def test_occupancy_cap_exactly_reached_takes_no_extra_agent() -> None:
    # 8.5 Erlangs / 0.85 is 10 (a float a hair above it must not make 11).
    lenient = StaffingTarget(service_level=0.01, threshold_s=20, max_occupancy=0.85)
    result = staff(85, 180, HALF_HOUR, lenient)
    assert result.agents_for_service_level == 9
    assert result.agents == 10
    assert result.limited_by is LimitedBy.OCCUPANCY


def test_shrinkage_puts_more_agents_on_the_schedule() -> None:
    target = StaffingTarget(service_level=0.8, threshold_s=20, max_occupancy=0.85, shrinkage=0.3)
    result = staff(100, 180, HALF_HOUR, target)
    assert result.agents == 14
    assert result.scheduled == 20  # ceil(14 / 0.7)


@pytest.mark.parametrize(("volume", "aht"), [(0.0, 180.0), (12.0, 0.0)])
def test_no_calls_or_no_handle_time_needs_nobody(volume: float, aht: float) -> None:
    result = staff(volume, aht, HALF_HOUR, EIGHTY_IN_TWENTY)
    assert (result.agents, result.scheduled, result.limited_by) == (0, 0, LimitedBy.NO_CALLS)
    assert result.service_level is None
    assert result.occupancy is None


def test_a_quiet_interval_still_needs_one_agent() -> None:
    result = staff(0.4, 200, 900, EIGHTY_IN_TWENTY)
    assert result.agents == 1
    assert result.service_level is not None
    assert result.service_level >= 0.8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_level": 1.0}, "service level"),
        ({"threshold_s": 0}, "threshold"),
        ({"max_occupancy": 0}, "max occupancy"),
        ({"shrinkage": 1.0}, "shrinkage"),
    ],
)
def test_targets_out_of_range_are_refused(kwargs: dict[str, float], message: str) -> None:
    values = {"service_level": 0.8, "threshold_s": 20.0, "max_occupancy": 0.85} | kwargs
    with pytest.raises(ValueError, match=message):
        StaffingTarget(**values)
