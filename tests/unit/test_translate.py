"""AMI frame → domain event translation (pure; frames as Asterisk 22 writes them)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.ami.translate import RELEVANT_EVENTS, translate
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHeld,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUnheld,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    HangupRequested,
    OriginateResponded,
    ResyncChannel,
    UserEventReceived,
)
from tests.unit.amitraffic import Chan, Traffic, local_originate_call

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def alice() -> Chan:
    return Chan(
        "PJSIP/alice-00000001",
        "1764000000.1",
        "1764000000.1",
        state=4,
        caller_num="100",
        caller_name="Alice",
        context="ccd-in",
        exten="200",
    )


def bob() -> Chan:
    return Chan(
        "PJSIP/bob-00000002",
        "1764000000.2",
        "1764000000.1",
        state=0,
        caller_num="200",
        caller_name="Bob",
        connected_num="100",
        connected_name="Alice",
        context="ccd-in",
        exten="200",
    )


def alice_snapshot(state: ChannelState = ChannelState.RING) -> ChannelSnapshot:
    return ChannelSnapshot(
        uniqueid="1764000000.1",
        linkedid="1764000000.1",
        name="PJSIP/alice-00000001",
        state=state,
        caller_num="100",
        caller_name="Alice",
        connected_num="",
        connected_name="",
        context="ccd-in",
        exten="200",
    )


@pytest.fixture
def t() -> Traffic:
    return Traffic(timestamps=False)


def test_newchannel_becomes_channel_created_with_full_snapshot(t: Traffic) -> None:
    event = translate(t.newchannel(alice()), NOW)
    assert event == ChannelCreated(at=NOW, channel=alice_snapshot())


def test_translated_snapshot_is_an_ordinary_frozen_snapshot(t: Traffic) -> None:
    # translate builds snapshots without the dataclass __init__ (speed): the object must
    # be indistinguishable from one built the usual way.
    event = translate(t.newchannel(alice()), NOW)
    assert isinstance(event, ChannelCreated)
    snap, expected = event.channel, alice_snapshot()
    assert type(snap) is ChannelSnapshot
    assert snap == expected
    assert hash(snap) == hash(expected)
    assert repr(snap) == repr(expected)
    assert dataclasses.astuple(snap) == dataclasses.astuple(expected)
    assert dataclasses.replace(snap, exten="300") == dataclasses.replace(expected, exten="300")
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.exten = "300"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["Newstate", "NewCallerid", "NewConnectedLine"])
def test_channel_field_changes_become_channel_updated(t: Traffic, name: str) -> None:
    chan = alice()
    chan.state = 6
    event = translate(t.frame(name, chan), NOW)
    assert event == ChannelUpdated(at=NOW, channel=alice_snapshot(ChannelState.UP))


def test_unknown_caller_id_is_empty_not_the_literal_placeholder(t: Traffic) -> None:
    chan = Chan("Local/s@ccd-sim-00000001;1", "1.1", "1.1")  # Asterisk's <unknown> defaults
    event = translate(t.newchannel(chan), NOW)
    assert isinstance(event, ChannelCreated)
    snap = event.channel
    assert (snap.caller_num, snap.caller_name, snap.connected_num, snap.connected_name) == (
        "",
        "",
        "",
        "",
    )


def test_bridge_enter_and_leave_carry_the_bridge_id(t: Traffic) -> None:
    chan = alice()
    chan.state = 6
    entered = translate(t.bridge_enter(chan, "b-1", 1), NOW)
    left = translate(t.bridge_leave(chan, "b-1", 0), NOW)
    assert entered == ChannelEnteredBridge(NOW, alice_snapshot(ChannelState.UP), "b-1")
    assert left == ChannelLeftBridge(NOW, alice_snapshot(ChannelState.UP), "b-1")


def test_hangup_carries_cause_number_and_text(t: Traffic) -> None:
    event = translate(t.hangup(alice(), 17, "User busy"), NOW)
    assert event == ChannelHungUp(NOW, alice_snapshot(), 17, "User busy")


def test_hold_and_unhold_name_the_holding_channel(t: Traffic) -> None:
    chan = alice()
    chan.state = 6
    held = translate(t.frame("Hold", chan, MusicClass="default"), NOW)
    unheld = translate(t.frame("Unhold", chan), NOW)
    assert held == ChannelHeld(NOW, alice_snapshot(ChannelState.UP))
    assert unheld == ChannelUnheld(NOW, alice_snapshot(ChannelState.UP))


def test_hangup_requests_say_whether_soft(t: Traffic) -> None:
    assert translate(t.soft_hangup_request(alice()), NOW) == HangupRequested(
        NOW, alice_snapshot(), soft=True
    )
    assert translate(t.hangup_request(alice()), NOW) == HangupRequested(
        NOW, alice_snapshot(), soft=False
    )


def test_hangup_with_garbage_cause_keeps_the_hangup(t: Traffic) -> None:
    frame = t.hangup(alice())
    frame["Cause"] = "sixteen"
    event = translate(frame, NOW)
    assert isinstance(event, ChannelHungUp)
    assert event.cause == 0


def test_dial_begin_has_caller_destination_and_dial_string(t: Traffic) -> None:
    event = translate(t.dial_begin(alice(), bob(), "bob"), NOW)
    assert isinstance(event, DialStarted)
    assert event.caller == alice_snapshot()
    assert event.destination.uniqueid == "1764000000.2"
    assert event.destination.name == "PJSIP/bob-00000002"
    assert event.destination.caller_num == "200"
    assert event.destination.connected_num == "100"
    assert event.destination.state is ChannelState.DOWN
    assert event.dial_string == "bob"


def test_dial_begin_of_an_originate_has_no_caller(t: Traffic) -> None:
    event = translate(t.dial_begin(None, bob(), "bob"), NOW)
    assert isinstance(event, DialStarted)
    assert event.caller is None
    assert event.destination.uniqueid == "1764000000.2"


def test_dial_end_carries_the_status(t: Traffic) -> None:
    event = translate(t.dial_end(alice(), bob(), "NOANSWER"), NOW)
    assert isinstance(event, DialEnded)
    assert event.status == "NOANSWER"
    assert event.caller == alice_snapshot()


def test_dial_end_without_status_is_dropped(t: Traffic) -> None:
    frame = t.dial_end(alice(), bob(), "ANSWER")
    del frame["DialStatus"]
    assert translate(frame, NOW) is None


def test_originate_response_success(t: Traffic) -> None:
    chan = alice()
    event = translate(t.originate_response("ccd-42", chan), NOW)
    assert event == OriginateResponded(
        NOW, "ccd-42", True, 4, "PJSIP/alice-00000001", "1764000000.1"
    )


def test_originate_response_failure_has_no_uniqueid(t: Traffic) -> None:
    event = translate(t.originate_response("ccd-43", None, success=False, reason=3), NOW)
    assert isinstance(event, OriginateResponded)
    assert not event.success
    assert event.reason == 3
    assert event.uniqueid == ""


def test_originate_response_without_action_id_is_dropped(t: Traffic) -> None:
    frame = t.originate_response("x", None)
    del frame["ActionID"]
    assert translate(frame, NOW) is None


def test_user_event_keeps_only_the_dialplan_body(t: Traffic) -> None:
    frame = t.user_event(alice(), "CcdIvrChoice", Menu="main", Digit="2")
    event = translate(frame, NOW)
    assert isinstance(event, UserEventReceived)
    assert event.name == "CcdIvrChoice"
    assert event.uniqueid == "1764000000.1"
    assert event.linkedid == "1764000000.1"
    assert dict(event.fields) == {"Menu": "main", "Digit": "2"}


def test_user_event_without_channel_still_counts(t: Traffic) -> None:
    event = translate({"Event": "UserEvent", "UserEvent": "Ping", "A": "1"}, NOW)
    assert event == UserEventReceived(NOW, "Ping", "", "", {"A": "1"})


def test_core_show_channel_becomes_resync_row(t: Traffic) -> None:
    chan = alice()
    event = translate(t.core_show_channel(chan, bridge="b-9", duration="01:02:03"), NOW)
    assert event == ResyncChannel(NOW, alice_snapshot(), "b-9", 3723)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("00:00:00", 0), ("00:00:59", 59), ("26:00:01", 93601), ("42", 42), ("", 0), ("1:x:3", 0)],
)
def test_core_show_channel_duration_parsing(t: Traffic, raw: str, seconds: int) -> None:
    event = translate(t.core_show_channel(alice(), duration=raw), NOW)
    assert isinstance(event, ResyncChannel)
    assert event.duration_s == seconds
    assert event.bridge_id == ""


def test_timestamp_header_is_used_as_utc() -> None:
    t = Traffic(timestamps=True, start=1_764_061_200.0)
    frame = t.newchannel(alice())
    frame["Timestamp"] = "1764061200.123456"
    event = translate(frame, NOW)
    assert event is not None
    assert event.at == datetime(2025, 11, 25, 9, 0, 0, 123456, tzinfo=UTC)
    assert event.at.tzinfo is UTC


@pytest.mark.parametrize("raw", ["", "soon", "nan", "inf", "1e400", "-1e300"])
def test_unusable_timestamp_falls_back_to_now(t: Traffic, raw: str) -> None:
    frame = t.newchannel(alice())
    frame["Timestamp"] = raw
    event = translate(frame, NOW)
    assert event is not None
    assert event.at == NOW


@pytest.mark.parametrize(
    "event_name", ["VarSet", "Newexten", "RTCPSent", "RTCPReceived", "DialState"]
)
def test_irrelevant_events_are_none(t: Traffic, event_name: str) -> None:
    assert translate(t.frame(event_name, alice()), NOW) is None


@pytest.mark.parametrize("missing", ["Uniqueid", "Linkedid", "Channel"])
@pytest.mark.parametrize("event_name", ["Newchannel", "Newstate", "Hangup", "CoreShowChannel"])
def test_missing_identity_headers_drop_the_frame(t: Traffic, event_name: str, missing: str) -> None:
    frame = t.frame(event_name, alice())
    del frame[missing]
    assert translate(frame, NOW) is None
    frame[missing] = ""
    assert translate(frame, NOW) is None


def test_missing_optional_snapshot_headers_take_defaults(t: Traffic) -> None:
    frame = t.newchannel(alice())
    for optional in ("ChannelState", "CallerIDName", "ConnectedLineNum", "Context", "Exten"):
        del frame[optional]
    event = translate(frame, NOW)
    assert isinstance(event, ChannelCreated)
    snap = event.channel
    assert snap.state is ChannelState.UNKNOWN
    assert (snap.caller_num, snap.caller_name, snap.connected_num) == ("100", "", "")
    assert (snap.context, snap.exten) == ("", "")


def test_bridge_event_without_bridge_id_is_dropped(t: Traffic) -> None:
    frame = t.bridge_enter(alice(), "b-1", 1)
    del frame["BridgeUniqueid"]
    assert translate(frame, NOW) is None


def test_dial_begin_without_destination_is_dropped(t: Traffic) -> None:
    frame = t.dial_begin(alice(), bob(), "bob")
    del frame["DestUniqueid"]
    assert translate(frame, NOW) is None


@pytest.mark.parametrize("raw", ["", "99", "-1", "Up", "6.0"])
def test_odd_channel_state_is_unknown(t: Traffic, raw: str) -> None:
    frame = t.newchannel(alice())
    frame["ChannelState"] = raw
    event = translate(frame, NOW)
    assert isinstance(event, ChannelCreated)
    assert event.channel.state is ChannelState.UNKNOWN


def test_frame_without_event_header_is_none() -> None:
    assert translate({"Response": "Success", "ActionID": "1"}, NOW) is None


_header_names = st.sampled_from(
    [
        "Event",
        "Channel",
        "ChannelState",
        "Uniqueid",
        "Linkedid",
        "Timestamp",
        "Cause",
        "Duration",
        "BridgeUniqueid",
        "BridgeId",
        "DestUniqueid",
        "DestLinkedid",
        "DestChannel",
        "DestChannelState",
        "DialStatus",
        "ActionID",
        "Response",
        "Reason",
        "UserEvent",
        "CallerIDNum",
    ]
) | st.text(max_size=12)
_values = (
    st.text(max_size=24)
    | st.sampled_from(sorted(RELEVANT_EVENTS))
    | st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{0,8})?(e[0-9]{1,4})?", fullmatch=True)
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_header_names, _values, max_size=20))
def test_random_frames_never_raise(frame: dict[str, str]) -> None:
    event = translate(frame, NOW)
    if event is not None:
        assert event.at.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(RELEVANT_EVENTS)),
    st.dictionaries(_header_names, _values, max_size=20),
)
def test_relevant_events_with_random_headers_never_raise(
    name: str, headers: dict[str, str]
) -> None:
    translate({**headers, "Event": name}, NOW)


def _real_frames() -> list[dict[str, str]]:
    t = Traffic()
    frames = local_originate_call(t, noise=False).frames
    frames.append(t.user_event(alice(), "CcdIvrChoice", Digit="1"))
    frames.append(t.core_show_channel(alice(), bridge="b-1"))
    return frames


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_real_frames()),
    st.lists(st.tuples(st.integers(0, 40), st.text(max_size=16) | st.none()), max_size=6),
)
def test_damaged_real_frames_never_raise(
    frame: dict[str, str], damage: list[tuple[int, str | None]]
) -> None:
    """Real frames with headers deleted or overwritten with junk."""
    damaged = dict(frame)
    keys = list(frame)
    for index, junk in damage:
        key = keys[index % len(keys)]
        if junk is None:
            damaged.pop(key, None)
        else:
            damaged[key] = junk
    event = translate(damaged, NOW)
    channel = getattr(event, "channel", None)
    if isinstance(channel, ChannelSnapshot):
        assert channel.uniqueid == damaged["Uniqueid"]
