"""RingTracker (ccd.acd.rings): rings, call backs and the ACD's channels as a pure state
machine — every path AcdService drives, without an event loop."""

from __future__ import annotations

import itertools

import pytest

from ccd.acd.engine import (
    AgentAnswered,
    AgentBusy,
    AgentNoAnswer,
    CallbackFailed,
    CallEnded,
    CallerLeft,
)
from ccd.acd.rings import (
    AGENT_CHANNEL_PREFIX,
    BUSY_REASONS,
    HANGUP_RETRY_S,
    LOST_RING_HANGUP_ATTEMPTS,
    ORIGINATE_SETTLE_S,
    CallbackDue,
    CallerConnectedToAgent,
    CallerOffLine,
    CallerWaiting,
    ChannelGone,
    FeedEngine,
    HangUp,
    Note,
    OriginateAnswered,
    OriginateCallback,
    OriginateFailed,
    OriginateNotQueued,
    OriginateQueued,
    OriginateRing,
    Resynced,
    RingCancelled,
    RingCommand,
    RingRequested,
    RingTracker,
)

NOW = 1_764_064_000.0
NO_ANSWER = 3


def tracker() -> RingTracker:
    counter = itertools.count(1)
    return RingTracker(new_id=lambda: f"id{next(counter)}")


def ring(t: RingTracker, agent_id: str = "1001", call_id: str = "c1") -> OriginateRing:
    [command] = t.handle(
        RingRequested(agent_id, call_id, f"PJSIP/{agent_id}", f"PJSIP/trunk-{call_id}", 15.0),
        NOW,
    )
    assert isinstance(command, OriginateRing)
    return command


def queued_ring(t: RingTracker, agent_id: str = "1001", call_id: str = "c1") -> OriginateRing:
    command = ring(t, agent_id, call_id)
    assert t.handle(OriginateQueued(command.action_id), NOW) == []
    return command


def fed(commands: list[RingCommand]) -> list[object]:
    """The engine events among the commands, in order."""
    return [c.event for c in commands if isinstance(c, FeedEngine)]


def empty(t: RingTracker) -> bool:
    return not any(t.sizes().values())


# ---- ringing ------------------------------------------------------------------------


def test_a_ring_is_an_originate_with_ids_chosen_before_asterisk_has_the_channel() -> None:
    t = tracker()
    command = ring(t)
    assert command == OriginateRing(
        action_id="ccd-acd-ring-id1",
        channel_id=f"{AGENT_CHANNEL_PREFIX}id2",
        agent_id="1001",
        call_id="c1",
        interface="PJSIP/1001",
        caller_channel="PJSIP/trunk-c1",
        timeout_s=15.0,
    )


def test_a_device_busy_outside_ccd_is_skipped_without_an_originate() -> None:
    t = tracker()
    out = t.handle(RingRequested("1001", "c1", "PJSIP/1001", "PJSIP/t-1", 15.0, True), NOW)
    assert fed(out) == [AgentBusy("1001", "c1")]
    assert not [c for c in out if isinstance(c, OriginateRing)]
    assert empty(t)


def test_answered_then_connected_then_the_agent_hangup_ends_the_call() -> None:
    t = tracker()
    command = queued_ring(t)
    out = t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    assert out == [FeedEngine(AgentAnswered("1001", "c1"))]
    assert t.handle(CallerConnectedToAgent("1001", "c1"), NOW) == []
    assert t.handle(ChannelGone(command.channel_id), NOW) == [FeedEngine(CallEnded("1001"))]
    assert empty(t)


def test_no_answer_counts_against_the_agent() -> None:
    t = tracker()
    command = queued_ring(t)
    [feed] = t.handle(OriginateFailed(command.action_id, NO_ANSWER), NOW)
    assert isinstance(feed, FeedEngine)
    assert feed.event == AgentNoAnswer("1001", "c1")
    assert feed.note == "agent did not answer"
    assert feed.details == {"agent_id": "1001", "reason": NO_ANSWER}
    assert empty(t)


