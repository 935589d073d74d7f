"""JSON views of the live model for the REST API and the event stream.

Times are ISO 8601 in UTC with millisecond precision; durations are seconds (float,
millisecond precision) measured against ``now`` (REST) or the change's ``at`` (events),
so a replayed event always shows the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from ccd.domain.calls import Call, CallChange, CallEnded, CallStarted, CallUpdated, LiveChannel

JsonObject = dict[str, object]

CHANGE_TYPES: dict[type[CallStarted] | type[CallUpdated] | type[CallEnded], str] = {
    CallStarted: "call.started",
    CallUpdated: "call.updated",
    CallEnded: "call.ended",
}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start: datetime | None, end: datetime) -> float | None:
    if start is None:
        return None
    # A clock step backwards must not produce a negative duration.
    return max(0.0, round((end - start).total_seconds(), 3))


def channel_view(channel: LiveChannel, *, now: datetime) -> JsonObject:
    snap = channel.snapshot
    return {
        "uniqueid": snap.uniqueid,
        "name": snap.name,
        "state": snap.state.name.lower(),
        "state_code": int(snap.state),
        "caller": {"number": snap.caller_num, "name": snap.caller_name},
        "connected": {"number": snap.connected_num, "name": snap.connected_name},
        "context": snap.context,
        "exten": snap.exten,
        "bridge_id": channel.bridge_id,
        "created_at": iso(channel.created_at),
        "answered_at": iso(channel.answered_at),
        "duration_s": seconds_between(channel.created_at, now),
    }


def call_view(call: Call, *, now: datetime) -> JsonObject:
    return {
        "id": call.linkedid,
        "server": call.server,
        "state": call.state.value,
        "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at),
        "duration_s": seconds_between(call.started_at, now),
        "ring_s": seconds_between(call.started_at, call.answered_at or now),
        "talk_s": seconds_between(call.answered_at, now),
        "caller": {"number": call.caller_num, "name": call.caller_name},
        "callee": {"number": call.callee_num},
        "channels": [channel_view(ch, now=now) for ch in call.channels],
        "ivr_path": [
            {
                "node": step.node,
                "entered_at": iso(step.entered_at),
                "digits": step.digits,
                "variables": dict(step.variables),
            }
            for step in call.ivr_path
        ],
    }


def change_message(change: CallChange) -> JsonObject:
    return {
        "type": CHANGE_TYPES[type(change)],
        "at": iso(change.at),
        "call": call_view(change.call, now=change.at),
    }


def snapshot_message(calls: Iterable[Call], *, now: datetime) -> JsonObject:
    return {
        "type": "snapshot",
        "at": iso(now),
        "calls": [call_view(call, now=now) for call in calls],
    }
