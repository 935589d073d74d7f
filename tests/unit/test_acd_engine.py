from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.acd.engine import (
    BUSY_RETRY_S,
    RING_RETRY_S,
    TRANSITIONS,
    AcdEngine,
    AcdError,
    AgentAnswered,
    AgentBusy,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentStateChanged,
    AgentUnpaused,
    AutoPauseAgent,
    CallbackDropped,
    CallbackFailed,
    CallbackRequested,
    CallEnded,
    CallerAbandoned,
    CallerConnected,
    CallerJoined,
    CallerLeft,
    CancelRing,
    Event,
    IllegalTransition,
    Overflow,
    PlaceCallback,
    RingAgent,
    Tick,
)
from ccd.acd.model import Agent, AgentStatus, Queue, Strategy, WaitingCaller
from tests.unit.acdengine import act, agent, caller, rings


def engine(**queue_kw: object) -> AcdEngine:
    return AcdEngine({"q": Queue("q", **queue_kw)})  # type: ignore[arg-type]


def login(e: AcdEngine, *agents: Agent, at: float = 0.0) -> None:
    for a in agents:
        assert act(e, AgentLoggedIn(a, frozenset({"q"})), at) == []


def test_caller_rings_longest_idle_agent_with_originate_data() -> None:
    e = engine(ring_timeout_s=12)
    login(e, agent("a"), at=5)
    login(e, agent("b"), at=1)
    cmds = act(e, CallerJoined(caller("c1")), 10)
    assert cmds == [RingAgent("b", "PJSIP/b", "c1", "PJSIP/c-c1", 12)]
    assert e.agent_state("b").status is AgentStatus.RESERVED
    assert e.agent_state("b").call_id == "c1"


def test_answer_connects_and_puts_agent_on_call_then_wrap_up_then_available() -> None:
    e = engine(wrapup_s=30)
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1", at=0)), 0)
    assert act(e, AgentAnswered("a", "c1"), 4) == [CallerConnected("c1", "a", 4)]
    assert e.agent_state("a").status is AgentStatus.ON_CALL
    assert e.waiting() == []
    # A second caller waits while the agent talks and while it wraps up.
    assert rings(act(e, CallerJoined(caller("c2", at=5)), 5)) == []
    act(e, CallEnded("a"), 60)
    assert e.agent_state("a").status is AgentStatus.WRAP_UP
    assert rings(act(e, Tick(), 89)) == []
    assert rings(act(e, Tick(), 90)) == [("a", "c2")]


def test_without_wrap_up_agent_takes_next_caller_at_once() -> None:
    e = engine()
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, CallerJoined(caller("c2")), 0)
    act(e, AgentAnswered("a", "c1"), 1)
    assert rings(act(e, CallEnded("a"), 10)) == [("a", "c2")]


def test_priority_beats_wait_time_and_wait_time_breaks_ties() -> None:
    e = engine()
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, AgentAnswered("a", "c1"), 0)
    act(e, CallerJoined(caller("old", at=1)), 1)
    act(e, CallerJoined(caller("newer", at=2)), 2)
    act(e, CallerJoined(caller("vip", at=3, priority=5)), 3)
    assert rings(act(e, CallEnded("a"), 10)) == [("a", "vip")]
    act(e, AgentAnswered("a", "vip"), 10)
    assert rings(act(e, CallEnded("a"), 20)) == [("a", "old")]


def test_caller_only_offered_to_agents_with_required_skills() -> None:
    e = AcdEngine({"q": Queue("q", required_skills={"fr": 5})})
    login(e, agent("weak", fr=4), agent("none"))
    assert rings(act(e, CallerJoined(caller("c1", sales=2)), 0)) == []
    login(e, agent("fr_only", fr=9))
    assert rings(act(e, Tick(), 1)) == []  # lacks the caller's own "sales" skill
    cmds = act(e, AgentLoggedIn(agent("good", fr=5, sales=3), frozenset({"q"})), 2)
    assert rings(cmds) == [("good", "c1")]


