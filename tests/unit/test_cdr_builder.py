"""The pure CDR builder: AMI frames → translate → CdrBuilder → CallRecords (no event loop)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.ami.framing import FrameDecoder
from ccd.ami.translate import translate
from ccd.cdr.builder import CdrBuilder
from ccd.cdr.direction import DirectionRules
from ccd.domain.cdr import CallRecord, Direction, Disposition, HungUpBy
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    AmiConnected,
    AmiDisconnected,
    AsteriskCdrReceived,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    DomainEvent,
    ResyncChannel,
    ResyncFinished,
    ResyncStarted,
)
from ccd.live.model import LiveModel
from tests.unit.amitraffic import Chan, Traffic, local_originate_call
from tests.unit.cdrrun import NOW, Run, ts

RECORDED = Path(__file__).resolve().parents[2] / "bench" / "fixtures" / "ami-calls.raw"


# ---- scripted SIP calls ----------------------------------------------------------------


def trunk_caller(t: Traffic, *, context: str = "from-trunk", exten: str = "5551234") -> Chan:
    uid = t.uniqueid()
    return Chan(
        "PJSIP/trunk-00000001",
        uid,
        uid,
        state=4,
        caller_num="0612345678",
        caller_name="Jane Roe",
        context=context,
        exten=exten,
    )


def dialed(t: Traffic, caller: Chan, name: str = "PJSIP/agent1-00000002", num: str = "201") -> Chan:
    # A channel Asterisk dials out carries the called party as its CallerIDNum.
    return Chan(
        name,
        t.uniqueid(),
        caller.linkedid,
        state=0,
        caller_num=num,
        caller_name="Agent",
        connected_num=caller.caller_num,
        connected_name=caller.caller_name,
        context=caller.context,
        exten=caller.exten,
    )


class Answered:
    """Inbound trunk call dialing an agent who answers; the test decides who hangs up."""

    def __init__(self, t: Traffic, run: Run, *, ring_s: float = 4.0, talk_s: float = 30.0) -> None:
        self.t, self.run = t, run
        self.caller = caller = trunk_caller(t)
        self.agent = agent = dialed(t, caller)
        self.bridge = t.bridge_id()
        self.start = t.newchannel(caller)
        run.frames(self.start, t.newchannel(agent), t.dial_begin(caller, agent, "PJSIP/agent1"))
        run.frames(t.newstate(agent, 5))
        t.clock += ring_s
        run.frames(
            t.newstate(agent, 6),
            t.dial_end(caller, agent, "ANSWER"),
            t.newstate(caller, 6),
            t.newconnectedline(caller, "201", "Agent"),
            t.bridge_enter(caller, self.bridge, 1),
        )
        self.answer = t.bridge_enter(agent, self.bridge, 2)
        run.frames(self.answer)
        t.clock += talk_s

    def agent_hangs_up(self) -> None:
        t = self.t
        self.talk_end = t.bridge_leave(self.agent, self.bridge, 1)
        assert self.run.frames(self.talk_end, t.hangup(self.agent)) == []
        self.end = t.hangup(self.caller)
        self.run.frames(t.bridge_leave(self.caller, self.bridge, 0), self.end)

    def caller_hangs_up(self) -> None:
        t = self.t
        self.talk_end = t.bridge_leave(self.caller, self.bridge, 1)
        assert self.run.frames(self.talk_end, t.hangup(self.caller)) == []
        self.end = t.hangup(self.agent)
        self.run.frames(t.bridge_leave(self.agent, self.bridge, 0), self.end)


def test_answered_inbound_call_record() -> None:
    t, run = Traffic(), Run()
    call = Answered(t, run, ring_s=4.0, talk_s=30.0)
    call.agent_hangs_up()
    record = run.only()
    assert record.linkedid == call.caller.uniqueid
    assert record.direction is Direction.INBOUND
    assert (record.caller_num, record.caller_name) == ("0612345678", "Jane Roe")
    assert record.callee_num == "201"
    assert record.did == "5551234"
    assert record.started_at == ts(call.start)
    assert record.answered_at == ts(call.answer)
    assert record.ended_at == ts(call.end)
    assert record.ring_s == pytest.approx((ts(call.answer) - ts(call.start)).total_seconds())
    assert record.ring_s == pytest.approx(4.0, abs=0.01)
    assert record.talk_s == pytest.approx((ts(call.talk_end) - ts(call.answer)).total_seconds())
    assert record.talk_s == pytest.approx(30.0, abs=0.01)
    assert record.hold_s == 0.0
    assert record.disposition is Disposition.ANSWERED
    assert record.hung_up_by is HungUpBy.CALLEE
    assert (record.hangup_cause, record.hangup_cause_text) == (16, "Normal Clearing")
    assert [leg.uniqueid for leg in record.legs] == [call.caller.uniqueid, call.agent.uniqueid]
    caller_leg, agent_leg = record.legs
    assert caller_leg.context == "from-trunk"
    assert caller_leg.exten == "5551234"
    assert caller_leg.connected_num == "201"
    assert agent_leg.dial_status == "ANSWER"
    assert agent_leg.caller_num == "201"
    assert agent_leg.answered_at is not None
    assert agent_leg.answered_at < ts(call.answer)
    assert all(leg.hangup_cause == 16 for leg in record.legs)
    run.assert_empty()


def test_caller_hanging_up_first_is_caller() -> None:
    t, run = Traffic(), Run()
    call = Answered(t, run)
    call.caller_hangs_up()
    assert run.only().hung_up_by is HungUpBy.CALLER


def test_no_record_until_the_last_leg_hangs_up() -> None:
    t, run = Traffic(), Run()
    call = Answered(t, run)
    assert run.records == []
    run.frames(t.hangup(call.agent))
    assert run.records == []
    assert run.builder.call_count == 1
    run.frames(t.hangup(call.caller))
    assert len(run.records) == 1


def test_talk_time_sums_every_bridged_interval() -> None:
    """Bridged, split (e.g. a consult), bridged again: talk is the sum, answer the first."""
    t, run = Traffic(), Run()
    call = Answered(t, run, talk_s=10.0)
    run.frames(t.bridge_leave(call.agent, call.bridge, 1))
    t.clock += 20.0  # parties apart: not talk
    second = t.bridge_id()
    run.frames(t.bridge_leave(call.caller, call.bridge, 0), t.bridge_enter(call.caller, second, 1))
    run.frames(t.bridge_enter(call.agent, second, 2))
    t.clock += 5.0
    run.frames(t.bridge_leave(call.caller, second, 1), t.hangup(call.caller))
    run.frames(t.bridge_leave(call.agent, second, 0), t.hangup(call.agent))
    record = run.only()
    assert record.answered_at == ts(call.answer)
    assert record.talk_s == pytest.approx(15.0, abs=0.01)
    run.assert_empty()


def test_duplicated_hangups_give_one_record() -> None:
    t, run = Traffic(), Run()
    call = Answered(t, run)
    agent_hangup = t.hangup(call.agent)
    caller_hangup = t.hangup(call.caller)
    run.frames(agent_hangup, agent_hangup, caller_hangup, caller_hangup, agent_hangup)
    assert len(run.records) == 1
    assert len(run.only().legs) == 2
    # Anything later about the finished call does not bring it back.
    run.frames(t.newstate(call.caller, 6), t.bridge_enter(call.agent, call.bridge, 1))
    run.frames(t.hangup(call.caller))
    assert len(run.records) == 1
    run.assert_empty()


# ---- not answered --------------------------------------------------------------------


def ringing_then(
    status: str | None, *, agent_cause: int, caller_cause: int = 16, caller_first: bool = False
) -> tuple[CallRecord, dict[str, str], dict[str, str]]:
    """Inbound call dialing an agent that never answers; returns record, start and end."""
    t, run = Traffic(), Run()
    caller = trunk_caller(t)
    agent = dialed(t, caller)
    start = t.newchannel(caller)
    run.frames(start, t.newchannel(agent), t.dial_begin(caller, agent, "PJSIP/agent1"))
    run.frames(t.newstate(agent, 5))
    t.clock += 7.0
    ends = []
    if status is not None:
        ends.append(t.dial_end(caller, agent, status))
    hangups = [t.hangup(agent, agent_cause, "x"), t.hangup(caller, caller_cause, "y")]
    if caller_first:
        hangups.reverse()
    run.frames(*ends, *hangups)
    return run.only(), start, hangups[-1]


@pytest.mark.parametrize(
    ("status", "cause", "disposition", "hung_up_by"),
    [
        ("BUSY", 17, Disposition.BUSY, HungUpBy.CALLEE),
        ("NOANSWER", 16, Disposition.NO_ANSWER, HungUpBy.SYSTEM),
        ("CONGESTION", 34, Disposition.FAILED, HungUpBy.CALLEE),
        ("CHANUNAVAIL", 20, Disposition.FAILED, HungUpBy.CALLEE),
        ("CANCEL", 16, Disposition.NO_ANSWER, HungUpBy.CALLER),
    ],
)
def test_dial_status_decides_an_unanswered_call(
    status: str, cause: int, disposition: Disposition, hung_up_by: HungUpBy
) -> None:
    record, start, end = ringing_then(status, agent_cause=cause)
    assert record.disposition is disposition
    assert record.hung_up_by is hung_up_by
    assert record.answered_at is None
    assert record.talk_s == 0.0
    assert record.ring_s == pytest.approx((ts(end) - ts(start)).total_seconds())
    assert record.legs[1].dial_status == status


@pytest.mark.parametrize(
    ("cause", "disposition"),
    [
        (17, Disposition.BUSY),
        (18, Disposition.NO_ANSWER),
        (19, Disposition.NO_ANSWER),
        (1, Disposition.FAILED),
        (3, Disposition.FAILED),
        (34, Disposition.FAILED),
        (38, Disposition.FAILED),
        (16, Disposition.NO_ANSWER),
        (0, Disposition.NO_ANSWER),
    ],
)
def test_hangup_cause_decides_when_there_is_no_dial_status(
    cause: int, disposition: Disposition
) -> None:
    record, _, _ = ringing_then(None, agent_cause=cause)
    assert record.disposition is disposition
    assert record.hangup_cause == (cause or 16)  # a 0 says nothing: the next cause is used


def test_ring_timeout_without_dial_status_is_system() -> None:
    record, _, _ = ringing_then(None, agent_cause=19, caller_cause=19)
    assert record.hung_up_by is HungUpBy.SYSTEM


def test_caller_giving_up_while_it_rings_is_caller() -> None:
    record, _, _ = ringing_then(None, agent_cause=16, caller_first=True)
    assert (record.disposition, record.hung_up_by) == (Disposition.NO_ANSWER, HungUpBy.CALLER)


def test_busy_wins_over_a_later_normal_clearing_cause() -> None:
    record, _, _ = ringing_then(None, agent_cause=16, caller_cause=17, caller_first=False)
    assert record.disposition is Disposition.BUSY
    assert record.hangup_cause == 16  # the first non-zero cause is reported as it was


# ---- parallel dial, single party, cross-call bridges -----------------------------------


def test_parallel_dial_loser_hanging_up_first_does_not_decide_who_hung_up() -> None:
    t, run = Traffic(), Run()
    caller = trunk_caller(t)
    winner = dialed(t, caller, "PJSIP/agent1-00000002", "201")
    loser = dialed(t, caller, "PJSIP/agent2-00000003", "202")
    bridge = t.bridge_id()
    run.frames(t.newchannel(caller), t.newchannel(winner), t.newchannel(loser))
    run.frames(t.dial_begin(caller, winner, "PJSIP/agent1"))
    run.frames(t.dial_begin(caller, loser, "PJSIP/agent2"))
    run.frames(t.newstate(winner, 5), t.newstate(loser, 5))
    t.clock += 3.0
    run.frames(t.newstate(winner, 6), t.dial_end(caller, winner, "ANSWER"))
    run.frames(t.dial_end(caller, loser, "CANCEL"), t.hangup(loser, 26, "Answered elsewhere"))
    run.frames(t.newstate(caller, 6), t.bridge_enter(caller, bridge, 1))
    run.frames(t.bridge_enter(winner, bridge, 2))
    t.clock += 12.0
    run.frames(t.bridge_leave(caller, bridge, 1), t.hangup(caller))
    run.frames(t.bridge_leave(winner, bridge, 0), t.hangup(winner))
    record = run.only()
    assert record.disposition is Disposition.ANSWERED
    assert record.hung_up_by is HungUpBy.CALLER
    assert record.callee_num == "agent1"  # no connected line: the first dial's target
    assert {leg.channel: leg.dial_status for leg in record.legs} == {
        caller.name: "",
        winner.name: "ANSWER",
        loser.name: "CANCEL",
    }
    assert record.talk_s == pytest.approx(12.0, abs=0.01)


def test_single_party_call_is_answered_when_the_originator_answers() -> None:
    """An inbound call the dialplan answers (IVR, announcement) and nobody is dialed."""
    t, run = Traffic(), Run()
    caller = trunk_caller(t, context="ccd-inbound", exten="800")
    start = t.newchannel(caller)
    run.frames(start)
    t.clock += 2.0
    answer = t.newstate(caller, 6)
    run.frames(answer)
    t.clock += 40.0
    end = t.hangup(caller)
    run.frames(end)
    record = run.only()
    assert record.answered_at == ts(answer)
    assert record.disposition is Disposition.ANSWERED
    assert record.talk_s == pytest.approx((ts(end) - ts(answer)).total_seconds())
    assert record.ring_s == pytest.approx((ts(answer) - ts(start)).total_seconds())
    assert record.hung_up_by is HungUpBy.CALLER
    assert (record.direction, record.did, record.callee_num) == (Direction.INBOUND, "800", "800")


def test_a_call_that_dialed_is_not_answered_by_the_dialplan_answering_the_caller() -> None:
    """IVR answers the caller, then the agent it dials never answers: NO_ANSWER."""
    t, run = Traffic(), Run()
    caller = trunk_caller(t)
    agent = dialed(t, caller)
    run.frames(t.newchannel(caller), t.newstate(caller, 6), t.newchannel(agent))
    run.frames(t.dial_begin(caller, agent, "PJSIP/agent1"), t.newstate(agent, 5))
    t.clock += 20.0
    run.frames(t.dial_end(caller, agent, "NOANSWER"), t.hangup(agent), t.hangup(caller))
    record = run.only()
    assert record.answered_at is None
    assert record.disposition is Disposition.NO_ANSWER


def test_bridge_with_a_channel_of_another_call_answers_both() -> None:
    """ccd's ACD: the waiting caller and an originated agent (own linkedid) are bridged."""
    t, run = Traffic(), Run()
    caller = trunk_caller(t)
    agent_uid = t.uniqueid()
    agent = Chan("PJSIP/agent7-00000009", agent_uid, agent_uid, state=0, caller_num="207")
    bridge = t.bridge_id()
    run.frames(t.newchannel(caller), t.newstate(caller, 6))
    t.clock += 30.0  # waiting with music on hold
    run.frames(t.newchannel(agent), t.newstate(agent, 6), t.bridge_enter(caller, bridge, 1))
    connect = t.bridge_enter(agent, bridge, 2)
    run.frames(connect)
    t.clock += 60.0
    run.frames(t.bridge_leave(agent, bridge, 1), t.hangup(agent))
    run.frames(t.bridge_leave(caller, bridge, 0), t.hangup(caller))
    records = {r.linkedid: r for r in run.records}
    assert set(records) == {caller.linkedid, agent.linkedid}
    for record in records.values():
        assert record.answered_at == ts(connect)
        assert record.talk_s == pytest.approx(60.0, abs=0.01)
    assert records[caller.linkedid].ring_s == pytest.approx(30.0, abs=0.01)
    run.assert_empty()


