"""Which customer call a channel belongs to. Pure.

Asterisk groups channels into calls by ``linkedid``, but the agent channels ccd's ACD
originates start under a linkedid of their own and join the caller's only when bridged —
an unanswered ring never does. ``AgentRingStarted`` says which call such a linkedid belongs
to; ``CallGrouping.regroup`` rewrites the snapshots of an event so that every consumer
keyed by linkedid (the live model, the CDR builder) sees the agent's channels as legs of
the caller's call from their first event on.

Bounded: the oldest links are forgotten past ``limit`` (a ring lasts seconds; the limit is
far more than the rings in flight at once).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from ccd.domain.channels import ChannelSnapshot
from ccd.domain.events import (
    AgentRingStarted,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHeld,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUnheld,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    HangupRequested,
    ResyncChannel,
)

_OneChannel = (
    ChannelCreated,
    ChannelUpdated,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    ChannelHungUp,
    ChannelHeld,
    ChannelUnheld,
    HangupRequested,
    ResyncChannel,
)


class CallGrouping:
    def __init__(self, *, limit: int = 10_000) -> None:
        self._hosts: OrderedDict[str, AgentRingStarted] = OrderedDict()
        self._limit = limit

    def link(self, ring: AgentRingStarted) -> None:
        """From now on channels under ``ring.leg_linkedid`` are legs of ``ring.linkedid``."""
        if ring.leg_linkedid == ring.linkedid:
            return
        self._hosts[ring.leg_linkedid] = ring
        self._hosts.move_to_end(ring.leg_linkedid)
        while len(self._hosts) > self._limit:
            self._hosts.popitem(last=False)

    def ring_of(self, linkedid: str) -> AgentRingStarted | None:
        """The agent ring whose channels carry (or carried) ``linkedid``, if any."""
        return self._hosts.get(linkedid)

    def regroup(self, event: object) -> tuple[object, AgentRingStarted | None]:
        """``event`` with every channel snapshot moved onto its customer call's linkedid,
        and the agent ring it was moved for (the same event and None when nothing moves:
        the common case costs one lookup)."""
        if not self._hosts:
            return event, None
        if isinstance(event, _OneChannel):
            ring = self._hosts.get(event.channel.linkedid)
            if ring is None:
                return event, None
            return replace(event, channel=_onto(event.channel, ring)), ring
        if isinstance(event, DialStarted | DialEnded):
            caller = event.caller
            ring = self._hosts.get(event.destination.linkedid)
            if ring is None and caller is not None:
                ring = self._hosts.get(caller.linkedid)
            if ring is None:
                return event, None
            return replace(
                event,
                caller=None if caller is None else self._moved(caller),
                destination=self._moved(event.destination),
            ), ring
        return event, None

    def _moved(self, snap: ChannelSnapshot) -> ChannelSnapshot:
        ring = self._hosts.get(snap.linkedid)
        return snap if ring is None else _onto(snap, ring)


def _onto(snap: ChannelSnapshot, ring: AgentRingStarted) -> ChannelSnapshot:
    return replace(snap, linkedid=ring.linkedid)


def channel_snapshots(event: object) -> tuple[ChannelSnapshot, ...]:
    """The channel snapshots an event carries (none for events about no channel)."""
    if isinstance(event, _OneChannel):
        return (event.channel,)
    if isinstance(event, DialStarted | DialEnded):
        if event.caller is None:
            return (event.destination,)
        return (event.caller, event.destination)
    return ()
