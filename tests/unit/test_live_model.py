"""The live model: channels → calls, change events, resync (pure, no event loop)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.ami.translate import translate
from ccd.domain.calls import (
    Call,
    CallChange,
    CallEnded,
    CallStarted,
    CallState,
    CallUpdated,
    LiveChannel,
)
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    AgentRingStarted,
    AmiConnected,
    AmiDisconnected,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    OriginateResponded,
    ResyncChannel,
    ResyncFinished,
    ResyncStarted,
    UserEventReceived,
)
from ccd.live.model import LiveModel
from tests.unit.amitraffic import Traffic, local_originate_call, synthetic_stream

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
RING = ChannelState.RING
UP = ChannelState.UP


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def snap(
    uniqueid: str,
    linkedid: str = "L1",
    *,
    name: str | None = None,
    state: ChannelState = RING,
    caller_num: str = "",
    caller_name: str = "",
    connected_num: str = "",
    exten: str = "",
) -> ChannelSnapshot:
    return ChannelSnapshot(
        uniqueid=uniqueid,
        linkedid=linkedid,
        name=name or f"PJSIP/{uniqueid}-00000001",
        state=state,
        caller_num=caller_num,
        caller_name=caller_name,
        connected_num=connected_num,
        context="ccd-in",
        exten=exten,
    )


def alice(state: ChannelState = RING, **kw: str) -> ChannelSnapshot:
    fields = {"caller_num": "100", "caller_name": "Alice", "exten": "200", **kw}
    return snap("L1", "L1", name="PJSIP/alice-00000001", state=state, **fields)


def bob(state: ChannelState = ChannelState.DOWN, **kw: str) -> ChannelSnapshot:
    fields = {"caller_num": "200", "caller_name": "Bob", "exten": "200", **kw}
    return snap("L2", "L1", name="PJSIP/bob-00000002", state=state, **fields)


def only(changes: list[CallChange]) -> CallChange:
    assert len(changes) == 1, changes
    return changes[0]


def two_party_call(model: LiveModel) -> None:
    model.apply(ChannelCreated(at(0), alice()))
    model.apply(ChannelCreated(at(1), bob()))


# ---- lifecycle ---------------------------------------------------------------------


def test_first_channel_starts_a_ringing_call() -> None:
    model = LiveModel()
    change = only(model.apply(ChannelCreated(at(0), alice())))
    assert isinstance(change, CallStarted)
    call = change.call
    assert call.linkedid == "L1"
    assert call.state is CallState.RINGING
    assert call.started_at == at(0)
    assert call.answered_at is None
    assert (call.caller_num, call.caller_name) == ("100", "Alice")
    assert [ch.snapshot.uniqueid for ch in call.channels] == ["L1"]
    assert model.call("L1") == call
    assert model.calls() == [call]
    assert model.channel_count == 1


def test_second_channel_updates_the_call_in_creation_order() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), alice()))
    change = only(model.apply(ChannelCreated(at(1), bob())))
    assert isinstance(change, CallUpdated)
    assert [ch.snapshot.uniqueid for ch in change.call.channels] == ["L1", "L2"]
    assert change.call.channels[1].created_at == at(1)
    assert model.channel_count == 2
    assert len(model.calls()) == 1


def test_channels_by_uniqueid_are_the_live_ones_with_their_latest_snapshot() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ChannelUpdated(at(2), bob(UP)))
    assert {(s.uniqueid, s.state) for s in model.channels()} == {("L1", RING), ("L2", UP)}
    assert model.channel("L2") == bob(UP)
    model.apply(ChannelHungUp(at(3), bob(UP), cause=16, cause_text="Normal Clearing"))
    assert [s.uniqueid for s in model.channels()] == ["L1"]
    assert model.channel("L2") is None
    assert model.channel("nope") is None


def test_answer_sets_state_up_and_first_answer_time_only() -> None:
    model = LiveModel()
    two_party_call(model)
    change = only(model.apply(ChannelUpdated(at(5), bob(UP))))
    assert change.call.state is CallState.UP
    assert change.call.answered_at == at(5)
    assert change.call.channels[1].answered_at == at(5)
    later = only(model.apply(ChannelUpdated(at(6), alice(UP))))
    assert later.call.answered_at == at(5)
    assert later.call.channels[0].answered_at == at(6)


def test_call_views_are_ordinary_frozen_dataclasses() -> None:
    # The model builds views without the dataclass __init__ (speed): they must be
    # indistinguishable from views built the usual way.
    model = LiveModel()
    two_party_call(model)
    call = only(model.apply(ChannelUpdated(at(5), bob(UP)))).call
    expected = Call(
        "L1",
        CallState.UP,
        at(0),
        at(5),
        "100",
        "Alice",
        "200",
        (LiveChannel(alice(), at(0), None, None), LiveChannel(bob(UP), at(1), at(5), None)),
    )
    assert type(call) is Call
    assert type(call.channels[1]) is LiveChannel
    assert call == expected
    assert hash(call) == hash(expected)
    assert repr(call) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.callee_num = "300"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.channels[0].bridge_id = "B1"  # type: ignore[misc]


def test_repeated_identical_update_emits_nothing() -> None:
    model = LiveModel()
    two_party_call(model)
    assert model.apply(ChannelUpdated(at(2), bob())) == []
    assert model.apply(ChannelCreated(at(2), bob())) == []


def test_caller_id_change_on_originator_changes_the_caller() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), alice()))
    change = only(model.apply(ChannelUpdated(at(1), alice(caller_num="101", caller_name="A"))))
    assert (change.call.caller_num, change.call.caller_name) == ("101", "A")


def test_bridging_two_channels_makes_the_call_bridged_and_leaving_undoes_it() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ChannelUpdated(at(3), bob(UP)))
    model.apply(ChannelUpdated(at(3), alice(UP)))
    one_in = only(model.apply(ChannelEnteredBridge(at(4), alice(UP), "br")))
    assert one_in.call.state is CallState.UP  # alone in the bridge
    both_in = only(model.apply(ChannelEnteredBridge(at(4), bob(UP), "br")))
    assert both_in.call.state is CallState.BRIDGED
    assert {ch.bridge_id for ch in both_in.call.channels} == {"br"}
    left = only(model.apply(ChannelLeftBridge(at(9), bob(UP), "br")))
    assert left.call.state is CallState.UP
    assert left.call.channels[1].bridge_id is None


def test_bridge_between_two_calls_marks_both_bridged() -> None:
    """ccd's ACD originates the agent (own linkedid) and bridges it with the caller."""
    model = LiveModel()
    caller = snap("C1", "C1", state=UP, caller_num="100")
    agent = snap("A1", "A1", state=UP, caller_num="7001")
    model.apply(ChannelCreated(at(0), caller))
    model.apply(ChannelCreated(at(10), agent))
    model.apply(ChannelEnteredBridge(at(11), caller, "br"))
    changes = model.apply(ChannelEnteredBridge(at(11), agent, "br"))
    assert {(c.call.linkedid, c.call.state) for c in changes} == {
        ("A1", CallState.BRIDGED),
        ("C1", CallState.BRIDGED),
    }
    changes = model.apply(ChannelHungUp(at(60), agent, 16, "Normal Clearing"))
    assert [(type(c), c.call.linkedid, c.call.state) for c in changes] == [
        (CallEnded, "A1", CallState.UP),
        (CallUpdated, "C1", CallState.UP),
    ]
    assert model.bridge_count == 1  # the caller is still in it