# ---- Local originates (the shapes ccd and the sandbox produce) -------------------------


def test_scripted_local_originate_call() -> None:
    t, run = Traffic(), Run()
    scripted = local_originate_call(t)
    run.frames(*scripted.frames[:-1])
    assert run.records == []
    run.frames(scripted.frames[-1])
    record = run.only()
    assert record.linkedid == scripted.linkedid
    assert [leg.uniqueid for leg in record.legs] == [c.uniqueid for c in scripted.channels]
    assert record.caller_num == scripted.caller_num
    assert record.callee_num == scripted.callee_num
    assert record.direction is Direction.INTERNAL  # ccd-sim is neither in- nor outbound
    assert record.did == ""
    assert record.disposition is Disposition.ANSWERED
    assert record.hung_up_by is HungUpBy.CALLER  # ccd hung up the originator
    assert record.talk_s > 0
    assert record.legs[0].context == "ccd-sim"
    assert record.legs[0].exten == "dial-answer"
    assert record.legs[2].exten == "agent"  # first appearance, not the later empty exten
    run.assert_empty()


def test_callee_matches_the_live_model() -> None:
    t = Traffic()
    scripted = local_originate_call(t, caller_num="5550042", agent="agent")
    run, live = Run(), LiveModel()
    callee = ""
    for frame in scripted.frames:
        event = translate(frame, NOW)
        if event is None:
            continue
        for change in live.apply(event):
            callee = change.call.callee_num
        run.events(event)
    assert run.only().callee_num == callee == "agent"


