"""The ring tracker with several Asterisk servers: commands say which server to act on,
and a resync of one server settles only what is on that server."""

from __future__ import annotations

import itertools

from ccd.acd.engine import CallbackFailed, CallEnded, CallerLeft
from ccd.acd.rings import (
    CallbackDue,
    CallerConnectedToAgent,
    CallerWaiting,
    FeedEngine,
    HangUp,
    OriginateAnswered,
    OriginateCallback,
    OriginateQueued,
    OriginateRing,
    Resynced,
    RingCancelled,
    RingCommand,
    RingRequested,
    RingTracker,
)

NOW = 1_764_064_000.0
LATER = NOW + 60


def tracker() -> RingTracker:
    counter = itertools.count(1)
    return RingTracker(new_id=lambda: f"id{next(counter)}")


def ring(t: RingTracker, agent_id: str, call_id: str, server: str) -> OriginateRing:
    [command] = t.handle(
        RingRequested(agent_id, call_id, f"PJSIP/{agent_id}", "PJSIP/t-1", 15.0, server=server),
        NOW,
    )
    assert isinstance(command, OriginateRing)
    return command


def connected(t: RingTracker, agent_id: str, call_id: str, server: str) -> OriginateRing:
    command = ring(t, agent_id, call_id, server)
    t.handle(OriginateQueued(command.action_id), NOW)
    t.handle(OriginateAnswered(command.action_id, command.channel_id), NOW)
    t.handle(CallerConnectedToAgent(agent_id, call_id), NOW)
    return command


def fed(commands: list[RingCommand]) -> list[object]:
    return [c.event for c in commands if isinstance(c, FeedEngine)]


def test_rings_call_backs_and_their_hangups_name_the_server() -> None:
    t = tracker()
    command = ring(t, "w1", "c1", "west")
    assert command.server == "west"
    t.handle(OriginateQueued(command.action_id), NOW)
    assert t.handle(RingCancelled("w1", "c1"), NOW) == [HangUp(command.channel_id, server="west")]
    [call_back] = t.handle(CallbackDue("c2", "q", "5551234", NOW, server="west"), NOW)
    assert isinstance(call_back, OriginateCallback)
    assert call_back.server == "west"


def test_a_resync_of_one_server_leaves_the_other_servers_calls_alone() -> None:
    t = tracker()
    t.handle(CallerWaiting("east-1.1", "ce", server="east"), NOW)
    t.handle(CallerWaiting("west-1.1", "cw", server="west"), NOW)
    connected(t, "e1", "ce2", "east")
    connected(t, "w1", "cw2", "west")
    [cb] = t.handle(CallbackDue("cw3", "q", "5551234", NOW, server="west"), NOW)
    assert isinstance(cb, OriginateCallback)

    # East came back with none of these channels: only east's caller and agent leg.
    out = t.handle(Resynced({}, on_call={}, server="east"), LATER)
    assert fed(out) == [CallerLeft("ce"), CallEnded("e1")]
    assert t.sizes()["callers"] == 1
    assert t.sizes()["agent_channels"] == 1
    assert t.sizes()["callbacks"] == 1

    out = t.handle(Resynced({}, on_call={}, server="west"), LATER)
    assert fed(out) == [CallerLeft("cw"), CallEnded("w1"), CallbackFailed("cw3")]


def test_a_resync_without_a_server_settles_every_server() -> None:
    t = tracker()
    t.handle(CallerWaiting("east-1.1", "ce", server="east"), NOW)
    t.handle(CallerWaiting("west-1.1", "cw", server="west"), NOW)
    out = t.handle(Resynced({}, on_call={}), LATER)
    assert fed(out) == [CallerLeft("ce"), CallerLeft("cw")]


def test_an_agent_restored_on_a_call_is_tied_to_its_servers_channel() -> None:
    t = tracker()
    live = {"west-1.5": "PJSIP/w1-00000005"}
    assert t.handle(Resynced(live, on_call={"w1": "PJSIP/w1"}, server="west"), NOW) == []
    # A resync of east does not touch it (west's channel is not in east's list).
    assert t.handle(Resynced({}, on_call={}, server="east"), LATER) == []
    out = t.handle(Resynced({}, on_call={}, server="west"), LATER)
    assert fed(out) == [CallEnded("w1")]