def test_last_hangup_ends_the_call_with_its_final_view() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ChannelUpdated(at(5), bob(UP)))
    first = only(model.apply(ChannelHungUp(at(30), bob(UP), 16, "Normal Clearing")))
    assert isinstance(first, CallUpdated)
    assert [ch.snapshot.uniqueid for ch in first.call.channels] == ["L1"]
    ended = only(model.apply(ChannelHungUp(at(31), alice(UP), 16, "Normal Clearing")))
    assert isinstance(ended, CallEnded)
    assert ended.at == at(31)
    assert ended.call.answered_at == at(5)  # kept though bob is gone
    assert ended.call.callee_num == "200"
    assert [ch.snapshot.state for ch in ended.call.channels] == [UP]
    assert model.calls() == []
    assert model.call("L1") is None
    assert model.channel_count == 0


def test_caller_survives_the_originator_hanging_up_first() -> None:
    model = LiveModel()
    two_party_call(model)
    change = only(model.apply(ChannelHungUp(at(9), alice(), 16, "")))
    assert (change.call.caller_num, change.call.caller_name) == ("100", "Alice")
    assert change.call.started_at == at(0)


def test_hangup_of_unknown_channel_changes_nothing() -> None:
    model = LiveModel()
    two_party_call(model)
    assert model.apply(ChannelHungUp(at(2), snap("ZZ", "L9"), 16, "")) == []
    assert model.channel_count == 2