def test_originate_context_makes_it_outbound() -> None:
    t, run = Traffic(), Run(CdrBuilder(DirectionRules()))
    one, two = t.local_pair("1008@ccd-originate")
    run.frames(t.newchannel(one), t.newchannel(two), t.hangup(one), t.hangup(two))
    assert run.only().direction is Direction.OUTBOUND


def test_trunk_prefix_rule_through_the_builder() -> None:
    t = Traffic()
    run = Run(CdrBuilder(DirectionRules(trunk_prefixes=("PJSIP/carrier-",))))
    uid = t.uniqueid()
    phone = Chan("PJSIP/alice-00000001", uid, uid, state=4, caller_num="100", context="phones")
    out = dialed(t, phone, "PJSIP/carrier-00000002", "0612")
    run.frames(t.newchannel(phone), t.newchannel(out), t.dial_begin(phone, out, "0612@carrier"))
    run.frames(t.dial_end(phone, out, "BUSY"), t.hangup(out, 17), t.hangup(phone))
    record = run.only()
    assert (record.direction, record.did, record.callee_num) == (Direction.OUTBOUND, "", "0612")
    assert record.disposition is Disposition.BUSY


# ---- resync ----------------------------------------------------------------------------


def snap(
    uid: str, linkedid: str, name: str, state: ChannelState = ChannelState.UP
) -> ChannelSnapshot:
    return ChannelSnapshot(uid, linkedid, name, state, "100", "Alice", "", "", "ccd-inbound", "800")


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_call_whose_channels_vanished_while_disconnected_ends_on_resync_finished() -> None:
    run = Run()
    a, b = snap("1.1", "1.1", "PJSIP/a-1"), snap("1.2", "1.1", "PJSIP/b-2")
    run.events(
        ChannelCreated(at(0), a),
        ChannelCreated(at(1), b),
        ChannelEnteredBridge(at(5), a, "br"),
        ChannelEnteredBridge(at(6), b, "br"),
        AmiDisconnected(at(20), "connection lost"),
        AmiConnected(at(80), "22.10"),
        ResyncStarted(at(81)),
    )
    assert run.records == []
    run.events(ResyncFinished(at(82), 0))
    record = run.only()
    assert record.ended_at == at(82)
    assert record.hung_up_by is HungUpBy.SYSTEM
    assert record.hangup_cause is None
    assert record.answered_at == at(6)
    assert record.talk_s == pytest.approx(76.0)  # bridged until the resync said otherwise
    assert all(leg.ended_at == at(82) and leg.hangup_cause is None for leg in record.legs)
    run.assert_empty()


