"""What a webhook delivery carries. Pure.

Every body is a Standard Webhooks JSON envelope ``{"type", "timestamp", "data"}``; ``data``
is built here from ccd's own records, so a payload has the same field names as the REST
API and the CDRs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ccd.cdr.codec import call_fields, ivr_step_to_json
from ccd.domain.calls import Call
from ccd.domain.cdr import CallRecord, IvrStep
from ccd.domain.events import AgentRingStarted, QueueConnected


@dataclass(frozen=True, slots=True)
class Event:
    """One event for the outbox: ``order_key`` keeps the events of one call (or agent,
    campaign) in order per subscriber; ``dedupe_key`` makes writing it twice harmless."""

    type: str
    order_key: str
    at: datetime
    data: Mapping[str, Any]
    dedupe_key: str | None = None


def body(event: Event) -> bytes:
    """The JSON body, exactly as signed and sent."""
    return orjson.dumps({"type": event.type, "timestamp": event.at, "data": event.data})


def _ivr_path(path: tuple[IvrStep, ...]) -> list[dict[str, Any]]:
    return [ivr_step_to_json(step) for step in path]


def _variables(path: tuple[IvrStep, ...]) -> dict[str, str]:
    """Every variable the IVR collected (a later node's value wins): account number,
    lookup results… — what the CRM looks the caller up by."""
    merged: dict[str, str] = {}
    for step in path:
        merged.update(step.variables)
    return merged


def call_ringing(ring: AgentRingStarted, call: Call | None) -> Event:
    """The screen pop: who calls, what they told the IVR, which queue, which agent."""
    path = call.ivr_path if call is not None else ()
    return Event(
        type="call.ringing",
        order_key=f"call:{ring.linkedid}",
        at=ring.at,
        data={
            "call_id": ring.linkedid,
            "caller_num": call.caller_num if call is not None else None,
            "caller_name": call.caller_name if call is not None else None,
            "did": call.callee_num if call is not None else None,
            "queue": ring.queue,
            "agent_id": ring.agent_id,
            "ivr_path": _ivr_path(path),
            "ivr_variables": _variables(path),
        },
    )


def call_answered(connected: QueueConnected) -> Event:
    return Event(
        type="call.answered",
        order_key=f"call:{connected.linkedid}",
        at=connected.at,
        data={
            "call_id": connected.linkedid,
            "queue": connected.queue,
            "agent_id": connected.agent_id,
            "wait_s": round(connected.wait_s, 3),
        },
    )


def call_ended(call: CallRecord, written_at: datetime) -> Event:
    """The call's CDR (the same fields as ``GET /api/v1/cdrs/{linkedid}``, legs included)."""
    return Event(
        type="call.ended",
        order_key=f"call:{call.linkedid}",
        at=written_at,
        dedupe_key=f"call.ended:{call.linkedid}",
        data={
            "call_id": call.linkedid,
            "cdr": {
                **call_fields(call),
                "legs": [
                    {
                        "uniqueid": leg.uniqueid,
                        "channel": leg.channel,
                        "started_at": leg.started_at,
                        "answered_at": leg.answered_at,
                        "ended_at": leg.ended_at,
                        "agent_id": leg.agent_id,
                        "hangup_cause": leg.hangup_cause,
                    }
                    for leg in call.legs
                ],
            },
        },
    )


def from_message(message: Mapping[str, Any], at: datetime) -> Event | None:
    """An ACD or dialer live message (``agent.state``, ``queue.*``, ``campaign.*``) as an
    event, ordered by its call when it names one, else by its agent or campaign."""
    kind = message.get("type")
    if not isinstance(kind, str) or not kind.startswith(("agent.", "queue.", "campaign.")):
        return None
    data = {k: v for k, v in message.items() if k not in ("type", "at")}
    call_id = data.get("call_id") or data.get("linkedid")
    if call_id:
        order_key = f"call:{call_id}"
    elif data.get("agent_id"):
        order_key = f"agent:{data['agent_id']}"
    elif data.get("campaign_id"):
        order_key = f"campaign:{data['campaign_id']}"
    else:
        order_key = kind
    return Event(type=kind, order_key=order_key, at=at, data=data)
