"""What the ACD's calls look like in Asterisk, as a pure state machine (h11's _state.py):
the agent rings ccd originates, the call backs it places, and the channels whose hangup
means something to the engine (waiting callers, answered agent legs, answered call backs).

Events in, commands out, no IO: the caller passes ``now`` and executes the commands
(``AcdService``). The commands are Asterisk operations (ring, call back, hang up) and
engine events to feed (``AgentAnswered``, ``AgentBusy``, ``AgentNoAnswer``, ``CallEnded``,
``CallbackFailed``, ``CallerLeft``), each with what is worth a log line.

A ring's life: ``RingRequested`` → ``OriginateRing`` (the ring has an ActionID and a
ChannelId chosen here, so its channel is known before Asterisk creates it). Asterisk then
acknowledges the Originate (``OriginateQueued``) or it never got written / its answer was
lost (``OriginateNotQueued``); later ``OriginateAnswered`` or ``OriginateFailed`` (reason).
A ring the engine cancels is hung up once its Originate is queued; a cancelled ring that
answers anyway is hung up; a ring whose Originate may have been written but was never
acknowledged is hung up with retries (Asterisk may ring it regardless). The agent leg's
``ChannelGone`` ends the call (``CallEnded``), also when it overtook the answer.
After a reconnect, ``Resynced`` with the live channels settles what ccd missed.

Several Asterisk servers: every ring, call back and caller is on one server (its
``server``; the commands carry it so the shell acts through that server's connection),
and ``Resynced(server=X)`` settles only what is on X — another server's channels are
not in X's live list and are not gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ccd.acd.engine import (
    AgentAnswered,
    AgentBusy,
    AgentNoAnswer,
    CallbackFailed,
    CallEnded,
    CallerLeft,
)

AGENT_CHANNEL_PREFIX = "ccd-acd-"
"""Uniqueids ccd gives the channels it originates (Originate ChannelId)."""
# Originate failure reasons (Asterisk's AST_CONTROL_*): busy and congestion mean the
# device cannot take a call now — skip the agent without counting a no-answer.
BUSY_REASONS = frozenset({0, 5, 8})
# An Originate this old whose channel is not live after a resync is not coming.
ORIGINATE_SETTLE_S = 2.0
# A ring that may ring without ccd knowing it (its Originate's answer was lost).
LOST_RING_HANGUP_ATTEMPTS = 3
HANGUP_RETRY_S = 2.0


# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingRequested:
    """The engine's RingAgent; ``device_busy``: the agent's device is on a call ccd did
    not place (skipped without an Originate)."""

    agent_id: str
    call_id: str
    interface: str
    caller_channel: str
    timeout_s: float
    device_busy: bool = False
    server: str | None = None


@dataclass(frozen=True, slots=True)
class RingCancelled:
    """The engine's CancelRing."""

    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class CallerConnectedToAgent:
    """The engine's CallerConnected: the agent's ring became the call."""

    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class CallbackDue:
    """The engine's PlaceCallback (``joined_at``: the caller's first join time)."""

    call_id: str
    queue_id: str
    number: str
    joined_at: float
    server: str | None = None  # the waiting caller's: the customer comes back there


@dataclass(frozen=True, slots=True)
class OriginateQueued:
    """Asterisk acknowledged the Originate (it is placing the call)."""

    action_id: str


@dataclass(frozen=True, slots=True)
class OriginateNotQueued:
    """The Originate got no acknowledgement. ``written`` False: nothing reached Asterisk
    (not connected, unsafe value); True: it may have (connection lost, timeout)."""

    action_id: str
    written: bool


@dataclass(frozen=True, slots=True)
class OriginateAnswered:
    """OriginateResponse success: ``uniqueid`` is the answered channel's."""

    action_id: str
    uniqueid: str


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    """OriginateResponse failure, with Asterisk's reason (AST_CONTROL_*)."""

    action_id: str
    reason: int


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """A channel hung up."""

    uniqueid: str