def test_resync_rows_keep_live_legs_and_end_only_the_missing_ones() -> None:
    run = Run()
    a, b = snap("1.1", "1.1", "PJSIP/a-1"), snap("1.2", "1.1", "PJSIP/b-2")
    run.events(
        ChannelCreated(at(0), a),
        ChannelCreated(at(1), b),
        AmiDisconnected(at(2), "lost"),
        AmiConnected(at(3), "22.10"),
        ResyncStarted(at(4)),
        ResyncChannel(at(4), a, "", 4),
        ResyncFinished(at(5), 1),
    )
    assert run.records == []
    assert run.builder.leg_count == 2
    run.events(ChannelHungUp(at(9), a, 16, "Normal Clearing"))
    record = run.only()
    assert [leg.hangup_cause for leg in record.legs] == [16, None]
    assert record.legs[1].ended_at == at(5)
    assert record.ended_at == at(9)
    assert record.hung_up_by is HungUpBy.SYSTEM  # one hangup was lost: approximate
    assert record.hangup_cause is None


def test_channels_first_seen_in_a_resync_start_duration_earlier() -> None:
    run = Run()
    a, b = snap("7.1", "7.1", "PJSIP/a-1"), snap("7.2", "7.1", "PJSIP/b-2")
    run.events(
        ResyncStarted(at(100)),
        ResyncChannel(at(100), a, "br", 95),
        ResyncChannel(at(100), b, "br", 90),
        ResyncFinished(at(100), 2),
    )
    assert run.records == []
    run.events(
        ChannelLeftBridge(at(110), a, "br"),
        ChannelHungUp(at(110), a, 16, "Normal Clearing"),
        ChannelHungUp(at(111), b, 16, "Normal Clearing"),
    )
    record = run.only()
    assert record.started_at == at(5)
    assert [leg.started_at for leg in record.legs] == [at(5), at(10)]
    assert record.disposition is Disposition.ANSWERED
    assert record.talk_s == pytest.approx(100.0)  # bridged since the second leg's start
    assert record.hung_up_by is HungUpBy.CALLER
    assert record.hangup_cause == 16