def test_event_for_unseen_channel_adds_it_but_not_after_its_hangup() -> None:
    model = LiveModel()
    change = only(model.apply(ChannelUpdated(at(3), alice(UP))))
    assert isinstance(change, CallStarted)
    assert change.call.answered_at == at(3)
    model.apply(ChannelHungUp(at(4), alice(UP), 16, ""))
    assert model.apply(ChannelUpdated(at(5), alice(UP))) == []
    assert model.apply(ChannelEnteredBridge(at(5), alice(UP), "br")) == []
    assert model.channel_count == 0


def test_events_that_do_not_shape_calls_change_nothing() -> None:
    model = LiveModel()
    two_party_call(model)
    before = model.calls()
    for event in (
        DialEnded(at(2), alice(), bob(), "ANSWER"),
        OriginateResponded(at(2), "a1", True, 4, "PJSIP/alice", "L1"),
        UserEventReceived(at(2), "X", "L1", "L1", {}),
        AmiConnected(at(2), "22.0"),
    ):
        assert model.apply(event) == []
    assert model.calls() == before


# ---- callee rule -------------------------------------------------------------------


def test_callee_is_the_originators_connected_line_first() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), alice(exten="s")))
    change = only(model.apply(ChannelUpdated(at(1), alice(exten="s", connected_num="333"))))
    assert change.call.callee_num == "333"


def test_callee_falls_back_to_the_dial_target() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), alice(exten="s")))
    dest = snap("L2", "L1", name="PJSIP/trunk-00000002", caller_num="100", exten="s")
    model.apply(ChannelCreated(at(1), dest))
    change = only(model.apply(DialStarted(at(1), alice(exten="s"), dest, "5551234@trunk")))
    assert change.call.callee_num == "5551234"


def test_dial_without_calling_channel_is_not_a_callee() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), alice(exten="s")))
    assert model.apply(DialStarted(at(0), None, alice(exten="s"), "alice")) == []
    call = model.call("L1")
    assert call is not None
    assert call.callee_num == ""


def test_callee_falls_back_to_the_second_channels_caller_id() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), alice(exten="s")))
    change = only(model.apply(ChannelCreated(at(1), bob())))
    assert change.call.callee_num == "200"


def test_callee_skips_the_originators_local_partner_and_uses_exten() -> None:
    model = LiveModel()
    one = snap("L1", "L1", name="Local/sales@ccd-sim-00000001;1", caller_num="5551000")
    two = snap("L2", "L1", name="Local/sales@ccd-sim-00000001;2", caller_num="9999")
    model.apply(ChannelCreated(at(0), one))
    model.apply(ChannelCreated(at(0), two))
    change = only(model.apply(ChannelUpdated(at(1), dataclasses.replace(one, exten="sales"))))
    assert change.call.callee_num == "sales"


