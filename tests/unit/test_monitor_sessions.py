"""The live-monitoring session machine: events in, commands out, no loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ccd.domain import contract
from ccd.domain.auth import Principal, Role
from ccd.domain.calls import Call, CallState, LiveChannel
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.monitor.sessions import (
    ChannelGone,
    EndReason,
    HangupSupervisor,
    Mode,
    MonitorError,
    MonitorSessions,
    OriginateAnswered,
    OriginateFailed,
    RedirectFailed,
    RedirectSupervisor,
    Resynced,
    RingFailed,
    RingSupervisor,
    SessionEnded,
    StartRequested,
    Status,
    StopRequested,
    SwitchRequested,
    UnknownSession,
    agent_leg,
)
from tests.unit.test_dialplan_contract import SHIPPED, parse

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SUP = Principal("t-sup", Role.SUPERVISOR, None)
AGENT_CHANNEL = "PJSIP/1001-0000000a"
AGENT_UNIQUEID = "ccd-acd-r1"
CHANNEL_ID = "ccd-mon-m1"


def start(
    session_id: str = "m1", device: str = "PJSIP/2001", mode: Mode = Mode.LISTEN
) -> StartRequested:
    return StartRequested(
        session_id=session_id,
        call_id="1700000000.1",
        agent_channel=AGENT_CHANNEL,
        agent_uniqueid=AGENT_UNIQUEID,
        agent_id="1001",
        device=device,
        mode=mode,
        started_by=SUP,
    )


def started(mode: Mode = Mode.LISTEN) -> MonitorSessions:
    machine = MonitorSessions()
    machine.handle(start(mode=mode), T0)
    return machine


def answered(mode: Mode = Mode.LISTEN) -> MonitorSessions:
    machine = started(mode)
    assert machine.handle(OriginateAnswered(CHANNEL_ID), T0 + timedelta(seconds=3)) == []
    return machine


def ended_reasons(commands: Sequence[object]) -> list[EndReason]:
    return [c.reason for c in commands if isinstance(c, SessionEnded)]


def test_start_rings_the_supervisor_at_the_modes_extension() -> None:
    machine = MonitorSessions()
    commands = machine.handle(start(mode=Mode.WHISPER), T0)
    assert len(commands) == 1
    assert isinstance(commands[0], RingSupervisor)
    session = commands[0].session
    assert session.channel_id == CHANNEL_ID
    assert (session.agent_channel, session.device) == (AGENT_CHANNEL, "PJSIP/2001")
    assert (session.mode, session.dialed_mode, session.status) == (
        Mode.WHISPER,
        Mode.WHISPER,
        Status.RINGING,
    )
    assert machine.sessions() == [session]


def test_answer_makes_the_session_active() -> None:
    machine = answered()
    session = machine.get("m1")
    assert session is not None
    assert session.status is Status.ACTIVE
    assert session.answered_at == T0 + timedelta(seconds=3)


def test_a_device_already_monitoring_is_refused() -> None:
    machine = started()
    with pytest.raises(MonitorError, match="already in monitor session 'm1'"):
        machine.handle(start("m2"), T0)
    assert [s.id for s in machine.sessions()] == ["m1"]
    # Another device may monitor the same call.
    assert isinstance(machine.handle(start("m2", device="PJSIP/2002"), T0)[0], RingSupervisor)


def test_switching_an_answered_session_redirects_the_supervisor() -> None:
    machine = answered()
    assert machine.handle(SwitchRequested("m1", Mode.BARGE), T0) == [
        RedirectSupervisor(CHANNEL_ID, Mode.BARGE, Mode.LISTEN)
    ]
    session = machine.get("m1")
    assert session is not None
    assert session.mode is Mode.BARGE
    # To the mode it is in already: nothing to do.
    assert machine.handle(SwitchRequested("m1", Mode.BARGE), T0) == []
    assert machine.handle(SwitchRequested("m1", Mode.LISTEN), T0) == [
        RedirectSupervisor(CHANNEL_ID, Mode.LISTEN, Mode.BARGE)
    ]


def test_a_failed_redirect_leaves_the_session_in_the_mode_its_channel_runs() -> None:
    machine = answered(Mode.BARGE)
    (redirect,) = machine.handle(SwitchRequested("m1", Mode.LISTEN), T0)
    assert redirect == RedirectSupervisor(CHANNEL_ID, Mode.LISTEN, Mode.BARGE)
    assert machine.handle(RedirectFailed(CHANNEL_ID, Mode.LISTEN, Mode.BARGE), T0) == []
    session = machine.get("m1")
    assert session is not None
    assert (session.mode, session.dialed_mode) == (Mode.BARGE, Mode.BARGE)
    # Asking again redirects again.
    assert machine.handle(SwitchRequested("m1", Mode.LISTEN), T0) == [redirect]


def test_a_failed_redirect_superseded_by_a_later_switch_changes_nothing() -> None:
    machine = answered(Mode.LISTEN)
    machine.handle(SwitchRequested("m1", Mode.WHISPER), T0)
    machine.handle(SwitchRequested("m1", Mode.BARGE), T0)
    machine.handle(RedirectFailed(CHANNEL_ID, Mode.WHISPER, Mode.LISTEN), T0)
    session = machine.get("m1")
    assert session is not None
    assert (session.mode, session.dialed_mode) == (Mode.BARGE, Mode.BARGE)
    assert machine.handle(RedirectFailed("ccd-mon-unknown", Mode.BARGE, Mode.LISTEN), T0) == []


def test_a_switch_while_ringing_is_applied_at_the_answer() -> None:
    machine = started(Mode.LISTEN)
    assert machine.handle(SwitchRequested("m1", Mode.WHISPER), T0) == []
    assert machine.handle(OriginateAnswered(CHANNEL_ID), T0) == [
        RedirectSupervisor(CHANNEL_ID, Mode.WHISPER, Mode.LISTEN)
    ]
    # ...and switched back before the answer: no redirect at all.
    machine = started(Mode.LISTEN)
    machine.handle(SwitchRequested("m1", Mode.BARGE), T0)
    machine.handle(SwitchRequested("m1", Mode.LISTEN), T0)
    assert machine.handle(OriginateAnswered(CHANNEL_ID), T0) == []


def test_stop_hangs_up_the_supervisor_and_ends_the_session() -> None:
    machine = answered()
    session = machine.get("m1")
    assert session is not None
    commands = machine.handle(StopRequested("m1"), T0)
    assert commands == [HangupSupervisor(CHANNEL_ID), SessionEnded(session, EndReason.STOPPED)]
    assert machine.sessions() == []
    # Its channel's hang-up afterwards ends nothing more.
    assert machine.handle(ChannelGone(CHANNEL_ID), T0) == []


def test_requests_about_an_unknown_session_raise() -> None:
    machine = MonitorSessions()
    with pytest.raises(UnknownSession):
        machine.handle(SwitchRequested("nope", Mode.BARGE), T0)
    with pytest.raises(UnknownSession):
        machine.handle(StopRequested("nope"), T0)


def test_the_supervisor_hanging_up_ends_the_session() -> None:
    machine = answered()
    assert ended_reasons(machine.handle(ChannelGone(CHANNEL_ID), T0)) == [
        EndReason.SUPERVISOR_HUNG_UP
    ]
    assert machine.sessions() == []


@pytest.mark.parametrize(
    "event", [OriginateFailed(CHANNEL_ID), ChannelGone(CHANNEL_ID), RingFailed("m1")]
)
def test_a_ring_never_answered_ends_the_session(event: object) -> None:
    machine = started()
    commands = machine.handle(event, T0)  # type: ignore[arg-type]
    assert ended_reasons(commands) == [EndReason.NOT_ANSWERED]
    assert not any(isinstance(c, HangupSupervisor) for c in commands)


def test_the_agents_channel_ending_hangs_up_the_supervisor() -> None:
    machine = answered()
    machine.handle(start("m2", device="PJSIP/2002"), T0)  # still ringing
    commands = machine.handle(ChannelGone(AGENT_UNIQUEID), T0)
    assert [c for c in commands if isinstance(c, HangupSupervisor)] == [
        HangupSupervisor(CHANNEL_ID),
        HangupSupervisor("ccd-mon-m2"),
    ]
    assert ended_reasons(commands) == [EndReason.CALL_ENDED, EndReason.CALL_ENDED]
    assert machine.sessions() == []


def test_other_channels_and_originates_are_ignored() -> None:
    machine = answered()
    assert machine.handle(ChannelGone("1700000000.1"), T0) == []
    assert machine.handle(OriginateFailed("ccd-acd-r9"), T0) == []
    assert machine.handle(OriginateAnswered("ccd-mon-unknown"), T0) == []
    assert len(machine.sessions()) == 1


def test_resync_ends_what_hung_up_unseen() -> None:
    machine = answered()
    machine.handle(start("m2", device="PJSIP/2002"), T0)
    machine.handle(start("m3", device="PJSIP/2003"), T0)
    live = frozenset({AGENT_UNIQUEID, CHANNEL_ID, "ccd-mon-m3"})
    # m2's supervisor channel is gone: lost. m1 and m3 stay.
    assert ended_reasons(machine.handle(Resynced(live), T0)) == [EndReason.LOST]
    assert [s.id for s in machine.sessions()] == ["m1", "m3"]
    # The agent's channel gone as well: the rest end, their supervisors hung up.
    commands = machine.handle(Resynced(frozenset({CHANNEL_ID, "ccd-mon-m3"})), T0)
    assert ended_reasons(commands) == [EndReason.CALL_ENDED, EndReason.CALL_ENDED]
    assert HangupSupervisor(CHANNEL_ID) in commands


def test_a_session_acts_on_its_servers_and_only_its_servers_resync_settles_it() -> None:
    machine = MonitorSessions()
    [ring] = machine.handle(replace(start(), server="west"), T0)
    assert isinstance(ring, RingSupervisor)
    assert ring.session.server == "west"
    machine.handle(OriginateAnswered(CHANNEL_ID), T0)
    assert machine.handle(SwitchRequested("m1", Mode.BARGE), T0) == [
        RedirectSupervisor(CHANNEL_ID, Mode.BARGE, Mode.LISTEN, "west")
    ]
    # east resyncs with none of west's channels (and an orphan supervisor channel of its
    # own): west's session is not east's to end; east's orphan is hung up on east.
    east_live = frozenset({"ccd-mon-0f3a"})
    assert machine.handle(Resynced(east_live, "east"), T0) == [
        HangupSupervisor("ccd-mon-0f3a", "east")
    ]
    assert [s.id for s in machine.sessions()] == ["m1"]
    # west resyncs: its supervisor channel is there, the agent's is gone.
    commands = machine.handle(Resynced(frozenset({CHANNEL_ID}), "west"), T0)
    assert commands[0] == HangupSupervisor(CHANNEL_ID, "west")
    assert ended_reasons(commands) == [EndReason.CALL_ENDED]
    assert machine.sessions() == []


def test_stop_and_a_call_end_hang_up_on_the_sessions_server() -> None:
    machine = MonitorSessions()
    machine.handle(replace(start(), server="west"), T0)
    machine.handle(replace(start("m2", device="PJSIP/2002"), server="west"), T0)
    assert machine.handle(StopRequested("m1"), T0)[0] == HangupSupervisor(CHANNEL_ID, "west")
    assert machine.handle(ChannelGone(AGENT_UNIQUEID), T0)[0] == HangupSupervisor(
        "ccd-mon-m2", "west"
    )


# ---- the agent's leg ------------------------------------------------------------------


def channel(uniqueid: str, name: str, *, answered_at: datetime | None = T0) -> LiveChannel:
    return LiveChannel(
        snapshot=ChannelSnapshot(
            uniqueid=uniqueid,
            linkedid="1700000000.1",
            name=name,
            state=ChannelState.UP if answered_at else ChannelState.RINGING,
            caller_num="5551234",
            caller_name="",
            context="",
            exten="",
        ),
        created_at=T0,
        answered_at=answered_at,
        bridge_id="b1",
    )


def call(*channels: LiveChannel) -> Call:
    return Call(
        linkedid="1700000000.1",
        state=CallState.BRIDGED,
        started_at=T0,
        answered_at=T0,
        caller_num="5551234",
        caller_name="",
        callee_num="100",
        channels=channels,
    )


def test_resync_hangs_up_supervisor_channels_no_session_owns() -> None:
    # ccd restarted (or crashed) while a supervisor listened: their channel is still up in
    # Asterisk, spying, unknown to this process: nobody could stop it through the API.
    machine = answered()
    live = frozenset({AGENT_UNIQUEID, CHANNEL_ID, "ccd-mon-from-before", "1700000000.9"})
    assert machine.handle(Resynced(live), T0) == [HangupSupervisor("ccd-mon-from-before")]
    assert [s.id for s in machine.sessions()] == ["m1"]
    # A Local device's second half belongs to its session (or, orphaned, is hung up once).
    live = frozenset({AGENT_UNIQUEID, CHANNEL_ID, CHANNEL_ID + ";2", "ccd-mon-old;2"})
    assert machine.handle(Resynced(live), T0) == [HangupSupervisor("ccd-mon-old;2")]
    assert [s.id for s in machine.sessions()] == ["m1"]


def test_agent_leg_is_the_latest_answered_agent_channel() -> None:
    customer = channel("1700000000.1", "PJSIP/trunk-00000001")
    first = channel("ccd-acd-r1", "PJSIP/1001-00000002")
    ringing = channel("ccd-acd-r2", "PJSIP/1002-00000003", answered_at=None)
    second = channel("dial-leg", "PJSIP/1003-00000004", answered_at=T0 + timedelta(seconds=9))
    legs = {"ccd-acd-r1": "1001", "ccd-acd-r2": "1002", "dial-leg": "1003"}
    assert agent_leg(call(customer, first, ringing), legs) == (first, "1001")
    assert agent_leg(call(customer, first, ringing, second), legs) == (second, "1003")


def test_no_agent_leg_while_the_agent_only_rings() -> None:
    customer = channel("1700000000.1", "PJSIP/trunk-00000001")
    ringing = channel("ccd-acd-r2", "PJSIP/1002-00000003", answered_at=None)
    assert agent_leg(call(customer, ringing), {"ccd-acd-r2": "1002"}) is None
    # An answered channel nobody said was an agent's is not one.
    assert agent_leg(call(customer), {}) is None
    hung_up = replace(
        channel("ccd-acd-r1", "PJSIP/1001-00000002"),
        snapshot=replace(
            channel("ccd-acd-r1", "PJSIP/1001-00000002").snapshot, state=ChannelState.DOWN
        ),
    )
    assert agent_leg(call(customer, hung_up), {"ccd-acd-r1": "1001"}) is None


# ---- the shipped dialplan ------------------------------------------------------------


def test_monitor_context_has_one_extension_per_mode() -> None:
    # ccd dials and redirects to these by name: one missing would leave the supervisor
    # in silence.
    plan = parse(SHIPPED)
    assert plan.extens[contract.MONITOR_CONTEXT] == contract.MONITOR_EXTENS
    assert {m.value for m in Mode} | {contract.MONITOR_NO_TARGET_EXTEN} == contract.MONITOR_EXTENS
    text = SHIPPED.read_text()
    for mode, options in (("listen", "qES"), ("whisper", "qESw"), ("barge", "qESB")):
        assert f"exten => {mode},1," in text
        assert f"ChanSpy(${{{contract.VAR_MONITOR_TARGET}}},{options})" in text