def test_late_resync_row_does_not_resurrect_a_finished_call() -> None:
    run = Run()
    a = snap("3.1", "3.1", "PJSIP/a-1")
    run.events(
        ChannelCreated(at(0), a),
        ResyncStarted(at(1)),
        ChannelHungUp(at(2), a, 16, "Normal Clearing"),
    )
    assert len(run.records) == 1
    run.events(ResyncChannel(at(2), a, "", 2), ResyncFinished(at(3), 1))
    assert len(run.records) == 1
    run.assert_empty()


def test_tombstones_are_bounded() -> None:
    """Memory stays bounded: only the last ``tombstone_limit`` finished calls are
    remembered; an event about an older one is treated as news."""
    run = Run(CdrBuilder(tombstone_limit=1))
    first, second = snap("4.1", "4.1", "PJSIP/a-1"), snap("4.2", "4.2", "PJSIP/b-2")
    for channel in (first, second):
        run.events(ChannelCreated(at(0), channel), ChannelHungUp(at(1), channel, 16, "x"))
    run.events(ResyncChannel(at(2), second, "", 2))
    assert run.builder.call_count == 0  # still remembered
    run.events(ResyncChannel(at(2), first, "", 2))
    assert run.builder.call_count == 1  # forgotten: the limit holds


def test_hangup_of_an_unknown_channel_while_out_of_sync_waits_for_the_resync() -> None:
    """A call that ended during the reconnect: its Hangups arrive before any row."""
    run = Run()
    a, b = snap("5.1", "5.1", "PJSIP/a-1"), snap("5.2", "5.1", "PJSIP/b-2")
    run.events(
        AmiConnected(at(0), "22.10"),
        ResyncStarted(at(0)),
        ChannelHungUp(at(1), a, 16, "Normal Clearing"),
    )
    assert run.records == []
    run.events(ChannelHungUp(at(1), b, 16, "Normal Clearing"))
    assert run.records == []  # still out of sync: more legs may follow
    run.events(ResyncFinished(at(2), 0))
    record = run.only()
    assert [leg.uniqueid for leg in record.legs] == ["5.1", "5.2"]
    assert record.hung_up_by is HungUpBy.CALLER
    assert record.hangup_cause == 16
    run.assert_empty()


