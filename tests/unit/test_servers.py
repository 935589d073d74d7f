"""Several Asterisk servers (pure parts): events tagged with their server, the live model
resyncing each server on its own, and the ``systemname`` rule for unique call ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ccd.ami.translate import translate
from ccd.cdr.builder import CdrBuilder
from ccd.cdr.codec import call_fields, call_from_json, decode, encode
from ccd.domain.calls import CallEnded
from ccd.domain.events import (
    AmiDisconnected,
    ChannelCreated,
    DialStarted,
    DomainEvent,
    OriginateResponded,
    ResyncFinished,
    ResyncStarted,
    UserEventReceived,
)
from ccd.domain.servers import system_name_problems
from ccd.live.model import LiveModel
from tests.unit.amitraffic import Chan, Traffic

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def channel(name: str, uniqueid: str) -> Chan:
    return Chan(name, uniqueid, uniqueid, state=4, caller_num="100", exten="600")


def event(frame: dict[str, str], server: str) -> DomainEvent:
    translated = translate(frame, NOW, server)
    assert translated is not None
    return translated


def test_translate_tags_snapshots_and_events_with_their_server() -> None:
    traffic = Traffic()
    caller = channel("PJSIP/alice-1", "paris-1.1")
    agent = channel("PJSIP/bob-2", "paris-1.2")
    created = event(traffic.newchannel(caller), "paris")
    assert isinstance(created, ChannelCreated)
    assert created.channel.server == "paris"
    dial = event(traffic.dial_begin(caller, agent, "PJSIP/bob"), "paris")
    assert isinstance(dial, DialStarted)
    assert dial.caller is not None
    assert (dial.caller.server, dial.destination.server) == ("paris", "paris")
    originated = event(traffic.originate_response("a1", agent), "lyon")
    assert isinstance(originated, OriginateResponded)
    assert originated.server == "lyon"
    user = event(traffic.user_event(caller, "CcdQueue"), "lyon")
    assert isinstance(user, UserEventReceived)
    assert user.server == "lyon"


def test_translate_without_a_server_leaves_it_empty() -> None:
    created = translate(Traffic().newchannel(channel("PJSIP/a-1", "1.1")), NOW)
    assert isinstance(created, ChannelCreated)
    assert created.channel.server == ""


def test_a_call_carries_the_server_of_its_channels() -> None:
    model = LiveModel()
    traffic = Traffic()
    model.apply(event(traffic.newchannel(channel("PJSIP/a-1", "paris-1.1")), "paris"))
    model.apply(event(traffic.newchannel(channel("PJSIP/b-1", "lyon-1.1")), "lyon"))
    servers = {call.linkedid: call.server for call in model.calls()}
    assert servers == {"paris-1.1": "paris", "lyon-1.1": "lyon"}


def test_one_server_resyncing_never_removes_another_servers_calls() -> None:
    model = LiveModel()
    traffic = Traffic()
    model.apply(event(traffic.newchannel(channel("PJSIP/a-1", "paris-1.1")), "paris"))
    model.apply(event(traffic.newchannel(channel("PJSIP/b-1", "lyon-1.1")), "lyon"))
    ghost = channel("PJSIP/c-1", "lyon-1.2")
    model.apply(event(traffic.newchannel(ghost), "lyon"))

    model.apply(AmiDisconnected(NOW, "connection lost", server="lyon"))
    assert model.stale
    assert model.stale_servers == frozenset({"lyon"})
    model.apply(ResyncStarted(NOW, server="lyon"))
    model.apply(event(traffic.core_show_channel(channel("PJSIP/b-1", "lyon-1.1")), "lyon"))
    changes = model.apply(ResyncFinished(NOW, channel_count=1, server="lyon"))

    assert [type(change) for change in changes] == [CallEnded]
    assert changes[0].call.linkedid == "lyon-1.2"
    assert sorted(call.linkedid for call in model.calls()) == ["lyon-1.1", "paris-1.1"]
    assert not model.stale


def test_a_resync_finishing_on_one_server_leaves_another_stale() -> None:
    model = LiveModel()
    model.apply(AmiDisconnected(NOW, "lost", server="paris"))
    model.apply(AmiDisconnected(NOW, "lost", server="lyon"))
    model.apply(ResyncStarted(NOW, server="lyon"))
    model.apply(ResyncFinished(NOW, channel_count=0, server="lyon"))
    assert model.stale_servers == frozenset({"paris"})


def test_one_server_needs_no_system_name() -> None:
    assert system_name_problems({"default": ""}) == []


def test_several_servers_need_distinct_non_empty_system_names() -> None:
    assert system_name_problems({"paris": "paris", "lyon": "lyon"}) == []
    assert system_name_problems({"paris": "pbx", "lyon": "pbx"}) == [
        "ami lyon: same systemname 'pbx' as server paris; each server needs its own, "
        "or call ids can collide"
    ]
    assert system_name_problems({"paris": "", "lyon": "lyon"}) == [
        "ami paris: asterisk.conf has no systemname; with several servers each needs its "
        "own, or call ids can collide"
    ]


def test_a_server_not_read_yet_is_left_to_its_connection_state() -> None:
    assert system_name_problems({"paris": None, "lyon": "lyon"}) == []


# ---- CDRs ---------------------------------------------------------------------------


def test_a_cdr_carries_its_server_and_round_trips_the_spool() -> None:
    builder = CdrBuilder()
    traffic = Traffic()
    caller = channel("PJSIP/alice-1", "lyon-1.1")
    builder.apply(event(traffic.newchannel(caller), "lyon"))
    [record] = builder.apply(event(traffic.hangup(caller), "lyon"))
    assert record.server == "lyon"
    assert call_fields(record)["server"] == "lyon"
    assert decode(encode(record)) == record
    spooled = json.loads(encode(record))["call"]
    del spooled["server"]  # a record spooled before servers existed
    assert call_from_json(spooled).server == ""


def test_one_servers_resync_never_ends_another_servers_legs() -> None:
    builder = CdrBuilder()
    traffic = Traffic()
    on_paris = channel("PJSIP/alice-1", "paris-1.1")
    on_lyon = channel("PJSIP/bob-1", "lyon-1.1")
    builder.apply(event(traffic.newchannel(on_paris), "paris"))
    builder.apply(event(traffic.newchannel(on_lyon), "lyon"))
    builder.apply(AmiDisconnected(NOW, "lost", server="lyon"))
    builder.apply(ResyncStarted(NOW, server="lyon"))
    records = builder.apply(ResyncFinished(NOW, channel_count=0, server="lyon"))
    assert [(record.linkedid, record.server) for record in records] == [("lyon-1.1", "lyon")]
    [paris_record] = builder.apply(event(traffic.hangup(on_paris), "paris"))
    assert paris_record.server == "paris"
    assert paris_record.hangup_cause == 16