def test_escalation_widens_skills_after_configured_wait() -> None:
    q = Queue("q", required_skills={"de": 1}, escalate_after_s=30, escalated_skills={})
    e = AcdEngine({"q": q})
    login(e, agent("generalist"))
    assert rings(act(e, CallerJoined(caller("c1", at=0)), 0)) == []
    assert rings(act(e, Tick(), 29)) == []
    assert rings(act(e, Tick(), 30)) == [("generalist", "c1")]


def test_no_answer_moves_to_next_agent_and_agent_is_idle_again() -> None:
    e = engine(strategy=Strategy.LINEAR)
    login(e, agent("a"), agent("b"))
    assert rings(act(e, CallerJoined(caller("c1")), 0)) == [("a", "c1")]
    assert rings(act(e, AgentNoAnswer("a", "c1"), 15)) == [("b", "c1")]
    assert e.agent_state("a").status is AgentStatus.AVAILABLE


def test_ring_timeout_on_tick_cancels_and_tries_next() -> None:
    e = engine(strategy=Strategy.LINEAR, ring_timeout_s=10)
    login(e, agent("a"), agent("b"))
    act(e, CallerJoined(caller("c1")), 0)
    assert act(e, Tick(), 9.9) == []
    cmds = act(e, Tick(), 10)
    assert CancelRing("a", "c1") in cmds
    assert rings(cmds) == [("b", "c1")]


def test_consecutive_no_answers_auto_pause_agent() -> None:
    e = engine(max_no_answer=2)
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    # Only agent: rung for this caller again RING_RETRY_S after the first no-answer.
    assert rings(act(e, AgentNoAnswer("a", "c1"), 15)) == []
    assert rings(act(e, Tick(), 15 + RING_RETRY_S - 0.1)) == []
    assert rings(act(e, Tick(), 15 + RING_RETRY_S)) == [("a", "c1")]
    cmds = act(e, AgentNoAnswer("a", "c1"), 35)
    assert AutoPauseAgent("a", "no-answer") in cmds
    assert rings(cmds) == []
    state = e.agent_state("a")
    assert (state.status, state.reason) == (AgentStatus.PAUSED, "no-answer")
    # Unpausing resets the count and makes the agent available again.
    assert rings(act(e, AgentUnpaused("a"), 40)) == [("a", "c1")]


def test_answer_resets_no_answer_count() -> None:
    e = engine(max_no_answer=2)
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, AgentNoAnswer("a", "c1"), 1)
    assert rings(act(e, Tick(), 1 + RING_RETRY_S)) == [("a", "c1")]
    act(e, AgentAnswered("a", "c1"), 7)
    act(e, CallEnded("a"), 8)
    act(e, CallerJoined(caller("c2")), 9)
    cmds = act(e, AgentNoAnswer("a", "c2"), 10)
    assert not any(isinstance(c, AutoPauseAgent) for c in cmds)


def test_busy_skips_agent_without_counting_no_answer() -> None:
    e = engine(strategy=Strategy.LINEAR, max_no_answer=1)
    login(e, agent("a"), agent("b"))
    act(e, CallerJoined(caller("c1")), 0)
    cmds = act(e, AgentBusy("a", "c1"), 1)
    assert rings(cmds) == [("b", "c1")]
    assert not any(isinstance(c, AutoPauseAgent) for c in cmds)
    assert e.agent_state("a").status is AgentStatus.AVAILABLE


def test_caller_abandon_cancels_ring_and_frees_agent() -> None:
    e = engine()
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1", at=2)), 2)
    cmds = act(e, CallerLeft("c1"), 9)
    assert cmds == [CancelRing("a", "c1"), CallerAbandoned("c1", 7)]
    assert e.agent_state("a").status is AgentStatus.AVAILABLE
    assert e.waiting() == []


def test_stale_answer_after_abandon_is_cancelled() -> None:
    e = engine()
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, CallerLeft("c1"), 1)
    assert act(e, AgentAnswered("a", "c1"), 1.5) == [CancelRing("a", "c1")]
    assert e.agent_state("a").status is AgentStatus.AVAILABLE


