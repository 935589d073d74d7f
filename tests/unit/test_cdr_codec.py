"""The spool codec gives back exactly the record it was given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta, timezone

import pytest

from ccd.cdr.codec import CodecError, decode, encode
from ccd.domain.cdr import CallRecord, Direction, Disposition, HungUpBy
from tests.cdrsamples import sample_asterisk_cdr, sample_call


def test_call_record_round_trip_is_exact() -> None:
    call = sample_call(legs=3)
    back = decode(encode(call))
    assert back == call
    assert isinstance(back, CallRecord)
    assert type(back.direction) is Direction
    assert type(back.disposition) is Disposition
    assert type(back.hung_up_by) is HungUpBy
    assert isinstance(back.legs, tuple)
    assert isinstance(back.ivr_path, tuple)
    assert back.hold_s == 0.1 + 0.2


def test_time_zones_and_microseconds_survive() -> None:
    plus_one = timezone(timedelta(hours=1))
    call = replace(sample_call(), ended_at=sample_call().ended_at.astimezone(plus_one))
    back = decode(encode(call))
    assert isinstance(back, CallRecord)
    assert back.ended_at.utcoffset() == timedelta(hours=1)
    assert back.started_at.tzinfo is UTC or back.started_at.utcoffset() == timedelta(0)
    assert back.started_at.microsecond == 123456
    assert back.ivr_path[0].entered_at.utcoffset() == timedelta(hours=-5)


def test_optional_fields_and_no_legs() -> None:
    call = replace(
        sample_call(legs=0),
        answered_at=None,
        hung_up_by=None,
        hangup_cause=None,
        ivr_path=(),
        queue=None,
        wait_s=None,
        agent_id=None,
        contact_id=None,
        recording_ref=None,
        disposition=Disposition.NO_ANSWER,
    )
    assert decode(encode(call)) == call


def test_asterisk_cdr_round_trip() -> None:
    cdr = sample_asterisk_cdr()
    back = decode(encode(cdr))
    assert back == cdr
    assert back.received_at.utcoffset() == timedelta(hours=5, minutes=30)


def test_encoding_is_one_line() -> None:
    assert b"\n" not in encode(sample_call())  # the caller name contains a newline


def test_naive_datetime_is_refused() -> None:
    call = replace(sample_call(), ended_at=sample_call().ended_at.replace(tzinfo=None))
    with pytest.raises(CodecError, match="naive"):
        encode(call)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"v": 99, "kind": "call", "call": {}}',
        b'{"v": 1, "kind": "nonsense"}',
        b'{"v": 1, "kind": "call", "call": {"linkedid": "x"}}',
        b'{"v": 1, "kind": "asterisk_cdr", "cdr": {"linkedid": "x", "sequence": "1", '
        b'"uniqueid": "x", "received_at": "2026-01-01T00:00:00", "fields": {}}}',
        b"\xff\xfe",
    ],
)
def test_damaged_input_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_unknown_enum_value_is_a_codec_error() -> None:
    text = encode(sample_call()).replace(b'"answered"', b'"teleported"')
    with pytest.raises(CodecError):
        decode(text)
