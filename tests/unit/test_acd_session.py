"""Agent session log (AgentStateChanged), deferred pause/logout, queue membership,
refusals and configuration changes."""

import pytest

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
    AgentStateChanged,
    AgentUnpaused,
    CallEnded,
    CallerJoined,
    CallerMoved,
    CancelRing,
    Command,
    Overflow,
    QueuesConfigured,
    RingAgent,
    Tick,
    UnknownAgent,
    UnknownQueue,
)
from ccd.acd.model import AgentState, AgentStatus, Queue
from tests.unit.acdengine import act, agent, caller, rings

S = AgentStatus


def log(cmds: list[Command]) -> list[tuple[str, AgentStatus, str | None, str | None, float]]:
    return [
        (c.agent_id, c.status, c.reason, c.call_id, c.at)
        for c in cmds
        if isinstance(c, AgentStateChanged)
    ]


def two_queues(**kw: object) -> AcdEngine:
    return AcdEngine({"q": Queue("q", **kw), "r": Queue("r")})  # type: ignore[arg-type]


def test_every_transition_of_a_call_is_logged_once_with_its_time() -> None:
    e = two_queues(wrapup_s=10)
    history: list[Command] = []
    history += e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 1)
    history += e.handle(CallerJoined(caller("c1", at=2)), 2)
    history += e.handle(AgentAnswered("a", "c1"), 3)
    history += e.handle(CallEnded("a"), 50)
    history += e.handle(Tick(), 55)  # still wrapping up: no entry
    history += e.handle(Tick(), 60)
    history += e.handle(AgentPaused("a", "lunch"), 70)
    history += e.handle(AgentPaused("a", "lunch"), 71)  # same state again: no entry
    history += e.handle(AgentPaused("a", "meeting"), 72)
    history += e.handle(AgentUnpaused("a"), 80)
    history += e.handle(AgentLoggedOut("a"), 90)
    assert log(history) == [
        ("a", S.AVAILABLE, None, None, 1),
        ("a", S.RESERVED, None, "c1", 2),
        ("a", S.ON_CALL, None, "c1", 3),
        ("a", S.WRAP_UP, None, None, 50),
        ("a", S.AVAILABLE, None, None, 60),
        ("a", S.PAUSED, "lunch", None, 70),
        ("a", S.PAUSED, "meeting", None, 72),
        ("a", S.AVAILABLE, None, None, 80),
        ("a", S.LOGGED_OUT, None, None, 90),
    ]
    assert {c.queue_ids for c in history if isinstance(c, AgentStateChanged)} == {frozenset({"q"})}


def test_no_answer_back_to_available_and_auto_pause_are_logged() -> None:
    e = two_queues(max_no_answer=2)
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    first = e.handle(AgentNoAnswer("a", "c1"), 15)
    # Back to available; rung for the same caller again after the retry delay (only agent).
    assert log(first) == [("a", S.AVAILABLE, None, None, 15)]
    again = e.handle(Tick(), 20)
    assert log(again) == [("a", S.RESERVED, None, "c1", 20)]
    second = e.handle(AgentNoAnswer("a", "c1"), 35)
    assert log(second) == [("a", S.PAUSED, "no-answer", None, 35)]


def test_pause_during_call_applies_after_wrap_up() -> None:
    e = two_queues(wrapup_s=20)
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 1)
    assert log(e.handle(AgentPaused("a", "training"), 5)) == []
    assert e.agent_state("a").status is S.ON_CALL
    assert e.pending_pause("a") == "training"
    e.handle(CallerJoined(caller("c2", at=6)), 6)
    assert log(e.handle(CallEnded("a"), 100)) == [("a", S.WRAP_UP, None, None, 100)]
    cmds = e.handle(Tick(), 120)
    # Paused, not offered the waiting caller.
    assert log(cmds) == [("a", S.PAUSED, "training", None, 120)]
    assert rings(cmds) == []
    assert e.pending_pause("a") is None