@dataclass(frozen=True, slots=True)
class CallerWaiting:
    """A waiting caller's channel is in line: its hangup is the caller leaving.
    ``callback_of``: the customer of a call back reached the queue (their call back is
    no longer "answered, on the way")."""

    uniqueid: str
    call_id: str
    callback_of: str | None = None
    server: str | None = None


@dataclass(frozen=True, slots=True)
class CallerOffLine:
    """The caller's channel left the line (connected, overflowed, gone): its hangup
    from now on means nothing here."""

    uniqueid: str


@dataclass(frozen=True, slots=True)
class Resynced:
    """Asterisk's channels after a reconnect (uniqueid -> channel name), and the agents
    the engine has on a call (agent -> interface). ``server``: the server that resynced
    (``live`` and ``on_call`` are its own; what is on other servers is left alone);
    None: every server (one server, untagged)."""

    live: Mapping[str, str]
    on_call: Mapping[str, str]
    server: str | None = None


RingEvent = (
    RingRequested
    | RingCancelled
    | CallerConnectedToAgent
    | CallbackDue
    | OriginateQueued
    | OriginateNotQueued
    | OriginateAnswered
    | OriginateFailed
    | ChannelGone
    | CallerWaiting
    | CallerOffLine
    | Resynced
)

# ---- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OriginateRing:
    """Ring the agent's ``interface``; when answered, bridge it with ``caller_channel``."""

    action_id: str
    channel_id: str
    agent_id: str
    call_id: str
    interface: str
    caller_channel: str
    timeout_s: float
    server: str | None = None


@dataclass(frozen=True, slots=True)
class OriginateCallback:
    """Call the customer back on ``number``; answered, they rejoin ``queue_id``."""

    action_id: str
    channel_id: str
    call_id: str
    queue_id: str
    number: str
    joined_at: float
    server: str | None = None


@dataclass(frozen=True, slots=True)
class HangUp:
    """Hang up a channel (on ``server``): up to ``attempts`` tries ``retry_after_s`` apart
    while Asterisk cannot be reached; a "no such channel" answer ends it (gone already)."""

    channel_id: str
    attempts: int = 1
    retry_after_s: float = HANGUP_RETRY_S
    server: str | None = None


EngineFeed = AgentAnswered | AgentBusy | AgentNoAnswer | CallEnded | CallbackFailed | CallerLeft


@dataclass(frozen=True, slots=True)
class FeedEngine:
    """Give the engine this event; ``note`` (with ``details``) is worth an info log line."""

    event: EngineFeed
    note: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Note:
    """Worth an info log line, nothing to do."""

    message: str
    details: Mapping[str, object] = field(default_factory=dict)


RingCommand = OriginateRing | OriginateCallback | HangUp | FeedEngine | Note


# ---- state --------------------------------------------------------------------------


@dataclass(slots=True)
class _Ring:
    agent_id: str
    call_id: str
    action_id: str
    channel_id: str  # the agent channel's uniqueid (Originate ChannelId)
    created: float
    queued: bool = False  # Asterisk acknowledged the Originate
    responded: bool = False  # its OriginateResponse arrived
    cancelled: bool = False
    hang_up_when_queued: bool = False  # cancelled before the Originate was acknowledged
    hung_up: bool = False  # its Hangup arrived before the OriginateResponse
    server: str | None = None


@dataclass(frozen=True, slots=True)
class _CallBack:
    call_id: str  # the waiting call it is for
    channel_id: str  # the customer leg's uniqueid (Originate ChannelId)
    created: float
    server: str | None = None


@dataclass(frozen=True, slots=True)
class _Tracked:
    """A channel whose hangup means something: who it is (an agent, a call) and the
    server it is on."""

    owner: str
    server: str | None


def _new_id() -> str:
    return uuid.uuid4().hex


