"""CallRecord / AsteriskCdr <-> JSON for the spool: an exact round trip.

Datetimes keep their offset (ISO 8601), enums are stored by value, tuples come back as
tuples. Each document carries a kind and a format version so a spool written by this ccd
is read correctly by the next one, and anything else is refused with ``CodecError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from ccd.domain.cdr import (
    AsteriskCdr,
    CallRecord,
    Direction,
    Disposition,
    HungUpBy,
    IvrStep,
    LegRecord,
)

FORMAT_VERSION = 1
KIND_CALL = "call"
KIND_ASTERISK_CDR = "asterisk_cdr"

SpoolRecord = CallRecord | AsteriskCdr


class CodecError(ValueError):
    """The bytes are not a spooled record this ccd can read."""


def encode(record: SpoolRecord) -> bytes:
    """Compact UTF-8 JSON, one line (no newline inside: JSON escapes them).

    orjson writes the frozen dataclasses directly (field names as keys, enums by value,
    datetimes as ISO 8601 with their offset): on the hot path of every finished call it
    is an order of magnitude cheaper than building dicts for ``json``."""
    _check_aware(record)
    document: dict[str, Any]
    if isinstance(record, CallRecord):
        document = {"v": FORMAT_VERSION, "kind": KIND_CALL, "call": record}
    else:
        document = {"v": FORMAT_VERSION, "kind": KIND_ASTERISK_CDR, "cdr": record}
    try:
        return orjson.dumps(document, default=json_default)
    except TypeError as exc:
        raise CodecError(f"cannot encode record: {exc}") from None


def json_default(value: object) -> dict[str, Any]:
    """orjson ``default``: a Mapping field that is not a dict (e.g. MappingProxyType)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"unsupported type {type(value).__name__}")


def _check_aware(record: SpoolRecord) -> None:
    """A naive datetime would be written without an offset and refused on replay."""
    if isinstance(record, CallRecord):
        stamps: list[datetime | None] = [record.started_at, record.answered_at, record.ended_at]
        for leg in record.legs:
            stamps += (leg.started_at, leg.answered_at, leg.ended_at)
        stamps += (step.entered_at for step in record.ivr_path)
    else:
        stamps = [record.received_at]
    for stamp in stamps:
        if stamp is not None and stamp.tzinfo is None:
            raise CodecError("naive datetime: CDR times must be timezone-aware")


def decode(data: bytes | str) -> SpoolRecord:
    try:
        document = orjson.loads(data)
        if not isinstance(document, dict):
            raise CodecError("not a JSON object")
        if document.get("v") != FORMAT_VERSION:
            raise CodecError(f"unsupported spool format version {document.get('v')!r}")
        kind = document.get("kind")
        if kind == KIND_CALL:
            return call_from_json(document["call"])
        if kind == KIND_ASTERISK_CDR:
            return asterisk_cdr_from_json(document["cdr"])
        raise CodecError(f"unknown record kind {kind!r}")
    except CodecError:
        raise
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CodecError(f"malformed spooled record: {type(exc).__name__}: {exc}") from None


def _dt(value: datetime) -> str:
    if value.tzinfo is None:
        raise CodecError("naive datetime: CDR times must be timezone-aware")
    return value.isoformat()


