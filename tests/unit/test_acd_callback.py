"""Virtual hold: the caller is called back keeping their place in line."""

import pytest

from ccd.acd.engine import (
    CALLBACK_RETRIES,
    CALLBACK_RETRY_DELAY_S,
    AcdEngine,
    AgentAnswered,
    AgentLoggedIn,
    AgentPaused,
    AgentUnpaused,
    CallbackDropped,
    CallbackFailed,
    CallbackRequested,
    CallerConnected,
    CallerJoined,
    CallerLeft,
    CancelRing,
    Overflow,
    PlaceCallback,
    RingAgent,
    Tick,
    UnknownCall,
)
from ccd.acd.model import Queue, WaitingCaller
from tests.unit.acdengine import act, agent, caller, rings


def paused_queue(*agents: str) -> AcdEngine:
    e = AcdEngine({"q": Queue("q", max_wait_s=600)})
    for name in agents:
        e.handle(AgentLoggedIn(agent(name), frozenset({"q"})), 0)
        e.handle(AgentPaused(name, "x"), 0)
    return e


def back(call_id: str, at: float) -> CallerJoined:
    return CallerJoined(WaitingCaller(call_id, f"PJSIP/back-{call_id}", "q", at))


def test_callback_keeps_the_place_and_is_placed_when_an_agent_frees_up() -> None:
    e = paused_queue("a")
    e.handle(CallerJoined(caller("cb", at=0)), 0)
    assert act(e, CallbackRequested("cb", "+33600000000"), 10) == []
    # The original channel hangs up: not an abandon, the place is kept.
    assert act(e, CallerLeft("cb"), 11) == []
    assert e.callback_pending("cb")
    # No channel to send anywhere: max wait does not apply while on virtual hold.
    assert act(e, Tick(), 700) == []
    e.handle(CallerJoined(caller("next", at=701)), 701)
    assert e.position("cb") == 1
    cmds = act(e, AgentUnpaused("a"), 800)
    # Called back, and the free agent goes on to the next caller meanwhile.
    assert cmds == [PlaceCallback("cb", "q", "+33600000000"), rings_a("next")]
    stats = e.queue_stats("q", 800)
    assert (stats.abandoned, stats.callbacks, stats.waiting) == (0, 1, 2)


def rings_a(call_id: str) -> RingAgent:
    return RingAgent("a", "PJSIP/a", call_id, f"PJSIP/c-{call_id}", 15.0)


def test_answered_callback_goes_first_in_line_and_keeps_its_wait() -> None:
    e = paused_queue("a", "b")
    e.handle(CallerJoined(caller("cb", at=0)), 0)
    e.handle(CallbackRequested("cb", "0600"), 1)
    assert act(e, AgentUnpaused("a"), 100) == [PlaceCallback("cb", "q", "0600")]
    # Not rung while its phone is being called; the agent serves others meanwhile.
    assert rings(act(e, CallerJoined(caller("vip", at=101, priority=9)), 101)) == [("a", "vip")]
    e.handle(AgentAnswered("a", "vip"), 102)
    e.handle(CallerJoined(caller("later", at=103, priority=9)), 103)
    e.handle(back("cb", 110), 110)
    assert e.position("cb") == 1
    assert rings(act(e, AgentUnpaused("b"), 111)) == [("b", "cb")]
    # Its wait counts from the first join.
    assert act(e, AgentAnswered("b", "cb"), 112) == [CallerConnected("cb", "b", 112)]


def test_returned_callback_is_rung_on_its_new_channel() -> None:
    e = paused_queue("a")
    e.handle(CallerJoined(caller("cb", at=0)), 0)
    e.handle(CallbackRequested("cb", "0600"), 1)
    e.handle(AgentUnpaused("a"), 10)
    e.handle(AgentPaused("a", "x"), 11)
    e.handle(back("cb", 20), 20)
    cmds = act(e, AgentUnpaused("a"), 21)
    assert cmds == [RingAgent("a", "PJSIP/a", "cb", "PJSIP/back-cb", 15.0)]