@pytest.mark.parametrize("reason", sorted(BUSY_REASONS))
def test_busy_congestion_and_failure_skip_the_agent_without_a_no_answer(reason: int) -> None:
    t = tracker()
    command = queued_ring(t)
    [feed] = t.handle(OriginateFailed(command.action_id, reason), NOW)
    assert isinstance(feed, FeedEngine)
    assert (feed.event, feed.note) == (AgentBusy("1001", "c1"), "agent busy")
    assert empty(t)


def test_a_cancelled_ring_is_hung_up_and_a_late_success_is_hung_up_again() -> None:
    t = tracker()
    command = queued_ring(t)
    assert t.handle(RingCancelled("1001", "c1"), NOW) == [HangUp(command.channel_id)]
    # The agent picked up just as ccd gave up: the leg is ended, the engine hears nothing.
    out = t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    assert out == [HangUp(command.channel_id)]
    assert t.handle(ChannelGone(command.channel_id), NOW) == []
    assert empty(t)


def test_a_cancelled_ring_that_fails_later_needs_nothing_more() -> None:
    t = tracker()
    command = queued_ring(t)
    t.handle(RingCancelled("1001", "c1"), NOW)
    assert t.handle(OriginateFailed(command.action_id, NO_ANSWER), NOW) == []
    assert empty(t)


def test_a_ring_cancelled_before_asterisk_queued_it_is_hung_up_once_queued() -> None:
    t = tracker()
    command = ring(t)
    assert t.handle(RingCancelled("1001", "c1"), NOW) == []  # no channel to hang up yet
    assert t.handle(OriginateQueued(command.action_id), NOW) == [HangUp(command.channel_id)]
    assert t.handle(OriginateFailed(command.action_id, NO_ANSWER), NOW) == []
    assert empty(t)


def test_a_cancelled_ring_answered_before_its_queued_answer_is_hung_up_once() -> None:
    t = tracker()
    command = ring(t)
    t.handle(RingCancelled("1001", "c1"), NOW)
    out = t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    assert out == [HangUp(command.channel_id)]
    assert t.handle(OriginateQueued(command.action_id), NOW) == []


def test_cancelling_a_ring_that_is_not_current_does_nothing() -> None:
    t = tracker()
    queued_ring(t)
    assert t.handle(RingCancelled("1002", "c1"), NOW) == []
    assert t.handle(RingCancelled("1001", "c2"), NOW) == []


def test_an_agent_hangup_before_the_originate_response_still_ends_the_call() -> None:
    t = tracker()
    command = queued_ring(t)
    # Answered and hung up at once: both AMI events race; here the Hangup wins.
    assert t.handle(ChannelGone(command.channel_id), NOW) == []
    out = t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    assert fed(out) == [AgentAnswered("1001", "c1")]
    # The engine connects the caller; the agent is not left on a call.
    assert t.handle(CallerConnectedToAgent("1001", "c1"), NOW) == [FeedEngine(CallEnded("1001"))]
    assert empty(t)


def test_an_originate_never_written_frees_the_agent_and_needs_no_hangup() -> None:
    t = tracker()
    command = ring(t)
    out = t.handle(OriginateNotQueued(command.action_id, written=False), NOW)
    assert out == [FeedEngine(AgentBusy("1001", "c1"))]  # not the agent's fault
    assert empty(t)


def test_an_originate_written_but_unanswered_is_hung_up_with_retries() -> None:
    t = tracker()
    command = ring(t)
    out = t.handle(OriginateNotQueued(command.action_id, written=True), NOW)
    assert out == [
        HangUp(
            command.channel_id, attempts=LOST_RING_HANGUP_ATTEMPTS, retry_after_s=HANGUP_RETRY_S
        ),
        FeedEngine(AgentBusy("1001", "c1")),
    ]
    # Asterisk did ring it after all and the agent answered: hung up, engine not told.
    out = t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    assert out == [HangUp(command.channel_id)]


def test_a_cancelled_ring_whose_originate_is_lost_is_hung_up_without_a_busy() -> None:
    t = tracker()
    command = ring(t)
    t.handle(RingCancelled("1001", "c1"), NOW)
    out = t.handle(OriginateNotQueued(command.action_id, written=True), NOW)
    assert out == [HangUp(command.channel_id, attempts=LOST_RING_HANGUP_ATTEMPTS)]


