"""The IVR path reaches the call's CDR: IvrFinished (published by the AGI runner) is
attached to the call of that channel, and survives the spool codec."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from ccd.cdr.builder import CdrBuilder
from ccd.cdr.codec import decode, encode
from ccd.domain.cdr import CallRecord, IvrStep
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import ChannelCreated, ChannelHungUp, ChannelUpdated, IvrFinished

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


CALLER = ChannelSnapshot(
    uniqueid="100.1",
    linkedid="100.1",
    name="PJSIP/trunk-00000001",
    state=ChannelState.RING,
    caller_num="5551234",
    context="from-trunk",
    exten="5000",
)
PATH = (
    IvrStep(node="menu", entered_at=at(1), digits="2"),
    IvrStep(node="account", entered_at=at(4), digits="12345", variables={"account": "12345"}),
    IvrStep(node="support", entered_at=at(9)),
)


def finished(uniqueid: str = "100.1", linkedid: str = "100.1") -> IvrFinished:
    return IvrFinished(at=at(10), uniqueid=uniqueid, linkedid=linkedid, path=PATH)


def call_through_ivr(builder: CdrBuilder, *ivr_events: IvrFinished) -> list[CallRecord]:
    records = builder.apply(ChannelCreated(at=at(0), channel=CALLER))
    up = ChannelUpdated(at=at(0.5), channel=dataclasses.replace(CALLER, state=ChannelState.UP))
    records += builder.apply(up)
    for event in ivr_events:
        records += builder.apply(event)
    records += builder.apply(
        ChannelHungUp(at=at(30), channel=CALLER, cause=16, cause_text="Normal")
    )
    return records


def test_the_path_goes_into_the_record_of_its_call() -> None:
    builder = CdrBuilder()
    (record,) = call_through_ivr(builder, finished())
    assert record.ivr_path == PATH
    assert [step.digits for step in record.ivr_path] == ["2", "12345", ""]
    assert builder.late_ivr_paths == 0


def test_found_by_uniqueid_even_when_the_runner_only_knew_its_own_id() -> None:
    # The runner falls back to the uniqueid when CHANNEL(linkedid) could not be read.
    (record,) = call_through_ivr(CdrBuilder(), finished(linkedid="100.1-unknown"))
    assert record.ivr_path == PATH


def test_two_ivr_visits_are_appended_in_order() -> None:
    second = IvrFinished(
        at=at(20), uniqueid="100.1", linkedid="100.1", path=(IvrStep("bye", at(19)),)
    )
    (record,) = call_through_ivr(CdrBuilder(), finished(), second)
    assert [step.node for step in record.ivr_path] == ["menu", "account", "support", "bye"]


def test_a_call_without_ivr_has_an_empty_path() -> None:
    (record,) = call_through_ivr(CdrBuilder())
    assert record.ivr_path == ()


def test_a_path_after_the_record_was_written_is_counted_not_resurrected() -> None:
    builder = CdrBuilder()
    (record,) = call_through_ivr(builder)
    assert builder.apply(finished()) == []
    assert builder.late_ivr_paths == 1
    assert builder.call_count == 0
    assert record.ivr_path == ()


def test_the_path_survives_the_spool_codec() -> None:
    (record,) = call_through_ivr(CdrBuilder(), finished())
    decoded = decode(encode(record))
    assert isinstance(decoded, CallRecord)
    assert decoded.ivr_path == PATH