def test_max_wait_overflows_to_target() -> None:
    e = engine(max_wait_s=60, overflow_target="voicemail")
    login(e, agent("a"))
    act(e, AgentPaused("a", "lunch"), 0)
    act(e, CallerJoined(caller("c1", at=0)), 0)
    assert act(e, Tick(), 59) == []
    assert act(e, Tick(), 61) == [Overflow("c1", "PJSIP/c-c1", "voicemail", "max_wait", 61)]
    assert e.waiting() == []


def test_max_wait_while_ringing_cancels_ring() -> None:
    e = engine(max_wait_s=10, ring_timeout_s=30, overflow_target="q2")
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    cmds = act(e, Tick(), 10)
    assert cmds == [CancelRing("a", "c1"), Overflow("c1", "PJSIP/c-c1", "q2", "max_wait", 10)]
    assert e.agent_state("a").status is AgentStatus.AVAILABLE


def test_full_queue_and_no_agents_overflow_immediately() -> None:
    e = engine(max_len=1, overflow_target="vm")
    assert act(e, CallerJoined(caller("c0")), 0) == [
        Overflow("c0", "PJSIP/c-c0", "vm", "no_agents", 0)
    ]
    login(e, agent("a"))
    act(e, AgentPaused("a", "break"), 0)
    assert act(e, CallerJoined(caller("c1")), 0) == []
    assert act(e, CallerJoined(caller("c2")), 0) == [
        Overflow("c2", "PJSIP/c-c2", "vm", "queue_full", 0)
    ]


def test_pause_while_ringing_cancels_and_rerings_elsewhere() -> None:
    e = engine(strategy=Strategy.LINEAR)
    login(e, agent("a"), agent("b"))
    act(e, CallerJoined(caller("c1")), 0)
    cmds = act(e, AgentPaused("a", "coffee"), 1)
    assert cmds == [CancelRing("a", "c1"), RingAgent("b", "PJSIP/b", "c1", "PJSIP/c-c1", 15.0)]
    assert e.agent_state("a").reason == "coffee"


def test_pause_on_call_is_refused() -> None:
    e = engine()
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, AgentAnswered("a", "c1"), 0)
    act(e, AgentPaused("a", "coffee"), 1)
    assert e.agent_state("a").status is AgentStatus.ON_CALL


def test_logout_while_ringing_cancels_and_forgets_agent() -> None:
    e = engine(strategy=Strategy.LINEAR)
    login(e, agent("a"), agent("b"))
    act(e, AgentPaused("b", "x"), 0)
    act(e, CallerJoined(caller("c1")), 0)
    assert act(e, AgentLoggedOut("a"), 1) == [CancelRing("a", "c1")]
    assert e.agent_state("a").status is AgentStatus.LOGGED_OUT
    assert [c.call_id for c in e.waiting()] == ["c1"]


def test_last_agent_leaving_sends_waiting_callers_to_the_no_agents_target() -> None:
    e = engine(no_agents_target="voicemail:100", overflow_target="hangup")
    login(e, agent("a"))
    act(e, AgentPaused("a", "lunch"), 0)
    act(e, CallerJoined(caller("c1", at=0)), 0)
    act(e, CallerJoined(caller("c2", at=1)), 1)
    assert act(e, AgentLoggedOut("a"), 5) == [
        Overflow("c1", "PJSIP/c-c1", "voicemail:100", "no_agents", 5),
        Overflow("c2", "PJSIP/c-c2", "voicemail:100", "no_agents", 4),
    ]
    assert e.waiting() == []
    assert e.queue_stats("q", 5).overflowed == 2


def test_last_agent_leaving_after_a_deferred_logout_releases_the_queue() -> None:
    e = engine(overflow_target="voicemail:1")
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, AgentAnswered("a", "c1"), 1)
    act(e, CallerJoined(caller("c2", at=2)), 2)
    assert act(e, AgentLoggedOut("a"), 3) == []
    assert act(e, CallEnded("a"), 10) == [
        Overflow("c2", "PJSIP/c-c2", "voicemail:1", "no_agents", 8)
    ]