def test_resync_removes_ghost_channels_and_ends_their_calls() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ChannelCreated(at(2), snap("G1", "G1")))  # its Hangup was lost
    model.apply(AmiDisconnected(at(3), "connection reset"))
    assert model.stale
    model.apply(ResyncStarted(at(10)))
    model.apply(ResyncChannel(at(10), alice(), "", 10))
    model.apply(ResyncChannel(at(10), bob(), "", 9))
    changes = model.apply(ResyncFinished(at(10), 2))
    assert [(type(c), c.call.linkedid) for c in changes] == [(CallEnded, "G1")]
    assert not model.stale
    assert model.uniqueids() == {"L1", "L2"}
    # A late event about the ghost does not bring it back.
    assert model.apply(ChannelUpdated(at(11), snap("G1", "G1", state=UP))) == []


def test_resync_removes_a_ghost_leg_and_updates_its_call() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ResyncStarted(at(10)))
    model.apply(ResyncChannel(at(10), alice(), "", 10))
    change = only(model.apply(ResyncFinished(at(10), 1)))
    assert isinstance(change, CallUpdated)
    assert [ch.snapshot.uniqueid for ch in change.call.channels] == ["L1"]


def test_resync_does_not_resurrect_a_channel_hung_up_during_it() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ResyncStarted(at(10)))
    model.apply(ChannelHungUp(at(10.1), bob(), 16, ""))
    # Asterisk built the list before the hangup; the row is delivered after it.
    assert model.apply(ResyncChannel(at(10.2), bob(), "", 9)) == []
    model.apply(ResyncChannel(at(10.2), alice(), "", 10))
    assert model.apply(ResyncFinished(at(10.3), 2)) == []
    assert model.uniqueids() == {"L1"}


def test_channel_created_during_resync_is_kept_though_not_listed() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ResyncStarted(at(10)))
    model.apply(ResyncChannel(at(10), alice(), "", 10))
    model.apply(ResyncChannel(at(10), bob(), "", 9))
    model.apply(ChannelCreated(at(10.5), snap("N1", "N1")))
    assert model.apply(ResyncFinished(at(11), 2)) == []
    assert model.uniqueids() == {"L1", "L2", "N1"}


def test_resync_row_for_unknown_channel_starts_a_call_in_the_past() -> None:
    model = LiveModel()
    model.apply(ResyncStarted(at(100)))
    row = snap("R1", "R1", state=UP, caller_num="300")
    change = only(model.apply(ResyncChannel(at(100), row, "", 65)))
    assert isinstance(change, CallStarted)
    assert change.call.started_at == at(35)
    assert change.call.answered_at == at(35)
    assert change.call.state is CallState.UP
    ringing = snap("R2", "R2", state=ChannelState.RINGING)
    other = only(model.apply(ResyncChannel(at(100), ringing, "", 3)))
    assert other.call.answered_at is None
    assert other.call.state is CallState.RINGING
    assert [c.linkedid for c in model.calls()] == ["R1", "R2"]


def test_resync_rows_rebuild_bridges_and_the_originator() -> None:
    model = LiveModel()
    model.apply(ResyncStarted(at(100)))
    # Rows in any order: the linkedid's own channel becomes the originator.
    model.apply(ResyncChannel(at(100), bob(UP), "br", 50))
    change = only(model.apply(ResyncChannel(at(100), alice(UP), "br", 55)))
    call = change.call
    assert call.state is CallState.BRIDGED
    assert [ch.snapshot.uniqueid for ch in call.channels] == ["L1", "L2"]
    assert (call.caller_num, call.callee_num) == ("100", "200")
    assert call.started_at == at(45)


def test_resync_row_updates_a_known_channels_bridge() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ChannelEnteredBridge(at(2), alice(UP), "br"))
    model.apply(ChannelEnteredBridge(at(2), bob(UP), "br"))
    model.apply(ResyncStarted(at(10)))
    change = only(model.apply(ResyncChannel(at(10), bob(UP), "", 9)))
    assert change.call.state is CallState.UP


