"""The pacing core's sweeps against a plain reference: the same decisions on any floor.

``Pacer._agents`` and ``Pacer._ringing_people`` walk the floor's elapsed times sorted, once,
against the sorted estimate windows. The reference here is the direct reading of the model
(one bisection per busy agent and per ringing call, the floor in its own order). The two add
the same terms in a different order, so the floats may differ in their last bits: the
decisions are compared exactly, the expectations to 1e-9.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import astuple

from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.dialer.model import AbandonTally, DialMode, Outcome
from ccd.dialer.pacing import (
    MIN_HANDLE_SAMPLES,
    MIN_RING_SAMPLES,
    AgentConnected,
    CallEnded,
    CallPlaced,
    Decision,
    Floor,
    Pacer,
    RingEnded,
)


class ReferencePacer(Pacer):
    """The pacer with the two floor sums computed the straightforward way."""

    def _agents(self, floor: Floor, within_s: float) -> tuple[float, float]:
        mean = float(floor.free)
        var = 0.0
        handle = self._handle.sorted
        total = len(handle)
        if total < MIN_HANDLE_SAMPLES:
            return mean, var
        for elapsed in floor.busy_elapsed_s:
            still = total - bisect_right(handle, elapsed)  # calls longer than this one so far
            if still == 0:
                continue
            q = (still - (total - bisect_right(handle, elapsed + within_s))) / still
            mean += q
            var += q * (1.0 - q)
        return mean, var

    def _ringing_people(self, floor: Floor, p: float) -> tuple[float, float]:
        person = self._person_ring.sorted
        every = self._any_ring.sorted
        if len(person) < MIN_RING_SAMPLES or not every:
            n = len(floor.ringing_s)
            return n * p, n * p * (1.0 - p)
        mean = 0.0
        var = 0.0
        for elapsed in floor.ringing_s:
            still = len(every) - bisect_right(every, elapsed)
            if still == 0:
                continue
            person_still = len(person) - bisect_right(person, elapsed)
            q = min(1.0, p * (person_still / len(person)) * (len(every) / still))
            mean += q
            var += q * (1.0 - q)
        return mean, var


def pacers(
    rings: list[tuple[bool, float]], handle_times: list[float], mode: DialMode = DialMode.PREDICTIVE
) -> tuple[Pacer, Pacer]:
    """The pacer and the reference, fed the same calls."""
    both = (Pacer(mode, 3.0), ReferencePacer(mode, 3.0))
    for pacer in both:
        for i, (person, ring_s) in enumerate(rings):
            outcome = Outcome.ANSWERED if person else Outcome.NO_ANSWER
            pacer.handle(CallPlaced(f"c{i}"), 0.0)
            pacer.handle(RingEnded(f"c{i}", outcome, ring_s), 0.0)
        for i, handle_s in enumerate(handle_times):
            pacer.handle(AgentConnected(f"t{i}", 0.3), 0.0)
            pacer.handle(CallEnded(f"t{i}", handle_s), 0.0)
    return both


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_same(
    pacer: Pacer, reference: Pacer, floor: Floor, today: AbandonTally, rolling: AbandonTally
) -> Decision:
    for within_s in (0.0, 2.0, 9.7, 60.0):
        assert all(map(close, pacer._agents(floor, within_s), reference._agents(floor, within_s)))
    for p in (0.0, 0.1, pacer.answer_rate, 1.0):
        got = pacer._ringing_people(floor, p)
        assert all(map(close, got, reference._ringing_people(floor, p)))
    decision = pacer.decide(floor, today, rolling, 0.0)
    expected = reference.decide(floor, today, rolling, 0.0)
    assert (decision.place, decision.mode, decision.reason) == (
        expected.place,
        expected.mode,
        expected.reason,
    )
    assert all(map(close, astuple(decision)[3:], astuple(expected)[3:]))
    return decision


# Times: uniform, or (a share ``ties`` of them) a few round values, so that the floor and
# the windows share values (a call ringing exactly as long as a ring seen): where a sweep
# can be off by one.
ROUND = [0.0, 2.0, 8.0, 9.7, 25.0, 120.0]


def times(
    rng: random.Random, n: int, high: float, ties: float, extra: tuple[float, ...] = ()
) -> list[float]:
    return [
        rng.choice([*ROUND, *extra]) if rng.random() < ties else rng.uniform(0.0, high)
        for _ in range(n)
    ]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    attempts=st.integers(0, 700),
    person_share=st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.9, 1.0]),
    ended=st.integers(0, 400),
    free=st.integers(0, 40),
    busy=st.integers(0, 500),
    ringing=st.integers(0, 1000),
    waiting=st.integers(0, 4),
    ties=st.sampled_from([0.0, 0.2, 1.0]),
    abandoned=st.integers(0, 40),
)
def test_the_sweeps_decide_as_the_reference_does(
    seed: int,
    attempts: int,
    person_share: float,
    ended: int,
    free: int,
    busy: int,
    ringing: int,
    waiting: int,
    ties: float,
    abandoned: int,
) -> None:
    rng = random.Random(seed)
    rings = [(rng.random() < person_share, ring_s) for ring_s in times(rng, attempts, 30.0, ties)]
    pacer, reference = pacers(rings, times(rng, ended, 600.0, ties))
    floor = Floor(
        free=free,
        # An infinite elapsed time: longer than anything seen, whatever the window.
        busy_elapsed_s=times(rng, busy, 700.0, ties, (math.inf,)),
        ringing_s=times(rng, ringing, 30.0, ties, (math.inf,)),
        waiting=waiting,
    )
    today = AbandonTally(1000, abandoned)
    assert_same(pacer, reference, floor, today, AbandonTally(50_000, 800))


def elapsed(rng: random.Random, samples: list[float], high: float) -> float:
    """Uniform up to ``high``, or (one in five) exactly one of the windows' samples."""
    return rng.choice(samples) if rng.random() < 0.2 else rng.uniform(0.0, high)


def test_500_agent_floors_decide_as_the_reference_does() -> None:
    """The bench's floors (bench/dialer_pacing.py), with elapsed times equal to a window's
    samples mixed in."""
    rng = random.Random(7)
    rings = [(rng.random() < 0.1, 0.0) for _ in range(2_000)]
    rings = [(person, rng.uniform(2.0, 20.0) if person else 25.0) for person, _ in rings]
    handle_times = [rng.lognormvariate(4.7, 0.5) for _ in range(1_000)]
    pacer, reference = pacers(rings, handle_times)
    samples = [ring_s for _, ring_s in rings[-500:]] + handle_times[-300:]
    tallies = [AbandonTally(50_000, 800), AbandonTally(1_000, 25), AbandonTally(20, 0)]
    placed = set()
    for _ in range(300):
        free = rng.randint(0, 40)
        floor = Floor(
            free=free,
            busy_elapsed_s=[elapsed(rng, samples, 600.0) for _ in range(500 - free)],
            ringing_s=[elapsed(rng, samples, 25.0) for _ in range(rng.randint(0, 1000))],
            waiting=rng.randint(0, 3),
        )
        decision = assert_same(pacer, reference, floor, rng.choice(tallies), tallies[0])
        placed.add(decision.place)
    assert len(placed) > 10  # the floors are varied enough to move the decision