def test_busy_device_is_not_offered_again_for_five_seconds() -> None:
    e = engine()
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    # Only agent, device busy: no Originate storm (app_queue's retry is 5 s too).
    assert BUSY_RETRY_S == 5.0
    assert act(e, AgentBusy("a", "c1"), 0.1) == []
    assert e.agent_state("a").status is AgentStatus.AVAILABLE
    assert e.busy_until("a") == 5.1
    assert act(e, Tick(), 5.0) == []
    assert rings(act(e, Tick(), 5.1)) == [("a", "c1")]
    assert e.busy_until("a") is None


def test_ring_all_rings_every_eligible_agent_and_cancels_losers() -> None:
    e = engine(strategy=Strategy.RING_ALL)
    login(e, agent("a"), agent("b"), agent("c"))
    act(e, AgentPaused("c", "x"), 0)
    assert rings(act(e, CallerJoined(caller("c1")), 0)) == [("a", "c1"), ("b", "c1")]
    cmds = act(e, AgentAnswered("b", "c1"), 2)
    assert cmds == [CancelRing("a", "c1"), CallerConnected("c1", "b", 2)]
    assert e.agent_state("a").status is AgentStatus.AVAILABLE


def test_round_robin_rotates_across_calls() -> None:
    e = engine(strategy=Strategy.ROUND_ROBIN)
    login(e, agent("a"), agent("b"), agent("c"))
    served = []
    for i in range(4):
        (ring,) = rings(act(e, CallerJoined(caller(f"c{i}")), i))
        act(e, AgentAnswered(ring[0], ring[1]), i)
        act(e, CallEnded(ring[0]), i + 0.5)
        served.append(ring[0])
    assert served == ["a", "b", "c", "a"]


# ---- property: never two calls per agent, never an idle eligible agent beside a waiter ----

AGENTS = [agent("a", fr=5), agent("b", de=5), agent("c", fr=2, de=8), agent("d")]
ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "login",
                "logout",
                "pause",
                "unpause",
                "joinq",
                "leaveq",
                "join",
                "leave",
                "callback",
                "callback_answered",
                "callback_failed",
                "answer",
                "noanswer",
                "busy",
                "end",
                "tick",
            ]
        ),
        st.integers(0, 20),
        st.sampled_from([{}, {"fr": 1}, {"de": 3}, {"fr": 3, "de": 3}]),
        st.integers(0, 2),
    ),
    max_size=60,
)


def _eligible(e: AcdEngine, a: Agent, required: Mapping[str, int]) -> bool:
    return (
        e.agent_state(a.id).status is AgentStatus.AVAILABLE
        and e.busy_until(a.id) is None
        and "q" in e.agent_queues(a.id)
        and a.has_skills(required)
    )


def _check_invariants(e: AcdEngine, now: float) -> None:
    callers_by_agent: dict[str, str] = {}
    for w in e.waiting():
        for agent_id in e.ringing_for(w.call_id):
            assert agent_id not in callers_by_agent, "agent rung for two callers"
            callers_by_agent[agent_id] = w.call_id
            state = e.agent_state(agent_id)
            assert state.status is AgentStatus.RESERVED
            assert state.call_id == w.call_id
    engaged = [
        e.agent_state(a.id).call_id
        for a in AGENTS
        if e.agent_state(a.id).status in (AgentStatus.RESERVED, AgentStatus.ON_CALL)
    ]
    assert None not in engaged
    # The property queue rings one agent per caller, so engaged calls are distinct.
    assert len(engaged) == len(set(engaged))
    for w in e.waiting():
        # Virtual-hold callers have no channel to ring: they are called back instead.
        if e.ringing_for(w.call_id) or e.callback_pending(w.call_id):
            continue
        required = e.required_skills(w.call_id, now)
        idle = [
            a.id for a in AGENTS if _eligible(e, a, required) and e.offerable(w.call_id, a.id, now)
        ]
        assert not idle, f"{w.call_id} waits while {idle} idle"
    positions = [e.position(w.call_id) for w in e.waiting_in("q")]
    assert positions == list(range(1, len(positions) + 1))


