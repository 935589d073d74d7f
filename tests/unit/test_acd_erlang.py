import math

import pytest

from ccd.acd.erlang import (
    agents_for_service_level,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    occupancy,
    service_level,
)


def erlang_c_by_factorials(traffic: float, agents: int) -> float:
    """The textbook closed form, for checking the recurrence on small cases."""
    top = traffic**agents / math.factorial(agents) * agents / (agents - traffic)
    bottom = sum(traffic**k / math.factorial(k) for k in range(agents)) + top
    return top / bottom


@pytest.mark.parametrize(("traffic", "agents"), [(1, 2), (2, 3), (10, 14), (7.5, 9), (30, 35)])
def test_recurrence_matches_closed_form(traffic: float, agents: int) -> None:
    assert erlang_c(traffic, agents) == pytest.approx(erlang_c_by_factorials(traffic, agents))


def test_textbook_case_100_calls_in_30_minutes() -> None:
    rate = 100 / 1800
    assert erlang_c(10, 14) == pytest.approx(0.1741, abs=1e-4)
    assert service_level(rate, 180, 14, 20) == pytest.approx(0.888, abs=1e-3)
    assert average_speed_of_answer(rate, 180, 14) == pytest.approx(7.84, abs=0.01)
    assert occupancy(rate, 180, 14) == pytest.approx(10 / 14)
    # 13 agents fall short of 80/20, 14 reach it.
    assert service_level(rate, 180, 13, 20) < 0.8
    assert agents_for_service_level(rate, 180, 0.8, 20) == 14


def test_single_agent_is_m_m_1() -> None:
    # M/M/1: probability of waiting = utilisation, ASA = rho / (mu - lambda).
    rate, aht = 1 / 300, 180
    assert erlang_c(rate * aht, 1) == pytest.approx(0.6)
    assert average_speed_of_answer(rate, aht, 1) == pytest.approx(0.6 / (1 / 180 - rate))


def test_large_traffic_stays_finite_and_within_bounds() -> None:
    # Factorials of 1,500 overflow a float; the recurrence does not.
    value = erlang_c(1400, 1500)
    assert 0 < value < 1
    assert erlang_b(1400, 1500) < value


def test_overloaded_or_empty_queues() -> None:
    assert erlang_c(14, 14) == 1.0
    assert service_level(1, 20, 10, 20) == 0.0
    assert average_speed_of_answer(1, 20, 10) == math.inf
    assert erlang_c(0, 3) == 0.0
    with pytest.raises(ValueError, match="traffic"):
        erlang_c(-1, 3)
    with pytest.raises(ValueError, match="target"):
        agents_for_service_level(0.1, 100, 1.0, 20)
