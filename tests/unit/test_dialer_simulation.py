"""The campaign simulator: deterministic, same calls for both pacers, the 2 s rule."""

from __future__ import annotations

from ccd.dialer.model import DialMode
from ccd.dialer.simulation import SimConfig, run_baseline, run_core

SHORT = SimConfig(agents=20, answer_rate=0.3, duration_s=1800.0, seed=3)


def test_a_seeded_run_is_deterministic() -> None:
    assert run_core(SHORT) == run_core(SHORT)
    assert run_baseline(SHORT) == run_baseline(SHORT)


def test_progressive_never_abandons_and_predictive_keeps_agents_busier() -> None:
    progressive = run_core(SHORT, DialMode.PROGRESSIVE)
    predictive = run_core(SHORT)
    assert progressive.abandoned == 0
    assert predictive.occupancy > progressive.occupancy + 0.1
    assert predictive.abandon_pct <= SHORT.cap_pct
    assert predictive.max_today_pct <= SHORT.cap_pct


def test_the_figures_add_up() -> None:
    result = run_baseline(SHORT)
    # A person is connected or abandoned (or still within their 2 s when the shift ends).
    assert 0 <= result.people - result.connected - result.abandoned <= SHORT.agents
    assert 0 < result.occupancy < result.busy_occupancy < 1
    assert abs(result.people / result.placed - SHORT.answer_rate) < 0.05