def test_disconnect_abandons_a_resync_in_progress() -> None:
    model = LiveModel()
    two_party_call(model)
    model.apply(ResyncStarted(at(10)))
    model.apply(ResyncChannel(at(10), alice(), "", 10))
    model.apply(AmiDisconnected(at(11), "eof"))
    # A stray completion of the abandoned resync removes nothing and proves nothing.
    assert model.apply(ResyncFinished(at(12), 1)) == []
    assert model.uniqueids() == {"L1", "L2"}
    assert model.stale


def test_stale_from_disconnect_until_next_resync_finishes() -> None:
    model = LiveModel()
    two_party_call(model)
    assert not model.stale
    model.apply(AmiDisconnected(at(1), "eof"))
    assert model.stale
    assert len(model.calls()) == 1
    model.apply(ResyncStarted(at(2)))
    assert model.stale
    model.apply(ResyncChannel(at(2), alice(), "", 2))
    model.apply(ResyncChannel(at(2), bob(), "", 1))
    model.apply(ResyncFinished(at(2), 2))
    assert not model.stale


def test_a_new_channel_reusing_a_hung_up_uniqueid_is_tracked_again() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), snap("X1", "X1")))
    model.apply(ChannelHungUp(at(1), snap("X1", "X1"), 16, ""))
    model.apply(ChannelCreated(at(2), snap("X1", "X1")))
    model.apply(ResyncStarted(at(3)))
    model.apply(ResyncChannel(at(3), snap("X1", "X1"), "", 1))
    assert model.apply(ResyncFinished(at(3), 1)) == []
    assert model.uniqueids() == {"X1"}


def test_tombstones_are_bounded() -> None:
    model = LiveModel(tombstone_limit=3)
    for i in range(4):
        model.apply(ChannelHungUp(at(i), snap(f"T{i}", f"T{i}"), 16, ""))
    model.apply(ResyncStarted(at(10)))
    # T0 was forgotten (oldest of four with room for three): its row counts again.
    assert isinstance(
        only(model.apply(ResyncChannel(at(10), snap("T0", "T0"), "", 1))), CallStarted
    )
    for i in (1, 2, 3):
        assert model.apply(ResyncChannel(at(10), snap(f"T{i}", f"T{i}"), "", 1)) == []


# ---- queries -----------------------------------------------------------------------


def test_calls_are_ordered_by_start_and_snapshot_matches_core_show_channels() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(50), snap("B1", "B1", name="PJSIP/b-1")))
    model.apply(ChannelCreated(at(10), snap("A1", "A1", name="PJSIP/a-1", state=UP)))
    assert [c.linkedid for c in model.calls()] == ["A1", "B1"]
    assert model.snapshot() == {("PJSIP/a-1", "Up"), ("PJSIP/b-1", "Ring")}


# ---- real traffic ------------------------------------------------------------------


def feed(model: LiveModel, frames: list[dict[str, str]]) -> list[CallChange]:
    changes: list[CallChange] = []
    for frame in frames:
        event = translate(frame, T0)
        if event is not None:
            changes += model.apply(event)
    return changes


def test_local_originate_call_from_start_to_end() -> None:
    traffic = Traffic()
    scripted = local_originate_call(traffic, caller_num="5551000", agent="agent")
    model = LiveModel()
    changes = feed(model, scripted.frames)

    assert isinstance(changes[0], CallStarted)
    assert isinstance(changes[-1], CallEnded)
    assert all(isinstance(c, CallUpdated) for c in changes[1:-1])
    assert {c.call.linkedid for c in changes} == {scripted.linkedid}
    states = [c.call.state for c in changes]
    assert states[0] is CallState.RINGING
    assert CallState.BRIDGED in states
    most_channels = max(changes, key=lambda c: len(c.call.channels)).call
    assert [ch.snapshot.name for ch in most_channels.channels] == [
        ch.name for ch in scripted.channels
    ]

    final: Call = changes[-1].call
    assert final.caller_num == "5551000"
    assert final.callee_num == "agent"
    assert final.answered_at == datetime.fromtimestamp(scripted.answer_ts, UTC)
    assert final.started_at == datetime.fromtimestamp(float(scripted.frames[0]["Timestamp"]), UTC)
    assert model.calls() == []
    assert (model.channel_count, model.bridge_count) == (0, 0)