@settings(max_examples=400, deadline=None)
@given(ops)
def test_property_no_double_booking_and_no_idle_agent_beside_waiter(
    steps: list[tuple[str, int, dict[str, int], int]],
) -> None:
    q = Queue(
        "q",
        strategy=Strategy.SKILLS_BASED,
        wrapup_s=5,
        max_wait_s=100,
        max_no_answer=2,
        escalate_after_s=30,
    )
    e = AcdEngine({"q": q})
    for a in AGENTS[:3]:
        e.handle(AgentLoggedIn(a, frozenset({"q"})), 0.0)
    now = 0.0
    next_call = 0
    talking: dict[str, str] = {}
    ringing: dict[str, str] = {}
    calling_back: set[str] = set()
    last_handled = now
    for op, n, skills, prio in steps:
        now += n / 4
        a = AGENTS[n % len(AGENTS)]
        # Answer/no-answer/busy/end target an agent in the matching state when there is one.
        wanted = AgentStatus.ON_CALL if op == "end" else AgentStatus.RESERVED
        matching = [x for x in AGENTS if e.agent_state(x.id).status is wanted]
        if op in ("answer", "noanswer", "busy", "end") and matching:
            a = matching[n % len(matching)]
        state = e.agent_state(a.id)
        waiting = e.waiting()
        event: Event
        if op == "login":
            event = AgentLoggedIn(a, frozenset({"q"}))
        elif op == "logout":
            event = AgentLoggedOut(a.id)
        elif op == "pause":
            event = AgentPaused(a.id, "p")
        elif op == "unpause":
            event = AgentUnpaused(a.id)
        elif op == "joinq":
            event = AgentJoinedQueue(a.id, "q")
        elif op == "leaveq":
            event = AgentLeftQueue(a.id, "q")
        elif op == "join":
            next_call += 1
            cid = f"c{next_call}"
            event = CallerJoined(WaitingCaller(cid, cid, "q", now, prio, skills))
        elif op == "leave" and waiting:
            event = CallerLeft(waiting[n % len(waiting)].call_id)
        elif op == "callback" and waiting:
            event = CallbackRequested(waiting[n % len(waiting)].call_id, "0600")
        elif op in ("callback_answered", "callback_failed") and calling_back:
            cid = sorted(calling_back)[n % len(calling_back)]
            calling_back.discard(cid)
            joined = next(w for w in waiting if w.call_id == cid)
            if op == "callback_answered":
                event = CallerJoined(replace(joined, channel=f"{cid}-back"))
            else:
                event = CallbackFailed(cid)
        elif op in ("answer", "noanswer", "busy") and state.status is AgentStatus.RESERVED:
            assert state.call_id is not None
            kinds: dict[str, type[AgentAnswered | AgentNoAnswer | AgentBusy]] = {
                "answer": AgentAnswered,
                "noanswer": AgentNoAnswer,
                "busy": AgentBusy,
            }
            event = kinds[op](a.id, state.call_id)
        elif op == "end" and state.status is AgentStatus.ON_CALL:
            event = CallEnded(a.id)
        else:
            event = Tick()
        # Track each agent's engagement from the commands alone, independent of engine state.
        if isinstance(event, (AgentNoAnswer, AgentBusy)):
            ringing.pop(event.agent_id, None)
        if isinstance(event, CallEnded):
            talking.pop(event.agent_id, None)
        try:
            cmds = e.handle(event, now)
        except AcdError:
            # Refused: only requests about an agent who is not logged in.
            assert op in ("logout", "pause", "unpause", "joinq", "leaveq")
            assert e.agent_state(a.id).status is AgentStatus.LOGGED_OUT
            # Nothing ran, not even the dispatch: the state is that of the last event.
            _check_invariants(e, last_handled)
            continue
        last_handled = now
        for cmd in cmds:
            if isinstance(cmd, CancelRing) and ringing.get(cmd.agent_id) == cmd.call_id:
                del ringing[cmd.agent_id]
            elif isinstance(cmd, PlaceCallback):
                assert cmd.call_id not in calling_back, "called back twice at once"
                calling_back.add(cmd.call_id)
            elif isinstance(cmd, (Overflow, CallerAbandoned, CallbackDropped)):
                calling_back.discard(cmd.call_id)
        for cmd in cmds:
            if isinstance(cmd, RingAgent):
                assert cmd.agent_id not in talking, "agent rung while on a call"
                assert cmd.agent_id not in ringing, "agent rung for two callers"
                assert not e.callback_pending(cmd.call_id), "rang a caller with no channel"
                ringing[cmd.agent_id] = cmd.call_id
            elif isinstance(cmd, CallerConnected):
                assert ringing.pop(cmd.agent_id, None) == cmd.call_id
                assert cmd.agent_id not in talking, "agent connected to two calls"
                talking[cmd.agent_id] = cmd.call_id
            elif isinstance(cmd, AgentStateChanged) and cmd.status is AgentStatus.LOGGED_OUT:
                assert cmd.agent_id not in talking, "logged out in the middle of a call"
        _check_invariants(e, now)


