"""Asterisk's own ``Cdr`` AMI event → ``AsteriskCdrReceived`` (stored raw for reconciliation)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ccd.ami.framing import FrameDecoder
from ccd.ami.translate import RELEVANT_EVENTS, translate
from ccd.domain.events import AsteriskCdrReceived

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
RECORDED = Path(__file__).resolve().parents[2] / "bench" / "fixtures" / "ami-calls.raw"


def cdr_frame(**overrides: str) -> dict[str, str]:
    """A Cdr frame as Asterisk 22 writes it with cdr_manager.conf mapping linkedid/sequence."""
    frame = {
        "Event": "Cdr",
        "Privilege": "cdr,all",
        "Timestamp": "1795597361.607032",
        "AccountCode": "",
        "Source": "",
        "Destination": "ring",
        "DestinationContext": "ccd-sim",
        "CallerID": '"" <>',
        "Channel": "Local/ring@ccd-sim-0000002f;1",
        "DestinationChannel": "",
        "LastApplication": "AppDial2",
        "LastData": "(Outgoing Line)",
        "StartTime": "2026-11-25 09:02:39",
        "AnswerTime": "",
        "EndTime": "2026-11-25 09:02:41",
        "Duration": "2",
        "BillableSeconds": "0",
        "Disposition": "NO ANSWER",
        "AMAFlags": "DOCUMENTATION",
        "UniqueID": "1795597359.152",
        "UserField": "",
        "LinkedID": "1795597359.152",
        "Sequence": "94",
    }
    frame.update(overrides)
    return frame


def test_cdr_is_a_relevant_event() -> None:
    assert "Cdr" in RELEVANT_EVENTS


def test_cdr_frame_becomes_asterisk_cdr_received_with_every_header() -> None:
    frame = cdr_frame()
    event = translate(frame, NOW)
    assert isinstance(event, AsteriskCdrReceived)
    assert event.at == datetime.fromtimestamp(1795597361.607032, UTC)
    assert event.fields["LinkedID"] == "1795597359.152"
    assert event.fields["Sequence"] == "94"
    assert event.fields["Disposition"] == "NO ANSWER"
    assert dict(event.fields) == frame


def test_cdr_fields_are_a_copy_not_the_decoder_frame() -> None:
    frame = cdr_frame()
    event = translate(frame, NOW)
    assert isinstance(event, AsteriskCdrReceived)
    frame["Disposition"] = "changed"
    assert event.fields["Disposition"] == "NO ANSWER"


def test_cdr_without_timestamp_uses_now_and_without_mappings_still_translates() -> None:
    frame = cdr_frame()
    del frame["Timestamp"], frame["LinkedID"], frame["Sequence"]
    event = translate(frame, NOW)
    assert isinstance(event, AsteriskCdrReceived)
    assert event.at == NOW
    assert "LinkedID" not in event.fields


def test_cdr_with_garbage_timestamp_uses_now() -> None:
    event = translate(cdr_frame(Timestamp="not-a-time"), NOW)
    assert isinstance(event, AsteriskCdrReceived)
    assert event.at == NOW


@pytest.mark.skipif(not RECORDED.exists(), reason="no recorded sandbox traffic")
def test_every_recorded_cdr_event_translates_with_linkedid_and_sequence() -> None:
    frames = FrameDecoder().feed(RECORDED.read_bytes())
    raw = [f for f in frames if f.get("Event") == "Cdr"]
    events = [translate(f, NOW) for f in raw]
    assert raw
    assert all(isinstance(e, AsteriskCdrReceived) for e in events)
    keys = {
        (e.fields["LinkedID"], e.fields["Sequence"])
        for e in events
        if isinstance(e, AsteriskCdrReceived)
    }
    assert len(keys) == len(raw)  # (linkedid, sequence) is unique, as the table expects