def test_interleaved_traffic_leaves_nothing_behind() -> None:
    model = LiveModel()
    started: set[str] = set()
    ended: set[str] = set()
    peak = 0
    for frame in synthetic_stream(60, concurrency=20, seed=3):
        event = translate(frame, T0)
        if event is None:
            continue
        for change in model.apply(event):
            if isinstance(change, CallStarted):
                assert change.call.linkedid not in started
                started.add(change.call.linkedid)
            elif isinstance(change, CallEnded):
                ended.add(change.call.linkedid)
        peak = max(peak, model.call_count)
    assert len(started) == 60
    assert ended == started
    assert peak > 1
    assert (model.channel_count, model.call_count, model.bridge_count) == (0, 0, 0)


# ---- properties --------------------------------------------------------------------

_op = st.one_of(
    st.tuples(st.just("create"), st.integers(0, 5)),  # which existing call to join (or new)
    st.tuples(st.just("update"), st.integers(0, 30), st.sampled_from(list(ChannelState))),
    st.tuples(st.just("enter"), st.integers(0, 30), st.integers(0, 3)),
    st.tuples(st.just("leave"), st.integers(0, 30), st.integers(0, 3)),
    st.tuples(st.just("hangup"), st.integers(0, 30)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, max_size=60))
def test_model_tracks_exactly_the_live_channels(ops: list[tuple[object, ...]]) -> None:
    model = LiveModel()
    alive: dict[str, ChannelSnapshot] = {}
    live_calls: set[str] = set()
    counter = 0
    for i, op in enumerate(ops):
        now = at(i)
        kind = op[0]
        uids = sorted(alive)
        if kind == "create":
            counter += 1
            uid = f"U{counter}"
            linkedids = sorted({s.linkedid for s in alive.values()})
            pick = int(op[1])  # type: ignore[call-overload]
            linkedid = linkedids[pick] if pick < len(linkedids) else uid
            alive[uid] = snap(uid, linkedid)
            changes = model.apply(ChannelCreated(now, alive[uid]))
        elif not uids:
            continue
        else:
            uid = uids[int(op[1]) % len(uids)]  # type: ignore[call-overload]
            current = alive[uid]
            if kind == "update":
                alive[uid] = snap(uid, current.linkedid, state=op[2])  # type: ignore[arg-type]
                changes = model.apply(ChannelUpdated(now, alive[uid]))
            elif kind == "enter":
                changes = model.apply(ChannelEnteredBridge(now, current, f"br{op[2]}"))
            elif kind == "leave":
                changes = model.apply(ChannelLeftBridge(now, current, f"br{op[2]}"))
            else:
                del alive[uid]
                changes = model.apply(ChannelHungUp(now, current, 16, ""))
        for change in changes:
            if isinstance(change, CallStarted):
                assert change.call.linkedid not in live_calls
                live_calls.add(change.call.linkedid)
            elif isinstance(change, CallEnded):
                live_calls.remove(change.call.linkedid)
        assert model.uniqueids() == set(alive)
        assert live_calls == {s.linkedid for s in alive.values()}
        assert {c.linkedid for c in model.calls()} == live_calls
        in_views = {ch.snapshot.uniqueid for c in model.calls() for ch in c.channels}
        assert in_views == set(alive)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=30),
    st.integers(0, 5),
)
def test_resync_converges_on_what_asterisk_lists(
    channels: list[tuple[int, bool]], created_during: int
) -> None:
    """Channels whose hangup was lost vanish; listed ones and newer ones stay."""
    model = LiveModel()
    survivors: dict[str, ChannelSnapshot] = {}
    for i, (call_no, survives) in enumerate(channels):
        uid = f"U{i}"
        channel = snap(uid, f"U{call_no}" if i >= call_no else uid)
        model.apply(ChannelCreated(at(i), channel))
        if survives:
            survivors[uid] = channel
    model.apply(AmiDisconnected(at(100), "eof"))
    model.apply(ResyncStarted(at(101)))
    for channel in survivors.values():
        model.apply(ResyncChannel(at(101), channel, "", 5))
    for j in range(created_during):
        uid = f"N{j}"
        survivors[uid] = snap(uid, uid)
        model.apply(ChannelCreated(at(102), survivors[uid]))
    changes = model.apply(ResyncFinished(at(103), len(survivors)))
    assert model.uniqueids() == set(survivors)
    assert not model.stale
    ended = {c.call.linkedid for c in changes if isinstance(c, CallEnded)}
    assert not ended & {c.linkedid for c in model.calls()}


