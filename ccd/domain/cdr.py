"""Call detail records: what ccd writes once per finished call and once per leg.

Built by the pure CDR builder from the event stream, made durable in the local spool, then
written to the database keyed by ``linkedid`` (call) and ``uniqueid`` (leg). Fields owned by
later capabilities (IVR, ACD, dialer, recording) are present and None until they fill them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Disposition(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"  # congestion, unavailable channel, dialplan error
    ABANDONED = "abandoned"  # caller hung up while waiting in a queue (ACD)
    OVERFLOWED = "overflowed"  # left a queue for its overflow target (ACD)
    TIMED_OUT = "timed-out"  # queue max wait reached (ACD)
    CALLBACK = "callback"  # left a queue asking to be called back; a new call follows (ACD)
    VOICEMAIL = "voicemail"
    MACHINE = "machine"  # answering machine detected (dialer)


class HungUpBy(enum.StrEnum):
    CALLER = "caller"
    CALLEE = "callee"
    SYSTEM = "system"  # ccd, an API hangup or Asterisk itself


@dataclass(frozen=True, slots=True)
class IvrStep:
    node: str
    entered_at: datetime
    digits: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LegRecord:
    """One channel of a call."""

    uniqueid: str
    linkedid: str
    channel: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    caller_num: str
    caller_name: str
    connected_num: str
    context: str
    exten: str
    hangup_cause: int | None
    hangup_cause_text: str
    dial_status: str  # DialEnd status when this leg was dialed (ANSWER, BUSY, ...), else ""
    # The ACD agent this leg rang (ccd's agent legs); with no answer it is a ring attempt of
    # the call, kept for ring-no-answer reports, never a party of the conversation.
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    linkedid: str
    direction: Direction
    caller_num: str
    caller_name: str
    callee_num: str
    did: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    ring_s: float
    talk_s: float
    hold_s: float
    hangup_cause: int | None
    hangup_cause_text: str
    hung_up_by: HungUpBy | None
    disposition: Disposition
    legs: tuple[LegRecord, ...]
    # Set by the builder (ccd/cdr/builder.py) when the call went through the IVR or an ACD
    # queue, or was placed by the dialer (campaign, contact); the recording's is not built yet.
    ivr_path: tuple[IvrStep, ...] = ()
    queue: str | None = None
    wait_s: float | None = None
    agent_id: str | None = None
    wrapup_s: float | None = None
    campaign_id: str | None = None
    contact_id: str | None = None
    recording_ref: str | None = None
    server: str = ""  # the configured Asterisk server the call was on


@dataclass(frozen=True, slots=True)
class AsteriskCdr:
    """Asterisk's own ``Cdr`` AMI event, stored raw for reconciliation; unique per
    (linkedid, sequence) once cdr_manager.conf maps both."""

    linkedid: str
    sequence: str
    uniqueid: str
    received_at: datetime
    fields: Mapping[str, str]
