"""Asterisk 22 AMI event frames → ccd domain events. Pure: no IO, no clock, no asyncio.

``translate(frame, now)`` takes one decoded event frame (header names exactly as Asterisk
writes them) and returns a domain event, or ``None`` when the frame is irrelevant to ccd
(``VarSet``, ``Newexten``, ``RTCP*`` … — most of the traffic) or lacks a header ccd needs.
It never raises, whatever the frame holds: AMI input is untrusted.

The event name is looked up in a dict before any other header is read, so the common
"not interesting" case costs one ``get`` and one dict lookup.

Conventions:
- ``at`` is the frame's ``Timestamp`` (``timestampevents=yes``: seconds.micro since the
  epoch) as tz-aware UTC, else ``now``.
- Asterisk writes ``<unknown>`` for an empty caller/connected-line number or name; those
  become ``""`` so "unknown" has one spelling in ccd.
- A channel snapshot needs ``Channel``, ``Uniqueid`` and ``Linkedid`` (non-empty); a frame
  without them yields ``None``. A missing or odd ``ChannelState`` is ``UNKNOWN``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import itemgetter

from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.construct import new_object, slot_setters
from ccd.domain.events import (
    AsteriskCdrReceived,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHeld,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUnheld,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    DomainEvent,
    HangupRequested,
    OriginateResponded,
    ResyncChannel,
    UserEventReceived,
)

Frame = Mapping[str, str]

_UNKNOWN = "<unknown>"

# Asterisk sends the state number as text: a dict hit avoids int() + IntEnum lookup.
_STATES: dict[str, ChannelState] = {str(int(s)): s for s in ChannelState}

# Headers of the channel snapshot Asterisk prepends to channel events; what is left of a
# UserEvent after removing these (and the envelope) is the dialplan's own body.
_SNAPSHOT_HEADERS = frozenset(
    {
        "Channel",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Language",
        "AccountCode",
        "Context",
        "Exten",
        "Priority",
        "Uniqueid",
        "Linkedid",
    }
)
_ENVELOPE_HEADERS = frozenset({"Event", "Privilege", "Timestamp", "SystemName", "UserEvent"})
_USEREVENT_SKIP = _SNAPSHOT_HEADERS | _ENVELOPE_HEADERS


def _event_time(frame: Frame, now: datetime) -> datetime:
    raw = frame.get("Timestamp")
    if not raw:
        return now
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except (ValueError, OverflowError, OSError):
        return now


def _state(raw: str | None) -> ChannelState:
    if raw is None:
        return ChannelState.UNKNOWN
    state = _STATES.get(raw)
    if state is not None:
        return state
    try:
        return ChannelState.parse(raw)
    except (ValueError, TypeError):
        return ChannelState.UNKNOWN


def _party(raw: str | None) -> str:
    if raw is None or raw == _UNKNOWN:
        return ""
    return raw


def _int(raw: str | None, default: int = 0) -> int:
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        return default


_SNAPSHOT_FIELDS = (
    "Uniqueid",
    "Linkedid",
    "Channel",
    "ChannelState",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Context",
    "Exten",
)
# One C call fetches all ten headers of a complete snapshot (the normal case); a frame
# missing any of them takes the header-by-header path.
_SNAPSHOT_GETTERS = {
    prefix: itemgetter(*(prefix + field for field in _SNAPSHOT_FIELDS)) for prefix in ("", "Dest")
}


(
    _set_uniqueid,
    _set_linkedid,
    _set_name,
    _set_state,
    _set_caller_num,
    _set_caller_name,
    _set_connected_num,
    _set_connected_name,
    _set_context,
    _set_exten,
    _set_server,
) = slot_setters(
    ChannelSnapshot,
    (
        "uniqueid",
        "linkedid",
        "name",
        "state",
        "caller_num",
        "caller_name",
        "connected_num",
        "connected_name",
        "context",
        "exten",
        "server",
    ),
)


def _new_snapshot(
    uniqueid: str,
    linkedid: str,
    name: str,
    state: ChannelState,
    caller_num: str,
    caller_name: str,
    connected_num: str,
    connected_name: str,
    context: str,
    exten: str,
) -> ChannelSnapshot:
    """``ChannelSnapshot(...)``, the same frozen object, in about a third of the time: a
    frozen dataclass's generated ``__init__`` calls ``object.__setattr__`` per field
    (~2.5 µs for these ten), one per relevant frame and per dial party."""
    snap: ChannelSnapshot = new_object(ChannelSnapshot)
    _set_uniqueid(snap, uniqueid)
    _set_linkedid(snap, linkedid)
    _set_name(snap, name)
    _set_state(snap, state)
    _set_caller_num(snap, caller_num)
    _set_caller_name(snap, caller_name)
    _set_connected_num(snap, connected_num)
    _set_connected_name(snap, connected_name)
    _set_context(snap, context)
    _set_exten(snap, exten)
    _set_server(snap, "")
    return snap


def _snapshot(frame: Frame, prefix: str = "") -> ChannelSnapshot | None:
    try:
        fields = _SNAPSHOT_GETTERS[prefix](frame)
    except KeyError:
        return _partial_snapshot(frame, prefix)
    uniqueid, linkedid, name, state, cid_num, cid_name, conn_num, conn_name, context, exten = fields
    if not uniqueid or not linkedid or not name:
        return None
    return _new_snapshot(
        uniqueid,
        linkedid,
        name,
        _state(state),
        "" if cid_num == _UNKNOWN else cid_num,
        "" if cid_name == _UNKNOWN else cid_name,
        "" if conn_num == _UNKNOWN else conn_num,
        "" if conn_name == _UNKNOWN else conn_name,
        context,
        exten,
    )


def _partial_snapshot(frame: Frame, prefix: str) -> ChannelSnapshot | None:
    get = frame.get
    uniqueid = get(prefix + "Uniqueid")
    linkedid = get(prefix + "Linkedid")
    name = get(prefix + "Channel")
    if not uniqueid or not linkedid or not name:
        return None
    return ChannelSnapshot(
        uniqueid,
        linkedid,
        name,
        _state(get(prefix + "ChannelState")),
        _party(get(prefix + "CallerIDNum")),
        _party(get(prefix + "CallerIDName")),
        _party(get(prefix + "ConnectedLineNum")),
        _party(get(prefix + "ConnectedLineName")),
        get(prefix + "Context") or "",
        get(prefix + "Exten") or "",
    )


def _duration_s(raw: str | None) -> int:
    """``CoreShowChannel`` ``Duration`` is ``HH:MM:SS`` (hours may exceed 24)."""
    if not raw:
        return 0
    try:
        if ":" not in raw:
            return max(0, int(raw))
        total = 0
        for part in raw.split(":"):
            total = total * 60 + int(part)
        return max(0, total)
    except ValueError:
        return 0


def _new_channel(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return ChannelCreated(_event_time(frame, now), snap)


def _channel_update(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return ChannelUpdated(_event_time(frame, now), snap)


def _bridge_enter(frame: Frame, now: datetime) -> DomainEvent | None:
    bridge_id = frame.get("BridgeUniqueid")
    snap = _snapshot(frame)
    if snap is None or not bridge_id:
        return None
    return ChannelEnteredBridge(_event_time(frame, now), snap, bridge_id)


def _bridge_leave(frame: Frame, now: datetime) -> DomainEvent | None:
    bridge_id = frame.get("BridgeUniqueid")
    snap = _snapshot(frame)
    if snap is None or not bridge_id:
        return None
    return ChannelLeftBridge(_event_time(frame, now), snap, bridge_id)


def _hangup(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return ChannelHungUp(
        _event_time(frame, now), snap, _int(frame.get("Cause")), frame.get("Cause-txt") or ""
    )


def _hangup_request(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return HangupRequested(_event_time(frame, now), snap, frame.get("Event") == "SoftHangupRequest")


def _hold(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return ChannelHeld(_event_time(frame, now), snap)


def _unhold(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return ChannelUnheld(_event_time(frame, now), snap)


def _dial_begin(frame: Frame, now: datetime) -> DomainEvent | None:
    destination = _snapshot(frame, "Dest")
    if destination is None:
        return None
    # An Originate dials with no calling channel: the unprefixed headers are then absent.
    return DialStarted(
        _event_time(frame, now), _snapshot(frame), destination, frame.get("DialString") or ""
    )


def _dial_end(frame: Frame, now: datetime) -> DomainEvent | None:
    destination = _snapshot(frame, "Dest")
    status = frame.get("DialStatus")
    if destination is None or not status:
        return None
    return DialEnded(_event_time(frame, now), _snapshot(frame), destination, status)


def _originate_response(frame: Frame, now: datetime) -> DomainEvent | None:
    get = frame.get
    action_id = get("ActionID")
    response = get("Response")
    if not action_id or not response:
        return None
    uniqueid = get("Uniqueid") or ""
    if uniqueid == "<null>":  # what Asterisk writes when no channel was created
        uniqueid = ""
    return OriginateResponded(
        _event_time(frame, now),
        action_id,
        response == "Success",
        _int(get("Reason")),
        get("Channel") or "",
        uniqueid,
    )


def _user_event(frame: Frame, now: datetime) -> DomainEvent | None:
    name = frame.get("UserEvent")
    if not name:
        return None
    body = {key: value for key, value in frame.items() if key not in _USEREVENT_SKIP}
    return UserEventReceived(
        _event_time(frame, now),
        name,
        frame.get("Uniqueid") or "",
        frame.get("Linkedid") or "",
        body,
    )


def _core_show_channel(frame: Frame, now: datetime) -> DomainEvent | None:
    snap = _snapshot(frame)
    if snap is None:
        return None
    return ResyncChannel(
        _event_time(frame, now),
        snap,
        frame.get("BridgeId") or "",
        _duration_s(frame.get("Duration")),
    )


def _cdr(frame: Frame, now: datetime) -> DomainEvent | None:
    # Stored raw for reconciliation: every header, as Asterisk wrote it (linkedid and
    # sequence appear only when cdr_manager.conf [mappings] adds them).
    return AsteriskCdrReceived(_event_time(frame, now), dict(frame))


_Translator = Callable[[Frame, datetime], DomainEvent | None]

_TRANSLATORS: dict[str, _Translator] = {
    "Newchannel": _new_channel,
    "Newstate": _channel_update,
    "NewCallerid": _channel_update,
    "NewConnectedLine": _channel_update,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "Hangup": _hangup,
    "HangupRequest": _hangup_request,
    "SoftHangupRequest": _hangup_request,
    "Hold": _hold,
    "Unhold": _unhold,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "OriginateResponse": _originate_response,
    "UserEvent": _user_event,
    "CoreShowChannel": _core_show_channel,
    "Cdr": _cdr,
}

RELEVANT_EVENTS = frozenset(_TRANSLATORS)
"""Event names ``translate`` can turn into a domain event (for AMI ``eventfilter`` docs)."""


def translate(frame: Frame, now: datetime, server: str = "") -> DomainEvent | None:
    """One AMI event frame → a domain event, or None (irrelevant or incomplete frame).
    ``server``: the configured Asterisk server the frame came from, set on the event's
    channel snapshots (and on the events that carry it themselves)."""
    translator = _TRANSLATORS.get(frame.get("Event", ""))
    if translator is None:
        return None
    try:
        event = translator(frame, now)
    except (TypeError, AttributeError):
        # Only reachable with non-str values from a caller that broke the Frame contract.
        return None
    if server and event is not None:
        _tag_server(event, server)
    return event


_SERVER_TAGGED = (OriginateResponded, UserEventReceived, AsteriskCdrReceived)


def _tag_server(event: DomainEvent, server: str) -> None:
    # The event and its snapshots were built just now by this module and nobody else
    # holds them yet: setting the slot is the cheapest way to tag them.
    if isinstance(event, DialStarted | DialEnded):
        if event.caller is not None:
            _set_server(event.caller, server)
        _set_server(event.destination, server)
    elif isinstance(event, _SERVER_TAGGED):
        object.__setattr__(event, "server", server)
    else:
        channel = getattr(event, "channel", None)
        if isinstance(channel, ChannelSnapshot):
            _set_server(channel, server)
