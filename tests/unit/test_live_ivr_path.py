"""The IVR path on the live call: ``IvrFinished`` attaches the path to the call it belongs
to (by linkedid, else through the channel's uniqueid), a second visit extends it, and the
API's call view carries it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccd.api.serialize import call_view
from ccd.domain.calls import Call, CallChange, CallUpdated
from ccd.domain.cdr import IvrStep
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import ChannelCreated, ChannelHungUp, IvrFinished
from ccd.live.model import LiveModel
from ccd.live.service import LiveCalls

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def local_half(uniqueid: str, linkedid: str, half: str) -> ChannelSnapshot:
    return ChannelSnapshot(
        uniqueid=uniqueid,
        linkedid=linkedid,
        name=f"Local/s@ccd-ivr-00000001;{half}",
        state=ChannelState.UP,
        caller_num="100",
        caller_name="Alice",
        connected_num="",
        context="ccd-ivr",
        exten="s",
    )


MENU = (
    IvrStep("main", at(1), "7,1", {}),
    IvrStep("desk", at(4), "", {"language": "fr"}),
)


def ivr_call(model: LiveModel) -> None:
    model.apply(ChannelCreated(at(0), local_half("L1", "L1", "1")))
    model.apply(ChannelCreated(at(0), local_half("L2", "L1", "2")))


def updated(changes: list[CallChange]) -> Call:
    assert len(changes) == 1, changes
    [change] = changes
    assert isinstance(change, CallUpdated)
    return change.call


def test_a_finished_ivr_puts_its_path_on_the_live_call() -> None:
    model = LiveModel()
    ivr_call(model)
    call = updated(model.apply(IvrFinished(at(5), "L2", "L1", MENU)))
    assert call.ivr_path == MENU
    live = model.call("L1")
    assert live is not None
    assert live.ivr_path == MENU


def test_a_second_visit_extends_the_path() -> None:
    model = LiveModel()
    ivr_call(model)
    model.apply(IvrFinished(at(5), "L2", "L1", MENU[:1]))
    call = updated(model.apply(IvrFinished(at(9), "L2", "L1", MENU[1:])))
    assert call.ivr_path == MENU


def test_the_channel_finds_the_call_when_the_linkedid_is_unknown() -> None:
    model = LiveModel()
    ivr_call(model)
    call = updated(model.apply(IvrFinished(at(5), "L2", "unknown", MENU)))
    assert call.linkedid == "L1"
    assert call.ivr_path == MENU


def test_a_path_for_a_call_that_already_ended_or_an_empty_path_changes_nothing() -> None:
    model = LiveModel()
    ivr_call(model)
    assert model.apply(IvrFinished(at(5), "L2", "L1", ())) == []
    model.apply(ChannelHungUp(at(6), local_half("L2", "L1", "2"), 16, "Normal Clearing"))
    model.apply(ChannelHungUp(at(6), local_half("L1", "L1", "1"), 16, "Normal Clearing"))
    assert model.apply(IvrFinished(at(7), "L2", "L1", MENU)) == []
    assert model.calls() == []


def test_live_calls_tells_its_listeners_and_the_api_shows_the_path() -> None:
    live = LiveCalls()
    seen: list[CallChange] = []
    live.add_listener(seen.append)
    live.handle(ChannelCreated(at(0), local_half("L1", "L1", "1")))
    live.handle(IvrFinished(at(5), "L1", "L1", MENU))
    assert isinstance(seen[-1], CallUpdated)
    call = live.call("L1")
    assert call is not None
    assert call_view(call, now=at(6))["ivr_path"] == [
        {
            "node": "main",
            "entered_at": "2026-11-25T09:00:01.000Z",
            "digits": "7,1",
            "variables": {},
        },
        {
            "node": "desk",
            "entered_at": "2026-11-25T09:00:04.000Z",
            "digits": "",
            "variables": {"language": "fr"},
        },
    ]


def test_a_call_without_ivr_has_an_empty_path() -> None:
    model = LiveModel()
    model.apply(ChannelCreated(at(0), local_half("L1", "L1", "1")))
    call = model.call("L1")
    assert call is not None
    assert call.ivr_path == ()
    assert call_view(call, now=at(1))["ivr_path"] == []