def test_a_lost_acknowledgement_after_the_response_changes_nothing() -> None:
    t = tracker()
    command = ring(t)
    t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    t.handle(CallerConnectedToAgent("1001", "c1"), NOW)
    # The OriginateResponse came first; the action's own answer was then lost.
    assert t.handle(OriginateNotQueued(command.action_id, written=True), NOW) == []
    assert t.handle(ChannelGone(command.channel_id), NOW) == [FeedEngine(CallEnded("1001"))]


def test_responses_for_unknown_originates_are_ignored() -> None:
    t = tracker()
    assert t.handle(OriginateAnswered("someone-else", "1.1"), NOW) == []
    assert t.handle(OriginateFailed("someone-else", NO_ANSWER), NOW) == []
    assert t.handle(OriginateQueued("someone-else"), NOW) == []
    assert t.handle(OriginateNotQueued("someone-else", written=True), NOW) == []
    assert t.handle(ChannelGone("1.1"), NOW) == []


# ---- waiting callers ----------------------------------------------------------------


def test_a_waiting_callers_hangup_is_the_caller_leaving_until_it_is_off_the_line() -> None:
    t = tracker()
    t.handle(CallerWaiting("u1", "c1"), NOW)
    assert t.handle(ChannelGone("u1"), NOW) == [FeedEngine(CallerLeft("c1"))]
    assert t.handle(ChannelGone("u1"), NOW) == []  # once
    t.handle(CallerWaiting("u2", "c2"), NOW)
    t.handle(CallerOffLine("u2"), NOW)  # connected, overflowed...: not an abandon
    assert t.handle(ChannelGone("u2"), NOW) == []
    assert empty(t)


# ---- call backs ---------------------------------------------------------------------


def call_back(t: RingTracker, call_id: str = "c1") -> OriginateCallback:
    [command] = t.handle(CallbackDue(call_id, "sales", "5551111", NOW - 60), NOW)
    assert isinstance(command, OriginateCallback)
    return command


def test_a_call_back_is_an_originate_with_its_own_ids_and_the_first_join_time() -> None:
    t = tracker()
    assert call_back(t) == OriginateCallback(
        action_id="ccd-acd-cb-id1",
        channel_id=f"{AGENT_CHANNEL_PREFIX}cb-id2",
        call_id="c1",
        queue_id="sales",
        number="5551111",
        joined_at=NOW - 60,
    )


def test_an_answered_call_back_reaching_the_queue_is_then_an_ordinary_caller() -> None:
    t = tracker()
    command = call_back(t)
    assert t.handle(OriginateAnswered(command.action_id, "1764064100.1"), NOW) == []
    t.handle(CallerWaiting("1764064100.1", "c1", callback_of="c1"), NOW)
    assert t.handle(ChannelGone("1764064100.1"), NOW) == [FeedEngine(CallerLeft("c1"))]
    assert empty(t)


def test_a_call_back_hung_up_before_reaching_the_queue_failed() -> None:
    t = tracker()
    command = call_back(t)
    t.handle(OriginateAnswered(command.action_id, "1764064100.1"), NOW)
    [feed] = t.handle(ChannelGone("1764064100.1"), NOW)
    assert isinstance(feed, FeedEngine)
    assert (feed.event, feed.note) == (
        CallbackFailed("c1"),
        "call back hung up before reaching the queue",
    )
    assert empty(t)


def test_an_unanswered_call_back_failed() -> None:
    t = tracker()
    command = call_back(t)
    [feed] = t.handle(OriginateFailed(command.action_id, NO_ANSWER), NOW)
    assert isinstance(feed, FeedEngine)
    assert (feed.event, feed.note) == (CallbackFailed("c1"), "call back not answered")
    assert empty(t)


@pytest.mark.parametrize("written", [False, True])
def test_a_call_back_whose_originate_got_no_acknowledgement_failed(written: bool) -> None:
    t = tracker()
    command = call_back(t)
    out = t.handle(OriginateNotQueued(command.action_id, written=written), NOW)
    assert out == [FeedEngine(CallbackFailed("c1"))]
    assert empty(t)