class RingTracker:
    """Every piece of ring, call-back and channel correlation state of the ACD."""

    def __init__(self, new_id: Callable[[], str] = _new_id) -> None:
        self._new_id = new_id
        self._rings: dict[str, _Ring] = {}  # by ActionID, until the OriginateResponse
        self._ring_of: dict[tuple[str, str], _Ring] = {}  # (agent, call) -> current ring
        self._ring_channels: dict[str, _Ring] = {}  # ringing agent channel uniqueid -> ring
        self._unqueued: dict[str, _Ring] = {}  # Originate not acknowledged yet
        self._agent_channels: dict[str, _Tracked] = {}  # answered agent channel -> agent
        self._callbacks: dict[str, _CallBack] = {}  # by the call back's ActionID
        # Answered call backs whose customer has not reached the queue yet: uniqueid -> call.
        self._callbacks_answered: dict[str, _Tracked] = {}
        self._callers: dict[str, _Tracked] = {}  # waiting caller's uniqueid -> call id

    def sizes(self) -> dict[str, int]:
        """How much is tracked, per table (nothing may be kept forever)."""
        return {
            "rings": len(self._rings),
            "current_rings": len(self._ring_of),
            "ring_channels": len(self._ring_channels),
            "unqueued": len(self._unqueued),
            "agent_channels": len(self._agent_channels),
            "callbacks": len(self._callbacks),
            "callbacks_answered": len(self._callbacks_answered),
            "callers": len(self._callers),
        }

    def handle(self, event: RingEvent, now: float) -> list[RingCommand]:
        match event:
            case RingRequested():
                return self._ring(event, now)
            case RingCancelled(agent_id=agent_id, call_id=call_id):
                return self._cancel(agent_id, call_id)
            case CallerConnectedToAgent(agent_id=agent_id, call_id=call_id):
                return self._connected(agent_id, call_id)
            case CallbackDue():
                return self._call_back(event, now)
            case OriginateQueued(action_id=action_id):
                return self._queued(action_id)
            case OriginateNotQueued(action_id=action_id, written=written):
                return self._not_queued(action_id, written)
            case OriginateAnswered(action_id=action_id, uniqueid=uniqueid):
                return self._answered(action_id, uniqueid)
            case OriginateFailed(action_id=action_id, reason=reason):
                return self._failed(action_id, reason)
            case ChannelGone(uniqueid=uniqueid):
                return self._gone(uniqueid)
            case CallerWaiting(
                uniqueid=uniqueid, call_id=call_id, callback_of=callback_of, server=server
            ):
                self._callers[uniqueid] = _Tracked(call_id, server)
                if callback_of is not None:
                    self._callbacks_answered = {
                        u: c for u, c in self._callbacks_answered.items() if c.owner != callback_of
                    }
                return []
            case CallerOffLine(uniqueid=uniqueid):
                self._callers.pop(uniqueid, None)
                return []
            case Resynced(live=live, on_call=on_call, server=server):
                return self._resynced(live, on_call, server, now)

    # ---- rings ---------------------------------------------------------------------

    def _ring(self, event: RingRequested, now: float) -> list[RingCommand]:
        if event.device_busy:
            # On a call ccd did not place: skipped (the engine offers them again later).
            return [
                FeedEngine(
                    AgentBusy(event.agent_id, event.call_id),
                    "agent device busy, skipped",
                    {"agent_id": event.agent_id},
                )
            ]
        ring = _Ring(
            agent_id=event.agent_id,
            call_id=event.call_id,
            action_id=f"ccd-acd-ring-{self._new_id()}",
            channel_id=f"{AGENT_CHANNEL_PREFIX}{self._new_id()}",
            created=now,
            server=event.server,
        )
        self._rings[ring.action_id] = ring
        self._ring_of[(ring.agent_id, ring.call_id)] = ring
        self._ring_channels[ring.channel_id] = ring
        self._unqueued[ring.action_id] = ring
        return [
            OriginateRing(
                action_id=ring.action_id,
                channel_id=ring.channel_id,
                agent_id=ring.agent_id,
                call_id=ring.call_id,
                interface=event.interface,
                caller_channel=event.caller_channel,
                timeout_s=event.timeout_s,
                server=event.server,
            )
        ]

    def _cancel(self, agent_id: str, call_id: str) -> list[RingCommand]:
        ring = self._ring_of.pop((agent_id, call_id), None)
        if ring is None:
            return []
        ring.cancelled = True
        if not ring.queued:
            # Hung up once Asterisk has it (a Hangup before that finds no channel).
            ring.hang_up_when_queued = True
            return []
        return [HangUp(ring.channel_id, server=ring.server)]

    def _queued(self, action_id: str) -> list[RingCommand]:
        ring = self._unqueued.pop(action_id, None)
        if ring is None:
            return []
        ring.queued = True
        if ring.hang_up_when_queued:
            ring.hang_up_when_queued = False
            return [HangUp(ring.channel_id, server=ring.server)]
        return []

    def _not_queued(self, action_id: str, written: bool) -> list[RingCommand]:
        call_back = self._callbacks.pop(action_id, None)
        if call_back is not None:
            return [FeedEngine(CallbackFailed(call_back.call_id))]
        ring = self._unqueued.pop(action_id, None)
        if ring is None or ring.responded:
            return []  # its outcome is known already
        out: list[RingCommand] = []
        ring.hang_up_when_queued = False
        if not written:
            # Nothing was written: nothing can ring.
            self._rings.pop(ring.action_id, None)
            self._ring_channels.pop(ring.channel_id, None)
        else:
            # Written but unanswered (connection lost, timeout): Asterisk may ring the
            # agent anyway. Keep the ring known as cancelled — a late success is hung
            # up — and try to end it now.
            ring.cancelled = True
            out.append(
                HangUp(ring.channel_id, attempts=LOST_RING_HANGUP_ATTEMPTS, server=ring.server)
            )
        if self._ring_of.get((ring.agent_id, ring.call_id)) is ring:
            del self._ring_of[(ring.agent_id, ring.call_id)]
            # Not the agent's fault: skipped for now, offered again shortly.
            out.append(FeedEngine(AgentBusy(ring.agent_id, ring.call_id)))
        return out

    def _answered(self, action_id: str, uniqueid: str) -> list[RingCommand]:
        call_back = self._callbacks.pop(action_id, None)
        if call_back is not None:
            # Until the customer's AGI reaches ccd, their hangup means "try again".
            self._callbacks_answered[uniqueid] = _Tracked(call_back.call_id, call_back.server)
            return []
        ring = self._responded(action_id)
        if ring is None:
            return []
        if ring.cancelled:
            # Picked up a moment too late (or after ccd gave up on it): end that leg.
            self._ring_channels.pop(ring.channel_id, None)
            return [HangUp(ring.channel_id, server=ring.server)]
        return [FeedEngine(AgentAnswered(ring.agent_id, ring.call_id))]

    def _failed(self, action_id: str, reason: int) -> list[RingCommand]:
        call_back = self._callbacks.pop(action_id, None)
        if call_back is not None:
            return [
                FeedEngine(
                    CallbackFailed(call_back.call_id),
                    "call back not answered",
                    {"call_id": call_back.call_id, "reason": reason},
                )
            ]
        ring = self._responded(action_id)
        if ring is None:
            return []
        self._ring_channels.pop(ring.channel_id, None)
        if ring.cancelled:
            return []
        self._ring_of.pop((ring.agent_id, ring.call_id), None)
        details = {"agent_id": ring.agent_id, "reason": reason}
        if reason in BUSY_REASONS:
            return [FeedEngine(AgentBusy(ring.agent_id, ring.call_id), "agent busy", details)]
        return [
            FeedEngine(AgentNoAnswer(ring.agent_id, ring.call_id), "agent did not answer", details)
        ]

    def _responded(self, action_id: str) -> _Ring | None:
        ring = self._rings.pop(action_id, None)
        if ring is not None:
            ring.responded = True
            ring.hang_up_when_queued = False  # settled by the response itself
        return ring

    def _connected(self, agent_id: str, call_id: str) -> list[RingCommand]:
        ring = self._ring_of.pop((agent_id, call_id), None)
        if ring is None:
            return []
        self._ring_channels.pop(ring.channel_id, None)
        if ring.hung_up:
            # Answered and gone at once (the Hangup overtook the OriginateResponse).
            return [FeedEngine(CallEnded(agent_id))]
        self._agent_channels[ring.channel_id] = _Tracked(agent_id, ring.server)
        return []

    # ---- call backs ----------------------------------------------------------------

    def _call_back(self, event: CallbackDue, now: float) -> list[RingCommand]:
        action_id = f"ccd-acd-cb-{self._new_id()}"
        channel_id = f"{AGENT_CHANNEL_PREFIX}cb-{self._new_id()}"
        self._callbacks[action_id] = _CallBack(event.call_id, channel_id, now, event.server)
        return [
            OriginateCallback(
                action_id=action_id,
                channel_id=channel_id,
                call_id=event.call_id,
                queue_id=event.queue_id,
                number=event.number,
                joined_at=event.joined_at,
                server=event.server,
            )
        ]

    # ---- hangups and resyncs -------------------------------------------------------

    def _gone(self, uniqueid: str) -> list[RingCommand]:
        out: list[RingCommand] = []
        agent_leg = self._agent_channels.pop(uniqueid, None)
        if agent_leg is not None:
            out.append(FeedEngine(CallEnded(agent_leg.owner)))
        ring = self._ring_channels.pop(uniqueid, None)
        if ring is not None:
            ring.hung_up = True
        callback_of = self._callbacks_answered.pop(uniqueid, None)
        if callback_of is not None:
            out.append(
                FeedEngine(
                    CallbackFailed(callback_of.owner),
                    "call back hung up before reaching the queue",
                    {"call_id": callback_of.owner},
                )
            )
        caller = self._callers.pop(uniqueid, None)
        if caller is not None:
            out.append(FeedEngine(CallerLeft(caller.owner)))
        return out

    def _resynced(
        self,
        live: Mapping[str, str],
        on_call: Mapping[str, str],
        server: str | None,
        now: float,
    ) -> list[RingCommand]:
        """Settle what ccd could not see: callers and agent legs whose Hangup was missed
        (AMI down), Originates whose result was lost, and agents on a call ccd has no
        channel for (restored after a restart) — tied to their interface's live channel,
        or, without one, their call is over. Only what is on ``server`` (None: all)."""

        def resynced(on: str | None) -> bool:
            return server is None or on == server

        out: list[RingCommand] = []
        # Callers first: an agent freed below must not be offered a caller already gone.
        for tracked_by in (self._callers, self._agent_channels, self._callbacks_answered):
            gone = [u for u, t in tracked_by.items() if u not in live and resynced(t.server)]
            for uniqueid in gone:
                out.append(
                    Note("channel hung up while ccd was not looking", {"uniqueid": uniqueid})
                )
                out += self._gone(uniqueid)
        settled_before = now - ORIGINATE_SETTLE_S
        for action_id, call_back in list(self._callbacks.items()):
            if not resynced(call_back.server):
                continue
            if call_back.channel_id not in live and call_back.created < settled_before:
                del self._callbacks[action_id]
                out.append(
                    FeedEngine(
                        CallbackFailed(call_back.call_id),
                        "call back lost with the AMI connection",
                        {"call_id": call_back.call_id},
                    )
                )
        for action_id, ring in list(self._rings.items()):
            if not resynced(ring.server):
                continue
            if ring.cancelled and ring.channel_id not in live and ring.created < settled_before:
                del self._rings[action_id]
                self._ring_channels.pop(ring.channel_id, None)
        ended = {
            command.event.agent_id
            for command in out
            if isinstance(command, FeedEngine) and isinstance(command.event, CallEnded)
        }
        tracked = {leg.owner for leg in self._agent_channels.values()}
        for agent_id, interface in on_call.items():
            if agent_id in tracked or agent_id in ended:
                continue
            prefix = interface + "-"
            channels = [u for u, name in live.items() if name.startswith(prefix)]
            for uniqueid in channels:
                self._agent_channels[uniqueid] = _Tracked(agent_id, server)
            if not channels:
                out.append(
                    FeedEngine(
                        CallEnded(agent_id),
                        "agent call ended while ccd was away",
                        {"agent_id": agent_id},
                    )
                )
        return out
