"""The live model: Asterisk channels by uniqueid, grouped into calls by linkedid.

Pure and synchronous (h11 style): ``LiveModel.apply(event)`` takes one domain event and
returns the call changes it caused. No IO, no clock, no asyncio. Work per event is O(size
of the calls it touches); a call's view (``Call``) is rebuilt only when it changed, and the
view of a channel that did not change is reused. Views are built by setting their slots
directly (``ccd.domain.construct.slot_setters``): the same frozen objects, minus the per-field
``object.__setattr__`` calls of a frozen dataclass's ``__init__``.

Rules
-----
- A call is every channel sharing a ``linkedid``. Its first channel starts it
  (``CallStarted``); any visible change — a channel added or removed, a new snapshot
  (state, caller id, connected line, dialplan position), a bridge entered or left, an
  answer — is a ``CallUpdated``; its last channel hanging up ends it (``CallEnded``,
  carrying the final view: the last channel(s) with their hang-up snapshot).
  An event that repeats what the model already knows changes nothing and emits nothing.
- ``answered_at`` of a channel is the first time it is seen ``UP``; a call's is the
  earliest answer of any of its channels (kept after that channel hangs up).
- ``CallState``: ``BRIDGED`` when any channel of the call shares a bridge with at least one
  other channel (of this call or another: with Local channels, and with ccd's ACD which
  bridges an originated agent channel with the caller, the parties of one conversation can
  have different linkedids or sit in different bridges); otherwise ``UP`` when any channel
  is up; otherwise ``RINGING``.
- Caller: the originator's caller id number and name. The originator is the channel whose
  uniqueid equals the linkedid (Asterisk's linkedid is the oldest channel's uniqueid), or
  the first channel seen when that one is unknown. After the originator hangs up the call
  keeps the caller id it last had.
- Callee: ``ccd.domain.parties.callee_number``, the one rule the CDR builder uses too
  (first that yields a number other than the caller's own):
  1. the originator's connected-line number — Asterisk's own idea of the other party once
     a dial is answered or a connected-line update arrives;
  2. the target of the first ``Dial`` made by a channel of the call (the ``DialString``
     user part, e.g. ``200`` from ``200@trunk`` or ``agent`` from ``agent@ccd-sim``; the
     destination's exten when the dial string is empty). Dials with no calling channel are
     Originates dialing the originator itself and are not counted;
  3. the caller id number of the second channel, unless it is the other half of the
     originator's Local channel pair — for a channel Asterisk dialed out, CallerIDNum is
     the remote (called) party;
  4. the originator's exten (except ``s``, the no-number start extension).
  Until one applies the callee is ``""``; once known it is kept if the evidence goes away
  (e.g. the originator hangs up first).
- Resync (after every AMI (re)connect): ``ResyncStarted`` opens one; each ``ResyncChannel``
  row upserts its channel (a new one gets ``created_at = at - duration`` and, when up,
  ``answered_at = created_at``: the real answer time is not in ``CoreShowChannel``, and the
  start time is the closer bound for a call that rang only briefly) and confirms it;
  ``ResyncFinished`` removes every channel neither confirmed nor created after the resync
  started — ghosts whose ``Hangup`` was lost with the connection. Events interleave with
  the rows: a channel that hung up meanwhile may still show up in a later row, so the last
  ``tombstone_limit`` hung-up uniqueids are remembered and rows for them are ignored.
- ``AmiDisconnected`` marks the model ``stale`` (calls kept, shown as possibly outdated)
  until the next ``ResyncFinished``; it also abandons a resync in progress.
- With several Asterisk servers each of these is per server (the events' ``server``, the
  channels' ``snapshot.server``): a resync of one server never removes another's calls.
  A call's ``server`` is its first channel's.
- A snapshot event (state, caller id, bridge) for an unknown, not hung-up uniqueid adds the
  channel: ccd may have missed its ``Newchannel`` while disconnected. A channel keeps the
  call it joined: when Asterisk moves it onto another linkedid (a bridge), the first is kept.
- ``AgentRingStarted`` (ccd's ACD rings an agent): the agent's channels, originated under
  a linkedid of their own, are channels of the caller's call from their first event
  (``ccd.domain.grouping``) — one customer call is one live call, ringing agents included.
- Dial events only feed the callee rule; ``OriginateResponse``, ``UserEvent`` and
  ``AmiConnected`` do not change the model.
- ``IvrFinished`` (from ccd's IVR) appends its path to the call's ``ivr_path`` — the call
  named by its linkedid, else the call of its uniqueid's channel — and is a
  ``CallUpdated``; for a call no longer live (or an empty path) it changes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from ccd.domain.calls import (
    Call,
    CallChange,
    CallEnded,
    CallStarted,
    CallState,
    CallUpdated,
    LiveChannel,
)
from ccd.domain.cdr import IvrStep
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.construct import new_object, slot_setters
from ccd.domain.events import (
    AgentRingStarted,
    AmiConnected,
    AmiDisconnected,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    DomainEvent,
    IvrFinished,
    OriginateResponded,
    ResyncChannel,
    ResyncFinished,
    ResyncStarted,
    UserEventReceived,
)
from ccd.domain.grouping import CallGrouping
from ccd.domain.parties import callee_number, dial_target

_UP = ChannelState.UP
# "Leave bridge membership as it is": NUL cannot occur in an AMI header value.
_KEEP_BRIDGE = "\0keep"

# What ``core show channels`` prints in its State column (Asterisk's ast_state2str).
STATE_TEXT: dict[ChannelState, str] = {
    ChannelState.DOWN: "Down",
    ChannelState.RESERVED: "Rsrvd",
    ChannelState.OFFHOOK: "OffHook",
    ChannelState.DIALING: "Dialing",
    ChannelState.RING: "Ring",
    ChannelState.RINGING: "Ringing",
    ChannelState.UP: "Up",
    ChannelState.BUSY: "Busy",
    ChannelState.DIALING_OFFHOOK: "Dialing Offhook",
    ChannelState.PRERING: "Pre-ring",
    ChannelState.UNKNOWN: "Unknown",
}


# Views are built for every call change: set their slots directly (ccd.domain.construct).


_snapshot_of = attrgetter("snapshot")
_set_ch_snapshot, _set_ch_created_at, _set_ch_answered_at, _set_ch_bridge_id = slot_setters(
    LiveChannel, ("snapshot", "created_at", "answered_at", "bridge_id")
)
(
    _set_linkedid,
    _set_state,
    _set_started_at,
    _set_answered_at,
    _set_caller_num,
    _set_caller_name,
    _set_callee_num,
    _set_channels,
    _set_ivr_path,
    _set_server,
) = slot_setters(
    Call,
    (
        "linkedid",
        "state",
        "started_at",
        "answered_at",
        "caller_num",
        "caller_name",
        "callee_num",
        "channels",
        "ivr_path",
        "server",
    ),
)


class _Channel:
    __slots__ = ("answered_at", "bridge_id", "created_at", "seq", "snapshot", "view")

    def __init__(
        self,
        snapshot: ChannelSnapshot,
        created_at: datetime,
        answered_at: datetime | None,
        seq: int,
    ) -> None:
        self.snapshot = snapshot
        self.created_at = created_at
        self.answered_at = answered_at
        self.bridge_id: str | None = None
        self.seq = seq
        self.view: LiveChannel | None = None

    def live_view(self) -> LiveChannel:
        view = self.view
        if view is None:
            view = self.view = new_object(LiveChannel)
            _set_ch_snapshot(view, self.snapshot)
            _set_ch_created_at(view, self.created_at)
            _set_ch_answered_at(view, self.answered_at)
            _set_ch_bridge_id(view, self.bridge_id)
        return view


class _Call:
    __slots__ = (
        "answered_at",
        "callee_num",
        "caller_name",
        "caller_num",
        "channels",
        "dial_target",
        "ivr_path",
        "linkedid",
        "originator",
        "started_at",
        "view",
    )

    def __init__(self, linkedid: str, started_at: datetime) -> None:
        self.linkedid = linkedid
        self.channels: dict[str, _Channel] = {}  # creation order, originator first
        self.originator = ""
        self.started_at = started_at
        self.answered_at: datetime | None = None
        self.caller_num = ""
        self.caller_name = ""
        self.callee_num = ""
        self.dial_target = ""
        self.ivr_path: tuple[IvrStep, ...] = ()
        self.view: Call | None = None


class LiveModel:
    """Channels and calls as Asterisk has them; see the module docstring for the rules."""

    def __init__(self, *, tombstone_limit: int = 10_000) -> None:
        self._channels: dict[str, _Channel] = {}
        self._calls: dict[str, _Call] = {}
        self._bridges: dict[str, set[str]] = {}
        self._tombstone_limit = tombstone_limit
        self._tombstone_order: deque[str] = deque()
        self._tombstones: set[str] = set()
        self._seq = 0
        # Per Asterisk server (its name; "" when untagged): each connection drops, resyncs
        # and goes stale on its own, and touches only its own channels.
        self._stale_servers: set[str] = set()
        self._resync_from_seq: dict[str, int] = {}  # open resyncs
        self._confirmed: dict[str, set[str]] = {}
        self._grouping = CallGrouping(limit=tombstone_limit)
        self._handlers: dict[type[Any], Callable[[Any], list[CallChange]]] = {
            ChannelCreated: self._on_created,
            ChannelUpdated: self._on_updated,
            ChannelEnteredBridge: self._on_entered_bridge,
            ChannelLeftBridge: self._on_left_bridge,
            ChannelHungUp: self._on_hung_up,
            DialStarted: self._on_dial_started,
            ResyncStarted: self._on_resync_started,
            ResyncChannel: self._on_resync_channel,
            ResyncFinished: self._on_resync_finished,
            AmiDisconnected: self._on_disconnected,
            IvrFinished: self._on_ivr_finished,
            AgentRingStarted: self._on_agent_ring_started,
        }
        # Known events that never change the model, listed so nothing is silently unknown.
        for passive in (DialEnded, OriginateResponded, UserEventReceived, AmiConnected):
            self._handlers[passive] = self._ignore

    # ---- queries -------------------------------------------------------------------

    def calls(self) -> list[Call]:
        """Every live call, oldest first."""
        views = [self._view(call) for call in self._calls.values()]
        views.sort(key=lambda call: call.started_at)
        return views

    def call(self, linkedid: str) -> Call | None:
        call = self._calls.get(linkedid)
        return None if call is None else self._view(call)

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    @property
    def call_count(self) -> int:
        return len(self._calls)

    @property
    def bridge_count(self) -> int:
        return len(self._bridges)

    @property
    def stale(self) -> bool:
        """True from an AMI disconnect until the next resync finishes (of any server)."""
        return bool(self._stale_servers)

    @property
    def stale_servers(self) -> frozenset[str]:
        """The servers whose calls may be outdated (disconnected, not resynced since)."""
        return frozenset(self._stale_servers)

    @property
    def resyncing(self) -> bool:
        return bool(self._resync_from_seq)

    def snapshot(self) -> set[tuple[str, str]]:
        """(channel name, state text) pairs, comparable with ``core show channels``."""
        return {(ch.snapshot.name, STATE_TEXT[ch.snapshot.state]) for ch in self._channels.values()}

    def uniqueids(self) -> set[str]:
        return set(self._channels)

    def channels(self) -> list[ChannelSnapshot]:
        """Every live channel's snapshot, without building call views."""
        return [channel.snapshot for channel in self._channels.values()]

    def channel(self, uniqueid: str) -> ChannelSnapshot | None:
        channel = self._channels.get(uniqueid)
        return None if channel is None else channel.snapshot

    # ---- events --------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> list[CallChange]:
        """Apply one event; return the call changes it caused, in a stable order."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        return handler(self._grouping.regroup(event)[0])

    def _on_agent_ring_started(self, event: AgentRingStarted) -> list[CallChange]:
        self._grouping.link(event)
        return []

    def _ignore(self, event: object) -> list[CallChange]:
        return []

    def _on_ivr_finished(self, event: IvrFinished) -> list[CallChange]:
        # The IVR runs on a Local channel's second half: its linkedid names the call.
        call = self._calls.get(event.linkedid)
        if call is None:
            channel = self._channels.get(event.uniqueid)
            call = None if channel is None else self._calls.get(channel.snapshot.linkedid)
        if call is None or not event.path:
            return []  # the call already ended: its CDR gets the path, the live view is gone
        call.ivr_path += event.path  # a second visit to the IVR extends the path
        return [CallUpdated(event.at, self._rebuild(call))]

    def _on_created(self, event: ChannelCreated) -> list[CallChange]:
        snap = event.channel
        channel = self._channels.get(snap.uniqueid)
        if channel is not None:
            return self._refresh(channel, snap, event.at)
        # Newchannel is authoritative: a reused uniqueid (Asterisk restarted with the same
        # clock second and counter) must not stay hidden behind its old tombstone.
        self._tombstones.discard(snap.uniqueid)
        return self._add_seen(snap, event.at, None)

    def _on_updated(self, event: ChannelUpdated) -> list[CallChange]:
        snap = event.channel
        channel = self._channels.get(snap.uniqueid)
        if channel is None:
            return self._add_unburied(snap, event.at, None)
        return self._refresh(channel, snap, event.at)

    def _on_entered_bridge(self, event: ChannelEnteredBridge) -> list[CallChange]:
        snap = event.channel
        channel = self._channels.get(snap.uniqueid)
        if channel is None:
            return self._add_unburied(snap, event.at, event.bridge_id)
        return self._refresh(channel, snap, event.at, event.bridge_id)

    def _on_left_bridge(self, event: ChannelLeftBridge) -> list[CallChange]:
        snap = event.channel
        channel = self._channels.get(snap.uniqueid)
        if channel is None:
            return self._add_unburied(snap, event.at, None)
        if channel.bridge_id != event.bridge_id:
            # Left a bridge ccd does not have it in (already moved on): snapshot only.
            return self._refresh(channel, snap, event.at)
        return self._refresh(channel, snap, event.at, None)

    def _on_hung_up(self, event: ChannelHungUp) -> list[CallChange]:
        snap = event.channel
        self._bury(snap.uniqueid)
        channel = self._channels.get(snap.uniqueid)
        if channel is None:
            return []
        self._set_snapshot(channel, snap, event.at)
        return self._remove([channel], event.at)

    def _on_dial_started(self, event: DialStarted) -> list[CallChange]:
        caller = event.caller
        if caller is None:
            return []
        channel = self._channels.get(caller.uniqueid)
        if channel is None:
            return []
        call = self._calls[channel.snapshot.linkedid]
        if call.dial_target:
            return []
        call.dial_target = dial_target(event.dial_string, event.destination.exten)
        if self._callee(call) == call.callee_num:
            return []
        return self._changed([call], event.at)

    def _on_resync_started(self, event: ResyncStarted) -> list[CallChange]:
        self._resync_from_seq[event.server] = self._seq
        self._confirmed[event.server] = set()
        return []

    def _on_resync_channel(self, event: ResyncChannel) -> list[CallChange]:
        snap = event.channel
        uniqueid = snap.uniqueid
        if uniqueid in self._tombstones:
            return []
        confirmed = self._confirmed.get(snap.server)
        if confirmed is not None:
            confirmed.add(uniqueid)
        bridge_id = event.bridge_id or None
        channel = self._channels.get(uniqueid)
        if channel is not None:
            return self._refresh(channel, snap, event.at, bridge_id)
        created_at = event.at - timedelta(seconds=event.duration_s)
        answered_at = created_at if snap.state is _UP else None
        return self._add(snap, event.at, created_at, answered_at, bridge_id)

    def _on_resync_finished(self, event: ResyncFinished) -> list[CallChange]:
        server = event.server
        from_seq = self._resync_from_seq.pop(server, None)
        if from_seq is None:
            return []  # no resync open (abandoned by a disconnect): still stale if it was
        self._stale_servers.discard(server)
        confirmed = self._confirmed.pop(server, set())
        ghosts = [
            channel
            for uniqueid, channel in self._channels.items()
            if channel.seq < from_seq
            and uniqueid not in confirmed
            and channel.snapshot.server == server
        ]
        for ghost in ghosts:
            self._bury(ghost.snapshot.uniqueid)
        return self._remove(ghosts, event.at)

    def _on_disconnected(self, event: AmiDisconnected) -> list[CallChange]:
        self._stale_servers.add(event.server)
        self._resync_from_seq.pop(event.server, None)
        self._confirmed.pop(event.server, None)
        return []

    # ---- mechanics -----------------------------------------------------------------

    def _bury(self, uniqueid: str) -> None:
        if uniqueid in self._tombstones:
            return
        order = self._tombstone_order
        if len(order) >= self._tombstone_limit:
            self._tombstones.discard(order.popleft())
        order.append(uniqueid)
        self._tombstones.add(uniqueid)

    def _add_seen(
        self, snap: ChannelSnapshot, at: datetime, bridge_id: str | None
    ) -> list[CallChange]:
        """Add a channel first seen now (created now, answered now if already up)."""
        return self._add(snap, at, at, at if snap.state is _UP else None, bridge_id)

    def _add_unburied(
        self, snap: ChannelSnapshot, at: datetime, bridge_id: str | None
    ) -> list[CallChange]:
        """``_add_seen`` unless the channel already hung up (a late event about it)."""
        if snap.uniqueid in self._tombstones:
            return []
        return self._add_seen(snap, at, bridge_id)

    def _add(
        self,
        snap: ChannelSnapshot,
        at: datetime,
        created_at: datetime,
        answered_at: datetime | None,
        bridge_id: str | None,
    ) -> list[CallChange]:
        channel = _Channel(snap, created_at, answered_at, self._seq)
        self._seq += 1
        uniqueid = snap.uniqueid
        linkedid = snap.linkedid
        self._channels[uniqueid] = channel
        call = self._calls.get(linkedid)
        is_new = call is None
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid, created_at)
            call.channels[uniqueid] = channel
            call.originator = uniqueid
        else:
            if uniqueid == linkedid and call.originator != linkedid:
                # The true originator showed up late (resync rows come in any order).
                call.channels = {uniqueid: channel, **call.channels}
                call.originator = uniqueid
            else:
                call.channels[uniqueid] = channel
            if created_at < call.started_at:
                call.started_at = created_at
        if call.originator == uniqueid:
            call.caller_num = snap.caller_num
            call.caller_name = snap.caller_name
        if answered_at is not None and (call.answered_at is None or answered_at < call.answered_at):
            call.answered_at = answered_at
        others = self._move_bridge(channel, bridge_id) if bridge_id is not None else []
        view = self._rebuild(call)
        changes: list[CallChange] = [CallStarted(at, view) if is_new else CallUpdated(at, view)]
        if others:
            changes += self._restated(others, call, at)
        return changes

    def _set_snapshot(self, channel: _Channel, snap: ChannelSnapshot, at: datetime) -> bool:
        old = channel.snapshot
        if snap == old:
            return False
        if snap.linkedid != old.linkedid:
            snap = replace(snap, linkedid=old.linkedid)
            if snap == old:
                return False
        channel.snapshot = snap
        channel.view = None
        call = self._calls[old.linkedid]
        if channel.answered_at is None and snap.state is _UP:
            channel.answered_at = at
            if call.answered_at is None or at < call.answered_at:
                call.answered_at = at
        if call.originator == snap.uniqueid:
            call.caller_num = snap.caller_num
            call.caller_name = snap.caller_name
        return True

    def _refresh(
        self,
        channel: _Channel,
        snap: ChannelSnapshot,
        at: datetime,
        bridge_id: str | None = _KEEP_BRIDGE,
    ) -> list[CallChange]:
        """New snapshot and, unless ``bridge_id`` is ``_KEEP_BRIDGE``, new bridge membership."""
        changed = self._set_snapshot(channel, snap, at)
        others: list[_Call] = []
        if bridge_id != _KEEP_BRIDGE and bridge_id != channel.bridge_id:
            others = self._move_bridge(channel, bridge_id)
            changed = True
        if not changed:
            return []
        call = self._calls[channel.snapshot.linkedid]
        changes: list[CallChange] = [CallUpdated(at, self._rebuild(call))]
        if others:
            changes += self._restated(others, call, at)
        return changes

    def _move_bridge(self, channel: _Channel, bridge_id: str | None) -> list[_Call]:
        """Move ``channel`` to ``bridge_id`` (None: no bridge); return the other calls
        sharing the old or new bridge, whose BRIDGED state may have changed."""
        uniqueid = channel.snapshot.uniqueid
        touched: set[str] = set()
        old = channel.bridge_id
        if old is not None:
            members = self._bridges.get(old)
            if members is not None:
                members.discard(uniqueid)
                if members:
                    touched |= members
                else:
                    del self._bridges[old]
        if bridge_id is not None:
            members = self._bridges.get(bridge_id)
            if members is None:
                members = self._bridges[bridge_id] = set()
            touched |= members
            members.add(uniqueid)
        channel.bridge_id = bridge_id
        channel.view = None
        own = channel.snapshot.linkedid
        others: dict[str, _Call] = {}
        for member in touched:
            linkedid = self._channels[member].snapshot.linkedid
            if linkedid != own and linkedid not in others:
                others[linkedid] = self._calls[linkedid]
        return list(others.values())

    def _remove(self, channels: Sequence[_Channel], at: datetime) -> list[CallChange]:
        """Take channels out (hangup or resync ghost): one change per affected call."""
        by_call: dict[str, _Call] = {}
        others: dict[str, _Call] = {}
        for channel in channels:
            linkedid = channel.snapshot.linkedid
            by_call[linkedid] = self._calls[linkedid]
            if channel.bridge_id is not None:
                for other in self._move_bridge(channel, None):
                    others[other.linkedid] = other
        changes: list[CallChange] = []
        for channel in channels:
            call = self._calls[channel.snapshot.linkedid]
            if len(call.channels) == 1:
                # The last one: the final view still shows it, with its hang-up snapshot.
                changes.append(CallEnded(at, self._rebuild(call)))
                del self._calls[call.linkedid]
                by_call.pop(call.linkedid, None)
            del call.channels[channel.snapshot.uniqueid]
            del self._channels[channel.snapshot.uniqueid]
        changes += self._changed(list(by_call.values()), at)
        for linkedid in list(others):
            if linkedid in by_call or linkedid not in self._calls:
                del others[linkedid]
        return changes + self._restated(list(others.values()), None, at)

    def _changed(self, calls: list[_Call], at: datetime) -> list[CallChange]:
        return [CallUpdated(at, self._rebuild(call)) for call in calls]

    def _restated(self, others: list[_Call], skip: _Call | None, at: datetime) -> list[CallChange]:
        """CallUpdated for the other calls whose BRIDGED state changed."""
        changes: list[CallChange] = []
        for call in others:
            if call is skip:
                continue
            view = call.view
            if view is None or view.state != self._state(call):
                changes.append(CallUpdated(at, self._rebuild(call)))
        return changes

    def _state(self, call: _Call) -> CallState:
        up = False
        bridges = self._bridges
        for channel in call.channels.values():
            bridge_id = channel.bridge_id
            if bridge_id is not None and len(bridges[bridge_id]) > 1:
                return CallState.BRIDGED
            if channel.snapshot.state is _UP:
                up = True
        return CallState.UP if up else CallState.RINGING

    def _view(self, call: _Call) -> Call:
        view = call.view
        return view if view is not None else self._rebuild(call)

    def _rebuild(self, call: _Call) -> Call:
        call.callee_num = callee = self._callee(call)
        view = call.view = new_object(Call)
        _set_linkedid(view, call.linkedid)
        _set_state(view, self._state(call))
        _set_started_at(view, call.started_at)
        _set_answered_at(view, call.answered_at)
        _set_caller_num(view, call.caller_num)
        _set_caller_name(view, call.caller_name)
        _set_callee_num(view, callee)
        _set_channels(
            view,
            tuple([channel.view or channel.live_view() for channel in call.channels.values()]),
        )
        _set_ivr_path(view, call.ivr_path)
        originator = call.channels.get(call.originator)
        if originator is None:
            originator = next(iter(call.channels.values()), None)
        _set_server(view, "" if originator is None else originator.snapshot.server)
        return view

    def _callee(self, call: _Call) -> str:
        originator = call.channels.get(call.originator)
        return callee_number(
            call.caller_num,
            None if originator is None else originator.snapshot,
            call.dial_target,
            map(_snapshot_of, call.channels.values()),
            call.callee_num,
        )