def _parse_dt(value: Any) -> datetime:
    if not isinstance(value, str):
        raise CodecError(f"expected an ISO 8601 datetime, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise CodecError(f"naive datetime {value!r} in spooled record")
    return parsed


def _parse_opt_dt(value: Any) -> datetime | None:
    return None if value is None else _parse_dt(value)


def call_fields(call: CallRecord, *, raw_ivr: bool = False) -> dict[str, Any]:
    """A finished call's fields by their column names (the ``cdrs`` row without
    ``written_at``; the webhook's ``call.ended`` CDR without ``legs``); ``raw_ivr`` leaves
    the IVR steps as dataclasses (orjson writes them itself, the shape of
    ``ivr_step_to_json``)."""
    return {
        "linkedid": call.linkedid,
        "direction": call.direction.value,
        "caller_num": call.caller_num,
        "caller_name": call.caller_name,
        "callee_num": call.callee_num,
        "did": call.did,
        "started_at": call.started_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "ring_s": call.ring_s,
        "talk_s": call.talk_s,
        "hold_s": call.hold_s,
        "hangup_cause": call.hangup_cause,
        "hangup_cause_text": call.hangup_cause_text,
        "hung_up_by": None if call.hung_up_by is None else call.hung_up_by.value,
        "disposition": call.disposition.value,
        "ivr_path": call.ivr_path if raw_ivr else [ivr_step_to_json(s) for s in call.ivr_path],
        "queue": call.queue,
        "wait_s": call.wait_s,
        "agent_id": call.agent_id,
        "wrapup_s": call.wrapup_s,
        "campaign_id": call.campaign_id,
        "contact_id": call.contact_id,
        "recording_ref": call.recording_ref,
        "server": call.server,
    }


def ivr_step_to_json(step: IvrStep) -> dict[str, Any]:
    return {
        "node": step.node,
        "entered_at": _dt(step.entered_at),
        "digits": step.digits,
        "variables": dict(step.variables),
    }


def _ivr_step_from_json(data: dict[str, Any]) -> IvrStep:
    return IvrStep(
        node=data["node"],
        entered_at=_parse_dt(data["entered_at"]),
        digits=data["digits"],
        variables=dict(data["variables"]),
    )


def _leg_from_json(data: dict[str, Any]) -> LegRecord:
    return LegRecord(
        uniqueid=data["uniqueid"],
        linkedid=data["linkedid"],
        channel=data["channel"],
        started_at=_parse_dt(data["started_at"]),
        answered_at=_parse_opt_dt(data["answered_at"]),
        ended_at=_parse_dt(data["ended_at"]),
        caller_num=data["caller_num"],
        caller_name=data["caller_name"],
        connected_num=data["connected_num"],
        context=data["context"],
        exten=data["exten"],
        hangup_cause=data["hangup_cause"],
        hangup_cause_text=data["hangup_cause_text"],
        dial_status=data["dial_status"],
        agent_id=data.get("agent_id"),  # absent in records spooled before it existed
    )


def call_from_json(data: dict[str, Any]) -> CallRecord:
    hung_up_by = data["hung_up_by"]
    return CallRecord(
        linkedid=data["linkedid"],
        direction=Direction(data["direction"]),
        caller_num=data["caller_num"],
        caller_name=data["caller_name"],
        callee_num=data["callee_num"],
        did=data["did"],
        started_at=_parse_dt(data["started_at"]),
        answered_at=_parse_opt_dt(data["answered_at"]),
        ended_at=_parse_dt(data["ended_at"]),
        ring_s=data["ring_s"],
        talk_s=data["talk_s"],
        hold_s=data["hold_s"],
        hangup_cause=data["hangup_cause"],
        hangup_cause_text=data["hangup_cause_text"],
        hung_up_by=None if hung_up_by is None else HungUpBy(hung_up_by),
        disposition=Disposition(data["disposition"]),
        legs=tuple(_leg_from_json(leg) for leg in data["legs"]),
        ivr_path=tuple(_ivr_step_from_json(step) for step in data["ivr_path"]),
        queue=data["queue"],
        wait_s=data["wait_s"],
        agent_id=data["agent_id"],
        wrapup_s=data["wrapup_s"],
        campaign_id=data["campaign_id"],
        contact_id=data["contact_id"],
        recording_ref=data["recording_ref"],
        server=data.get("server", ""),  # absent in records spooled before it existed
    )


def asterisk_cdr_from_json(data: dict[str, Any]) -> AsteriskCdr:
    return AsteriskCdr(
        linkedid=data["linkedid"],
        sequence=data["sequence"],
        uniqueid=data["uniqueid"],
        received_at=_parse_dt(data["received_at"]),
        fields=dict(data["fields"]),
    )


def record_key(record: SpoolRecord) -> str:
    """The record's idempotency key, for logs: linkedid, plus the sequence for Asterisk's."""
    if isinstance(record, CallRecord):
        return record.linkedid
    return f"{record.linkedid}/{record.sequence}"
