"""Callers moving between queues: escalation, queue: overflow targets, no-agents target,
loops, and service order across several queues."""

from ccd.acd.engine import (
    AcdEngine,
    AgentAnswered,
    AgentLoggedIn,
    AgentPaused,
    AgentUnpaused,
    CallEnded,
    CallerConnected,
    CallerJoined,
    CallerMoved,
    CancelRing,
    Overflow,
    Tick,
)
from ccd.acd.model import Queue
from tests.unit.test_acd_engine import act, agent, caller, rings


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