RECORDED = Path(__file__).resolve().parents[2] / "bench" / "fixtures" / "ami-calls.raw"


@pytest.mark.skipif(not RECORDED.exists(), reason="no recorded sandbox traffic")
def test_recorded_sandbox_traffic_starts_and_ends_every_call() -> None:
    """40 real Asterisk 22 calls (Local originates, dial-answer, busy, congestion …)."""
    from ccd.ami.framing import FrameDecoder

    frames = FrameDecoder().feed(RECORDED.read_bytes())
    model = LiveModel()
    started: set[str] = set()
    ended: dict[str, Call] = {}
    for change in feed(model, frames):
        if isinstance(change, CallStarted):
            started.add(change.call.linkedid)
        elif isinstance(change, CallEnded):
            ended[change.call.linkedid] = change.call
    assert started
    assert set(ended) == started
    assert (model.channel_count, model.call_count, model.bridge_count) == (0, 0, 0)
    dial_answer = [c for c in ended.values() if c.callee_num == "answer"]
    assert dial_answer
    assert all(c.answered_at is not None and c.answered_at >= c.started_at for c in dial_answer)


def test_agent_channels_of_an_acd_ring_are_channels_of_the_callers_call() -> None:
    """ccd's ACD originates agents under their own linkedid; announced by AgentRingStarted,
    they show in the customer's one live call, ringing, answered and bridged."""
    model = LiveModel()
    caller = snap("C1", "C1", state=UP, caller_num="0612345678")
    model.apply(ChannelCreated(at(0), caller))
    for agent_id, leg in (("busy", "ccd-acd-b"), ("a7", "ccd-acd-a")):
        model.apply(AgentRingStarted(at(1), "C1", leg, agent_id, "support"))
    busy = snap("ccd-acd-b", "ccd-acd-b", name="PJSIP/1003-00000002")
    changes = model.apply(ChannelCreated(at(1), busy))
    assert [type(c) for c in changes] == [CallUpdated]
    assert model.apply(ChannelHungUp(at(2), busy, 17, "User busy"))[0].call.linkedid == "C1"
    agent = snap("ccd-acd-a", "ccd-acd-a", name="PJSIP/1001-00000003")
    model.apply(ChannelCreated(at(3), agent))
    call = model.call("C1")
    assert call is not None
    assert [c.snapshot.uniqueid for c in call.channels] == ["C1", "ccd-acd-a"]
    assert call.state is CallState.UP
    # Answered: Asterisk gives the agent channel the caller's linkedid on BridgeEnter.
    joined = dataclasses.replace(agent, linkedid="C1", state=UP)
    model.apply(ChannelEnteredBridge(at(5), joined, "B1"))
    model.apply(ChannelEnteredBridge(at(5), caller, "B1"))
    assert [c.linkedid for c in model.calls()] == ["C1"]
    call = model.call("C1")
    assert call is not None
    assert call.state is CallState.BRIDGED
    assert call.caller_num == "0612345678"
    assert len(call.channels) == 2
    assert model.call("ccd-acd-a") is None
