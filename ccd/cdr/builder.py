"""The CDR builder: domain events in, one ``CallRecord`` per finished call out. Pure.

h11 style: ``CdrBuilder.apply(event)`` takes one domain event and returns the records of
the calls that finished with it (usually none, sometimes one, several after a resync).
No IO, no clock, no asyncio; it never raises on odd sequences (unknown channels,
duplicates, events after the end). ``asterisk_cdr(event)`` turns Asterisk's own ``Cdr``
event into the raw ``AsteriskCdr`` row.

State is kept per call (``linkedid``): its legs by ``uniqueid`` in creation order, bridge
membership, dial outcomes, hangups in order. A finished call's state is dropped; its
linkedid goes into a bounded tombstone set so that late events (a resync row, a duplicated
Hangup) cannot bring it back as a second record.

Rules
-----
Legs: one per channel of the call. ``context``/``exten`` are where the channel FIRST
appeared (where it entered the dialplan); caller/connected are the latest known (an empty
value never erases a known one); ``answered_at`` is the first time the channel is seen
``UP``; ``dial_status`` is the last ``DialEnd`` status with the leg as destination.

IVR: ``IvrFinished`` (published by the AGI runner when a channel leaves ccd's IVR) adds
its path to the call that channel belongs to (found by uniqueid, else by linkedid);
several IVR visits in one call are appended in the order they ended. The dialplan's AGI
ends before the channel hangs up, so the path normally arrives while the call is open. A
path for a call already finished (its record is out) or never seen is counted in
``late_ivr_paths`` and dropped: a record is written once and never amended.

Queue (ccd's ACD; the events come from the ACD service, keyed by the caller's linkedid):
``QueueEntered`` marks the call as a queue call and starts a wait (a repeat — ccd restart,
re-queue — keeps the first ``joined_at`` and queue); ``QueueConnected`` records the agent,
wait and wrap-up, and the queue becomes the one it was connected in; ``QueueLeft`` ends
the wait with its reason (overflow, time-out, callback). Events for a call that finished or
was never seen are counted in ``late_queue_events`` and dropped. Why the queue rules differ
from a plain call's: the queue-wait dialplan answers the caller long before any agent, so
the originator answering says nothing; and the agent channel is originated under its own
linkedid, so this call sees no Dial, only the bridge.

Dialer (events from the dialer service, keyed by the customer leg's linkedid, which is the
Originate's ChannelId): ``DialerAttemptStarted`` comes before any channel of the call, so
it is kept (bounded, like the tombstones) until the call's first channel shows up; such a
call is OUTBOUND whatever the direction rules say and carries the campaign and contact.
``DialerAttemptSettled`` sets the disposition, which wins over the one computed from the
channels (``machine`` and ``abandoned`` cannot be seen in them); an unknown value is counted
in ``bad_dialer_dispositions`` and ignored. The dialer settles an attempt when it sees the
customer leg hang up — after this builder did — so a dialer call whose legs all ended
unsettled waits for it: its record comes with the settlement, or, when none came, with the
first event at least ``DIALER_SETTLE_WAIT_S`` after its end (counted in
``unsettled_dialer_calls``; the computed disposition stands). A settlement for a call
already recorded is counted in ``late_dialer_events``; one for an attempt that never had a
channel (the Originate was refused) drops the attempt: there is no call to record.

Recording: ``RecordingStarted`` (published by the recording service when it starts
recording a call, keyed by the customer's linkedid) sets ``recording_ref`` (the first one
wins); for a call already recorded or never seen it is counted in ``late_recordings``. The
recorder's own channels (linkedid ``RECORDER_CHANNEL_PREFIX…``) and a supervisor's
monitoring call (``SUPERVISOR_CHANNEL_PREFIX…``, audited by ccd.monitor) give no record:
neither is a customer's call.

Call:
- finished when its last known leg hangs up (``ended_at`` = the last hangup);
- ``originator``: the leg whose uniqueid is the linkedid (else the first leg seen);
  ``caller_num``/``caller_name`` are its caller id; ``callee_num`` follows the live model's
  rule (``ccd.domain.parties.callee_number``) on the legs' final snapshots;
- ``direction``: ``DirectionRules.classify`` on the originator and the other legs;
  ``did``: the originator's first exten for inbound calls, else ``""``;
- ``answered_at``: the first time a leg of the call shared a bridge with another channel
  (two parties talking). A call never bridged is answered when a ``Dial`` from one of its
  channels was answered (``DialEnd ANSWER``), or — when it dialed nobody (a single party
  talking to the dialplan: IVR, announcement, ``Originate`` to a Local dialplan) — when its
  originator answered;
- ``talk_s``: total time any leg of the call sat in a bridge with at least one other
  channel; for a call answered but never bridged, answer to end;
- a queue call (one that saw ``QueueEntered``) overrides ``answered_at``, ``talk_s`` and
  ``disposition``: ``answered_at`` is the first bridge (the agent connect), else an answered
  ``Dial``, else the ``QueueConnected`` time — never the dialplan's answer; ``talk_s`` is
  bridged time only. Disposition: ANSWERED once an agent connected (whatever happened
  later); else the reason of the last ``QueueLeft`` when the caller did not start waiting
  again after it (OVERFLOWED stays even if the overflow target then answered or bridged:
  the record is about the queue outcome; ``answered_at``/``talk_s`` still show the bridge);
  else ABANDONED (hung up while waiting), with ``wait_s`` = end - first ``joined_at``;
- ``hold_s``: total time at least one leg of the call was on hold (Asterisk's
  ``Hold``/``Unhold``: a phone's hold key); a hold still open when its leg hangs up ends
  there;
- ``ring_s``: start to answer, or start to end when never answered;
- ``disposition``: ANSWERED when answered; else from the last failed ``DialEnd`` status
  (BUSY → BUSY; NOANSWER, CANCEL → NO_ANSWER; CONGESTION, CHANUNAVAIL, … → FAILED); else
  from the first hangup cause that says something (17 → BUSY; 18, 19 → NO_ANSWER;
  1, 3, 34, 38, … → FAILED); else NO_ANSWER;
- ``hangup_cause``/``hangup_cause_text``: the first non-zero cause in hangup order (0
  "Unknown" is what an AMI ``Hangup`` without a cause leaves: it says nothing), else the
  first hangup's; None when a leg ended in a resync;
- ``hung_up_by``: SYSTEM when a leg ended in a resync (its hangup was lost). Otherwise
  sides: the originator is the caller's side, and so is the other half of its Local
  channel pair when that half placed a ``Dial`` (it is the caller's dialplan leg); when it
  dialed nobody it IS the destination (the dialplan that was called). Every other leg is
  the callee's side. Which leg ended the call is the first one Asterisk asked to hang up
  (``HangupRequested``: ``SoftHangupRequest`` for the dialplan's Hangup() or an AMI
  Hangup — that leg; ``HangupRequest`` for a phone's BYE — that leg — or for a Local half
  whose other half ended, e.g. its application returned — the other half; and a soft
  request for a Local half whose other half already hung up or was asked is that one's
  echo: the other half) —
  the ``Hangup`` events that follow come in either order, µs apart for a Local pair; without
  a request (a resync), the first leg to hang up. An answered call was hung up by the
  side of the first leg asked while ANSWERED (legs that never answered — the losers of a
  parallel dial, cancelled agent rings — did not end the conversation) and not left behind:
  the last leg out of a bridge another leg left first was put out by it (ccd's agent leg,
  whose ``Bridge()`` returns when the caller hangs up, is asked to hang up in the same
  millisecond as the caller's own half, in either order). An unanswered
  call: BUSY or FAILED → CALLEE (the called side refused); dial status CANCEL → CALLER
  (gave up while it rang); a ring timeout (NOANSWER, cause 18 or 19) → SYSTEM; else the
  side of the first leg asked to hang up.

Resync: ``ResyncStarted`` opens one; a ``ResyncChannel`` row confirms a known leg (and
updates its snapshot and bridge) or adds a leg first seen now, with ``started_at = at -
duration`` (and, when up, answered and — if bridged — bridged since then: the closer bound
we have). ``ResyncFinished`` ends, at its own time, every open leg known before the resync
and not confirmed (its Hangup was lost while disconnected): those legs get no hangup cause,
and the calls they finish are SYSTEM-ended with ``hangup_cause`` None. Rows of finished
calls or hung-up legs are ignored. From ``AmiDisconnected`` (or ``AmiConnected``) until
``ResyncFinished`` ccd may have missed events: a call first learnt of through a Hangup is
then kept until the resync ends (its other legs' hangups may follow) instead of being
finished on that single leg. With several Asterisk servers all of this is per server (the
events' ``server``, the legs' ``snapshot.server``): one server's resync never ends another
server's legs. A record's ``server`` is its originator's.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ccd.cdr.direction import DirectionRules
from ccd.domain.cdr import (
    AsteriskCdr,
    CallRecord,
    Direction,
    Disposition,
    HungUpBy,
    IvrStep,
    LegRecord,
)
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.contract import RECORDER_CHANNEL_PREFIX, SUPERVISOR_CHANNEL_PREFIX
from ccd.domain.events import (
    AgentLegStarted,
    AgentRingStarted,
    AmiConnected,
    AmiDisconnected,
    AsteriskCdrReceived,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHeld,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUnheld,
    ChannelUpdated,
    DialEnded,
    DialerAttemptSettled,
    DialerAttemptStarted,
    DialStarted,
    DomainEvent,
    HangupRequested,
    IvrFinished,
    QueueConnected,
    QueueEntered,
    QueueExit,
    QueueLeft,
    RecordingStarted,
    ResyncChannel,
    ResyncFinished,
    ResyncStarted,
)
from ccd.domain.grouping import CallGrouping, channel_snapshots
from ccd.domain.parties import callee_number, dial_target, local_partner

# ccd's own channels that are no customer's call (see the module docstring).
NOT_CALLS = (RECORDER_CHANNEL_PREFIX, SUPERVISOR_CHANNEL_PREFIX)

_UP = ChannelState.UP

# DialEnd DIALSTATUS values (app_dial) → what the call's outcome was.
_DIAL_STATUS: dict[str, Disposition] = {
    "BUSY": Disposition.BUSY,
    "NOANSWER": Disposition.NO_ANSWER,
    "CANCEL": Disposition.NO_ANSWER,
    "CONGESTION": Disposition.FAILED,
    "CHANUNAVAIL": Disposition.FAILED,
    "DONTCALL": Disposition.FAILED,
    "TORTURE": Disposition.FAILED,
    "INVALIDARGS": Disposition.FAILED,
}
# What DialerAttemptSettled may say (its disposition is a plain string on the bus).
_DIALER_DISPOSITIONS: dict[str, Disposition] = {
    d.value: d
    for d in (
        Disposition.ANSWERED,
        Disposition.ABANDONED,
        Disposition.MACHINE,
        Disposition.NO_ANSWER,
        Disposition.BUSY,
        Disposition.FAILED,
    )
}
# How long, in event time, a dialer call whose legs all ended waits for DialerAttemptSettled.
DIALER_SETTLE_WAIT_S = 10.0
_TIMEOUT_STATUS = "NOANSWER"
_CANCEL_STATUS = "CANCEL"

# Q.850 hangup causes that say why a call was not answered.
_CAUSE_BUSY = 17
_CAUSES_NO_ANSWER = frozenset({18, 19})  # no user responding, user alerting no answer
_CAUSES_FAILED = frozenset(
    {
        1,  # unallocated number
        2,  # no route to network
        3,  # no route to destination
        20,  # subscriber absent
        21,  # call rejected
        22,  # number changed
        27,  # destination out of order
        28,  # invalid number format
        34,  # no circuit/channel available (congestion)
        38,  # network out of order
        41,  # temporary failure
        42,  # switching equipment congestion
        44,  # requested channel not available
        47,  # resource unavailable
        58,  # bearer capability not available
        66,  # channel type not implemented
        88,  # incompatible destination
        102,  # recovery on timer expiry
        111,  # protocol error
        127,  # interworking
    }
)


def _cause_disposition(cause: int) -> Disposition | None:
    if cause == _CAUSE_BUSY:
        return Disposition.BUSY
    if cause in _CAUSES_NO_ANSWER:
        return Disposition.NO_ANSWER
    if cause in _CAUSES_FAILED:
        return Disposition.FAILED
    return None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


class _Leg:
    __slots__ = (
        "agent_id",
        "answered_at",
        "bridge_id",
        "caller_name",
        "caller_num",
        "connected_num",
        "context",
        "dial_status",
        "dialed_out",
        "ended_at",
        "exten",
        "hangup_cause",
        "hangup_cause_text",
        "left_behind",
        "lost",
        "seq",
        "snapshot",
        "started_at",
    )

    def __init__(self, snap: ChannelSnapshot, started_at: datetime, seq: int) -> None:
        self.snapshot = snap
        self.started_at = started_at
        self.answered_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.caller_num = snap.caller_num
        self.caller_name = snap.caller_name
        self.connected_num = snap.connected_num
        self.context = snap.context
        self.exten = snap.exten
        self.hangup_cause: int | None = None
        self.hangup_cause_text = ""
        self.dial_status = ""
        self.dialed_out = False  # placed a Dial (it is a calling channel)
        self.lost = False  # ended by a resync: its Hangup never arrived
        self.bridge_id: str | None = None
        # The last one out of a bridge the other party left: put out, not leaving.
        self.left_behind = False
        self.seq = seq
        self.agent_id: str | None = None  # an ACD agent leg: the agent it rang

    @property
    def attempt(self) -> bool:
        """An agent ring never answered: kept as a leg, never a party of the call."""
        return self.agent_id is not None and self.answered_at is None

    def update(self, snap: ChannelSnapshot, at: datetime) -> None:
        old = self.snapshot
        if snap.linkedid != old.linkedid:
            # Asterisk changes a channel's linkedid when it is bridged with another call
            # (ccd's ACD agent, originated under its own linkedid, takes the caller's on
            # BridgeEnter); the leg stays in the call it started in.
            snap = ChannelSnapshot(
                snap.uniqueid,
                old.linkedid,
                snap.name,
                snap.state,
                snap.caller_num,
                snap.caller_name,
                snap.connected_num,
                snap.connected_name,
                snap.context,
                snap.exten,
            )
        self.snapshot = snap
        if snap.caller_num:
            self.caller_num = snap.caller_num
        if snap.caller_name:
            self.caller_name = snap.caller_name
        if snap.connected_num:
            self.connected_num = snap.connected_num
        if not self.context and snap.context:
            self.context = snap.context
        if not self.exten and snap.exten:
            self.exten = snap.exten
        if self.answered_at is None and snap.state is _UP:
            self.answered_at = at

    def record(self, ended_at: datetime) -> LegRecord:
        snap = self.snapshot
        return LegRecord(
            uniqueid=snap.uniqueid,
            linkedid=snap.linkedid,
            channel=snap.name,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at or ended_at,
            caller_num=self.caller_num,
            caller_name=self.caller_name,
            connected_num=self.connected_num,
            context=self.context,
            exten=self.exten,
            hangup_cause=self.hangup_cause,
            hangup_cause_text=self.hangup_cause_text,
            dial_status=self.dial_status,
            agent_id=self.agent_id,
        )


class _Call:
    __slots__ = (
        "bridged_since",
        "dial_answered_at",
        "dial_target",
        "dialed_out",
        "dialer",
        "dialer_disposition",
        "failed_dial_status",
        "first_bridged_at",
        "hangup_requests",
        "hangups",
        "held_since",
        "hold_s",
        "holding",
        "ivr_path",
        "legs",
        "linkedid",
        "open_legs",
        "orphan",
        "queue",
        "recording_ref",
        "talk_s",
    )

    def __init__(self, linkedid: str) -> None:
        self.linkedid = linkedid
        self.legs: dict[str, _Leg] = {}  # creation order; the originator is moved first
        self.open_legs = 0
        self.hangups: list[_Leg] = []  # in hangup order
        # Legs asked to hang up (first ask only), in order, and whether that ask can have
        # ended the conversation (the leg had answered and was not left behind by it).
        self.hangup_requests: list[tuple[_Leg, bool]] = []
        self.first_bridged_at: datetime | None = None
        self.bridged_since: datetime | None = None
        self.talk_s = 0.0
        self.holding: set[str] = set()  # uniqueids of legs on hold now
        self.held_since: datetime | None = None  # since when any leg is on hold
        self.hold_s = 0.0
        self.dialed_out = False  # a channel of the call placed a Dial
        self.dial_target = ""
        self.dial_answered_at: datetime | None = None
        self.failed_dial_status = ""  # last DialEnd status other than ANSWER
        self.orphan = False  # first learnt of through a Hangup of an unknown channel
        self.ivr_path: tuple[IvrStep, ...] = ()
        self.queue: _QueueVisit | None = None  # set by QueueEntered: a queue call
        self.dialer: DialerAttemptStarted | None = None  # a dialer call
        self.dialer_disposition: Disposition | None = None  # from DialerAttemptSettled
        self.recording_ref: str | None = None  # from RecordingStarted (the first)

    @property
    def originator(self) -> _Leg:
        leg = self.legs.get(self.linkedid)
        return leg if leg is not None else next(iter(self.legs.values()))


class _QueueVisit:
    """What the ACD told about a call's time in its queues."""

    __slots__ = (
        "agent_id",
        "connected_at",
        "exit",
        "joined_at",
        "queue",
        "wait_s",
        "waiting",
        "wrapup_s",
    )

    def __init__(self, queue: str, joined_at: datetime) -> None:
        self.queue = queue
        self.joined_at = joined_at  # the first join: a re-entry does not restart the wait
        self.waiting = True  # in a queue now (entered and not connected or left since)
        self.connected_at: datetime | None = None
        self.agent_id: str | None = None
        self.wrapup_s: float | None = None
        self.wait_s: float | None = None  # from QueueConnected / QueueLeft
        self.exit: QueueExit | None = None  # the last QueueLeft's reason