def test_one_free_agent_triggers_one_callback_at_a_time() -> None:
    e = paused_queue("a")
    for i in range(3):
        e.handle(CallerJoined(caller(f"cb{i}", at=i)), i)
        e.handle(CallbackRequested(f"cb{i}", f"06{i}"), i)
    assert act(e, AgentUnpaused("a"), 10) == [PlaceCallback("cb0", "q", "060")]
    # One customer on the phone per free agent, however long it rings.
    assert act(e, Tick(), 11) == []
    assert act(e, Tick(), 40) == []
    # cb0 did not answer: it waits before a retry, so the next one is called meanwhile.
    assert act(e, CallbackFailed("cb0"), 45) == [PlaceCallback("cb1", "q", "061")]
    assert e.position("cb0") == 1


def test_failed_callback_is_retried_then_dropped_without_counting_an_abandon() -> None:
    e = paused_queue("a")
    e.handle(CallerJoined(caller("cb", at=0)), 0)
    e.handle(CallbackRequested("cb", "0600"), 1)
    now = 10.0
    assert act(e, AgentUnpaused("a"), now) == [PlaceCallback("cb", "q", "0600")]
    for _ in range(CALLBACK_RETRIES):
        now += 30
        assert act(e, CallbackFailed("cb"), now) == []
        assert act(e, Tick(), now + CALLBACK_RETRY_DELAY_S - 1) == []
        now += CALLBACK_RETRY_DELAY_S
        assert act(e, Tick(), now) == [PlaceCallback("cb", "q", "0600")]
    assert act(e, CallbackFailed("cb"), now + 30) == [
        CallbackDropped("cb", "q", "no_answer", now + 30)
    ]
    assert e.waiting() == []
    stats = e.queue_stats("q", now + 30)
    assert (stats.abandoned, stats.callbacks, stats.callbacks_dropped) == (0, 1, 1)


def test_hang_up_after_coming_back_is_a_dropped_callback_not_an_abandon() -> None:
    e = paused_queue("a")
    e.handle(CallerJoined(caller("cb", at=0)), 0)
    e.handle(CallbackRequested("cb", "0600"), 1)
    e.handle(AgentUnpaused("a"), 10)
    e.handle(AgentPaused("a", "x"), 11)
    e.handle(back("cb", 20), 20)
    assert act(e, CallerLeft("cb"), 25) == [CallbackDropped("cb", "q", "caller_left", 25)]
    assert e.queue_stats("q", 25).abandoned == 0


def test_callback_request_while_ringing_withdraws_the_ring() -> None:
    e = paused_queue("a", "b")
    e.handle(AgentUnpaused("a"), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 0)
    e.handle(AgentUnpaused("b"), 0)
    e.handle(CallerJoined(caller("cb", at=1)), 1)
    cmds = act(e, CallbackRequested("cb", "0600"), 2)
    # Ring withdrawn, then the callback is placed at once (b is free and cb is first).
    assert cmds == [CancelRing("b", "cb"), PlaceCallback("cb", "q", "0600")]


def test_callback_for_a_caller_not_waiting_is_refused() -> None:
    e = paused_queue("a")
    with pytest.raises(UnknownCall):
        e.handle(CallbackRequested("ghost", "0600"), 0)


def test_callback_destination_offers_a_call_back_instead_of_ending_the_wait() -> None:
    e = AcdEngine({"q": Queue("q", max_wait_s=60, overflow_target="callback")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(WaitingCaller("cb", "PJSIP/c-cb", "q", 0, number="+33600000001")), 0)
    # Max wait: the caller is thanked and hangs up, but keeps the place in line...
    cmds = act(e, Tick(), 61)
    assert cmds == [Overflow("cb", "PJSIP/c-cb", "callback", "max_wait", 61)]
    assert e.callback_pending("cb")
    assert e.position("cb") == 1
    # ...and is called back when an agent is free.
    assert act(e, AgentUnpaused("a"), 100) == [PlaceCallback("cb", "q", "+33600000001")]


def test_callback_destination_without_a_number_ends_the_wait() -> None:
    e = AcdEngine({"q": Queue("q", max_wait_s=60, overflow_target="callback")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(WaitingCaller("anon", "PJSIP/c-anon", "q", 0)), 0)
    assert act(e, Tick(), 61) == [Overflow("anon", "PJSIP/c-anon", "callback", "max_wait", 61)]
    assert not e.callback_pending("anon")
    assert e.position("anon") is None
