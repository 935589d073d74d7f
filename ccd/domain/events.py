"""Domain events: what the AMI translator emits and the bus carries.

Every event has ``at`` (timezone-aware UTC datetime): Asterisk's own ``Timestamp``
when the event carries one, otherwise the time ccd read it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ccd.domain.cdr import IvrStep
from ccd.domain.channels import ChannelSnapshot


@dataclass(frozen=True, slots=True)
class ChannelCreated:
    at: datetime
    channel: ChannelSnapshot


@dataclass(frozen=True, slots=True)
class ChannelUpdated:
    """Newstate, NewCallerid, NewConnectedLine, NewExten-less updates: a fresh snapshot."""

    at: datetime
    channel: ChannelSnapshot


@dataclass(frozen=True, slots=True)
class ChannelEnteredBridge:
    at: datetime
    channel: ChannelSnapshot
    bridge_id: str


@dataclass(frozen=True, slots=True)
class ChannelLeftBridge:
    at: datetime
    channel: ChannelSnapshot
    bridge_id: str


@dataclass(frozen=True, slots=True)
class ChannelHungUp:
    at: datetime
    channel: ChannelSnapshot
    cause: int
    cause_text: str


@dataclass(frozen=True, slots=True)
class HangupRequested:
    """Asterisk's ``SoftHangupRequest`` (``soft``: the dialplan's Hangup(), an AMI Hangup)
    or ``HangupRequest`` (queued by the channel's driver: a SIP phone's BYE, a Local
    channel's other half hanging up). The first one of a call names the side that ended it;
    the ``Hangup`` events that follow come in either order."""

    at: datetime
    channel: ChannelSnapshot
    soft: bool


@dataclass(frozen=True, slots=True)
class ChannelHeld:
    """Asterisk's ``Hold``: the party on ``channel`` put the call on hold (a SIP phone's
    hold key: re-INVITE sendonly); its peer hears music on hold until ``ChannelUnheld``."""

    at: datetime
    channel: ChannelSnapshot


@dataclass(frozen=True, slots=True)
class ChannelUnheld:
    at: datetime
    channel: ChannelSnapshot


@dataclass(frozen=True, slots=True)
class DialStarted:
    at: datetime
    caller: ChannelSnapshot | None
    destination: ChannelSnapshot
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnded:
    at: datetime
    caller: ChannelSnapshot | None
    destination: ChannelSnapshot
    status: str


@dataclass(frozen=True, slots=True)
class OriginateResponded:
    """Final word on an Originate ccd sent (matched by ``action_id``)."""

    at: datetime
    action_id: str
    success: bool
    reason: int
    channel: str
    uniqueid: str
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class UserEventReceived:
    """A ``UserEvent`` raised by ccd's dialplan (names live in ``ccd.domain.contract``)."""

    at: datetime
    name: str
    uniqueid: str
    linkedid: str
    fields: Mapping[str, str]
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class AsteriskCdrReceived:
    """Asterisk's own ``Cdr`` event (needs cdr_manager.conf ``[mappings]`` for linkedid and
    sequence); ccd stores it raw beside its own records."""

    at: datetime
    fields: Mapping[str, str]
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class AmiConnected:
    """Logged in; a resync follows."""

    at: datetime
    asterisk_version: str
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class AmiDisconnected:
    at: datetime
    reason: str
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class ResyncStarted:
    at: datetime
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class ResyncChannel:
    """One ``CoreShowChannel`` row of a resync."""

    at: datetime
    channel: ChannelSnapshot
    bridge_id: str
    duration_s: int


@dataclass(frozen=True, slots=True)
class ResyncFinished:
    at: datetime
    channel_count: int
    server: str = ""  # the Asterisk server it came from


@dataclass(frozen=True, slots=True)
class IvrFinished:
    """A call left ccd's IVR (however it left): the path it took, for its CDR. Published by
    the AGI runner, not the AMI translator."""

    at: datetime
    uniqueid: str
    linkedid: str
    path: tuple[IvrStep, ...]


