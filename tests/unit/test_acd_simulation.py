"""The simulator drives the real engine; with no abandonment it must agree with Erlang C.

The runs are seeded (deterministic); the tolerances leave about 3 standard errors of
the pooled estimate (measured over other seeds: 3 x 80 h gives a standard error of
about 0.9 points on the first case) so a change of seed or engine detail does not
break them, while the whole file stays around 5 s.
"""

from dataclasses import replace

import pytest

from ccd.acd import erlang
from ccd.acd.simulation import SimConfig, SimResult, simulate


def pooled(config: SimConfig, seeds: int) -> tuple[float, float, float]:
    runs: list[SimResult] = [simulate(replace(config, seed=seed)) for seed in range(seeds)]
    answered = sum(r.answered for r in runs)
    sl = sum(r.service_level * r.answered for r in runs) / answered
    asa = sum(r.asa_s * r.answered for r in runs) / answered
    occ = sum(r.occupancy for r in runs) / len(runs)
    return sl, asa, occ


def test_100_calls_per_30_minutes_14_agents_matches_erlang_c() -> None:
    rate = 100 / 1800
    sl, asa, occ = pooled(SimConfig(rate, 180, 14, duration_s=80 * 3600), seeds=3)
    assert erlang.service_level(rate, 180, 14, 20) == pytest.approx(0.888, abs=1e-3)
    assert sl == pytest.approx(erlang.service_level(rate, 180, 14, 20), abs=0.02)
    assert asa == pytest.approx(erlang.average_speed_of_answer(rate, 180, 14), abs=2.0)
    assert occ == pytest.approx(10 / 14, abs=0.02)


def test_small_team_with_long_waits_matches_erlang_c() -> None:
    # 2 Erlangs on 3 agents, SL(30 s) ~ 65%, ASA ~ 53 s.
    rate, aht = 1 / 60, 120
    config = SimConfig(rate, aht, 3, duration_s=150 * 3600, service_level_s=30)
    sl, asa, _ = pooled(config, seeds=2)
    assert sl == pytest.approx(erlang.service_level(rate, aht, 3, 30), abs=0.03)
    assert asa == pytest.approx(erlang.average_speed_of_answer(rate, aht, 3), rel=0.1)


def test_impatient_callers_abandon_and_the_rest_are_served_faster() -> None:
    rate = 100 / 1800
    patient = simulate(SimConfig(rate, 180, 11, duration_s=30 * 3600))
    impatient = simulate(SimConfig(rate, 180, 11, duration_s=30 * 3600, patience_mean_s=60))
    assert patient.abandoned == 0
    assert 0.02 < impatient.abandon_rate < 0.5
    assert impatient.offered == pytest.approx(patient.offered, rel=0.05)
    assert impatient.asa_s < patient.asa_s
    assert impatient.service_level > patient.service_level


def test_same_seed_same_result() -> None:
    config = SimConfig(1 / 60, 120, 3, duration_s=5 * 3600, seed=7)
    assert simulate(config) == simulate(config)