def _visit_of(call: _Call, event: QueueConnected | QueueLeft) -> _QueueVisit:
    """The call's queue visit; when its QueueEntered was lost, one begun ``wait_s`` before
    the event (the wait still says when it began)."""
    if call.queue is None:
        joined_at = event.at - timedelta(seconds=max(0.0, event.wait_s))
        call.queue = _QueueVisit(event.queue, joined_at)
    return call.queue


_QUEUE_EXIT: dict[QueueExit, Disposition] = {
    QueueExit.OVERFLOWED: Disposition.OVERFLOWED,
    QueueExit.TIMED_OUT: Disposition.TIMED_OUT,
    QueueExit.CALLBACK: Disposition.CALLBACK,
}


class CdrBuilder:
    """Turns the event stream into finished-call records; see the module docstring."""

    def __init__(
        self, direction_rules: DirectionRules | None = None, *, tombstone_limit: int = 10_000
    ) -> None:
        self._rules = direction_rules if direction_rules is not None else DirectionRules()
        self._calls: dict[str, _Call] = {}
        self._legs: dict[str, _Leg] = {}  # uniqueid → leg, for every leg of a live call
        self._bridges: dict[str, set[str]] = {}  # bridge id → uniqueids of our legs in it
        self._deserted: set[str] = set()  # bridges a leg left while others stayed in
        self._tombstone_limit = tombstone_limit
        self._tombstone_order: deque[str] = deque()
        self._tombstones: set[str] = set()  # linkedids of finished calls
        self._seq = 0
        # Per Asterisk server (events' ``server``, legs' ``snapshot.server``): a server
        # resyncs and falls out of sync on its own and settles only its own legs.
        self._resync_from_seq: dict[str, int] = {}  # open resyncs
        self._confirmed: dict[str, set[str]] = {}
        self._out_of_sync: set[str] = set()
        self._grouping = CallGrouping(limit=tombstone_limit)
        # Dialer attempts whose call has no channel yet, oldest first.
        self._dialer_attempts: OrderedDict[str, DialerAttemptStarted] = OrderedDict()
        # Dialer calls whose legs all ended, waiting for their settlement: linkedid → end.
        self._unsettled: OrderedDict[str, datetime] = OrderedDict()
        self._handlers: dict[type[Any], Callable[[Any], list[CallRecord]]] = {
            ChannelCreated: self._on_snapshot,
            ChannelUpdated: self._on_snapshot,
            ChannelEnteredBridge: self._on_entered_bridge,
            ChannelLeftBridge: self._on_left_bridge,
            ChannelHungUp: self._on_hung_up,
            HangupRequested: self._on_hangup_requested,
            ChannelHeld: self._on_held,
            ChannelUnheld: self._on_unheld,
            DialStarted: self._on_dial_started,
            DialEnded: self._on_dial_ended,
            ResyncStarted: self._on_resync_started,
            ResyncChannel: self._on_resync_channel,
            ResyncFinished: self._on_resync_finished,
            AmiConnected: self._on_out_of_sync,
            AmiDisconnected: self._on_out_of_sync,
            IvrFinished: self._on_ivr_finished,
            QueueEntered: self._on_queue_entered,
            QueueConnected: self._on_queue_connected,
            QueueLeft: self._on_queue_left,
            AgentRingStarted: self._on_agent_ring_started,
            AgentLegStarted: self._on_agent_leg_started,
            DialerAttemptStarted: self._on_dialer_attempt_started,
            DialerAttemptSettled: self._on_dialer_attempt_settled,
            RecordingStarted: self._on_recording_started,
        }
        self.late_ivr_paths = 0
        """IVR paths that came after their call's record (or for a call never seen)."""
        self.late_queue_events = 0
        """ACD queue events that came after their call's record (or for a call never seen)."""
        self.late_dialer_events = 0
        """Dialer events that came after their call's record."""
        self.bad_dialer_dispositions = 0
        """``DialerAttemptSettled`` with a disposition the dialer may not give (ignored)."""
        self.late_recordings = 0
        """``RecordingStarted`` for a call already recorded (or never seen)."""
        self.unsettled_dialer_calls = 0
        """Dialer calls recorded without the dialer's settlement (it never came in time)."""

    # ---- queries -------------------------------------------------------------------

    @property
    def call_count(self) -> int:
        """Calls in progress (state held)."""
        return len(self._calls)

    @property
    def leg_count(self) -> int:
        return len(self._legs)

    @property
    def bridge_count(self) -> int:
        return len(self._bridges)

    # ---- events --------------------------------------------------------------------

    def apply(self, event: DomainEvent | object) -> list[CallRecord]:
        """Apply one domain event; return the records of the calls it finished. Anything
        the builder does not use (or that is not a domain event) changes nothing."""
        records = self._give_up_settling(event) if self._unsettled else []
        handler = self._handlers.get(type(event))
        if handler is None:
            return records  # OriginateResponse, UserEvent, Cdr: nothing for the record yet
        regrouped, ring = self._grouping.regroup(event)
        records += handler(regrouped)
        if ring is not None:
            for snap in channel_snapshots(regrouped):
                leg = self._legs.get(snap.uniqueid)
                if leg is not None and leg.agent_id is None:
                    leg.agent_id = ring.agent_id
        return records

    def _on_agent_ring_started(self, event: AgentRingStarted) -> list[CallRecord]:
        self._grouping.link(event)
        return []

    def _on_agent_leg_started(self, event: AgentLegStarted) -> list[CallRecord]:
        leg = self._legs.get(event.uniqueid)
        if leg is not None and leg.agent_id is None:
            leg.agent_id = event.agent_id
        return []

    def _on_dialer_attempt_started(self, event: DialerAttemptStarted) -> list[CallRecord]:
        linkedid = event.linkedid
        if linkedid in self._tombstones:
            self.late_dialer_events += 1
            return []
        call = self._calls.get(linkedid)
        if call is not None:
            call.dialer = event
            return []
        attempts = self._dialer_attempts
        attempts[linkedid] = event
        attempts.move_to_end(linkedid)
        while len(attempts) > self._tombstone_limit:
            attempts.popitem(last=False)
        return []

    def _on_dialer_attempt_settled(self, event: DialerAttemptSettled) -> list[CallRecord]:
        disposition = _DIALER_DISPOSITIONS.get(event.disposition)
        if disposition is None:
            self.bad_dialer_dispositions += 1
            return []
        call = self._calls.get(event.linkedid)
        if call is not None:
            call.dialer_disposition = disposition
            if self._unsettled.pop(call.linkedid, None) is not None:
                return [self._finish(call)]
        elif self._dialer_attempts.pop(event.linkedid, None) is None:
            self.late_dialer_events += 1
        return []

    def _give_up_settling(self, event: object) -> list[CallRecord]:
        """Records of the dialer calls that waited ``DIALER_SETTLE_WAIT_S`` in vain by the
        time of ``event``."""
        now = getattr(event, "at", None)
        records: list[CallRecord] = []
        if not isinstance(now, datetime):
            return records
        unsettled = self._unsettled
        while unsettled:
            linkedid, ended_at = next(iter(unsettled.items()))
            if _seconds(ended_at, now) < DIALER_SETTLE_WAIT_S:
                break
            del unsettled[linkedid]
            self.unsettled_dialer_calls += 1
            records.append(self._finish(self._calls[linkedid]))
        return records

    def give_up_settling(self) -> list[CallRecord]:
        """At shutdown: the dialer calls still waiting for their settlement are recorded
        now, with the disposition their channels give (late beats lost)."""
        records: list[CallRecord] = []
        while self._unsettled:
            linkedid, _ = self._unsettled.popitem(last=False)
            self.unsettled_dialer_calls += 1
            records.append(self._finish(self._calls[linkedid]))
        return records

    def asterisk_cdr(self, event: AsteriskCdrReceived) -> AsteriskCdr | None:
        """Asterisk's ``Cdr`` event as a raw row; None without linkedid and sequence (the
        ``cdr_manager.conf`` ``[mappings]`` are missing): such a row has no key."""
        fields = event.fields
        linkedid = _field(fields, "LinkedID")
        sequence = _field(fields, "Sequence")
        if not linkedid or not sequence:
            return None
        return AsteriskCdr(
            linkedid=linkedid,
            sequence=sequence,
            uniqueid=_field(fields, "UniqueID"),
            received_at=event.at,
            fields=dict(fields),
        )

    def _on_ivr_finished(self, event: IvrFinished) -> list[CallRecord]:
        leg = self._legs.get(event.uniqueid)
        linkedid = leg.snapshot.linkedid if leg is not None else event.linkedid
        call = self._calls.get(linkedid)
        if call is None:
            self.late_ivr_paths += 1
            return []
        call.ivr_path += event.path
        return []

    def _queue_call(self, linkedid: str) -> _Call | None:
        call = self._calls.get(linkedid)
        if call is None:
            leg = self._legs.get(linkedid)  # the originator, should its call be keyed apart
            if leg is not None:
                call = self._calls.get(leg.snapshot.linkedid)
        if call is None:
            self.late_queue_events += 1
        return call

    def _on_queue_entered(self, event: QueueEntered) -> list[CallRecord]:
        call = self._queue_call(event.linkedid)
        if call is None:
            return []
        if call.queue is None:
            call.queue = _QueueVisit(event.queue, event.joined_at)
        else:
            call.queue.waiting = True
        return []

    def _on_queue_connected(self, event: QueueConnected) -> list[CallRecord]:
        call = self._queue_call(event.linkedid)
        if call is None:
            return []
        visit = _visit_of(call, event)
        visit.waiting = False
        visit.queue = event.queue
        if visit.connected_at is None:
            visit.connected_at = event.at
        visit.agent_id = event.agent_id
        visit.wait_s = event.wait_s
        visit.wrapup_s = event.wrapup_s
        return []

    def _on_recording_started(self, event: RecordingStarted) -> list[CallRecord]:
        call = self._calls.get(event.linkedid)
        if call is None:
            leg = self._legs.get(event.linkedid)  # the originator, should its call be keyed apart
            if leg is not None:
                call = self._calls.get(leg.snapshot.linkedid)
        if call is None:
            self.late_recordings += 1
        elif call.recording_ref is None:
            call.recording_ref = event.recording_id
        return []

    def _on_queue_left(self, event: QueueLeft) -> list[CallRecord]:
        call = self._queue_call(event.linkedid)
        if call is None:
            return []
        visit = _visit_of(call, event)
        visit.waiting = False
        visit.exit = event.reason
        if visit.connected_at is None:
            visit.wait_s = event.wait_s
        return []

    def _on_snapshot(self, event: ChannelCreated | ChannelUpdated) -> list[CallRecord]:
        self._upsert(event.channel, event.at)
        return []

    def _on_entered_bridge(self, event: ChannelEnteredBridge) -> list[CallRecord]:
        leg = self._upsert(event.channel, event.at)
        if leg is not None:
            self._move_bridge(leg, event.bridge_id, event.at)
        return []

    def _on_left_bridge(self, event: ChannelLeftBridge) -> list[CallRecord]:
        leg = self._upsert(event.channel, event.at)
        if leg is not None and leg.bridge_id == event.bridge_id:
            self._move_bridge(leg, None, event.at)
        return []

    def _on_hung_up(self, event: ChannelHungUp) -> list[CallRecord]:
        snap = event.channel
        leg = self._legs.get(snap.uniqueid)
        if leg is None:
            if snap.linkedid in self._tombstones:
                return []  # a duplicate or late Hangup of a finished call
            is_new_call = snap.linkedid not in self._calls
            leg = self._upsert(snap, event.at)
            if leg is None:
                return []
            if is_new_call:
                self._calls[leg.snapshot.linkedid].orphan = True
        elif leg.ended_at is not None:
            return []  # duplicated Hangup
        leg.update(snap, event.at)
        leg.hangup_cause = event.cause
        leg.hangup_cause_text = event.cause_text
        return self._end_leg(leg, event.at)

    def _on_hangup_requested(self, event: HangupRequested) -> list[CallRecord]:
        leg = self._upsert(event.channel, event.at)
        if leg is None or leg.attempt:
            return []  # an agent ring being cancelled ends nothing of the conversation
        call = self._calls[leg.snapshot.linkedid]
        ender = leg
        partner_name = local_partner(leg.snapshot.name)
        partner = next(
            (o for o in call.legs.values() if partner_name and o.snapshot.name == partner_name),
            None,
        )
        if partner is not None and not event.soft:
            # Queued by the channel's driver: for a phone, its user hung up; for a Local
            # half, its other half went away (an application ending there asks nothing).
            ender = partner
        elif partner is not None and (
            partner.ended_at is not None
            or any(asked is partner for asked, _ in call.hangup_requests)
        ):
            # A Local half is asked softly too once its other half has gone: an echo.
            ender = partner
        if all(asked is not ender for asked, _ in call.hangup_requests):
            ended_it = ender.answered_at is not None and not ender.left_behind
            call.hangup_requests.append((ender, ended_it))
        return []

    def _on_held(self, event: ChannelHeld) -> list[CallRecord]:
        leg = self._upsert(event.channel, event.at)
        if leg is not None:
            call = self._calls[leg.snapshot.linkedid]
            if not call.holding:
                call.held_since = event.at
            call.holding.add(leg.snapshot.uniqueid)
        return []

    def _on_unheld(self, event: ChannelUnheld) -> list[CallRecord]:
        leg = self._upsert(event.channel, event.at)
        if leg is not None:
            self._end_hold(self._calls[leg.snapshot.linkedid], leg, event.at)
        return []

    @staticmethod
    def _end_hold(call: _Call, leg: _Leg, at: datetime) -> None:
        if leg.snapshot.uniqueid not in call.holding:
            return
        call.holding.discard(leg.snapshot.uniqueid)
        if not call.holding and call.held_since is not None:
            call.hold_s += _seconds(call.held_since, at)
            call.held_since = None

    def _on_dial_started(self, event: DialStarted) -> list[CallRecord]:
        self._upsert(event.destination, event.at)
        caller = event.caller
        if caller is None:
            return []  # an Originate dialing the originator itself
        leg = self._upsert(caller, event.at)
        if leg is None:
            return []
        leg.dialed_out = True
        call = self._calls[leg.snapshot.linkedid]
        call.dialed_out = True
        if not call.dial_target:
            call.dial_target = dial_target(event.dial_string, event.destination.exten)
        return []

    def _on_dial_ended(self, event: DialEnded) -> list[CallRecord]:
        leg = self._upsert(event.destination, event.at)
        if leg is None:
            return []
        leg.dial_status = event.status
        call = self._calls[leg.snapshot.linkedid]
        if event.status == "ANSWER":
            if event.caller is not None and call.dial_answered_at is None:
                call.dial_answered_at = event.at
        else:
            call.failed_dial_status = event.status
        return []

    def _on_resync_started(self, event: ResyncStarted) -> list[CallRecord]:
        self._resync_from_seq[event.server] = self._seq
        self._confirmed[event.server] = set()
        return []

    def _on_resync_channel(self, event: ResyncChannel) -> list[CallRecord]:
        snap = event.channel
        if snap.linkedid in self._tombstones:
            return []
        leg = self._legs.get(snap.uniqueid)
        bridge_id = event.bridge_id or None
        if leg is None:
            started_at = event.at - timedelta(seconds=event.duration_s)
            leg = self._upsert(snap, started_at)
            if leg is None:
                return []
            if bridge_id is not None:
                self._move_bridge(leg, bridge_id, started_at)
        elif leg.ended_at is not None:
            return []  # hung up meanwhile: the row is older than the Hangup
        else:
            leg.update(snap, event.at)
            if bridge_id != leg.bridge_id:
                self._move_bridge(leg, bridge_id, event.at)
        confirmed = self._confirmed.get(snap.server)
        if confirmed is not None:
            confirmed.add(snap.uniqueid)
        return []

    def _on_resync_finished(self, event: ResyncFinished) -> list[CallRecord]:
        server = event.server
        from_seq = self._resync_from_seq.pop(server, None)
        if from_seq is None:
            return []  # none open (abandoned by a disconnect)
        self._out_of_sync.discard(server)
        confirmed = self._confirmed.pop(server, set())
        lost = [
            leg
            for uniqueid, leg in self._legs.items()
            if leg.ended_at is None
            and leg.seq < from_seq
            and uniqueid not in confirmed
            and leg.snapshot.server == server
        ]
        records: list[CallRecord] = []
        for leg in lost:
            leg.lost = True
            records += self._end_leg(leg, event.at)
        # Calls first learnt of through a Hangup while out of sync: now complete.
        ended = [
            c
            for c in self._calls.values()
            if c.open_legs == 0
            and c.linkedid not in self._unsettled
            and all(leg.snapshot.server == server for leg in c.legs.values())
        ]
        for call in ended:
            records += self._complete(call, event.at)
        return records

    def _on_out_of_sync(self, event: AmiConnected | AmiDisconnected) -> list[CallRecord]:
        self._out_of_sync.add(event.server)
        if isinstance(event, AmiDisconnected):
            self._resync_from_seq.pop(event.server, None)
            self._confirmed.pop(event.server, None)
        return []

    # ---- mechanics -----------------------------------------------------------------

    def _upsert(self, snap: ChannelSnapshot, at: datetime) -> _Leg | None:
        """The live leg for ``snap`` (created if new), or None: ended or of a finished call."""
        leg = self._legs.get(snap.uniqueid)
        if leg is not None:
            if leg.ended_at is not None:
                return None
            leg.update(snap, at)
            return leg
        linkedid = snap.linkedid
        if linkedid in self._tombstones:
            return None
        leg = _Leg(snap, at, self._seq)
        self._seq += 1
        leg.update(snap, at)
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid)
            call.dialer = self._dialer_attempts.pop(linkedid, None)
        else:
            self._unsettled.pop(linkedid, None)  # a new leg: the call is not over after all
        if snap.uniqueid == linkedid and call.legs:
            # The true originator showed up late (resync rows come in any order).
            call.legs = {snap.uniqueid: leg, **call.legs}
        else:
            call.legs[snap.uniqueid] = leg
        call.open_legs += 1
        self._legs[snap.uniqueid] = leg
        return leg

    def _end_leg(self, leg: _Leg, at: datetime) -> list[CallRecord]:
        leg.ended_at = at
        if leg.bridge_id is not None:
            self._move_bridge(leg, None, at)
        call = self._calls[leg.snapshot.linkedid]
        self._end_hold(call, leg, at)
        call.hangups.append(leg)
        call.open_legs -= 1
        if call.open_legs > 0:
            return []
        if call.orphan and leg.snapshot.server in self._out_of_sync:
            return []  # more of it may follow; ResyncFinished completes it
        return self._complete(call, at)

    def _complete(self, call: _Call, ended_at: datetime) -> list[CallRecord]:
        """The record of a call whose legs all ended, unless the dialer has yet to settle it."""
        if call.linkedid.startswith(NOT_CALLS):
            self._finish(call)  # ccd's recorder or a supervisor's monitoring session
            return []
        if call.dialer is not None and call.dialer_disposition is None:
            self._unsettled[call.linkedid] = ended_at
            return []
        return [self._finish(call)]

    def _move_bridge(self, leg: _Leg, bridge_id: str | None, at: datetime) -> None:
        """Move ``leg`` to ``bridge_id`` (None: out of any bridge) and settle talk time
        of every call with a leg in the old or new bridge."""
        uniqueid = leg.snapshot.uniqueid
        touched = {leg.snapshot.linkedid}
        old = leg.bridge_id
        if old is not None:
            members = self._bridges.get(old)
            if members is not None:
                members.discard(uniqueid)
                touched.update(self._linkedids(members))
                if members:
                    self._deserted.add(old)
                else:
                    del self._bridges[old]
                    # The other party left first (hung up): the bridge put this one out.
                    # Its own hang-up that follows (an agent's Bridge() returning) is a
                    # consequence, whichever order Asterisk's threads publish the requests.
                    if old in self._deserted:
                        self._deserted.discard(old)
                        leg.left_behind = bridge_id is None
        if bridge_id is not None:
            leg.left_behind = False
            members = self._bridges.setdefault(bridge_id, set())
            members.add(uniqueid)
            touched.update(self._linkedids(members))
        leg.bridge_id = bridge_id
        for linkedid in touched:
            call = self._calls.get(linkedid)
            if call is not None:
                self._settle_talk(call, at)

    def _linkedids(self, uniqueids: set[str]) -> set[str]:
        legs = self._legs
        return {legs[u].snapshot.linkedid for u in uniqueids if u in legs}

    def _settle_talk(self, call: _Call, at: datetime) -> None:
        bridges = self._bridges
        bridged = any(
            leg.bridge_id is not None and len(bridges.get(leg.bridge_id, ())) > 1
            for leg in call.legs.values()
        )
        if bridged and call.bridged_since is None:
            call.bridged_since = at
            if call.first_bridged_at is None or at < call.first_bridged_at:
                call.first_bridged_at = at
        elif not bridged and call.bridged_since is not None:
            call.talk_s += _seconds(call.bridged_since, at)
            call.bridged_since = None

    def _finish(self, call: _Call) -> CallRecord:
        del self._calls[call.linkedid]
        for uniqueid, leg in call.legs.items():
            self._legs.pop(uniqueid, None)
            if leg.bridge_id is not None:  # only if the leg ended without leaving
                members = self._bridges.get(leg.bridge_id)
                if members is not None:
                    members.discard(uniqueid)
                    if not members:
                        del self._bridges[leg.bridge_id]
                        self._deserted.discard(leg.bridge_id)
        self._bury(call.linkedid)
        return self._record(call)

    def _bury(self, linkedid: str) -> None:
        order = self._tombstone_order
        if len(order) >= self._tombstone_limit:
            self._tombstones.discard(order.popleft())
        order.append(linkedid)
        self._tombstones.add(linkedid)

    # ---- the record ----------------------------------------------------------------

    def _record(self, call: _Call) -> CallRecord:
        legs = list(call.legs.values())
        originator = call.originator
        # Agent rings nobody answered are kept as legs (ring-no-answer reports) but take no
        # part in the call's outcome: their busy/no-answer causes are not the customer's.
        parties = [leg for leg in legs if not leg.attempt] or legs
        call.hangups = [leg for leg in call.hangups if not leg.attempt]
        ended_at = max(leg.ended_at or leg.started_at for leg in parties)
        started_at = min(leg.started_at for leg in parties)
        if call.bridged_since is not None:
            call.talk_s += _seconds(call.bridged_since, ended_at)
            call.bridged_since = None

        visit = call.queue
        answered_at = self._answered_at(call, originator)
        if visit is not None or call.first_bridged_at is not None:
            # Bridged time only; for a queue call even when never bridged (the dialplan's
            # answer before the agent is not talk).
            talk_s = call.talk_s
        elif answered_at is not None:
            talk_s = _seconds(answered_at, ended_at)
        else:
            talk_s = 0.0
        ring_s = _seconds(started_at, answered_at or ended_at)

        leg_records = tuple(leg.record(ended_at) for leg in legs)
        originator_record = leg_records[legs.index(originator)]
        others = [
            leg.record(ended_at)
            for leg in parties
            if leg.snapshot.uniqueid != originator_record.uniqueid
        ]
        attempt = call.dialer
        if attempt is not None:
            direction = Direction.OUTBOUND  # the dialer placed it, whatever the contexts say
        else:
            direction = self._rules.classify(originator_record, others)
        disposition = self._disposition(call, answered_at)
        wait_s: float | None = None
        if visit is not None:
            disposition = self._queue_disposition(visit)
            wait_s = visit.wait_s
            if disposition is Disposition.ABANDONED or wait_s is None:
                wait_s = _seconds(visit.joined_at, ended_at)
        if call.dialer_disposition is not None:
            disposition = call.dialer_disposition
        lost = any(leg.lost for leg in parties)
        cause, cause_text = (None, "") if lost else self._hangup_cause(call)

        return CallRecord(
            linkedid=call.linkedid,
            direction=direction,
            caller_num=originator.caller_num,
            caller_name=originator.caller_name,
            callee_num=callee_number(
                originator.caller_num,
                originator.snapshot,
                call.dial_target,
                [leg.snapshot for leg in parties],
            ),
            did=originator.exten if direction is Direction.INBOUND else "",
            started_at=started_at,
            answered_at=answered_at,
            ended_at=ended_at,
            ring_s=ring_s,
            talk_s=talk_s,
            hold_s=call.hold_s,
            hangup_cause=cause,
            hangup_cause_text=cause_text,
            hung_up_by=HungUpBy.SYSTEM if lost else self._hung_up_by(call, answered_at),
            disposition=disposition,
            legs=leg_records,
            ivr_path=call.ivr_path,
            queue=visit.queue if visit is not None else None,
            wait_s=wait_s,
            agent_id=visit.agent_id if visit is not None else _answering_agent(call),
            wrapup_s=visit.wrapup_s if visit is not None else None,
            campaign_id=attempt.campaign_id if attempt is not None else None,
            contact_id=attempt.contact_id if attempt is not None else None,
            recording_ref=call.recording_ref,
            server=originator.snapshot.server,
        )

    @staticmethod
    def _answered_at(call: _Call, originator: _Leg) -> datetime | None:
        if call.first_bridged_at is not None:
            return call.first_bridged_at
        if call.dialed_out:
            return call.dial_answered_at
        if call.queue is not None:
            # The queue-wait dialplan answered the caller; only an agent answers the call.
            return call.queue.connected_at
        return originator.answered_at

    @staticmethod
    def _queue_disposition(visit: _QueueVisit) -> Disposition:
        if visit.connected_at is not None:
            return Disposition.ANSWERED
        if visit.exit is not None and not visit.waiting:
            return _QUEUE_EXIT[visit.exit]
        return Disposition.ABANDONED

    @staticmethod
    def _disposition(call: _Call, answered_at: datetime | None) -> Disposition:
        if answered_at is not None:
            return Disposition.ANSWERED
        from_status = _DIAL_STATUS.get(call.failed_dial_status)
        if from_status is not None:
            return from_status
        for leg in call.hangups:
            if leg.hangup_cause is not None:
                from_cause = _cause_disposition(leg.hangup_cause)
                if from_cause is not None:
                    return from_cause
        return Disposition.NO_ANSWER

    @staticmethod
    def _hangup_cause(call: _Call) -> tuple[int | None, str]:
        hangups = [leg for leg in call.hangups if leg.hangup_cause is not None]
        for leg in hangups:
            if leg.hangup_cause:
                return leg.hangup_cause, leg.hangup_cause_text
        if hangups:
            return hangups[0].hangup_cause, hangups[0].hangup_cause_text
        return None, ""

    def _hung_up_by(self, call: _Call, answered_at: datetime | None) -> HungUpBy:
        # The first leg asked to hang up names the side that ended the call; the Hangup
        # events themselves come in either order (a Local pair's halves: µs apart).
        if answered_at is not None:
            for leg, ended_it in call.hangup_requests:
                if ended_it:
                    return self._side(call, leg)
            answered = [leg for leg in call.hangups if leg.answered_at is not None]
            if answered:  # the first to hang up, preferring one not left behind
                return self._side(call, min(answered, key=lambda leg: leg.left_behind))
        else:
            disposition = self._disposition(call, None)
            if disposition in (Disposition.BUSY, Disposition.FAILED):
                return HungUpBy.CALLEE
            status = call.failed_dial_status
            if status == _CANCEL_STATUS:
                return HungUpBy.CALLER
            if status == _TIMEOUT_STATUS or any(
                leg.hangup_cause in _CAUSES_NO_ANSWER for leg in call.hangups
            ):
                return HungUpBy.SYSTEM
            if call.hangup_requests:
                return self._side(call, call.hangup_requests[0][0])
        if call.hangups:
            return self._side(call, call.hangups[0])
        return HungUpBy.SYSTEM

    @staticmethod
    def _side(call: _Call, leg: _Leg) -> HungUpBy:
        originator = call.originator
        if leg is originator:
            return HungUpBy.CALLER
        partner = local_partner(originator.snapshot.name)
        if partner and leg.snapshot.name == partner:
            return HungUpBy.CALLER if leg.dialed_out else HungUpBy.CALLEE
        return HungUpBy.CALLEE


def _field(fields: Mapping[str, str], name: str) -> str:
    """A Cdr header by name, whatever case the cdr_manager.conf mapping gave it."""
    value = fields.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, value in fields.items():
        if key.lower() == lowered:
            return value
    return ""


def _answering_agent(call: _Call) -> str | None:
    """The agent whose leg answered, for a call no queue connected (the dialer's): the
    first one, as a call's agent is the one who took it."""
    answered = sorted(
        (leg.answered_at, leg.agent_id)
        for leg in call.legs.values()
        if leg.agent_id is not None and leg.answered_at is not None
    )
    return answered[0][1] if answered else None