def test_wrap_up_is_the_one_of_the_queue_the_call_came_from() -> None:
    e = AcdEngine({"short": Queue("short", wrapup_s=5), "long": Queue("long", wrapup_s=60)})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"short", "long"})), 0)
    e.handle(CallerJoined(caller("c1", queue="short")), 1)
    e.handle(AgentAnswered("a", "c1"), 2)
    e.handle(CallEnded("a"), 10)
    assert e.agent_state("a").status is AgentStatus.WRAP_UP
    e.handle(Tick(), 14.9)
    assert e.agent_state("a").status is AgentStatus.WRAP_UP
    e.handle(Tick(), 15)
    assert e.agent_state("a").status is AgentStatus.AVAILABLE


def test_first_caller_is_not_rung_again_at_a_silent_agent_while_a_free_one_comes() -> None:
    """Seen with real phones: the first caller rang the never-answering agent twice while
    the callers behind it were served by the agent who answers."""
    e = engine(strategy=Strategy.LINEAR)
    login(e, agent("silent"), agent("answers"))
    act(e, CallerJoined(caller("c1")), 0)
    act(e, CallerJoined(caller("c2", at=1)), 1)
    assert e.ringing_for("c1") == {"silent"}
    assert e.ringing_for("c2") == {"answers"}
    act(e, AgentAnswered("answers", "c2"), 2)
    # c1's ring times out; the silent agent is the only free one: not rung for c1 again yet.
    assert rings(act(e, AgentNoAnswer("silent", "c1"), 15)) == []
    assert not e.offerable("c1", "silent", 16)
    # The answering agent frees up before the retry: c1, first in line, gets it.
    assert rings(act(e, CallEnded("answers"), 17)) == [("answers", "c1")]


def test_no_answer_offers_the_caller_behind_to_the_agent_meanwhile() -> None:
    e = engine(strategy=Strategy.LINEAR)
    login(e, agent("a"))
    act(e, CallerJoined(caller("c1")), 0)
    # Free but in c1's retry window: c2 behind it is offered the agent (nobody idles).
    act(e, CallerJoined(caller("c2", at=1)), 1)
    assert rings(act(e, AgentNoAnswer("a", "c1"), 15)) == [("a", "c2")]


def test_agent_moves_outside_the_table_are_refused_as_bugs() -> None:
    """The property tests above drive random event sequences through the engine: any move
    outside TRANSITIONS would raise there. Here: the check itself, forced."""
    assert set(TRANSITIONS) == set(AgentStatus)
    assert AgentStatus.ON_CALL not in TRANSITIONS[AgentStatus.AVAILABLE]
    assert AgentStatus.RESERVED not in TRANSITIONS[AgentStatus.PAUSED]
    e = engine()
    login(e, agent("a"))
    act(e, AgentPaused("a", "lunch"), 0)
    slot = e._agents["a"]
    with pytest.raises(IllegalTransition, match="paused -> reserved"):
        e._set(slot, AgentStatus.RESERVED, 1, [], call_id="c1")
    assert e.agent_state("a").status is AgentStatus.PAUSED
