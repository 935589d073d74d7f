"""Callers moving between queues: escalation, queue: overflow targets, no-agents target,
loops, and service order across several queues."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.acd.engine import (
    AcdEngine,
    AcdError,
    AgentAnswered,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentUnpaused,
    CallEnded,
    CallerConnected,
    CallerJoined,
    CallerLeft,
    CallerMoved,
    CancelRing,
    Event,
    Overflow,
    QueuesConfigured,
    Tick,
)
from ccd.acd.model import AgentStatus, Queue, Strategy
from tests.unit.acdengine import act, agent, caller, rings


def test_escalation_moves_caller_to_other_queue_keeping_its_place() -> None:
    e = AcdEngine(
        {
            "q": Queue("q", escalate_after_s=60, escalate_to_queue="backup"),
            "backup": Queue("backup"),
        }
    )
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentLoggedIn(agent("b"), frozenset({"backup"})), 0)
    for a in ("a", "b"):
        e.handle(AgentPaused(a, "x"), 0)
    e.handle(CallerJoined(caller("early", at=0)), 0)
    e.handle(CallerJoined(caller("late", at=30, queue="backup")), 30)
    assert act(e, Tick(), 59) == []
    assert act(e, Tick(), 60) == [CallerMoved("early", "q", "backup", "escalated")]
    assert [c.call_id for c in e.waiting_in("backup")] == ["early", "late"]
    assert e.position("early") == 1
    cmds = act(e, AgentUnpaused("b"), 61)
    assert rings(cmds) == [("b", "early")]
    # Waited since it first joined, not since the move.
    assert act(e, AgentAnswered("b", "early"), 62) == [CallerConnected("early", "b", 62)]
    stats_q, stats_b = e.queue_stats("q", 62), e.queue_stats("backup", 62)
    assert (stats_q.offered, stats_q.escalated, stats_q.answered) == (1, 1, 0)
    assert (stats_b.offered, stats_b.answered, stats_b.answered_within_sl) == (2, 1, 0)


def test_escalation_waits_while_an_agent_is_ringing() -> None:
    e = AcdEngine(
        {
            "q": Queue("q", escalate_after_s=10, escalate_to_queue="r", ring_timeout_s=60),
            "r": Queue("r"),
        }
    )
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentLoggedIn(agent("b"), frozenset({"r"})), 0)
    e.handle(AgentPaused("b", "x"), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    assert act(e, Tick(), 20) == []
    assert e.ringing_for("c1") == {"a"}


def test_queue_overflow_target_moves_instead_of_overflowing() -> None:
    e = AcdEngine(
        {
            "q": Queue("q", max_wait_s=30, overflow_target="queue:r"),
            "r": Queue("r", max_wait_s=30, overflow_target="voicemail:9"),
        }
    )
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "r"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("c1", at=0)), 0)
    assert act(e, Tick(), 30) == [CallerMoved("c1", "q", "r", "max_wait")]
    # The max-wait clock of the new queue starts at the move.
    assert act(e, Tick(), 59) == []
    assert act(e, Tick(), 60) == [Overflow("c1", "PJSIP/c-c1", "voicemail:9", "max_wait", 60)]
    assert e.queue_stats("q", 60).timed_out == 1
    assert e.queue_stats("r", 60).timed_out == 1


def test_queue_full_moves_to_queue_target() -> None:
    e = AcdEngine({"q": Queue("q", max_len=1, overflow_target="queue:r"), "r": Queue("r")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "r"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    assert act(e, CallerJoined(caller("c2")), 1) == [CallerMoved("c2", "q", "r", "queue_full")]
    assert e.queue_stats("q", 1).overflowed == 1


def test_no_agents_uses_its_own_target_then_overflow_target() -> None:
    e = AcdEngine(
        {
            "q": Queue("q", no_agents_target="queue:night", overflow_target="voicemail:1"),
            "night": Queue("night"),
            "plain": Queue("plain", overflow_target="voicemail:2"),
        }
    )
    e.handle(AgentLoggedIn(agent("n"), frozenset({"night"})), 0)
    cmds = act(e, CallerJoined(caller("c1")), 0)
    assert cmds[0] == CallerMoved("c1", "q", "night", "no_agents")
    assert rings(cmds) == [("n", "c1")]
    assert act(e, CallerJoined(caller("c2", queue="plain")), 0) == [
        Overflow("c2", "PJSIP/c-c2", "voicemail:2", "no_agents", 0)
    ]


def test_moving_into_an_empty_queue_follows_its_no_agents_route() -> None:
    e = AcdEngine(
        {
            "q": Queue("q", max_wait_s=10, overflow_target="queue:r"),
            "r": Queue("r", overflow_target="voicemail:7"),
        }
    )
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    assert act(e, Tick(), 10) == [
        CallerMoved("c1", "q", "r", "max_wait"),
        Overflow("c1", "PJSIP/c-c1", "voicemail:7", "no_agents", 10),
    ]


def test_move_loop_between_queues_ends_with_a_polite_hang_up() -> None:
    e = AcdEngine(
        {"q": Queue("q", overflow_target="queue:r"), "r": Queue("r", overflow_target="queue:q")}
    )
    assert act(e, CallerJoined(caller("c1")), 0) == [
        CallerMoved("c1", "q", "r", "no_agents"),
        Overflow("c1", "PJSIP/c-c1", None, "no_agents", 0),
    ]


def test_unknown_queue_target_is_passed_on_as_an_overflow() -> None:
    e = AcdEngine({"q": Queue("q", overflow_target="queue:gone")})
    assert act(e, CallerJoined(caller("c1")), 0) == [
        Overflow("c1", "PJSIP/c-c1", "queue:gone", "no_agents", 0)
    ]


def test_agent_in_two_queues_takes_the_longest_waiting_caller_of_either() -> None:
    e = AcdEngine({"q": Queue("q"), "r": Queue("r")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "r"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("q-late", at=5)), 5)
    e.handle(CallerJoined(caller("r-early", at=1, queue="r")), 1)
    e.handle(CallerJoined(caller("q-vip", at=9, priority=3)), 9)
    assert rings(act(e, AgentUnpaused("a"), 10)) == [("a", "q-vip")]
    e.handle(AgentAnswered("a", "q-vip"), 10)
    assert rings(act(e, CallEnded("a"), 20)) == [("a", "r-early")]
    e.handle(AgentAnswered("a", "r-early"), 20)
    assert rings(act(e, CallEnded("a"), 30)) == [("a", "q-late")]


def test_max_wait_cancels_ring_of_moved_caller() -> None:
    e = AcdEngine(
        {
            "q": Queue("q", max_wait_s=10, ring_timeout_s=30, overflow_target="queue:r"),
            "r": Queue("r"),
        }
    )
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentLoggedIn(agent("b"), frozenset({"r"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    cmds = act(e, Tick(), 10)
    assert cmds[:2] == [CancelRing("a", "c1"), CallerMoved("c1", "q", "r", "max_wait")]
    assert rings(cmds) == [("b", "c1")]


# ---- property: several queues, moves and membership changes keep the index honest ----

ROUTING_AGENTS = [agent("a", fr=5), agent("b"), agent("c", fr=2), agent("d")]
MEMBERSHIPS = [frozenset({"q"}), frozenset({"r"}), frozenset({"q", "r"})]
routing_ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                *("login", "logout", "pause", "unpause", "joinq", "joinq", "leaveq"),
                *("join", "join", "leave", "answer", "noanswer", "end", "tick", "reconfigure"),
            ]
        ),
        st.integers(0, 40),
        st.sampled_from(["q", "r"]),
        st.sampled_from([{}, {"fr": 1}]),
    ),
    max_size=50,
)


def routing_queues(variant: int) -> dict[str, Queue]:
    return {
        "q": Queue(
            "q",
            escalate_after_s=20,
            escalate_to_queue="r",
            max_wait_s=60,
            overflow_target="queue:r",
            wrapup_s=3,
        ),
        "r": Queue(
            "r", max_len=2 + variant, overflow_target="queue:q", strategy=Strategy.FEWEST_CALLS
        ),
    }


@settings(max_examples=500, deadline=None)
@given(routing_ops)
def test_property_moves_and_membership_never_strand_a_caller(
    steps: list[tuple[str, int, str, dict[str, int]]],
) -> None:
    e = AcdEngine(routing_queues(0))
    now = 0.0
    calls = 0
    for op, n, queue_id, skills in steps:
        now += n / 10
        a = ROUTING_AGENTS[n % len(ROUTING_AGENTS)]
        status = AgentStatus.ON_CALL if op == "end" else AgentStatus.RESERVED
        matching = [x for x in ROUTING_AGENTS if e.agent_state(x.id).status is status]
        if op in ("answer", "noanswer", "end") and matching:
            a = matching[n % len(matching)]
        state = e.agent_state(a.id)
        waiting = e.waiting()
        event: Event
        if op == "login":
            event = AgentLoggedIn(a, MEMBERSHIPS[n % 3])
        elif op == "logout":
            event = AgentLoggedOut(a.id)
        elif op == "pause":
            event = AgentPaused(a.id, "p")
        elif op == "unpause":
            event = AgentUnpaused(a.id)
        elif op == "joinq":
            event = AgentJoinedQueue(a.id, queue_id)
        elif op == "leaveq":
            event = AgentLeftQueue(a.id, queue_id)
        elif op == "join":
            calls += 1
            event = CallerJoined(caller(f"c{calls}", now, queue_id, n % 2, **skills))
        elif op == "leave" and waiting:
            event = CallerLeft(waiting[n % len(waiting)].call_id)
        elif op in ("answer", "noanswer") and state.status is AgentStatus.RESERVED:
            assert state.call_id is not None
            kind = AgentAnswered if op == "answer" else AgentNoAnswer
            event = kind(a.id, state.call_id)
        elif op == "end" and state.status is AgentStatus.ON_CALL:
            event = CallEnded(a.id)
        elif op == "reconfigure":
            event = QueuesConfigured(routing_queues(n % 2))
        else:
            event = Tick()
        try:
            e.handle(event, now)
        except AcdError:
            assert e.agent_state(a.id).status is AgentStatus.LOGGED_OUT
            continue
        in_lines = [w.call_id for q in ("q", "r") for w in e.waiting_in(q)]
        assert sorted(in_lines) == sorted(w.call_id for w in e.waiting())
        for q in ("q", "r"):
            line = e.waiting_in(q)
            assert [e.position(w.call_id) for w in line] == list(range(1, len(line) + 1))
            assert all(w.queue_id == q for w in line)
        engaged = [
            e.agent_state(x.id).call_id
            for x in ROUTING_AGENTS
            if e.agent_state(x.id).status in (AgentStatus.RESERVED, AgentStatus.ON_CALL)
        ]
        assert len(engaged) == len(set(engaged))
        for w in e.waiting():
            if e.ringing_for(w.call_id):
                continue
            required = e.required_skills(w.call_id, now)
            idle = [
                x.id
                for x in ROUTING_AGENTS
                if e.agent_state(x.id).status is AgentStatus.AVAILABLE
                and e.busy_until(x.id) is None
                and e.offerable(w.call_id, x.id, now)
                and w.queue_id in e.agent_queues(x.id)
                and x.has_skills(required)
            ]
            assert not idle, f"{w.call_id} waits in {w.queue_id} while {idle} idle"
