"""DialerService with several Asterisk servers: each campaign dials through its own
server's connection, reaches only the agents logged in on that server, and a resync (or an
outage) of one server settles only the calls placed on it.

Two fake Asterisk servers, ``default`` (the first: a campaign without a server) and
``west``, each a ``FakeAmi`` of its own; the ACD's agents each on one of them. Real
SQLite stores, a FakeClock; what is checked is what each server was sent, which agents the
ACD was asked to reserve, and the attempt rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.ami.actions import HangupAction, RedirectAction, SetVariableAction
from ccd.db.dialer_attempts import AttemptStore, StoredAttempt
from ccd.db.dialer_store import ContactStatus, DialerStore
from ccd.dialer.model import Campaign, CampaignState, Contact, DialMode, Outcome
from ccd.dialer.retries import Dial
from ccd.dialer.service import DialerRefused
from ccd.domain.contract import AmdStatus
from ccd.domain.events import ResyncFinished
from ccd.webhooks.payloads import body, from_message
from tests.integration.dialerservicefakes import (
    DEFAULT_SERVER,
    REASON_BUSY,
    DialerHarness,
    FakeAgents,
    FakeAmi,
    TrackingClock,
    connect_actions,
)

# A Wednesday, 10:00 in New York.
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
NEW_YORK = "America/New_York"
WEST = "west"

# Both campaigns name both agents; only the one on the campaign's server may take its calls.
SPRING = Campaign(
    id="spring",
    name="Spring (default server)",
    mode=DialMode.PROGRESSIVE,
    caller_id="5000",
    agent_ids=frozenset({"1001", "2001"}),
    state=CampaignState.RUNNING,
)
AUTUMN = replace(SPRING, id="autumn", name="Autumn (west)", server=WEST)
AGENT_SERVERS = {"1001": DEFAULT_SERVER, "2001": WEST}


def contact(campaign: Campaign, index: int) -> Contact:
    return Contact(
        id=f"{campaign.id}-{index}",
        campaign_id=campaign.id,
        number=number(campaign, index),
        time_zones=(NEW_YORK,),
    )


def number(campaign: Campaign, index: int) -> str:
    prefix = "1212" if campaign.server is None else "1415"
    return f"+{prefix}555{index:04d}"


Make = Callable[..., Awaitable[DialerHarness]]


@pytest.fixture
async def make(engine: AsyncEngine) -> AsyncIterator[Make]:
    """``await make([(campaign, contact count), ...], agents={agent: server})``: the
    campaigns and contacts stored, the service built over the servers ``default`` and
    ``west`` (not started)."""
    made: list[DialerHarness] = []

    async def build(
        campaigns: Iterable[tuple[Campaign, int]],
        agents: Mapping[str, str] = AGENT_SERVERS,
    ) -> DialerHarness:
        clock = TrackingClock(T0)
        store = DialerStore(engine, clock=clock)
        for campaign, count in campaigns:
            await store.put_campaign(campaign)
            await store.add_contacts(campaign.id, [contact(campaign, i) for i in range(count)])
        harness = DialerHarness(
            clock=clock,
            engine=engine,
            store=store,
            attempts=AttemptStore(engine, clock=clock),
            agents=FakeAgents(agents, servers=agents),
            others={WEST: FakeAmi()},
        )
        made.append(harness)
        return harness

    yield build
    for harness in made:
        await harness.stop()


def west(h: DialerHarness) -> FakeAmi:
    return h.others[WEST]


async def both_resynced(h: DialerHarness, seconds: float = 2.0) -> None:
    h.resynced = True
    h.others_resynced.add(WEST)
    await h.run_for(seconds)


async def only_attempt(h: DialerHarness, contact_id: str) -> StoredAttempt:
    [attempt] = await h.attempts.attempts_of(contact_id)
    return attempt


def numbers(ami: FakeAmi) -> list[str]:
    return sorted(ami.numbers())


def channel_ids(ami: FakeAmi) -> set[str]:
    return {o.channel_id or "" for o in ami.originates}


# ---- each campaign through its own server, with its own server's agents ---------------------


async def test_each_campaign_dials_through_its_server_with_that_servers_agent_only(
    make: Make,
) -> None:
    h = await make([(SPRING, 2), (AUTUMN, 2)])
    await h.start()
    await both_resynced(h)

    # One call each (progressive: one agent on each server), on its own server only.
    assert h.ami.numbers() == [number(SPRING, 0)]
    assert west(h).numbers() == [number(AUTUMN, 0)]
    spring_call = h.ami.channel_of(number(SPRING, 0))
    autumn_call = west(h).channel_of(number(AUTUMN, 0))
    assert h.agents.reserved() == {"1001": spring_call, "2001": autumn_call}

    # West's call is answered: its agent is rung from west's Asterisk, nothing on default.
    default_before = list(h.ami.written)
    await h.feed(h.answered(autumn_call))
    assert west(h).written[1:] == connect_actions(autumn_call, "PJSIP/2001")
    assert h.ami.written == default_before
    leg = h.agent_leg(autumn_call, "2001")
    await h.feed(h.dial_started(leg), h.dial_ended(leg))
    assert (await only_attempt(h, "autumn-0")).agent_id == "2001"

    # The agent hangs up: nothing is sent anywhere (the customer leg follows by itself),
    # and the customer's hang-up ends the attempt; the other server's call is untouched.
    await h.feed(h.hung_up(leg), h.hung_up(autumn_call))
    done = await only_attempt(h, "autumn-0")
    assert done.outcome is Outcome.ANSWERED
    assert (await only_attempt(h, "spring-0")).outcome is None
    assert not any(isinstance(a, HangupAction) for a in h.ami.written)


async def test_a_campaign_whose_server_has_no_free_agent_dials_nothing_though_others_are_free(
    make: Make,
) -> None:
    # Three agents on the default server, none on west: west's campaign has nobody.
    agents = {"1001": DEFAULT_SERVER, "1002": DEFAULT_SERVER, "1003": DEFAULT_SERVER}
    autumn = replace(AUTUMN, agent_ids=frozenset(agents))
    h = await make([(autumn, 3)], agents=agents)
    await h.start()
    await both_resynced(h, 5.0)
    assert west(h).written == []
    assert h.ami.written == []
    assert h.agents.calls == []
    assert (await h.store.get_contact("autumn-0")) is not None
    live = h.service.live("autumn")
    assert live is not None
    # The live view counts only the campaign server's agents (none logged in there).
    assert live["agents"] == {}


async def test_progressive_pacing_counts_only_the_campaign_servers_free_agents(
    make: Make,
) -> None:
    agents = {"1001": DEFAULT_SERVER, "1002": DEFAULT_SERVER, "2001": WEST}
    autumn = replace(AUTUMN, agent_ids=frozenset(agents))
    h = await make([(autumn, 5)], agents=agents)
    await h.start()
    await both_resynced(h, 5.0)
    # Three free agents, one of them on west: one call, not three.
    assert west(h).numbers() == [number(autumn, 0)]
    assert h.agents.reserved() == {"2001": west(h).channel_of(number(autumn, 0))}
    live = h.service.live("autumn")
    assert live is not None
    assert live["agents"] == {"reserved": 1}


async def test_a_call_back_owned_by_an_agent_on_another_server_waits(make: Make) -> None:
    h = await make([(AUTUMN, 1)])
    # An earlier call ended with agent 1001's call back, due now; 1001 is on the default
    # server, the campaign calls through west.
    earlier = await h.attempts.claim("autumn-0", channel_id="ccd-dial-earlier", now=h.now() - 7200)
    await h.attempts.finish(
        earlier.attempt_id,
        outcome=Outcome.ANSWERED,
        ended_at=h.now() - 7000,
        next=Dial(at=h.now(), due=h.now(), call_back=True, owner="1001"),
    )
    await h.start()
    await both_resynced(h, 3.0)
    assert west(h).written == []
    assert h.ami.written == []
    assert h.agents.calls == []


async def test_preview_is_refused_to_an_agent_on_another_server(make: Make) -> None:
    autumn = replace(AUTUMN, mode=DialMode.PREVIEW)
    h = await make([(autumn, 1)])
    await h.start()
    await both_resynced(h)
    with pytest.raises(DialerRefused, match="agent 1001 is on Asterisk server 'default'"):
        await h.service.preview_next("autumn", "1001")
    offer = await h.service.preview_next("autumn", "2001")
    assert offer is not None
    await h.service.preview_dial("autumn", "2001", offer.contact.contact.id)
    await h.drain()
    assert west(h).numbers() == [number(autumn, 0)]
    assert h.ami.written == []


async def test_a_campaign_on_a_server_not_configured_dials_nothing(make: Make) -> None:
    lost = replace(AUTUMN, id="lost", server="north")
    h = await make([(lost, 1), (SPRING, 1)])
    await h.start()
    await both_resynced(h, 3.0)
    assert h.ami.numbers() == [number(SPRING, 0)]
    assert west(h).written == []
    assert await h.attempts.attempts_of("lost-0") == []
    assert (await h.store.get_contact("lost-0")) is not None


# ---- one server down: only its campaigns wait -----------------------------------------------


async def test_a_server_not_resynced_holds_only_its_own_campaigns(make: Make) -> None:
    h = await make([(SPRING, 1), (AUTUMN, 1)])
    await h.start()
    h.resynced = True  # default up; west down
    await h.run_for(3.0)
    assert h.ami.numbers() == [number(SPRING, 0)]
    assert west(h).written == []
    assert await h.attempts.attempts_of("autumn-0") == []

    h.others_resynced.add(WEST)
    await h.run_for(2.0)
    assert west(h).numbers() == [number(AUTUMN, 0)]
    assert h.ami.numbers() == [number(SPRING, 0)]  # nothing dialed twice


async def test_a_resync_of_one_server_settles_only_the_calls_placed_on_it(make: Make) -> None:
    h = await make([(SPRING, 1), (AUTUMN, 1)])
    await h.start()
    await both_resynced(h)
    spring_call = h.ami.channel_of(number(SPRING, 0))
    autumn_call = west(h).channel_of(number(AUTUMN, 0))
    await h.feed(h.answered(spring_call), h.answered(autumn_call))

    # West's connection drops; both customers hang up meanwhile, but only west's hang-up
    # is missed (default's connection is up: its call is still in its channel list).
    h.others_resynced.discard(WEST)
    h.live = {spring_call}
    h.others_live[WEST] = set()
    await h.run_for(3.0)
    h.others_resynced.add(WEST)
    await h.feed(ResyncFinished(at=h.at(), channel_count=0, server=WEST))
    await h.run_for(0.1)

    gone = await only_attempt(h, "autumn-0")
    assert gone.outcome is Outcome.ABANDONED  # answered, no agent connected: safe harbor
    assert (await only_attempt(h, "spring-0")).outcome is None
    assert {call.channel_id for call in h.service.calls.calls()} == {spring_call}

    # The default server's own resync (untagged: the default one) leaves west alone and
    # keeps its live call.
    await h.feed(ResyncFinished(at=h.at(), channel_count=1))
    assert (await only_attempt(h, "spring-0")).outcome is None
    # No contact dialed twice on either server.
    assert h.ami.numbers() == [number(SPRING, 0)]
    assert west(h).numbers() == [number(AUTUMN, 0)]


async def test_a_default_server_resync_does_not_end_a_call_on_west(make: Make) -> None:
    h = await make([(SPRING, 1), (AUTUMN, 1)])
    await h.start()
    await both_resynced(h)
    autumn_call = west(h).channel_of(number(AUTUMN, 0))
    h.live = set()  # default's channel list: west's call is (rightly) not in it
    h.others_live[WEST] = {autumn_call}
    await h.run_for(3.0)
    await h.feed(ResyncFinished(at=h.at(), channel_count=0, server=DEFAULT_SERVER))
    assert (await only_attempt(h, "autumn-0")).outcome is None
    assert autumn_call in h.service.calls
    # West's own resync with the call still up keeps it too.
    await h.feed(ResyncFinished(at=h.at(), channel_count=1, server=WEST))
    assert autumn_call in h.service.calls


async def test_previous_run_attempts_are_settled_per_server_when_that_server_is_resynced(
    make: Make,
) -> None:
    h = await make([(SPRING, 2), (AUTUMN, 2)])
    now = h.now()
    a = h.attempts
    # The previous run left a call open on each server: each answered, no agent yet.
    for contact_id, channel_id in (("spring-0", "ccd-dial-old-s"), ("autumn-0", "ccd-dial-old-a")):
        claimed = await a.claim(contact_id, channel_id=channel_id, now=now - 30)
        await a.answered(claimed.attempt_id, at=now - 25, amd_status=AmdStatus.HUMAN)
    # Each is gone from its server; west's id shows up in default's list (a coincidence
    # that must not make west's attempt look alive).
    h.live = {"ccd-dial-old-a"}
    await h.start()
    h.resynced = True  # only the default server
    await h.run_for(2.0)
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.ABANDONED
    assert (await only_attempt(h, "autumn-0")).outcome is None  # west not resynced yet
    assert west(h).written == []

    h.others_resynced.add(WEST)
    await h.run_for(2.0)
    assert (await only_attempt(h, "autumn-0")).outcome is Outcome.ABANDONED
    # Then each campaign dials its next contact on its own server, once.
    assert h.ami.numbers() == [number(SPRING, 1)]
    assert west(h).numbers() == [number(AUTUMN, 1)]


async def test_a_call_still_up_on_west_after_a_restart_is_adopted_and_hung_up_there(
    make: Make,
) -> None:
    autumn = replace(AUTUMN, safe_harbor_prompt=None)
    h = await make([(autumn, 1)])
    now = h.now()
    claimed = await h.attempts.claim("autumn-0", channel_id="ccd-dial-old-a", now=now - 30)
    await h.attempts.answered(claimed.attempt_id, at=now - 25, amd_status=AmdStatus.MACHINE)
    h.others_live[WEST] = {"ccd-dial-old-a"}
    await h.start()
    await both_resynced(h)
    # A machine adopted after a restart is hung up on, on its own server.
    assert west(h).hangups == ["ccd-dial-old-a"]
    assert h.ami.written == []
    await h.feed(h.hung_up("ccd-dial-old-a"))
    assert (await only_attempt(h, "autumn-0")).outcome is Outcome.MACHINE
    assert (await h.store.get_contact("autumn-0")) is not None


def _actions(ami: FakeAmi) -> Iterable[type]:
    return {type(a) for a in ami.written}


async def test_a_safe_harbor_message_on_west_is_played_through_west(make: Make) -> None:
    autumn = replace(AUTUMN, safe_harbor_prompt="ccd/safe-harbor", agent_ids=frozenset({"2001"}))
    h = await make([(autumn, 1)])
    await h.start()
    await both_resynced(h)
    call = west(h).channel_of(number(autumn, 0))
    h.agents.pause("2001")  # reserved: paused at the release
    await h.feed(h.answered(call))
    # The agent's ring is attempted on west; it fails, and no other agent is on west.
    leg = h.agent_leg(call, "2001")
    await h.feed(h.dial_started(leg), h.dial_ended(leg, "NOANSWER"), h.hung_up(leg))
    await h.run_for(3.0)
    assert _actions(h.ami) == set()
    assert RedirectAction in _actions(west(h))
    assert SetVariableAction in _actions(west(h))
    message = [r for r in west(h).redirects if r.context == "ccd-dialer-message"]
    assert [r.channel for r in message] == [call]
    assert (await h.store.get_contact("autumn-0")) is not None
    status = (await h.store.get_contact("autumn-0")).status  # type: ignore[union-attr]
    assert status is ContactStatus.DIALING


async def test_what_is_kept_per_call_goes_with_the_call_on_every_server(make: Make) -> None:
    h = await make([(SPRING, 1), (AUTUMN, 1)])
    await h.start()
    await both_resynced(h)
    spring_call = h.ami.channel_of(number(SPRING, 0))
    autumn_call = west(h).channel_of(number(AUTUMN, 0))
    # Each customer leg appears on its server, then each Originate fails (busy); no
    # hang-up event is ever seen (the servers' connections stay up).
    await h.feed(
        h.created(spring_call, "Local/+12125550000@ccd-dialer-00000001;1"),
        h.created(autumn_call, "Local/+14155550000@ccd-dialer-00000001;1"),
        h.originate_failed(spring_call, REASON_BUSY),
        h.originate_failed(autumn_call, REASON_BUSY),
    )
    await h.run_for(0.2)
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.BUSY
    assert (await only_attempt(h, "autumn-0")).outcome is Outcome.BUSY
    service = h.service
    assert (service._names, service._placed_on, service._connecting) == ({}, {}, {})


async def test_attempts_of_a_campaign_whose_server_left_the_configuration_are_closed(
    make: Make,
) -> None:
    # The previous run dialed through "north", which this run's configuration lacks: its
    # answered call is closed with what the records prove (abandoned, retried by the
    # rules) once the default server is resynced, so the contact is not kept taken and
    # the campaign can be moved to a configured server.
    lost = replace(AUTUMN, id="lost", server="north")
    h = await make([(lost, 1)])
    claimed = await h.attempts.claim("lost-0", channel_id="ccd-dial-old-n", now=h.now() - 30)
    await h.attempts.answered(claimed.attempt_id, at=h.now() - 25, amd_status=AmdStatus.HUMAN)
    h.live = {"ccd-dial-old-n"}  # even a same id on the default server is not that call
    await h.start()
    h.resynced = True  # west stays down: north's attempts do not wait for it
    await h.run_for(2.0)
    assert (await only_attempt(h, "lost-0")).outcome is Outcome.ABANDONED
    stored = await h.store.get_contact("lost-0")
    assert stored is not None
    assert stored.status is ContactStatus.PENDING
    assert h.ami.written == []
    assert west(h).written == []
    assert "ccd-dial-old-n" not in h.service.calls


# ---- the server in the campaign.* live messages (websocket and webhooks) ---------------------


def campaign_messages(h: DialerHarness, campaign_id: str) -> list[tuple[str, str, str]]:
    """(type, stage or "", server) of every ``campaign.*`` message about ``campaign_id``."""
    return [
        (m["type"], m.get("stage", ""), m["server"])
        for m in h.messages
        if m["type"].startswith("campaign.") and m["campaign_id"] == campaign_id
    ]


async def test_campaign_messages_name_the_server_each_campaign_dials_through(make: Make) -> None:
    h = await make([(SPRING, 1), (AUTUMN, 1)])
    await h.start()
    await both_resynced(h)
    autumn_call = west(h).channel_of(number(AUTUMN, 0))
    await h.feed(h.answered(autumn_call))
    leg = h.agent_leg(autumn_call, "2001")
    await h.feed(h.dial_started(leg), h.dial_ended(leg), h.hung_up(leg), h.hung_up(autumn_call))
    await h.drain()
    attempt = await only_attempt(h, "autumn-0")
    await h.service.dispose("autumn", attempt.attempt_id, agent_id="2001", disposition="sale")
    await h.service.reload("autumn")
    await h.service.reload("spring")

    assert campaign_messages(h, "autumn") == [
        ("campaign.attempt", "dialing", WEST),
        ("campaign.attempt", "ended", WEST),
        ("campaign.disposition", "", WEST),
        ("campaign.state", "", WEST),
    ]
    # No server of its own: the first configured one, by its name.
    assert campaign_messages(h, "spring") == [
        ("campaign.attempt", "dialing", DEFAULT_SERVER),
        ("campaign.state", "", DEFAULT_SERVER),
    ]
    # A webhook subscriber to campaign.* is sent the same server.
    [state] = [
        m for m in h.messages if m["type"] == "campaign.state" and m["campaign_id"] == "autumn"
    ]
    event = from_message(state, T0)
    assert event is not None
    assert orjson.loads(body(event))["data"]["server"] == WEST


async def test_preview_messages_name_the_campaigns_server(make: Make) -> None:
    autumn = replace(AUTUMN, mode=DialMode.PREVIEW)
    h = await make([(autumn, 2)])
    await h.start()
    await both_resynced(h)
    offer = await h.service.preview_next("autumn", "2001")
    assert offer is not None
    await h.service.preview_skip("autumn", "2001", offer.contact.contact.id)
    assert campaign_messages(h, "autumn") == [
        ("campaign.preview", "", WEST),
        ("campaign.preview_skipped", "", WEST),
    ]
