"""The pacing core: a sane start, the mode rules, overdialing, the compliance fallback."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.dialer.model import AbandonTally, DialMode, Outcome
from ccd.dialer.pacing import (
    MAX_LINES_PER_AGENT,
    AgentConnected,
    CallEnded,
    CallPlaced,
    Floor,
    Pacer,
    RingEnded,
)

CLEAN = AbandonTally(10_000, 100)  # 1 %: far from a 3 % cap
_ids = itertools.count()


def learn(pacer: Pacer, attempts: int, answer_rate: float, ring_s: float = 8.0) -> None:
    """Feed ``attempts`` finished calls, a person on every 1/answer_rate-th."""
    people = 0
    for i in range(attempts):
        call_id = f"c{next(_ids)}"
        pacer.handle(CallPlaced(call_id), 0.0)
        person = people < (i + 1) * answer_rate
        people += person
        outcome = Outcome.ANSWERED if person else Outcome.NO_ANSWER
        pacer.handle(RingEnded(call_id, outcome, ring_s if person else 25.0), 0.0)


def handles(pacer: Pacer, count: int, handle_s: float = 120.0) -> None:
    for _ in range(count):
        call_id = f"t{next(_ids)}"
        pacer.handle(AgentConnected(call_id, 0.3), 0.0)
        pacer.handle(CallEnded(call_id, handle_s), 0.0)


def test_a_new_predictive_pacer_starts_with_one_call_per_free_agent() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    decision = pacer.decide(Floor(free=10), CLEAN, CLEAN, 0.0)
    assert decision.place == 10
    assert pacer.answer_rate == 1.0


def test_the_answer_rate_falls_from_the_prior_to_the_measured_rate() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(pacer, 25, 0.2)
    assert 0.5 < pacer.answer_rate < 1.0  # half prior, half data
    learn(pacer, 475, 0.2)
    assert abs(pacer.answer_rate - 0.2) < 0.03
    estimates = pacer.estimates()
    assert estimates.attempts_seen == 500
    assert estimates.person_ring_s == 8.0


def test_outcomes_are_learnt_in_the_order_the_calls_were_placed() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    pacer.handle(CallPlaced("slow"), 0.0)
    pacer.handle(CallPlaced("fast"), 0.0)
    pacer.handle(RingEnded("fast", Outcome.BUSY, 2.0), 2.0)
    assert pacer.estimates().attempts_seen == 0  # waits for the call placed before it
    pacer.handle(RingEnded("slow", Outcome.ANSWERED, 9.0), 9.0)
    assert pacer.estimates().attempts_seen == 2


def test_handle_times_update_the_estimate() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    assert pacer.estimates().handle_s is None
    handles(pacer, 10, 100.0)
    assert pacer.estimates().handle_s == 100.0
    pacer.handle(AgentConnected("x", 1.3), 0.0)
    assert pacer.estimates().connect_delay_s > 0.3


def test_progressive_never_has_more_calls_in_flight_than_free_agents() -> None:
    pacer = Pacer(DialMode.PROGRESSIVE, 3.0)
    learn(pacer, 500, 0.05)
    handles(pacer, 100)
    assert pacer.decide(Floor(free=5, ringing_s=[1.0, 2.0]), CLEAN, CLEAN, 0.0).place == 3
    assert pacer.decide(Floor(free=5, ringing_s=[1.0] * 4, waiting=1), CLEAN, CLEAN, 0).place == 0
    busy = Floor(free=0, busy_elapsed_s=[100.0] * 20)
    assert pacer.decide(busy, CLEAN, CLEAN, 0.0).place == 0


def test_predictive_overdials_when_the_answer_rate_is_low() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(pacer, 500, 0.1)
    handles(pacer, 100)
    floor = Floor(free=20, busy_elapsed_s=[60.0] * 80)
    decision = pacer.decide(floor, CLEAN, CLEAN, 0.0)
    assert decision.mode is DialMode.PREDICTIVE
    assert decision.place > 2 * floor.free
    assert decision.expected_people <= decision.expected_agents
    # A higher answer rate: fewer calls for the same floor.
    eager = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(eager, 500, 0.4)
    handles(eager, 100)
    assert eager.decide(floor, CLEAN, CLEAN, 0.0).place < decision.place


def test_busy_agents_about_to_finish_count_as_coming_free() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(pacer, 500, 0.1)
    handles(pacer, 100, handle_s=120.0)
    fresh = pacer.decide(Floor(free=0, busy_elapsed_s=[10.0] * 50), CLEAN, CLEAN, 0.0)
    ending = pacer.decide(Floor(free=0, busy_elapsed_s=[115.0] * 50), CLEAN, CLEAN, 0.0)
    assert fresh.place == 0
    assert ending.place > 0


def test_no_agents_no_calls_whatever_the_mode() -> None:
    for mode in DialMode:
        pacer = Pacer(mode, 3.0)
        learn(pacer, 500, 0.1)
        assert pacer.decide(Floor(free=0), CLEAN, CLEAN, 0.0).place == 0


def test_preview_places_nothing() -> None:
    assert Pacer(DialMode.PREVIEW, 3.0).decide(Floor(free=5), CLEAN, CLEAN, 0.0).place == 0


def test_near_the_cap_predictive_falls_back_to_progressive() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(pacer, 500, 0.1)
    handles(pacer, 100)
    floor = Floor(free=10, busy_elapsed_s=[60.0] * 90, ringing_s=[1.0] * 4)
    for today, rolling, which in (
        (AbandonTally(1000, 28), CLEAN, "today"),  # 2.8 % >= 90 % of 3 %
        (CLEAN, AbandonTally(100_000, 2_900), "rolling"),
        (AbandonTally(40, 1), CLEAN, "today"),  # 2.5 %, but one more: 2 in 41, 4.9 %
    ):
        decision = pacer.decide(floor, today, rolling, 0.0)
        assert decision.mode is DialMode.PROGRESSIVE
        assert decision.reason == f"near cap: {which}"
        assert decision.place == 6  # 10 free - 4 ringing
    assert pacer.decide(floor, CLEAN, CLEAN, 0.0).mode is DialMode.PREDICTIVE


def test_a_young_tally_with_nothing_abandoned_allows_calls_no_unlucky_tick_abandons() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(pacer, 500, 0.1)
    handles(pacer, 100)
    young = AbandonTally(20, 0)  # one abandon would be 1 in 21: 4.8 %
    assert pacer.near_cap(young, CLEAN) == "today"
    assert pacer.clean_start(young, CLEAN)
    floor = Floor(free=10, busy_elapsed_s=[60.0] * 90, ringing_s=[1.0] * 4)
    decision = pacer.decide(floor, young, CLEAN, 0.0)
    assert decision.mode is DialMode.PREDICTIVE
    assert decision.reason == "clean start"
    assert decision.place > 6  # beyond progressive (10 free - 4 ringing)...
    assert decision.place < pacer.decide(floor, CLEAN, CLEAN, 0.0).place  # ...but warier
    # No room for an unlucky tick to stay abandon-free: progressive, nothing more.
    tight = Floor(free=4, busy_elapsed_s=[60.0] * 96, ringing_s=[1.0] * 30)
    assert pacer.decide(tight, young, CLEAN, 0.0).place == 0
    # The first abandon ends the clean start: progressive until the tally absorbs another.
    once = AbandonTally(20, 1)
    assert not pacer.clean_start(once, CLEAN)
    decision = pacer.decide(floor, once, CLEAN, 0.0)
    assert (decision.mode, decision.reason, decision.place) == (
        DialMode.PROGRESSIVE,
        "near cap: today",
        6,
    )
    # A tally at 90 % of the cap is never a clean start, abandons or not.
    assert not pacer.clean_start(CLEAN, AbandonTally(100_000, 2_900))


def test_before_enough_rings_a_long_ringing_call_still_counts_as_a_person() -> None:
    floor = Floor(free=0, busy_elapsed_s=[10.0] * 10, ringing_s=[20.0] * 50)
    young = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(young, 100, 0.1)  # 10 people, all answered after 8 s
    decision = young.decide(floor, CLEAN, CLEAN, 0.0)
    assert decision.place == 0
    assert abs(decision.expected_people - 50 * 0.1) < 1e-9  # the plain answer rate
    # With enough people's rings, 20 s is longer than any person rang: no-answers.
    seasoned = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(seasoned, 500, 0.1)  # 50 people
    assert seasoned.decide(floor, CLEAN, CLEAN, 0.0).expected_people == 0.0


def test_a_lower_cap_is_near_sooner() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 1.0)
    assert pacer.near_cap(AbandonTally(1000, 15), CLEAN) == "today"
    assert pacer.near_cap(AbandonTally(100_000, 100), CLEAN) == "rolling"  # CLEAN: 1 %
    assert Pacer(DialMode.PREDICTIVE, 3.0).near_cap(AbandonTally(1000, 15), CLEAN) is None


def test_with_no_headroom_nothing_beyond_progressive_and_nothing_at_the_bound() -> None:
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    learn(pacer, 500, 0.1)
    handles(pacer, 100)
    at_cap = AbandonTally(1000, 30)
    floor = Floor(free=3, busy_elapsed_s=[60.0] * 97, ringing_s=[1.0] * 3)
    assert pacer.decide(floor, at_cap, CLEAN, 0.0).place == 0
    # Lines full: the campaign's max_in_flight is a hard bound.
    limited = Pacer(DialMode.PREDICTIVE, 3.0, max_in_flight=3)
    learn(limited, 500, 0.1)
    assert limited.decide(floor, CLEAN, CLEAN, 0.0).place == 0


@settings(max_examples=150, deadline=None)
@given(
    free=st.integers(0, 60),
    busy=st.lists(st.floats(0, 900), max_size=60),
    ringing=st.lists(st.floats(0, 30), max_size=200),
    waiting=st.integers(0, 5),
    rate=st.sampled_from([0.03, 0.1, 0.3, 0.8]),
    mode=st.sampled_from([DialMode.PROGRESSIVE, DialMode.PREDICTIVE]),
    abandoned=st.integers(0, 60),
)
def test_never_more_in_flight_than_the_bound(
    free: int,
    busy: list[float],
    ringing: list[float],
    waiting: int,
    rate: float,
    mode: DialMode,
    abandoned: int,
) -> None:
    pacer = Pacer(mode, 3.0)
    learn(pacer, 300, rate)
    handles(pacer, 50)
    floor = Floor(free=free, busy_elapsed_s=busy, ringing_s=ringing, waiting=waiting)
    today = AbandonTally(1000, abandoned)
    decision = pacer.decide(floor, today, CLEAN, 0.0)
    in_flight = len(ringing) + decision.place
    assert decision.place >= 0
    if floor.agents == 0:
        assert decision.place == 0
    near = pacer.near_cap(today, CLEAN) and not pacer.clean_start(today, CLEAN)
    if decision.mode is DialMode.PROGRESSIVE or near:
        assert decision.place <= max(0, free - len(ringing) - waiting)
    else:
        assert in_flight <= max(len(ringing), MAX_LINES_PER_AGENT * floor.agents)
        if decision.place > max(0, free - len(ringing) - waiting):
            # Beyond progressive only while people are expected no more than agents.
            assert decision.expected_people <= decision.expected_agents + 1e-9