def test_hangup_of_an_unknown_channel_in_sync_still_gives_a_record() -> None:
    run = Run()
    run.events(ChannelHungUp(at(1), snap("6.1", "6.1", "PJSIP/a-1"), 16, "Normal Clearing"))
    record = run.only()
    assert record.started_at == record.ended_at == at(1)
    run.assert_empty()


def test_disconnect_abandons_an_open_resync() -> None:
    run = Run()
    a = snap("8.1", "8.1", "PJSIP/a-1")
    run.events(
        ChannelCreated(at(0), a),
        ResyncStarted(at(1)),
        AmiDisconnected(at(2), "lost again"),
        ResyncFinished(at(3), 0),  # of the abandoned resync: proves nothing
    )
    assert run.records == []
    assert run.builder.leg_count == 1


# ---- Asterisk's own Cdr --------------------------------------------------------------


def test_asterisk_cdr_row_keyed_by_linkedid_and_sequence() -> None:
    fields = {"Event": "Cdr", "UniqueID": "9.2", "LinkedID": "9.1", "Sequence": "41"}
    row = CdrBuilder().asterisk_cdr(AsteriskCdrReceived(at(1), fields))
    assert row is not None
    assert (row.linkedid, row.sequence, row.uniqueid, row.received_at) == (
        "9.1",
        "41",
        "9.2",
        at(1),
    )
    assert row.fields == fields


def test_asterisk_cdr_mapping_names_in_any_case() -> None:
    fields = {"uniqueid": "9.2", "linkedid": "9.1", "sequence": "7"}
    row = CdrBuilder().asterisk_cdr(AsteriskCdrReceived(at(1), fields))
    assert row is not None
    assert (row.linkedid, row.sequence) == ("9.1", "7")


@pytest.mark.parametrize("missing", ["LinkedID", "Sequence"])
def test_asterisk_cdr_without_its_key_is_none(missing: str) -> None:
    fields = {"UniqueID": "9.2", "LinkedID": "9.1", "Sequence": "7"}
    del fields[missing]
    assert CdrBuilder().asterisk_cdr(AsteriskCdrReceived(at(1), fields)) is None
    assert CdrBuilder().asterisk_cdr(AsteriskCdrReceived(at(1), {**fields, missing: ""})) is None


def test_asterisk_cdr_event_does_not_touch_call_state() -> None:
    builder = CdrBuilder()
    assert builder.apply(AsteriskCdrReceived(at(1), {"LinkedID": "1", "Sequence": "1"})) == []
    assert builder.call_count == 0


# ---- the recorded sandbox traffic ----------------------------------------------------


@pytest.fixture(scope="module")
def recorded() -> list[dict[str, str]]:
    if not RECORDED.exists():
        pytest.skip("no recorded sandbox traffic")
    return FrameDecoder().feed(RECORDED.read_bytes())


def replay(frames: Iterable[dict[str, str]]) -> tuple[Run, list[tuple[int, CallRecord]]]:
    """Records with the index of the frame that produced them."""
    run = Run()
    produced: list[tuple[int, CallRecord]] = []
    for index, frame in enumerate(frames):
        produced += [(index, r) for r in run.frames(frame)]
    return run, produced