@dataclass(frozen=True, slots=True)
class QueueEntered:
    """A caller started waiting in one of ccd's ACD queues (published by the ACD service).
    Published again when the caller comes back (ccd restart, call back): the CDR keeps
    the first ``joined_at``."""

    at: datetime
    linkedid: str
    queue: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class QueueConnected:
    """An agent answered and the caller is being bridged to them."""

    at: datetime
    linkedid: str
    queue: str
    agent_id: str
    wait_s: float
    wrapup_s: float  # the wrap-up the agent gets after this call (queue setting)


class QueueExit(enum.StrEnum):
    """Why a caller left a queue without an agent (the CDR disposition)."""

    OVERFLOWED = "overflowed"  # sent to the queue's overflow / no-agents target
    TIMED_OUT = "timed-out"  # max wait reached (and sent on, or hung up)
    CALLBACK = "callback"  # asked to be called back; a new call will follow


@dataclass(frozen=True, slots=True)
class QueueLeft:
    """A caller left a queue without an agent, for a reason other than hanging up
    (hanging up while waiting is an abandon: the CDR sees it from the Hangup itself)."""

    at: datetime
    linkedid: str
    queue: str
    reason: QueueExit
    wait_s: float


@dataclass(frozen=True, slots=True)
class AgentRingStarted:
    """ccd's ACD rings an agent for a waiting caller (published before the Originate is
    written, so it precedes every event of the agent's channels). Asterisk creates those
    channels under their own linkedid, ``leg_linkedid`` (the Originate's ChannelId), and
    moves them onto the caller's only once bridged: they belong to the caller's call
    ``linkedid`` from the start — a ring never answered is an attempt of that call, not a
    call of its own. (The dialer's agent legs are Dial legs of the customer's call:
    ``AgentLegStarted``.)"""

    at: datetime
    linkedid: str
    leg_linkedid: str
    agent_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class DialerAttemptStarted:
    """The dialer is about to call a contact (published before the Originate is written, so
    it precedes every event of the call). ``linkedid`` is the Originate's ChannelId: the
    customer leg ``Local/<number>@ccd-dialer``'s ``;1`` half takes it as uniqueid and every
    channel of the call as linkedid (verified on Asterisk 22)."""

    at: datetime
    linkedid: str
    campaign_id: str
    contact_id: str
    attempt_id: str


@dataclass(frozen=True, slots=True)
class DialerAttemptSettled:
    """The dialer's outcome of an attempt, which channels alone cannot tell (``machine``,
    ``abandoned`` after a safe-harbor message): a ``Disposition`` value — answered,
    abandoned, machine, no-answer, busy or failed. Published before the dialer hangs the
    call up (or as soon as it knows), so the call's record carries it."""

    at: datetime
    linkedid: str
    disposition: str


@dataclass(frozen=True, slots=True)
class AgentLegStarted:
    """The dialer's ``ccd-dialer-connect`` dialed ``agent_id``: the Dial leg ``uniqueid``
    (a leg of the customer's call ``linkedid``) is that agent's."""

    at: datetime
    linkedid: str
    uniqueid: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    """ccd started recording the call ``linkedid`` (the customer's call, the key of its
    CDR): ``recording_id`` is the CDR's ``recording_ref``."""

    at: datetime
    linkedid: str
    recording_id: str


AmiEvent = (
    ChannelCreated
    | ChannelUpdated
    | ChannelEnteredBridge
    | ChannelLeftBridge
    | ChannelHungUp
    | HangupRequested
    | ChannelHeld
    | ChannelUnheld
    | DialStarted
    | DialEnded
    | OriginateResponded
    | UserEventReceived
    | AsteriskCdrReceived
)
ConnectionEvent = AmiConnected | AmiDisconnected | ResyncStarted | ResyncChannel | ResyncFinished
ServiceEvent = (
    IvrFinished
    | QueueEntered
    | QueueConnected
    | QueueLeft
    | AgentRingStarted
    | DialerAttemptStarted
    | DialerAttemptSettled
    | AgentLegStarted
    | RecordingStarted
)
DomainEvent = AmiEvent | ConnectionEvent | ServiceEvent
