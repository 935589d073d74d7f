"""Dialer calls in the CDR: the dialer's DialerAttemptStarted (published before its
Originate) and DialerAttemptSettled make the customer's record outbound, with its campaign,
contact and the dialer's disposition — shaped the way Asterisk 22 reports
``Originate Channel=Local/<number>@ccd-dialer ChannelId=X``: the ``;1`` half is ``X``, the
``;2`` half ``X;2``, and every channel of the call has linkedid ``X``. The dialer settles an
attempt when it sees the customer leg hang up, after the builder saw it: the record waits."""

from __future__ import annotations

from datetime import UTC, datetime

from ccd.cdr.builder import DIALER_SETTLE_WAIT_S
from ccd.domain import contract
from ccd.domain.cdr import Direction, Disposition
from ccd.domain.events import (
    AgentLegStarted,
    DialerAttemptSettled,
    DialerAttemptStarted,
    UserEventReceived,
)
from tests.unit.amitraffic import Chan, Traffic
from tests.unit.cdrrun import Run


class Dialed(Run):
    """One dialer attempt: announced, then its customer leg rings the far end."""

    def __init__(self, attempt: str = "7") -> None:
        super().__init__()
        self.t = t = Traffic()
        self.linkedid = linkedid = f"ccd-dial-{attempt}"
        self.events(
            DialerAttemptStarted(
                at=self.now(),
                linkedid=linkedid,
                campaign_id="spring",
                contact_id="c42",
                attempt_id=attempt,
            )
        )
        name = "Local/+15550001@ccd-dialer-00000001"
        self.answered_side = Chan(f"{name};1", linkedid, linkedid, context="ccd-dialer")
        self.dialing_side = Chan(f"{name};2", f"{linkedid};2", linkedid, state=4)
        self.dialing_side.context, self.dialing_side.exten = "ccd-dialer", "+15550001"
        far = "Local/+15550001@ccd-sim-00000002"
        self.far_end = Chan(f"{far};1", t.uniqueid(), linkedid, context="ccd-sim")
        self.far_end_talker = Chan(f"{far};2", t.uniqueid(), linkedid, state=4)
        self.frames(
            t.newchannel(self.answered_side),
            t.newchannel(self.dialing_side),
            t.newchannel(self.far_end),
            t.newchannel(self.far_end_talker),
            t.dial_begin(self.dialing_side, self.far_end, "Local/+15550001@ccd-sim"),
        )

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t.clock, UTC)

    def settle(self, disposition: str) -> None:
        self.events(
            DialerAttemptSettled(at=self.now(), linkedid=self.linkedid, disposition=disposition)
        )

    def customer_answers(self) -> None:
        """The far end answers: bridged with the dialing half; the answered half runs
        ccd-dialer-answered."""
        t = self.t
        t.clock += 5.0
        bridge = t.bridge_id()
        self.frames(
            t.newstate(self.far_end_talker, 6),
            t.newstate(self.far_end, 6),
            t.dial_end(self.dialing_side, self.far_end, "ANSWER"),
            t.newstate(self.dialing_side, 6),
            t.newstate(self.answered_side, 6),
            t.bridge_enter(self.dialing_side, bridge, 1),
            t.bridge_enter(self.far_end, bridge, 2),
        )

    def connect_agent(self, agent_id: str = "a7") -> Chan:
        """ccd-dialer-connect dials an agent from the answered half: a Dial leg of the
        customer's call, announced as ``AgentLegStarted``."""
        t = self.t
        agent = Chan("PJSIP/1007-00000003", t.uniqueid(), self.linkedid)
        self.frames(t.newchannel(agent))
        self.events(
            AgentLegStarted(
                at=self.now(), linkedid=self.linkedid, uniqueid=agent.uniqueid, agent_id=agent_id
            )
        )
        self.frames(t.newstate(agent, 5))
        t.clock += 1.0
        bridge = t.bridge_id()
        self.frames(t.newstate(agent, 6))
        self.frames(t.bridge_enter(agent, bridge, 1), t.bridge_enter(self.answered_side, bridge, 2))
        return agent

    def everyone_hangs_up(self, *extra: Chan, cause: int = 16) -> None:
        t = self.t
        t.clock += 30.0
        legs = (*extra, self.far_end_talker, self.far_end, self.dialing_side, self.answered_side)
        self.frames(*(t.hangup(leg, cause) for leg in legs))

    def later_event(self, seconds: float) -> None:
        """Another call's event ``seconds`` on (the builder's only sense of time passing)."""
        self.t.clock += seconds
        self.events(
            UserEventReceived(
                at=self.now(),
                name=contract.USER_EVENT_DIALER_ANSWERED,
                uniqueid="ccd-dial-other",
                linkedid="ccd-dial-other",
                fields={},
            )
        )