# ---- resync -------------------------------------------------------------------------


def test_a_resync_settles_callers_agent_legs_and_answered_call_backs_it_missed() -> None:
    t = tracker()
    t.handle(CallerWaiting("u1", "c1"), NOW)
    t.handle(CallerWaiting("u2", "c2"), NOW)
    command = ring(t, "1001", "c3")
    t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    t.handle(CallerConnectedToAgent("1001", "c3"), NOW)
    cb = call_back(t, "c4")
    t.handle(OriginateAnswered(cb.action_id, "cb-leg"), NOW)

    live = {"u2": "PJSIP/trunk-2"}
    out = t.handle(Resynced(live, on_call={"1001": "PJSIP/1001"}), NOW + 30)
    # Callers first (an agent freed next must not be offered a caller already gone).
    assert fed(out) == [CallerLeft("c1"), CallEnded("1001"), CallbackFailed("c4")]
    notes = [c.details["uniqueid"] for c in out if isinstance(c, Note)]
    assert notes == ["u1", command.channel_id, "cb-leg"]
    assert t.sizes()["callers"] == 1  # u2 still waits


def test_a_resync_fails_call_backs_and_forgets_cancelled_rings_lost_with_the_connection() -> None:
    t = tracker()
    old_cb = call_back(t, "c1")
    lost_ring = queued_ring(t, "1001", "c2")
    t.handle(RingCancelled("1001", "c2"), NOW)
    later = NOW + ORIGINATE_SETTLE_S + 1
    [young_cb] = t.handle(CallbackDue("c3", "sales", "5553333", NOW), later)
    assert isinstance(young_cb, OriginateCallback)

    out = t.handle(Resynced({}, on_call={}), later)
    assert fed(out) == [CallbackFailed("c1")]  # the young one may still be on its way
    assert t.sizes()["callbacks"] == 1
    assert t.sizes()["rings"] == 0
    # Their responses, if they ever come, change nothing.
    assert t.handle(OriginateFailed(old_cb.action_id, NO_ANSWER), later) == []
    assert t.handle(OriginateAnswered(lost_ring.action_id, lost_ring.channel_id), later) == []


def test_a_resync_keeps_a_cancelled_ring_whose_channel_is_live() -> None:
    t = tracker()
    command = queued_ring(t)
    t.handle(RingCancelled("1001", "c1"), NOW)
    t.handle(Resynced({command.channel_id: "PJSIP/1001-01"}, on_call={}), NOW + 10)
    # Still known as cancelled: its late answer is hung up.
    out = t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW + 11)
    assert out == [HangUp(command.channel_id)]


def test_a_restored_agent_on_a_call_is_tied_to_its_live_channel() -> None:
    t = tracker()
    live = {"1764063000.5": "PJSIP/1001-00000005", "1764063000.6": "PJSIP/10011-00000006"}
    out = t.handle(Resynced(live, on_call={"1001": "PJSIP/1001"}), NOW)
    assert out == []
    # PJSIP/10011 is another device: only PJSIP/1001-… is the agent's.
    assert t.handle(ChannelGone("1764063000.6"), NOW) == []
    assert t.handle(ChannelGone("1764063000.5"), NOW) == [FeedEngine(CallEnded("1001"))]


def test_a_restored_agent_on_a_call_without_a_live_channel_is_off_the_call() -> None:
    t = tracker()
    [feed] = t.handle(Resynced({}, on_call={"1001": "PJSIP/1001"}), NOW)
    assert isinstance(feed, FeedEngine)
    assert (feed.event, feed.note) == (CallEnded("1001"), "agent call ended while ccd was away")


def test_a_tracked_agent_whose_leg_vanished_is_ended_once() -> None:
    t = tracker()
    command = ring(t)
    t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    t.handle(CallerConnectedToAgent("1001", "c1"), NOW)
    out = t.handle(Resynced({}, on_call={"1001": "PJSIP/1001"}), NOW)
    assert fed(out) == [CallEnded("1001")]