def test_pause_during_call_without_wrap_up_pauses_at_hang_up() -> None:
    e = two_queues()
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 1)
    e.handle(AgentPaused("a", "break"), 2)
    e.handle(CallerJoined(caller("c2")), 3)
    cmds = e.handle(CallEnded("a"), 30)
    assert log(cmds) == [("a", S.PAUSED, "break", None, 30)]
    assert rings(cmds) == []


def test_unpause_during_call_cancels_the_pending_pause() -> None:
    e = two_queues()
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 1)
    e.handle(AgentPaused("a", "break"), 2)
    e.handle(AgentUnpaused("a"), 3)
    assert log(e.handle(CallEnded("a"), 30)) == [("a", S.AVAILABLE, None, None, 30)]


def test_logout_during_call_waits_for_the_hang_up_and_keeps_talk_time() -> None:
    e = two_queues(wrapup_s=30)
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 10)
    assert e.handle(AgentLoggedOut("a"), 20) == []
    assert e.agent_state("a").status is S.ON_CALL
    assert e.logout_pending("a")
    assert e.agent_counters("a") == (1, 0.0)
    cmds = e.handle(CallEnded("a"), 70)
    # Straight to logged out: no wrap-up for an agent who is leaving.
    assert log(cmds) == [("a", S.LOGGED_OUT, None, None, 70)]
    assert "a" not in e.logged_in()
    assert e.queue_stats("q", 70).aht_s == 60 + 30


def test_login_again_during_the_call_cancels_the_deferred_logout() -> None:
    e = two_queues()
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 1)
    e.handle(AgentLoggedOut("a"), 2)
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 3)
    assert not e.logout_pending("a")
    assert log(e.handle(CallEnded("a"), 9)) == [("a", S.AVAILABLE, None, None, 9)]


def test_refusals_raise_acd_errors_with_readable_messages() -> None:
    e = two_queues()
    with pytest.raises(UnknownAgent) as excinfo:
        e.handle(AgentPaused("ghost", "x"), 0)
    assert str(excinfo.value) == "agent ghost is not logged in"
    for event in (AgentUnpaused("ghost"), AgentLoggedOut("ghost"), AgentJoinedQueue("ghost", "q")):
        with pytest.raises(AcdError):
            e.handle(event, 0)
    with pytest.raises(UnknownQueue) as queue_error:
        e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "nope", "zz"})), 0)
    assert str(queue_error.value) == "unknown queue: nope, zz"
    assert e.logged_in() == []  # refused before any change
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    with pytest.raises(UnknownQueue):
        e.handle(AgentJoinedQueue("a", "nope"), 0)
    with pytest.raises(UnknownQueue):
        e.handle(CallerJoined(caller("c1", queue="nope")), 0)
    assert e.agent_queues("a") == {"q"}


def test_join_and_leave_queue_at_runtime() -> None:
    e = two_queues()
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(AgentLoggedIn(agent("b"), frozenset({"q"})), 0)
    e.handle(AgentPaused("b", "x"), 0)
    e.handle(CallerJoined(caller("r1", queue="r")), 0)  # no agent in r: overflows
    e.handle(AgentJoinedQueue("b", "r"), 1)
    e.handle(AgentUnpaused("b"), 1)
    e.handle(AgentUnpaused("a"), 1)
    cmds = e.handle(CallerJoined(caller("r2", queue="r")), 2)
    assert rings(cmds) == [("b", "r2")]
    joined = e.handle(AgentJoinedQueue("a", "r"), 3)
    assert [(c.status, c.queue_ids) for c in joined if isinstance(c, AgentStateChanged)] == [
        (S.AVAILABLE, frozenset({"q", "r"}))
    ]
    # Leaving the queue of the caller it is ringing for withdraws the offer.
    cmds = e.handle(AgentLeftQueue("b", "r"), 4)
    assert CancelRing("b", "r2") in cmds
    assert rings(cmds) == [("a", "r2")]
    assert e.agent_queues("b") == {"q"}
    assert e.agent_state("b").status is S.AVAILABLE


