"""CallTracker (ccd.dialer.calls): the outbound dialer's calls as a pure state machine —
the Originate and its failures, answering machines, the person who answered and the
2-second rule, the agent's connection, wrap-up and handle time, without an event loop."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import pytest

from ccd.dialer import pacing
from ccd.dialer.calls import (
    AGENT_RING_S,
    DEFAULT_MAX_WRAPUP_S,
    LOST_ORIGINATE_GRACE_S,
    ORIGINATE_RESULT_WAIT_S,
    Adopted,
    AgentCallEnded,
    AgentConnected,
    AgentFound,
    AgentLegGone,
    AgentOnCall,
    AgentRingFailed,
    Answered,
    CallCommand,
    CallEvent,
    CallTracker,
    CustomerGone,
    DialRequest,
    Disposed,
    FindAgent,
    Finished,
    HangUp,
    Message,
    MessageStarted,
    Originate,
    OriginateFailed,
    Pace,
    Placed,
    PlayMessage,
    RecordAnswered,
    RecordConnected,
    RecordMessage,
    ReleaseAgent,
    RingAgent,
    Settled,
    Stage,
    Tick,
)
from ccd.dialer.model import ABANDON_AFTER_S, AmdMode, Outcome
from ccd.domain.contract import AmdStatus

C = TypeVar("C")

NOW = 1_764_064_000.0
CHANNEL = "ccd-dial-1"
CAMPAIGN_ID = "spring"
MARGIN = 0.25  # the service's tick: a person is given up on this much before the 2 s
GIVE_UP_S = ABANDON_AFTER_S - MARGIN

REQUEST = DialRequest(
    attempt_id=7,
    channel_id=CHANNEL,
    campaign_id=CAMPAIGN_ID,
    contact_id="c1",
    number="+12125550123",
    ring_timeout_s=25.0,
    amd=AmdMode.OFF,
    safe_harbor=True,
    machine_message=False,
)
RESERVED = replace(REQUEST, agent_id="1001")  # progressive: the agent comes first


def tracker() -> CallTracker:
    return CallTracker(deadline_margin_s=MARGIN)


def placed(request: DialRequest = REQUEST, at: float = NOW) -> CallTracker:
    t = tracker()
    t.handle(Placed(request), at)
    return t


def answered(
    request: DialRequest = REQUEST, amd_status: str = AmdStatus.HUMAN, after_s: float = 8.0
) -> tuple[CallTracker, list[CallCommand]]:
    """A call placed at NOW and answered ``after_s`` later."""
    t = placed(request)
    return t, t.handle(Answered(request.channel_id, amd_status), NOW + after_s)


ANSWER_AT = NOW + 8.0


def rung(t: CallTracker, out: list[CallCommand]) -> RingAgent:
    [ring] = of(RingAgent, out)
    return ring


def connected(
    request: DialRequest = RESERVED, wait_s: float = 0.5
) -> tuple[CallTracker, RingAgent, list[CallCommand]]:
    """A person answered at ANSWER_AT and the reserved agent was connected ``wait_s`` later."""
    t, out = answered(request)
    ring = rung(t, out)
    return t, ring, t.handle(AgentConnected(ring.ring_id), ANSWER_AT + wait_s)


def of(kind: type[C], commands: list[CallCommand]) -> list[C]:
    return [c for c in commands if isinstance(c, kind)]


def paced(commands: list[CallCommand]) -> list[pacing.PacingEvent]:
    return [c.event for c in commands if isinstance(c, Pace)]


def finished(commands: list[CallCommand]) -> Finished:
    [done] = of(Finished, commands)
    return done


# ---- placing and the Originate ------------------------------------------------------


def test_placing_a_call_tells_the_pacer_and_originates() -> None:
    t = tracker()
    out = t.handle(Placed(REQUEST), NOW)
    assert out == [Pace(CAMPAIGN_ID, pacing.CallPlaced(CHANNEL)), Originate(REQUEST)]
    assert CHANNEL in t
    assert len(t) == 1
    call = t.call(CHANNEL)
    assert call is not None
    assert call.stage is Stage.DIALING
    assert call.placed_at == NOW
    view = t.view(call)
    assert (view.attempt_id, view.campaign_id, view.contact_id) == (7, CAMPAIGN_ID, "c1")
    assert view.stage is Stage.DIALING
    assert view.answered_at is None


def test_a_duplicate_placed_is_ignored() -> None:
    t = placed()
    assert t.handle(Placed(REQUEST), NOW + 1.0) == []
    assert len(t) == 1
    call = t.call(CHANNEL)
    assert call is not None
    assert call.placed_at == NOW


def test_a_reserved_agent_is_held_while_the_customer_rings() -> None:
    t = placed(RESERVED)
    call = t.call(CHANNEL)
    assert call is not None
    assert call.agent_id == "1001"
    assert t.view(call).agent_id == "1001"


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (5, Outcome.BUSY),
        (3, Outcome.NO_ANSWER),
        (1, Outcome.NO_ANSWER),
        (8, Outcome.FAILED),
        (0, Outcome.FAILED),
        (None, Outcome.FAILED),  # never written: nothing dialed
    ],
)
def test_an_originate_failure_finishes_with_its_outcome(
    reason: int | None, outcome: Outcome
) -> None:
    t = placed()
    out = t.handle(OriginateFailed(CHANNEL, reason), NOW + 4.0)
    assert out == [
        Pace(CAMPAIGN_ID, pacing.RingEnded(CHANNEL, outcome, 4.0)),
        Settled(CHANNEL, outcome),
        Finished(REQUEST, outcome, NOW + 4.0, None, None, None),
    ]
    assert CHANNEL not in t
    assert len(t) == 0


@pytest.mark.parametrize("reason", [5, 3, 1, 8, None])
def test_an_originate_failure_releases_the_reserved_agent(reason: int | None) -> None:
    t = placed(RESERVED)
    out = t.handle(OriginateFailed(CHANNEL, reason), NOW + 4.0)
    assert of(ReleaseAgent, out) == [ReleaseAgent("1001", CHANNEL)]
    assert finished(out).agent_id is None
    assert not of(RingAgent, out)


def test_an_originate_failure_after_the_answer_is_ignored() -> None:
    t, _ = answered(RESERVED)
    assert t.handle(OriginateFailed(CHANNEL, 5), ANSWER_AT + 0.1) == []
    assert CHANNEL in t


def test_a_hang_up_before_the_originate_result_waits_for_it() -> None:
    t = placed(RESERVED)
    # The busy leg hangs up a moment before Asterisk's OriginateResponse says "busy".
    assert t.handle(CustomerGone(CHANNEL), NOW + 1.0) == [ReleaseAgent("1001", CHANNEL)]
    out = t.handle(OriginateFailed(CHANNEL, 5), NOW + 1.01)
    assert finished(out).outcome is Outcome.BUSY
    assert not of(ReleaseAgent, out)  # freed already
    assert CHANNEL not in t


def test_a_hang_up_with_no_originate_result_is_no_answer_after_the_wait() -> None:
    t = placed(RESERVED)
    t.handle(CustomerGone(CHANNEL), NOW + 6.0)
    assert t.handle(Tick(), NOW + 6.0 + ORIGINATE_RESULT_WAIT_S - 0.1) == []
    assert t.handle(Answered(CHANNEL, AmdStatus.OFF), NOW + 6.5) == []  # gone: too late
    out = t.handle(Tick(), NOW + 6.0 + ORIGINATE_RESULT_WAIT_S)
    assert paced(out) == [pacing.RingEnded(CHANNEL, Outcome.NO_ANSWER, 8.0)]
    assert finished(out) == Finished(RESERVED, Outcome.NO_ANSWER, NOW + 8.0, None)
    assert CHANNEL not in t


def test_a_lost_originate_is_given_up_after_the_ring_timeout_and_grace() -> None:
    t = placed(RESERVED)
    lost_at = NOW + REQUEST.ring_timeout_s + LOST_ORIGINATE_GRACE_S
    assert t.handle(Tick(), lost_at - 0.01) == []
    out = t.handle(Tick(), lost_at)
    assert out == [
        HangUp(CHANNEL),  # in case it rings anyway
        ReleaseAgent("1001", CHANNEL),
        Pace(
            CAMPAIGN_ID,
            pacing.RingEnded(
                CHANNEL, Outcome.FAILED, REQUEST.ring_timeout_s + LOST_ORIGINATE_GRACE_S
            ),
        ),
        Settled(CHANNEL, Outcome.FAILED),
        Finished(RESERVED, Outcome.FAILED, lost_at, None),
    ]
    assert CHANNEL not in t
    assert t.handle(CustomerGone(CHANNEL), lost_at + 1.0) == []  # too late: already done


# ---- a person answers ---------------------------------------------------------------


def test_a_person_with_a_reserved_agent_rings_that_agent_at_once() -> None:
    t, out = answered(RESERVED)
    ring = rung(t, out)
    assert out == [
        RecordAnswered(7, ANSWER_AT, AmdStatus.HUMAN),
        Pace(CAMPAIGN_ID, pacing.RingEnded(CHANNEL, Outcome.ANSWERED, 8.0)),
        ring,
    ]
    assert ring.agent_id == "1001"
    assert ring.request == RESERVED
    assert ring.timeout_s == AGENT_RING_S
    assert t.ring_of(ring.ring_id) == CHANNEL
    assert not of(FindAgent, out)
    call = t.call(CHANNEL)
    assert call is not None
    assert call.stage is Stage.WAITING
    assert call.answered_at == ANSWER_AT


def test_a_person_without_an_agent_asks_for_one_then_rings_the_one_found() -> None:
    t, out = answered()
    assert of(FindAgent, out) == [FindAgent(CHANNEL, CAMPAIGN_ID)]
    assert not of(RingAgent, out)
    out = t.handle(AgentFound(CHANNEL, "1002"), ANSWER_AT + 0.1)
    ring = rung(t, out)
    assert out == [ring]
    assert ring.agent_id == "1002"
    assert t.ring_of(ring.ring_id) == CHANNEL
    call = t.call(CHANNEL)
    assert call is not None
    assert call.agent_id == "1002"


def test_find_agent_is_asked_again_on_every_tick_until_one_is_found() -> None:
    t, _ = answered()
    assert t.handle(Tick(), ANSWER_AT + 0.5) == [FindAgent(CHANNEL, CAMPAIGN_ID)]
    assert t.handle(Tick(), ANSWER_AT + 1.0) == [FindAgent(CHANNEL, CAMPAIGN_ID)]
    t.handle(AgentFound(CHANNEL, "1002"), ANSWER_AT + 1.1)
    assert t.handle(Tick(), ANSWER_AT + 1.5) == []  # ringing 1002: nothing to ask


def test_a_second_agent_found_is_released_at_once() -> None:
    t, _ = answered()
    t.handle(AgentFound(CHANNEL, "1002"), ANSWER_AT + 0.1)
    out = t.handle(AgentFound(CHANNEL, "1003"), ANSWER_AT + 0.2)
    assert out == [ReleaseAgent("1003", CHANNEL)]


def test_an_agent_found_for_a_call_no_longer_waiting_is_released() -> None:
    t = tracker()
    assert t.handle(AgentFound("unknown", "1002"), NOW) == [ReleaseAgent("1002", "unknown")]
    t, _ = answered()
    t.handle(Tick(), ANSWER_AT + GIVE_UP_S)  # given up on: safe harbor
    assert t.handle(AgentFound(CHANNEL, "1002"), ANSWER_AT + GIVE_UP_S + 0.1) == [
        ReleaseAgent("1002", CHANNEL)
    ]


@pytest.mark.parametrize(
    "status", [AmdStatus.HUMAN, AmdStatus.HANGUP, AmdStatus.NOTSURE, AmdStatus.OFF]
)
def test_these_amd_statuses_count_as_a_person(status: str) -> None:
    t, out = answered(replace(RESERVED, amd=AmdMode.HANG_UP), status)
    assert of(RecordAnswered, out) == [RecordAnswered(7, ANSWER_AT, status)]
    assert paced(out) == [pacing.RingEnded(CHANNEL, Outcome.ANSWERED, 8.0)]
    assert rung(t, out).agent_id == "1001"
    assert not of(HangUp, out)
    assert not of(PlayMessage, out)


def test_a_second_answer_is_ignored() -> None:
    t, _ = answered(RESERVED)
    assert t.handle(Answered(CHANNEL, AmdStatus.HUMAN), ANSWER_AT + 0.2) == []


# ---- the agent is connected ---------------------------------------------------------


def test_an_agent_connected_within_two_seconds_is_on_the_call() -> None:
    t, _, out = connected(wait_s=1.5)
    assert out == [
        Settled(CHANNEL, Outcome.ANSWERED),  # the call's record must carry it
        AgentOnCall("1001", CHANNEL),
        RecordConnected(7, "1001", ANSWER_AT + 1.5),
        Pace(CAMPAIGN_ID, pacing.AgentConnected(CHANNEL, 1.5)),
    ]
    call = t.call(CHANNEL)
    assert call is not None
    assert call.stage is Stage.CONNECTED
    assert call.connected_at == ANSWER_AT + 1.5
    # Past the 2 s, the connected call is left alone.
    assert t.handle(Tick(), ANSWER_AT + 5.0) == []


def test_the_connected_agents_leg_entering_a_bridge_again_changes_nothing() -> None:
    t, ring, _ = connected()
    assert t.handle(AgentConnected(ring.ring_id), ANSWER_AT + 3.0) == []  # not hung up
    call = t.call(CHANNEL)
    assert call is not None
    assert call.stage is Stage.CONNECTED


def test_the_agent_leg_hanging_up_ends_an_answered_call_and_starts_wrap_up() -> None:
    t, ring, _ = connected(wait_s=0.5)
    assert list(t.wrapping()) == []
    out = t.handle(AgentLegGone(ring.ring_id), ANSWER_AT + 60.0)
    assert out == [
        AgentCallEnded("1001", CHANNEL, DEFAULT_MAX_WRAPUP_S),
        Finished(RESERVED, Outcome.ANSWERED, ANSWER_AT + 60.0, "1001", ANSWER_AT, ANSWER_AT + 0.5),
    ]
    assert not of(ReleaseAgent, out)  # the agent is in wrap-up, not free
    assert CHANNEL not in t
    assert list(t.wrapping()) == [(CAMPAIGN_ID, ANSWER_AT + 0.5)]


def test_the_disposition_sends_the_handle_time_once_and_ends_wrap_up() -> None:
    t, ring, _ = connected(wait_s=0.5)
    t.handle(AgentLegGone(ring.ring_id), ANSWER_AT + 60.0)
    out = t.handle(Disposed(CHANNEL), ANSWER_AT + 90.5)
    assert out == [Pace(CAMPAIGN_ID, pacing.CallEnded(CHANNEL, 90.0))]
    assert list(t.wrapping()) == []
    assert t.handle(Disposed(CHANNEL), ANSWER_AT + 91.0) == []


def test_a_disposition_for_a_call_not_in_wrap_up_is_ignored() -> None:
    assert tracker().handle(Disposed(CHANNEL), NOW) == []


def test_a_disposition_during_the_call_skips_the_wrap_up() -> None:
    t, ring, _ = connected(wait_s=0.5)
    assert t.handle(Disposed(CHANNEL), ANSWER_AT + 30.0) == []
    out = t.handle(AgentLegGone(ring.ring_id), ANSWER_AT + 60.0)
    assert of(AgentCallEnded, out) == [AgentCallEnded("1001", CHANNEL, 0.0)]
    assert of(Pace, out) == [Pace(CAMPAIGN_ID, pacing.CallEnded(CHANNEL, 59.5))]
    assert list(t.wrapping()) == []


def test_an_agent_who_never_disposes_is_free_after_the_longest_wrap_up() -> None:
    t, ring, _ = connected(wait_s=0.5)
    t.handle(AgentLegGone(ring.ring_id), ANSWER_AT + 60.0)
    assert t.handle(Tick(), ANSWER_AT + 60.0 + DEFAULT_MAX_WRAPUP_S - 0.1) == []
    out = t.handle(Tick(), ANSWER_AT + 60.0 + DEFAULT_MAX_WRAPUP_S)
    assert out == [
        Pace(CAMPAIGN_ID, pacing.CallEnded(CHANNEL, 59.5 + DEFAULT_MAX_WRAPUP_S)),
    ]
    assert list(t.wrapping()) == []
    assert t.handle(Disposed(CHANNEL), ANSWER_AT + 500.0) == []  # late: counted once


def test_a_connected_agents_ring_hanging_up_does_not_release_the_agent() -> None:
    t, ring, _ = connected()
    assert t.handle(AgentRingFailed(ring.ring_id), ANSWER_AT + 30.0) == []
    # The agent leg's hang-up follows: the agent goes to wrap-up.
    out = t.handle(AgentLegGone(ring.ring_id), ANSWER_AT + 30.1)
    assert of(AgentCallEnded, out) == [AgentCallEnded("1001", CHANNEL, DEFAULT_MAX_WRAPUP_S)]
    assert not of(ReleaseAgent, out)
    assert finished(out).outcome is Outcome.ANSWERED


def test_a_failed_agent_ring_while_waiting_releases_the_agent_and_finds_another() -> None:
    t, out = answered(RESERVED)
    first = rung(t, out)
    out = t.handle(AgentRingFailed(first.ring_id), ANSWER_AT + 0.4)
    assert out == [ReleaseAgent("1001", CHANNEL), FindAgent(CHANNEL, CAMPAIGN_ID)]
    assert t.ring_of(first.ring_id) is None
    out = t.handle(AgentFound(CHANNEL, "1002"), ANSWER_AT + 0.5)
    second = rung(t, out)
    assert second.agent_id == "1002"
    assert second.ring_id != first.ring_id
    call = t.call(CHANNEL)
    assert call is not None
    assert call.tried == {"1001", "1002"}
    # The second agent connects: the wait counts from the answer.
    out = t.handle(AgentConnected(second.ring_id), ANSWER_AT + 1.25)
    assert of(AgentOnCall, out) == [AgentOnCall("1002", CHANNEL)]
    assert paced(out) == [pacing.AgentConnected(CHANNEL, 1.25)]


def test_an_old_ring_failing_again_is_ignored() -> None:
    t, out = answered(RESERVED)
    first = rung(t, out)
    t.handle(AgentRingFailed(first.ring_id), ANSWER_AT + 0.4)
    t.handle(AgentFound(CHANNEL, "1002"), ANSWER_AT + 0.5)
    assert t.handle(AgentRingFailed(first.ring_id), ANSWER_AT + 0.6) == []


# ---- the 2-second rule --------------------------------------------------------------


def test_nothing_happens_before_the_give_up_time() -> None:
    t, _ = answered(RESERVED)
    assert t.handle(Tick(), ANSWER_AT + GIVE_UP_S - 0.01) == []
    call = t.call(CHANNEL)
    assert call is not None
    assert call.stage is Stage.WAITING


def test_at_the_give_up_time_the_ring_is_cancelled_and_the_person_hears_safe_harbor() -> None:
    t, out = answered(RESERVED)
    ring = rung(t, out)
    out = t.handle(Tick(), ANSWER_AT + GIVE_UP_S)
    assert out == [
        HangUp(ring.ring_id),
        ReleaseAgent("1001", CHANNEL),
        Settled(CHANNEL, Outcome.ABANDONED),  # before the hang-up: the record carries it
        PlayMessage(CHANNEL, Message.SAFE_HARBOR),
    ]
    call = t.call(CHANNEL)
    assert call is not None
    assert call.stage is Stage.MESSAGE
    assert t.handle(Tick(), ANSWER_AT + 3.0) == []  # given up on once
    assert t.handle(MessageStarted(CHANNEL), ANSWER_AT + 2.1) == [RecordMessage(7, ANSWER_AT + 2.1)]
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 12.0)
    assert out == [Finished(RESERVED, Outcome.ABANDONED, ANSWER_AT + 12.0, None, ANSWER_AT, None)]
    assert CHANNEL not in t


def test_the_give_up_time_is_the_two_seconds_less_the_margin() -> None:
    t = CallTracker()  # no margin: exactly ABANDON_AFTER_S
    t.handle(Placed(REQUEST), NOW)
    t.handle(Answered(CHANNEL, AmdStatus.HUMAN), ANSWER_AT)
    assert t.handle(Tick(), ANSWER_AT + GIVE_UP_S) == [FindAgent(CHANNEL, CAMPAIGN_ID)]
    out = t.handle(Tick(), ANSWER_AT + ABANDON_AFTER_S)
    assert out == [Settled(CHANNEL, Outcome.ABANDONED), PlayMessage(CHANNEL, Message.SAFE_HARBOR)]


def test_without_a_safe_harbor_prompt_the_person_is_hung_up_on() -> None:
    t, _ = answered(replace(REQUEST, safe_harbor=False))
    out = t.handle(Tick(), ANSWER_AT + GIVE_UP_S)
    assert out == [Settled(CHANNEL, Outcome.ABANDONED), HangUp(CHANNEL)]
    assert not of(PlayMessage, out)
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + GIVE_UP_S + 0.1)
    assert finished(out).outcome is Outcome.ABANDONED


def test_a_ring_that_answers_after_the_give_up_time_is_hung_up() -> None:
    t, out = answered(RESERVED)
    ring = rung(t, out)
    t.handle(Tick(), ANSWER_AT + GIVE_UP_S)
    out = t.handle(AgentConnected(ring.ring_id), ANSWER_AT + GIVE_UP_S + 0.05)
    assert out == [HangUp(ring.ring_id)]
    assert not of(AgentOnCall, out)
    assert not of(RecordConnected, out)
    # Its hang-up releases nobody (the agent was released at the give-up time).
    assert t.handle(AgentRingFailed(ring.ring_id), ANSWER_AT + GIVE_UP_S + 0.1) == []
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 10.0)
    assert finished(out).outcome is Outcome.ABANDONED
    assert t.ring_of(ring.ring_id) is None  # nothing kept after the call


def test_the_rings_are_forgotten_when_the_call_ends() -> None:
    t, out = answered(RESERVED)
    ring = rung(t, out)
    t.handle(Tick(), ANSWER_AT + GIVE_UP_S)
    assert t.ring_of(ring.ring_id) == CHANNEL  # a late answer is still recognised
    t.handle(CustomerGone(CHANNEL), ANSWER_AT + 10.0)
    assert t.ring_of(ring.ring_id) is None
    assert t.handle(AgentConnected(ring.ring_id), ANSWER_AT + 11.0) == []


def test_a_person_hanging_up_while_waiting_is_abandoned() -> None:
    t, out = answered(RESERVED)
    ring = rung(t, out)
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 1.0)
    assert out == [
        HangUp(ring.ring_id),
        ReleaseAgent("1001", CHANNEL),
        Settled(CHANNEL, Outcome.ABANDONED),
        Finished(RESERVED, Outcome.ABANDONED, ANSWER_AT + 1.0, None, ANSWER_AT, None),
    ]
    assert CHANNEL not in t
    assert t.ring_of(ring.ring_id) is None


def test_a_person_hanging_up_while_no_agent_was_found_is_abandoned() -> None:
    t, _ = answered()
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 0.3)
    assert out == [
        Settled(CHANNEL, Outcome.ABANDONED),
        Finished(REQUEST, Outcome.ABANDONED, ANSWER_AT + 0.3, None, ANSWER_AT, None),
    ]


# ---- answering machines -------------------------------------------------------------


def test_a_machine_is_hung_up_on_without_ringing_an_agent() -> None:
    request = replace(RESERVED, amd=AmdMode.HANG_UP)
    t, out = answered(request, AmdStatus.MACHINE)
    assert out == [
        RecordAnswered(7, ANSWER_AT, AmdStatus.MACHINE),
        Pace(CAMPAIGN_ID, pacing.RingEnded(CHANNEL, Outcome.MACHINE, 8.0)),
        Settled(CHANNEL, Outcome.MACHINE),
        ReleaseAgent("1001", CHANNEL),
        HangUp(CHANNEL),
    ]
    assert t.handle(Tick(), ANSWER_AT + 5.0) == []  # no 2-second rule for a machine
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 0.2)
    assert out == [Finished(request, Outcome.MACHINE, ANSWER_AT + 0.2, None, ANSWER_AT, None)]
    assert CHANNEL not in t


def test_a_machine_gets_the_campaigns_message() -> None:
    request = replace(REQUEST, amd=AmdMode.LEAVE_MESSAGE, machine_message=True)
    t, out = answered(request, AmdStatus.MACHINE)
    assert of(PlayMessage, out) == [PlayMessage(CHANNEL, Message.MACHINE)]
    assert not of(HangUp, out)
    assert not of(FindAgent, out)
    assert t.handle(MessageStarted(CHANNEL), ANSWER_AT + 1.0) == [RecordMessage(7, ANSWER_AT + 1.0)]
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 20.0)
    assert finished(out).outcome is Outcome.MACHINE


def test_leave_message_without_a_message_hangs_up() -> None:
    request = replace(REQUEST, amd=AmdMode.LEAVE_MESSAGE, machine_message=False)
    _, out = answered(request, AmdStatus.MACHINE)
    assert of(HangUp, out) == [HangUp(CHANNEL)]
    assert not of(PlayMessage, out)


def test_a_message_started_outside_a_message_is_not_recorded() -> None:
    t, _ = answered(RESERVED)
    assert t.handle(MessageStarted(CHANNEL), ANSWER_AT + 0.1) == []
    assert tracker().handle(MessageStarted("unknown"), NOW) == []


# ---- unknown channels ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        OriginateFailed("unknown", 5),
        Answered("unknown", AmdStatus.HUMAN),
        AgentRingFailed("unknown"),
        AgentConnected("unknown"),
        MessageStarted("unknown"),
        CustomerGone("unknown"),
        Disposed("unknown"),
        Tick(),
    ],
)
def test_events_for_unknown_channels_are_ignored(event: CallEvent) -> None:
    t = placed()
    assert t.handle(event, NOW + 1.0) == []
    assert len(t) == 1


# ---- after a restart ------------------------------------------------------------------


def test_the_customer_hanging_up_ends_an_answered_call_too() -> None:
    t, ring, _ = connected(wait_s=0.5)
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 60.0)
    assert of(AgentCallEnded, out) == [AgentCallEnded("1001", CHANNEL, DEFAULT_MAX_WRAPUP_S)]
    assert finished(out).outcome is Outcome.ANSWERED
    assert t.handle(AgentLegGone(ring.ring_id), ANSWER_AT + 60.1) == []  # the other leg


def test_an_adopted_conversation_goes_on_and_ends_with_the_customer_leg() -> None:
    t = tracker()
    adopted = Adopted(RESERVED, NOW, ANSWER_AT, connected_at=ANSWER_AT + 0.4)
    assert t.handle(adopted, ANSWER_AT + 30.0) == []
    assert t.handle(Tick(), ANSWER_AT + 31.0) == []  # no 2-second rule: connected
    out = t.handle(CustomerGone(CHANNEL), ANSWER_AT + 60.0)
    assert finished(out).outcome is Outcome.ANSWERED
    assert finished(out).agent_id == "1001"


def test_an_adopted_person_still_waiting_hears_the_safe_harbor_at_once() -> None:
    t = tracker()
    assert t.handle(Adopted(REQUEST, NOW, ANSWER_AT), ANSWER_AT + 30.0) == []
    out = t.handle(Tick(), ANSWER_AT + 30.1)
    assert out == [Settled(CHANNEL, Outcome.ABANDONED), PlayMessage(CHANNEL, Message.SAFE_HARBOR)]


def test_an_adopted_machine_is_hung_up_and_an_adopted_ringing_call_followed() -> None:
    t = tracker()
    out = t.handle(Adopted(REQUEST, NOW, ANSWER_AT, person=False), ANSWER_AT + 30.0)
    assert out == [Settled(CHANNEL, Outcome.MACHINE), HangUp(CHANNEL)]
    t = tracker()
    assert t.handle(Adopted(REQUEST, NOW), NOW + 5.0) == []
    out = t.handle(Answered(CHANNEL, AmdStatus.OFF), ANSWER_AT)
    assert of(FindAgent, out) == [FindAgent(CHANNEL, CAMPAIGN_ID)]
    assert t.handle(Adopted(REQUEST, NOW), NOW + 6.0) == []  # once