def test_recording_every_call_yields_exactly_one_record(recorded: list[dict[str, str]]) -> None:
    channels: dict[str, set[str]] = defaultdict(set)
    last_hangup: dict[str, int] = {}
    for index, frame in enumerate(recorded):
        if frame.get("Event") == "Newchannel":
            channels[frame["Linkedid"]].add(frame["Uniqueid"])
        elif frame.get("Event") == "Hangup":
            last_hangup[frame["Linkedid"]] = index
    run, produced = replay(recorded)
    counts = Counter(record.linkedid for _, record in produced)
    assert set(counts) == set(channels)
    assert set(counts.values()) == {1}
    for index, record in produced:
        assert index == last_hangup[record.linkedid]  # not one frame earlier
        uniqueids = [leg.uniqueid for leg in record.legs]
        assert len(uniqueids) == len(set(uniqueids))
        assert set(uniqueids) == channels[record.linkedid]
        assert record.legs[0].uniqueid == record.linkedid
        assert record.started_at <= record.ended_at
        assert all(leg.started_at <= leg.ended_at for leg in record.legs)
    run.assert_empty()


def originate_outcomes(frames: list[dict[str, str]]) -> dict[str, str]:
    """linkedid → what the recorder asked for (the originate target's extension)."""
    return {
        f["Linkedid"]: f["Exten"]
        for f in frames
        if f.get("Event") == "Newchannel" and f["Uniqueid"] == f["Linkedid"]
    }


def test_recording_dispositions(recorded: list[dict[str, str]]) -> None:
    _, produced = replay(recorded)
    targets = originate_outcomes(recorded)
    by_target: dict[str, list[CallRecord]] = defaultdict(list)
    for _, record in produced:
        by_target[targets[record.linkedid]].append(record)
    expected = {
        "dial-answer": Disposition.ANSWERED,
        "hangup-after-2": Disposition.ANSWERED,
        "busy": Disposition.BUSY,
        "congestion": Disposition.FAILED,
        "ring": Disposition.NO_ANSWER,
    }
    for target, disposition in expected.items():
        assert by_target[target], f"the recording has no {target} call"
        assert {r.disposition for r in by_target[target]} == {disposition}, target
    originated = [r for t, rs in by_target.items() if t.isdigit() for r in rs]
    assert originated
    assert all(r.direction is Direction.OUTBOUND for r in originated)
    assert all(r.disposition is Disposition.ANSWERED for r in originated)
    for _, record in produced:
        if record.disposition is Disposition.ANSWERED:
            assert record.answered_at is not None
            assert record.talk_s > 0
            assert record.started_at <= record.answered_at <= record.ended_at
        else:
            assert record.answered_at is None
            assert record.talk_s == 0
    ring = by_target["ring"]
    assert all(r.hung_up_by is HungUpBy.SYSTEM for r in ring)
    assert all(r.ring_s >= 1.5 for r in ring)  # the originate rang ~2 s before giving up
    assert all(r.hung_up_by is HungUpBy.CALLEE for r in by_target["busy"])
    assert all(r.hangup_cause == 17 for r in by_target["busy"])


def test_recording_who_hung_up_a_bridged_call(recorded: list[dict[str, str]]) -> None:
    """Ground truth: the channel of the first (Soft)HangupRequest of the call — the one
    the recorder hung up — is on the caller's Local pair or on the far end's."""
    first_request: dict[str, str] = {}
    originator_base: dict[str, str] = {}
    for frame in recorded:
        event = frame.get("Event")
        if event == "Newchannel" and frame["Uniqueid"] == frame["Linkedid"]:
            originator_base[frame["Linkedid"]] = frame["Channel"][:-2]
        elif event in ("HangupRequest", "SoftHangupRequest"):
            first_request.setdefault(frame["Linkedid"], frame["Channel"])
    _, produced = replay(recorded)
    bridged = [r for _, r in produced if len(r.legs) == 4]
    assert len(bridged) >= 20
    sides: Counter[HungUpBy] = Counter()
    for record in bridged:
        requested = first_request[record.linkedid]
        on_caller_pair = requested[:-2] == originator_base[record.linkedid]
        expected = HungUpBy.CALLER if on_caller_pair else HungUpBy.CALLEE
        assert record.hung_up_by is expected, record.linkedid
        sides[expected] += 1
    assert sides[HungUpBy.CALLER]
    assert sides[HungUpBy.CALLEE]


def test_recording_cdr_events_map_to_rows(recorded: list[dict[str, str]]) -> None:
    builder = CdrBuilder()
    rows = []
    for frame in recorded:
        event = translate(frame, NOW)
        if isinstance(event, AsteriskCdrReceived):
            rows.append(builder.asterisk_cdr(event))
    assert rows
    assert all(row is not None for row in rows)
    calls = {r.linkedid for r in rows if r is not None}
    assert len(calls) == 40


# ---- properties ----------------------------------------------------------------------