def test_login_again_updates_skills_and_interface_without_resetting_state() -> None:
    e = AcdEngine({"q": Queue("q", required_skills={"es": 3})})
    e.handle(AgentLoggedIn(agent("a", es=1), frozenset({"q"})), 0)
    assert rings(e.handle(CallerJoined(caller("c1")), 0)) == []
    cmds = e.handle(AgentLoggedIn(agent("a", es=5), frozenset({"q"})), 9)
    assert rings(cmds) == [("a", "c1")]
    updated = e.agent("a")
    assert updated is not None
    assert updated.skills == {"es": 5}


def test_reconfigure_replaces_settings_and_sends_waiters_of_removed_queues_away() -> None:
    e = AcdEngine({"q": Queue("q", overflow_target="voicemail:100"), "r": Queue("r")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "r"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("c1", at=0)), 0)
    new = {"r": Queue("r", ring_timeout_s=5), "s": Queue("s")}
    cmds = e.handle(QueuesConfigured(new), 30)
    assert Overflow("c1", "PJSIP/c-c1", "voicemail:100", "queue_removed", 30) in cmds
    assert e.agent_queues("a") == {"r"}
    assert e.waiting() == []
    e.handle(AgentUnpaused("a"), 31)
    joined = e.handle(CallerJoined(caller("c2", queue="r")), 32)
    assert [(c.agent_id, c.timeout_s) for c in joined if isinstance(c, RingAgent)] == [("a", 5)]


def test_reconfigure_moves_waiters_to_a_queue_target() -> None:
    e = AcdEngine({"q": Queue("q", overflow_target="queue:r"), "r": Queue("r")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "r"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("c1")), 0)
    cmds = act(e, QueuesConfigured({"r": Queue("r")}), 5)
    assert cmds == [CallerMoved("c1", "q", "r", "queue_removed")]
    assert [c.queue_id for c in e.waiting()] == ["r"]


def test_idle_agent_joining_a_queue_takes_its_waiting_caller_at_once() -> None:
    e = two_queues()
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentLoggedIn(agent("b"), frozenset({"r"})), 0)
    e.handle(AgentPaused("b", "x"), 0)
    e.handle(CallerJoined(caller("r1", queue="r")), 1)
    assert rings(e.handle(AgentJoinedQueue("a", "r"), 2)) == [("a", "r1")]


def restore(state: AgentStatus, since: float, **kw: str) -> AgentLoggedIn:
    return AgentLoggedIn(agent("a"), frozenset({"q"}), AgentState(state, since, **kw))


def test_agent_on_a_call_across_a_restart_is_not_rung_and_keeps_its_talk_time() -> None:
    e = two_queues(wrapup_s=5)
    assert e.handle(restore(S.ON_CALL, 100, call_id="old-call"), 200) == []
    state = e.agent_state("a")
    assert (state.status, state.call_id, state.since) == (S.ON_CALL, "old-call", 100)
    assert rings(e.handle(CallerJoined(caller("c1", at=201)), 201)) == []
    assert log(e.handle(CallEnded("a"), 260)) == [("a", S.WRAP_UP, None, None, 260)]
    assert e.agent_counters("a") == (0, 160)
    assert rings(e.handle(Tick(), 265)) == [("a", "c1")]


def test_restored_pause_and_idle_time_survive_a_restart() -> None:
    e = AcdEngine({"q": Queue("q")})
    assert e.handle(restore(S.PAUSED, 50, reason="lunch"), 200) == []
    assert (e.agent_state("a").status, e.agent_state("a").reason) == (S.PAUSED, "lunch")
    e.handle(AgentLoggedIn(agent("b"), frozenset({"q"})), 150)
    e.handle(AgentUnpaused("a"), 210)
    e.handle(AgentLoggedIn(agent("c"), frozenset({"q"}), AgentState(S.AVAILABLE, 10)), 220)
    # c has been idle since 10 (before the restart): the longest idle.
    assert rings(e.handle(CallerJoined(caller("c1", at=230)), 230)) == [("c", "c1")]


def test_a_ring_in_progress_does_not_survive_a_restart() -> None:
    e = two_queues()
    e.handle(restore(S.RESERVED, 100, call_id="lost"), 200)
    assert e.agent_state("a").status is S.AVAILABLE
    assert rings(e.handle(CallerJoined(caller("c1", at=201)), 201)) == [("a", "c1")]