def test_an_answered_attempt_connected_to_an_agent_is_one_outbound_record() -> None:
    call = Dialed()
    call.customer_answers()
    agent = call.connect_agent("a7")
    call.everyone_hangs_up(agent)
    assert call.records == []  # waiting for the dialer, which sees the hangup after us
    call.settle("answered")

    record = call.only()
    assert record.linkedid == "ccd-dial-7"
    assert record.direction is Direction.OUTBOUND
    assert (record.campaign_id, record.contact_id) == ("spring", "c42")
    assert record.disposition is Disposition.ANSWERED
    # The agent's Dial leg is a leg of the customer's record, with its agent.
    assert [leg.agent_id for leg in record.legs if leg.uniqueid == agent.uniqueid] == ["a7"]
    # No queue: the call's agent is the one whose leg answered.
    assert (record.queue, record.agent_id) == (None, "a7")
    call.assert_empty()


def test_the_dialers_disposition_wins_over_what_the_channels_say() -> None:
    # Answered by a person, no agent in time: the safe-harbor message, then hung up.
    abandoned = Dialed("8")
    abandoned.customer_answers()
    abandoned.everyone_hangs_up()
    abandoned.settle("abandoned")
    # An answering machine: answered too, as far as the channels know; settled early.
    machine = Dialed("9")
    machine.customer_answers()
    machine.settle("machine")
    machine.everyone_hangs_up()

    assert abandoned.only().disposition is Disposition.ABANDONED
    assert abandoned.only().answered_at is not None
    assert machine.only().disposition is Disposition.MACHINE


def test_without_a_settlement_the_record_comes_later_with_the_channels_disposition() -> None:
    call = Dialed()
    t = call.t
    call.frames(t.dial_end(call.dialing_side, call.far_end, "BUSY"))
    call.everyone_hangs_up(cause=17)
    call.later_event(DIALER_SETTLE_WAIT_S - 1)
    assert call.records == []
    call.later_event(1)

    record = call.only()
    assert record.disposition is Disposition.BUSY
    assert record.direction is Direction.OUTBOUND
    assert record.campaign_id == "spring"
    assert call.builder.unsettled_dialer_calls == 1
    call.settle("busy")  # too late: records are never amended
    assert call.builder.late_dialer_events == 1
    call.assert_empty()


def test_at_shutdown_a_call_waiting_for_its_settlement_is_recorded_anyway() -> None:
    call = Dialed()
    t = call.t
    call.frames(t.dial_end(call.dialing_side, call.far_end, "BUSY"))
    call.everyone_hangs_up(cause=17)
    assert call.records == []
    [record] = call.builder.give_up_settling()
    assert record.disposition is Disposition.BUSY
    assert record.campaign_id == "spring"
    assert call.builder.give_up_settling() == []  # once


def test_a_disposition_the_dialer_may_not_give_is_counted_and_ignored() -> None:
    call = Dialed()
    call.customer_answers()
    call.settle("overflowed")  # a queue's outcome, not the dialer's
    call.everyone_hangs_up()
    assert call.records == []  # still unsettled
    call.settle("machine")

    assert call.only().disposition is Disposition.MACHINE
    assert call.builder.bad_dialer_dispositions == 1


def test_an_attempt_that_never_had_a_channel_leaves_nothing_behind() -> None:
    run = Run()
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    run.events(
        DialerAttemptStarted(
            at=at, linkedid="ccd-dial-1", campaign_id="spring", contact_id="c1", attempt_id="1"
        ),
        # The Originate was refused: the dialer settles it; no call will come.
        DialerAttemptSettled(at=at, linkedid="ccd-dial-1", disposition="failed"),
    )
    assert run.records == []
    assert run.builder.late_dialer_events == 0
    run.assert_empty()


def test_a_leg_showing_up_while_the_record_waits_keeps_the_call_open() -> None:
    call = Dialed()
    call.customer_answers()
    call.everyone_hangs_up()
    t = call.t
    straggler = Chan("PJSIP/1007-00000009", t.uniqueid(), call.linkedid)
    call.frames(t.newchannel(straggler))
    call.later_event(DIALER_SETTLE_WAIT_S + 1)
    assert call.records == []  # not over: it has a leg again
    call.frames(t.hangup(straggler))
    call.settle("abandoned")

    record = call.only()
    assert record.disposition is Disposition.ABANDONED
    assert straggler.uniqueid in [leg.uniqueid for leg in record.legs]
    call.assert_empty()