_UIDS = [f"1.{i}" for i in range(6)]
_LINKEDIDS = ["1.0", "1.3"]
_BRIDGES = ["br-a", "br-b"]


def _snapshot_strategy() -> st.SearchStrategy[ChannelSnapshot]:
    return st.builds(
        lambda uid, linkedid, state: ChannelSnapshot(uid, linkedid, f"PJSIP/x-{uid}", state),
        st.sampled_from(_UIDS),
        st.sampled_from(_LINKEDIDS),
        st.sampled_from(list(ChannelState)),
    )


def _event_strategy() -> st.SearchStrategy[DomainEvent]:
    when = st.integers(0, 600).map(lambda s: NOW + timedelta(seconds=s))
    snaps = _snapshot_strategy()
    return st.one_of(
        st.builds(ChannelCreated, when, snaps),
        st.builds(ChannelUpdated, when, snaps),
        st.builds(ChannelEnteredBridge, when, snaps, st.sampled_from(_BRIDGES)),
        st.builds(ChannelLeftBridge, when, snaps, st.sampled_from(_BRIDGES)),
        st.builds(ChannelHungUp, when, snaps, st.integers(0, 127), st.just("x")),
        st.builds(DialStarted, when, st.none() | snaps, snaps, st.sampled_from(["", "200@t"])),
        st.builds(DialEnded, when, st.none() | snaps, snaps, st.sampled_from(["ANSWER", "BUSY"])),
        st.builds(ResyncStarted, when),
        st.builds(ResyncChannel, when, snaps, st.sampled_from(["", *_BRIDGES]), st.integers(0, 99)),
        st.builds(ResyncFinished, when, st.integers(0, 5)),
        st.builds(AmiDisconnected, when, st.just("lost")),
        st.builds(AmiConnected, when, st.just("22")),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(_event_strategy(), max_size=40))
def test_any_event_sequence_never_raises_and_each_call_is_recorded_at_most_once(
    events: list[DomainEvent],
) -> None:
    builder = CdrBuilder()
    records: list[CallRecord] = []
    for event in events:
        records += builder.apply(event)
    # Whatever happened, a resync that lists nothing ends every call still open.
    records += builder.apply(ResyncStarted(NOW + timedelta(seconds=700)))
    records += builder.apply(ResyncFinished(NOW + timedelta(seconds=701), 0))
    assert (builder.call_count, builder.leg_count, builder.bridge_count) == (0, 0, 0)
    linkedids = [r.linkedid for r in records]
    assert len(linkedids) == len(set(linkedids))
    for record in records:
        uniqueids = [leg.uniqueid for leg in record.legs]
        assert uniqueids
        assert len(uniqueids) == len(set(uniqueids))
        assert record.ring_s >= 0
        assert record.talk_s >= 0
        assert (record.answered_at is not None) == (record.disposition is Disposition.ANSWERED)
        assert record.hung_up_by is not None


@pytest.mark.parametrize("hangups_in_order", [(1, 2), (2, 1)])
@pytest.mark.parametrize(
    ("requests", "side"),
    [
        # ;2's dialplan runs Hangup(): ;2 is asked (soft), then its partner ;1.
        (((2, True), (1, False)), HungUpBy.CALLEE),
        # ccd hangs ;1 up over AMI: ;1 is asked (soft), then ;2.
        (((1, True), (2, False)), HungUpBy.CALLER),
        # ;1's application (Wait) returns: ;1 is asked nothing, only ;2 (its partner left).
        (((2, False),), HungUpBy.CALLER),
    ],
)
def test_who_hung_up_a_lone_local_pair_does_not_depend_on_the_hangup_order(
    hangups_in_order: tuple[int, int],
    requests: tuple[tuple[int, bool], ...],
    side: HungUpBy,
) -> None:
    """``channel originate Local/<x>@ccd-sim application Wait``: the request events as
    recorded on Asterisk 22; the two Hangups that follow arrive in either order (16 µs
    apart) — the record must not follow that order."""
    t = Traffic()
    halves = dict(zip((1, 2), t.local_pair("hangup-after-2@ccd-sim"), strict=True))
    run = Run()
    run.frames(t.newchannel(halves[1]), t.newchannel(halves[2]))
    run.frames(t.newstate(halves[2], 6), t.newstate(halves[1], 6))
    t.clock += 2.0
    for half, soft in requests:
        request = t.soft_hangup_request if soft else t.hangup_request
        run.frames(request(halves[half]))
    run.frames(*(t.hangup(halves[n]) for n in hangups_in_order))
    record = run.only()
    assert record.hung_up_by is side
    assert record.disposition is Disposition.ANSWERED
