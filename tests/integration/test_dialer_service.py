"""DialerService, the outbound dialer at run time, against a real SQLite database (its
``DialerStore`` and ``AttemptStore``), a fake ACD and a fake Asterisk, on a FakeClock.

What is checked is what a user sees: the attempt rows and contact states in the database,
the AMI actions written, and which agents the ACD was asked to reserve and release. The
service's tick loop sleeps on the FakeClock: ``run_for`` moves it tick by tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.model import AgentStatus
from ccd.ami.actions import CallerId, OriginateAction, RedirectAction
from ccd.ami.protocol import AmiConnectionLost, AmiNotConnected
from ccd.db.dialer_attempts import AttemptStore, StoredAttempt
from ccd.db.dialer_store import ContactStatus, DialerStore, StoredCampaign, StoredContact
from ccd.dialer.calls import Stage
from ccd.dialer.model import (
    AmdMode,
    CallingWindow,
    Campaign,
    CampaignState,
    Contact,
    DialMode,
    Outcome,
    Weekday,
)
from ccd.dialer.retries import Dial, DoneReason
from ccd.dialer.service import DialerRefused
from ccd.domain.contract import AmdStatus
from ccd.domain.events import AgentLegStarted, DialerAttemptStarted, ResyncFinished
from tests.integration.dialerservicefakes import (
    REASON_BUSY,
    DialerHarness,
    FakeAgents,
    SlowAttempts,
    TrackingClock,
    connect_actions,
)

# A Wednesday, 10:00 in New York (EST, UTC-5), 07:00 in Los Angeles (PST, UTC-8).
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"
SAFE_HARBOR = "ccd/safe-harbor"
MACHINE_MESSAGE = "ccd/leave-a-message"

SPRING = Campaign(
    id="spring",
    name="Spring",
    mode=DialMode.PROGRESSIVE,
    caller_id="5000",
    agent_ids=frozenset({"1001", "1002"}),
    safe_harbor_prompt=SAFE_HARBOR,
    state=CampaignState.RUNNING,
)


def contact(index: int, zone: str = NEW_YORK) -> Contact:
    return Contact(
        id=f"spring-{index}",
        campaign_id="spring",
        number=number(index),
        time_zones=(zone,),
    )


def number(index: int) -> str:
    return f"+1212555{index:04d}"


def dialed(index: int) -> str:
    """The channel the Originate of ``number(index)`` dials: a Local channel never
    optimised away (``/n``), so the customer leg keeps its uniqueid once bridged."""
    return f"Local/{number(index)}@ccd-dialer/n"


Make = Callable[..., Awaitable[DialerHarness]]


@pytest.fixture
async def make(engine: AsyncEngine) -> AsyncIterator[Make]:
    """``await make(campaign, contacts, agents)``: the campaign and its contacts stored,
    the service built (not started). ``slow``: AttemptStore methods that answer only
    after that many seconds of clock time (``SlowAttempts``)."""
    made: list[DialerHarness] = []

    async def build(
        campaign: Campaign = SPRING,
        contacts: Iterable[Contact] = (),
        agents: Iterable[str] = ("1001", "1002"),
        slow: Mapping[str, float] | None = None,
    ) -> DialerHarness:
        clock = TrackingClock(T0)
        store = DialerStore(engine, clock=clock)
        await store.put_campaign(campaign)
        await store.add_contacts(campaign.id, list(contacts))
        attempts = (
            AttemptStore(engine, clock=clock)
            if slow is None
            else SlowAttempts(engine, clock=clock, delays=slow)
        )
        harness = DialerHarness(
            clock=clock,
            engine=engine,
            store=store,
            attempts=attempts,
            agents=FakeAgents(agents),
        )
        made.append(harness)
        return harness

    yield build
    for harness in made:
        await harness.stop()


async def contact_row(h: DialerHarness, contact_id: str) -> StoredContact:
    stored = await h.store.get_contact(contact_id)
    assert stored is not None
    return stored


async def only_attempt(h: DialerHarness, contact_id: str) -> StoredAttempt:
    [attempt] = await h.attempts.attempts_of(contact_id)
    return attempt


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


async def dialing(h: DialerHarness, seconds: float = 2.0) -> None:
    """AMI resynchronised, then ``seconds`` of ticks (reconcile, tallies, pacing)."""
    h.resynced = True
    await h.run_for(seconds)


async def one_call(
    make: Make, campaign: Campaign = SPRING, agents: Iterable[str] = ("1001", "1002")
) -> tuple[DialerHarness, str]:
    """``campaign`` with contact 0 started and its call originated (progressive: the first
    free agent reserved for it); the harness and the call's channel id."""
    h = await make(campaign, [contact(0)], agents=agents)
    await h.start()
    await dialing(h)
    return h, h.ami.channel_of(number(0))


# ---- (1) no dialing before the AMI resync; the Originate ------------------------------------


async def test_nothing_is_dialed_before_the_ami_resync_then_the_originate_carries_the_campaign(
    make: Make,
) -> None:
    campaign = replace(
        SPRING,
        agent_ids=frozenset({"1001"}),
        amd=AmdMode.LEAVE_MESSAGE,
        machine_message_prompt=MACHINE_MESSAGE,
        ring_timeout_s=20.0,
    )
    h = await make(campaign, [contact(0)], agents=["1001"])
    await h.start()

    await h.run_for(5)  # contacts due, an agent free, AMI not resynchronised
    assert h.ami.written == []
    assert h.agents.calls == []
    assert (await contact_row(h, "spring-0")).status is ContactStatus.PENDING
    assert await h.attempts.attempts_of("spring-0") == []

    await dialing(h)
    [originate] = h.ami.originates
    channel_id = originate.channel_id
    assert channel_id is not None
    assert channel_id.startswith("ccd-dial-")
    assert originate == OriginateAction(
        channel=dialed(0),
        context="ccd-dialer-answered",
        exten="s",
        timeout_s=20.0,
        caller_id=CallerId("5000"),
        variables={
            "CCD_DIALER_ATTEMPT": channel_id,
            "CCD_DIALER_NUMBER": number(0),
            "CCD_DIALER_CALLERID": "5000",
            "CCD_DIALER_AMD": "1",
            "CCD_DIALER_SAFE_HARBOR": SAFE_HARBOR,
            "CCD_DIALER_MACHINE_MESSAGE": MACHINE_MESSAGE,
        },
        channel_id=channel_id,
        action_id=channel_id,
    )
    # The evidence was written before the call: the attempt row, the contact taken.
    attempt = await only_attempt(h, "spring-0")
    assert (attempt.action_id, attempt.agent_id, attempt.outcome) == (channel_id, "1001", None)
    assert attempt.started_at <= h.now()
    assert (await contact_row(h, "spring-0")).status is ContactStatus.DIALING
    # Progressive: the agent was reserved for this call before it was placed.
    assert h.agents.calls == [("reserve", "1001", channel_id)]
    assert h.agents.reserved() == {"1001": channel_id}
    started = [e for e in h.published if isinstance(e, DialerAttemptStarted)]
    assert [(e.linkedid, e.contact_id, e.attempt_id) for e in started] == [
        (channel_id, "spring-0", str(attempt.attempt_id))
    ]


async def test_amd_off_says_so_and_a_campaign_without_messages_sets_none(make: Make) -> None:
    campaign = replace(SPRING, agent_ids=frozenset({"1001"}), safe_harbor_prompt=None)
    h = await make(campaign, [contact(0)], agents=["1001"])
    await h.start()
    await dialing(h)
    [originate] = h.ami.originates
    assert originate.variables == {
        "CCD_DIALER_ATTEMPT": originate.channel_id,
        "CCD_DIALER_NUMBER": number(0),
        "CCD_DIALER_CALLERID": "5000",
        "CCD_DIALER_AMD": "0",
    }
    assert originate.timeout_s == 25.0


# ---- (2) the database fails: no evidence, no call -------------------------------------------


async def test_a_failing_database_places_no_call_releases_the_agent_and_dialing_resumes(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    h.agents.set("1001", AgentStatus.PAUSED)
    await h.start()
    await dialing(h, 1.0)  # no agent free: the contacts are read into the buffer anyway
    assert h.ami.written == []
    assert h.agents.calls == []

    h.db.down = True
    h.agents.set("1001", AgentStatus.AVAILABLE)
    await h.run_for(1.0)
    # The agent was reserved for the buffered contact, the claim failed, the agent is back.
    assert h.db.failures > 0
    reserved = h.agents.made("reserve")
    assert reserved, "the dialer never tried to claim a contact while the database was down"
    assert h.agents.made("release") == reserved
    assert h.agents.status("1001") is AgentStatus.AVAILABLE
    assert h.ami.written == []

    await h.run_for(10)  # still down: nothing dialed, nobody kept reserved
    assert h.ami.written == []
    assert h.agents.status("1001") is AgentStatus.AVAILABLE

    h.db.down = False
    await h.run_for(3)
    [originate] = h.ami.originates
    assert originate.channel == dialed(0)
    attempt = await only_attempt(h, "spring-0")
    assert attempt.action_id == originate.channel_id
    assert h.agents.reserved() == {"1001": originate.channel_id}
    assert (await contact_row(h, "spring-0")).status is ContactStatus.DIALING


async def test_a_call_that_ends_while_the_database_is_down_is_recorded_once_it_is_back(
    make: Make,
) -> None:
    h, channel_id = await one_call(make, agents=["1001"])
    h.db.down = True
    await h.feed(h.originate_failed(channel_id, REASON_BUSY))
    assert h.agents.status("1001") is AgentStatus.AVAILABLE
    await h.run_for(5)
    h.db.down = False
    await h.run_for(10)
    attempt = await only_attempt(h, "spring-0")
    assert attempt.outcome is Outcome.BUSY, "the attempt's end was never written"
    assert attempt.ended_at is not None
    retry = await contact_row(h, "spring-0")
    assert retry.status is ContactStatus.PENDING
    assert retry.next_attempt_at == utc(attempt.ended_at + 600)


# ---- (3) progressive: a call per free agent --------------------------------------------------


async def test_progressive_never_has_more_calls_in_flight_than_agents_reserved_for_them(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(i) for i in range(6)], agents=["1001", "1002"])
    await h.start()
    h.resynced = True

    async def run_checking(seconds: float) -> None:
        for _ in range(round(seconds * 10)):
            await h.run_for(0.1)
            in_flight = list(h.service.calls.calls())
            waiting = [call for call in in_flight if call.stage in (Stage.DIALING, Stage.WAITING)]
            agents = [call.agent_id for call in waiting]
            assert None not in agents, "a call placed without its agent"
            assert len(set(agents)) == len(agents), "one agent for two calls"
            for call in waiting:
                assert call.agent_id is not None
                assert h.agents.reserved().get(call.agent_id) == call.channel_id
            free_or_reserved = [
                a for a in ("1001", "1002") if h.agents.status(a) is not AgentStatus.ON_CALL
            ]
            assert len(waiting) <= len(free_or_reserved)

    await run_checking(3)
    assert len(h.ami.originates) == 2
    await run_checking(5)  # ringing: nothing more
    assert len(h.ami.originates) == 2

    first, second = (o.channel_id or "" for o in h.ami.originates)
    busy_agent = next(a for a, c in h.agents.reserved().items() if c == first)
    await h.feed(h.originate_failed(first, REASON_BUSY))
    assert h.agents.status(busy_agent) is AgentStatus.AVAILABLE
    await run_checking(1)
    assert len(h.ami.originates) == 3  # the agent freed took the next contact
    third = h.ami.originates[2].channel_id
    assert h.agents.reserved()[busy_agent] == third

    # The other call is answered and connected: its agent is busy, no call for it.
    second_agent = next(a for a, c in h.agents.reserved().items() if c == second)
    await h.feed(h.answered(second))
    assert h.ami.agents_dialed() == [f"PJSIP/{second_agent}"]
    leg = h.agent_leg(second, second_agent)
    await h.feed(h.dial_started(leg), h.dial_ended(leg))
    assert h.agents.status(second_agent) is AgentStatus.ON_CALL
    await run_checking(5)
    assert len(h.ami.originates) == 3
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.BUSY


# ---- (4) calling windows ---------------------------------------------------------------------


async def test_a_contact_outside_its_calling_window_is_moved_to_its_next_open_instant(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0), contact(1, LOS_ANGELES)])
    await h.start()
    await dialing(h)
    assert h.ami.numbers() == [number(0)]  # 10:00 in New York, 07:00 in Los Angeles
    moved = await contact_row(h, "spring-1")
    assert moved.status is ContactStatus.PENDING
    # 08:00 in Los Angeles, the window's start
    assert moved.next_attempt_at == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert await h.attempts.attempts_of("spring-1") == []
    assert [agent for agent, _ in h.agents.made("reserve")] == ["1001"]

    h.clock.advance((datetime(2026, 11, 25, 16, 0, tzinfo=UTC) - h.clock.now()).total_seconds())
    await h.drain()
    await h.run_for(2)
    assert h.ami.numbers()[1:] == [number(1)]


async def test_a_buffered_contact_is_not_dialed_after_its_window_closed(make: Make) -> None:
    every_day = frozenset(Weekday)
    campaign = replace(
        SPRING,
        agent_ids=frozenset({"1001"}),
        windows=(CallingWindow(every_day, time(8, 0), time(10, 0, 2, 500000)),),
    )
    h = await make(campaign, [contact(0)], agents=["1001"])
    h.agents.set("1001", AgentStatus.PAUSED)
    await h.start()
    await dialing(h, 1.0)  # 10:00:01 in New York: inside the window, read into the buffer
    await h.run_for(2.0)  # 10:00:03: the window closed at 10:00:02.5
    h.agents.set("1001", AgentStatus.AVAILABLE)
    await h.run_for(1.0)  # before the campaigns are polled again (every 5 s)
    assert h.ami.originates == [], "dialed at 10:00:03 New York time, outside its window"
    moved = await contact_row(h, "spring-0")
    assert moved.status is ContactStatus.PENDING
    assert moved.next_attempt_at == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # 08:00 EST


async def test_a_preview_offer_the_agent_dials_after_the_window_closed_is_not_dialed(
    make: Make,
) -> None:
    every_day = frozenset(Weekday)
    campaign = replace(
        SPRING,
        mode=DialMode.PREVIEW,
        agent_ids=frozenset({"1001"}),
        windows=(CallingWindow(every_day, time(8, 0), time(10, 0, 2, 500000)),),
    )
    h = await make(campaign, [contact(0)], agents=["1001"])
    await h.start()
    await dialing(h, 1.0)  # 10:00:01 in New York: inside the window
    offer = await h.service.preview_next("spring", "1001")
    assert offer is not None
    await h.run_for(2.0)  # the agent reads the contact; the window closes at 10:00:02.5
    with pytest.raises(DialerRefused, match="outside the calling hours"):
        await h.service.preview_dial("spring", "1001", offer.contact.contact.id)
    assert h.ami.originates == []
    assert h.agents.made("release")  # the agent is free again
    moved = await contact_row(h, "spring-0")
    assert moved.next_attempt_at == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # 08:00 EST


# ---- (5) do-not-call -------------------------------------------------------------------------


async def test_a_do_not_call_number_is_never_dialed_even_when_listed_after_it_was_buffered(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(i) for i in range(3)], agents=["1001"])
    await h.store.add_dnc([number(2)], campaign_id="spring")  # the campaign's list
    h.agents.set("1001", AgentStatus.PAUSED)
    await h.start()
    await dialing(h, 1.0)  # spring-0 and spring-1 read into the buffer
    await h.store.add_dnc([number(0)])  # the global list, afterwards
    h.agents.set("1001", AgentStatus.AVAILABLE)
    await h.run_for(2)

    assert h.ami.numbers() == [number(1)]
    assert await h.attempts.attempts_of("spring-0") == []
    assert (await contact_row(h, "spring-0")).status is ContactStatus.PENDING
    # The agent reserved for the blocked contact was given back, then took spring-1.
    reserves = h.agents.made("reserve")
    assert h.agents.made("release") == reserves[:-1]
    assert h.agents.reserved() == {"1001": h.ami.channel_of(number(1))}

    # That call ends; the agent is free again, the lists still hold.
    await h.feed(h.originate_failed(h.ami.channel_of(number(1)), REASON_BUSY))
    await h.run_for(5)
    assert h.ami.numbers() == [number(1)]
    assert await h.attempts.attempts_of("spring-2") == []
    assert h.agents.status("1001") is AgentStatus.AVAILABLE


# ---- (6) an agent's own call back ------------------------------------------------------------


async def test_an_agent_owned_call_back_is_dialed_only_with_that_agent_reserved(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001", "1002"])
    # An earlier call ended with agent 1002's call back, due now.
    earlier = await h.attempts.claim("spring-0", channel_id="ccd-dial-earlier", now=h.now() - 7200)
    await h.attempts.finish(
        earlier.attempt_id,
        outcome=Outcome.ANSWERED,
        ended_at=h.now() - 7000,
        next=Dial(at=h.now(), due=h.now(), call_back=True, owner="1002"),
    )
    h.agents.set("1002", AgentStatus.ON_CALL)  # busy with an inbound call
    await h.start()
    await dialing(h, 5)
    assert h.ami.originates == []
    assert h.agents.calls == []  # agent 1001 is free, and was not used for it

    h.agents.set("1002", AgentStatus.AVAILABLE)
    await h.run_for(3)
    [originate] = h.ami.originates
    assert originate.channel == dialed(0)
    assert h.agents.made("reserve") == [("1002", originate.channel_id)]
    assert h.agents.status("1001") is AgentStatus.AVAILABLE
    attempts = await h.attempts.attempts_of("spring-0")
    assert [(a.action_id, a.agent_id, a.call_back) for a in attempts[1:]] == [
        (originate.channel_id, "1002", True)
    ]


# ---- (7) a person answers, an agent talks to them --------------------------------------------


@pytest.mark.parametrize("first_to_hang_up", ["customer", "agent"])
async def test_a_person_answers_the_reserved_agent_is_connected_and_the_call_ends_answered(
    make: Make, first_to_hang_up: str
) -> None:
    h, channel_id = await one_call(make, agents=["1001"])
    name = f"Local/{number(0)}@ccd-dialer-00000001;1"

    await h.feed(h.created(channel_id, name), h.answered(channel_id, AmdStatus.HUMAN))
    # The agent is dialed from the customer's own leg: its interface and ring time set on
    # it, then off to ccd-dialer-connect (whose Dial shows the agent CCD_DIALER_NUMBER).
    [originate] = h.ami.originates
    assert originate.variables["CCD_DIALER_NUMBER"] == number(0)
    assert h.ami.written[1:] == connect_actions(name, "PJSIP/1001", "15")
    attempt = await only_attempt(h, "spring-0")
    assert attempt.answered_at == h.now()
    assert attempt.amd_status == AmdStatus.HUMAN
    assert h.agents.status("1001") is AgentStatus.RESERVED  # ringing: not connected yet

    # The Dial begins: a new channel, the agent's leg of the customer's call.
    leg = h.agent_leg(channel_id, "1001")
    await h.run_for(0.3)
    await h.feed(h.dial_started(leg))
    legs = [e for e in h.published if isinstance(e, AgentLegStarted)]
    assert [(e.linkedid, e.uniqueid, e.agent_id, e.at) for e in legs] == [
        (channel_id, leg, "1001", h.at())
    ]
    assert h.agents.status("1001") is AgentStatus.RESERVED
    assert (await only_attempt(h, "spring-0")).connected_at is None

    await h.run_for(0.7)
    await h.feed(h.dial_ended(leg, "ANSWER"))  # the agent picked up
    connected_at = h.now()
    attempt = await only_attempt(h, "spring-0")
    assert (attempt.connected_at, attempt.agent_id, attempt.outcome) == (
        connected_at,
        "1001",
        None,
    )
    assert h.agents.status("1001") is AgentStatus.ON_CALL
    assert h.agents.made("connected") == [("1001", channel_id)]

    await h.run_for(5)  # talking: no 2-second rule, no message
    assert h.ami.redirects == connect_actions(name, "PJSIP/1001")[2:]
    await h.run_for(30)
    # Either leg's hang-up ends the conversation (Asterisk hangs the other one up).
    first, second = (channel_id, leg) if first_to_hang_up == "customer" else (leg, channel_id)
    await h.feed(h.hung_up(first))
    ended_at = h.now()

    attempt = await only_attempt(h, "spring-0")
    assert attempt.outcome is Outcome.ANSWERED
    assert attempt.ended_at == ended_at
    done = await contact_row(h, "spring-0")
    assert (done.status, done.done_reason) == (ContactStatus.DONE, DoneReason.ANSWERED)
    assert h.agents.status("1001") is AgentStatus.WRAP_UP
    assert h.agents.wrapups == [("1001", channel_id, 120.0)]
    view = h.service.live("spring")
    assert view is not None
    assert view["abandonment"]["today"] == {"answered": 1, "abandoned": 0, "rate_pct": 0.0}

    await h.run_for(0.1)
    await h.feed(h.hung_up(second))  # the other leg follows: nothing more to do
    assert (await only_attempt(h, "spring-0")).ended_at == ended_at
    assert h.agents.made("ended") == [("1001", channel_id)]
    assert h.agents.status("1001") is AgentStatus.WRAP_UP
    assert h.ami.hangups == []
    assert h.ami.redirects == connect_actions(name, "PJSIP/1001")[2:]
    assert list(h.service.calls.calls()) == []

    # The agent's disposition ends the wrap-up.
    await h.service.dispose("spring", attempt.attempt_id, agent_id="1001", disposition="sale")
    assert h.agents.status("1001") is AgentStatus.AVAILABLE
    assert (await only_attempt(h, "spring-0")).disposition == "sale"


async def test_an_agent_whose_dial_is_not_answered_is_released_and_the_next_agent_is_dialed(
    make: Make,
) -> None:
    h, channel_id = await one_call(make)
    assert h.agents.reserved() == {"1001": channel_id}  # progressive: the first free agent
    await h.feed(h.answered(channel_id))
    assert h.ami.written[1:] == connect_actions(channel_id, "PJSIP/1001")
    leg = h.agent_leg(channel_id, "1001")
    await h.feed(h.dial_started(leg))

    h.agents.pause("1001")  # 1001 rejects the call and pauses (applied at the release)
    await h.run_for(0.5)
    await h.feed(h.dial_ended(leg, "NOANSWER"))
    # 1001 is given back and the free agent is dialed at once, within the 2 s.
    assert h.agents.made("release") == [("1001", channel_id)]
    assert h.agents.status("1001") is AgentStatus.PAUSED
    assert h.agents.reserved() == {"1002": channel_id}
    assert h.ami.written[4:] == connect_actions(channel_id, "PJSIP/1002")
    await h.feed(h.hung_up(leg))  # the failed leg goes: nothing more happens
    assert h.agents.reserved() == {"1002": channel_id}
    assert len(h.ami.written) == 7
    assert (await only_attempt(h, "spring-0")).outcome is None

    second = h.agent_leg(channel_id, "1002")
    await h.run_for(0.3)
    await h.feed(h.dial_started(second))
    await h.run_for(0.5)
    await h.feed(h.dial_ended(second))
    connected_at = h.now()
    legs = [e for e in h.published if isinstance(e, AgentLegStarted)]
    assert [(e.linkedid, e.uniqueid, e.agent_id) for e in legs] == [
        (channel_id, leg, "1001"),
        (channel_id, second, "1002"),
    ]
    attempt = await only_attempt(h, "spring-0")
    assert (attempt.connected_at, attempt.agent_id) == (connected_at, "1002")
    assert h.agents.made("connected") == [("1002", channel_id)]
    assert h.agents.status("1002") is AgentStatus.ON_CALL
    assert h.ami.hangups == []
    assert h.ami.redirects == [RedirectAction(channel_id, "ccd-dialer-connect", "s")] * 2

    await h.run_for(20)
    await h.feed(h.hung_up(second))
    attempt = await only_attempt(h, "spring-0")
    assert (attempt.outcome, attempt.ended_at) == (Outcome.ANSWERED, h.now())
    assert h.agents.wrapups == [("1002", channel_id, 120.0)]


async def test_an_agent_whose_dial_failed_is_not_dialed_again_while_another_is_free(
    make: Make,
) -> None:
    h, channel_id = await one_call(make)
    assert h.agents.reserved() == {"1001": channel_id}
    await h.feed(h.answered(channel_id))
    leg = h.agent_leg(channel_id, "1001")
    await h.feed(h.dial_started(leg))
    await h.run_for(0.5)
    await h.feed(h.dial_ended(leg, "BUSY"))  # 1001's phone is busy
    assert h.agents.made("release") == [("1001", channel_id)]
    assert h.agents.reserved() == {"1002": channel_id}
    assert h.ami.agents_dialed() == ["PJSIP/1001", "PJSIP/1002"]


async def test_a_machine_gets_the_campaign_message_and_the_agent_is_released(
    make: Make,
) -> None:
    campaign = replace(SPRING, amd=AmdMode.LEAVE_MESSAGE, machine_message_prompt=MACHINE_MESSAGE)
    h, channel_id = await one_call(make, campaign, agents=["1001"])
    await h.feed(h.answered(channel_id, AmdStatus.MACHINE))
    assert h.ami.set_variables == []  # no agent dialed
    assert h.ami.redirects == [RedirectAction(channel_id, "ccd-dialer-message", "machine")]
    assert h.agents.made("release") == [("1001", channel_id)]
    await h.feed(h.hung_up(channel_id))
    attempt = await only_attempt(h, "spring-0")
    assert (attempt.outcome, attempt.amd_status) == (Outcome.MACHINE, AmdStatus.MACHINE)
    retry = await contact_row(h, "spring-0")
    assert retry.status is ContactStatus.PENDING
    assert retry.next_attempt_at == utc(h.now() + 4 * 3600)
    view = h.service.live("spring")
    assert view is not None
    assert view["abandonment"]["today"]["answered"] == 0  # a machine is no live answer


# ---- (8) the 2-second rule -------------------------------------------------------------------


@pytest.mark.parametrize("dial_began", [True, False])
async def test_no_agent_within_two_seconds_plays_the_safe_harbor_and_counts_an_abandon(
    make: Make, dial_began: bool
) -> None:
    h, channel_id = await one_call(make, agents=["1001"])
    name = f"Local/{number(0)}@ccd-dialer-00000002;1"
    await h.feed(h.created(channel_id, name))
    await h.feed(h.answered(channel_id, AmdStatus.HUMAN))
    answered_at = h.now()
    assert h.ami.written[1:] == connect_actions(name, "PJSIP/1001")
    leg = h.agent_leg(channel_id, "1001")
    if dial_began:
        await h.feed(h.dial_started(leg))  # the agent's phone rings and rings

    await h.run_for(1.8)
    assert h.ami.redirects == [RedirectAction(name, "ccd-dialer-connect", "s")]
    await h.run_for(0.2)
    assert h.ami.redirects == [
        RedirectAction(name, "ccd-dialer-connect", "s"),
        RedirectAction(channel_id, "ccd-dialer-message", "safe-harbor"),
    ]
    # The agent's ring is cancelled: its Dial leg hung up, or (no Dial leg yet) the Dial
    # left with the customer leg's Redirect.
    assert h.ami.hangups == ([leg] if dial_began else [])
    assert h.agents.made("release") == [("1001", channel_id)]
    assert h.agents.status("1001") is AgentStatus.AVAILABLE
    if dial_began:  # the Dial's end and the leg's hang-up change nothing
        await h.feed(h.dial_ended(leg, "CANCEL"), h.hung_up(leg))
        assert h.agents.made("release") == [("1001", channel_id)]
        assert h.agents.status("1001") is AgentStatus.AVAILABLE
        assert len(h.ami.written) == 6

    await h.feed(h.message_started(channel_id, "safe-harbor"))
    message_at = h.now()
    await h.run_for(3)
    await h.feed(h.hung_up(channel_id))

    attempt = await only_attempt(h, "spring-0")
    assert attempt.outcome is Outcome.ABANDONED
    assert (attempt.answered_at, attempt.connected_at) == (answered_at, None)
    assert attempt.safe_harbor_at == message_at
    assert attempt.safe_harbor_played
    retry = await contact_row(h, "spring-0")
    assert retry.status is ContactStatus.PENDING  # abandoned: retried an hour later
    assert retry.next_attempt_at == utc(h.now() + 3600)
    view = h.service.live("spring")
    assert view is not None
    abandonment = view["abandonment"]
    assert abandonment["today"] == {"answered": 1, "abandoned": 1, "rate_pct": 100.0}
    assert abandonment["rolling_30_days"] == {"answered": 1, "abandoned": 1, "rate_pct": 100.0}
    assert abandonment["cap_pct"] == 3.0


async def test_a_ring_given_up_at_the_deadline_does_not_move_the_customer_off_the_message(
    make: Make,
) -> None:
    h, channel_id = await one_call(make)
    await h.feed(h.answered(channel_id))
    leg = h.agent_leg(channel_id, "1001")
    await h.feed(h.dial_started(leg))
    h.agents.pause("1001")
    await h.run_for(1.7)
    h.ami.set_variable_delay_s = 0.15  # the AMI answers in 150 ms from now on
    await h.feed(h.dial_ended(leg, "BUSY"))  # 1002 is dialed next: its Setvars are slow
    assert h.agents.reserved() == {"1002": channel_id}
    await h.run_for(0.2)  # the 2 s are up before the Setvars are answered
    assert h.agents.status("1002") is AgentStatus.AVAILABLE  # released, the ring given up
    safe_harbor = [
        RedirectAction(channel_id, "ccd-dialer-connect", "s"),
        RedirectAction(channel_id, "ccd-dialer-message", "safe-harbor"),
    ]
    assert h.ami.redirects == safe_harbor
    await h.run_for(1.0)
    assert h.ami.redirects == safe_harbor, "the customer was moved off the safe-harbor message"


# ---- (9) after a restart ---------------------------------------------------------------------


async def test_attempts_left_open_by_a_previous_run_are_adopted_or_closed_with_what_is_proved(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(i) for i in range(6)], agents=["1001", "1002", "1003"])
    campaign = replace(SPRING, agent_ids=frozenset({"1001", "1002", "1003"}))
    await h.store.put_campaign(campaign)
    now = h.now()
    a = h.attempts
    # The previous run's calls, as its records left them:
    talking = await a.claim("spring-0", channel_id="ccd-dial-old-0", now=now - 60, agent_id="1001")
    await a.answered(talking.attempt_id, at=now - 50, amd_status=AmdStatus.HUMAN)
    await a.connected(talking.attempt_id, agent_id="1001", at=now - 49)
    waited = await a.claim("spring-1", channel_id="ccd-dial-old-1", now=now - 30)
    await a.answered(waited.attempt_id, at=now - 25, amd_status=AmdStatus.HUMAN)
    await a.claim("spring-2", channel_id="ccd-dial-old-2", now=now - 20)
    await a.claim("spring-3", channel_id="ccd-dial-old-3", now=now - 5)
    machine = await a.claim("spring-4", channel_id="ccd-dial-old-4", now=now - 40)
    await a.answered(machine.attempt_id, at=now - 35, amd_status=AmdStatus.MACHINE)
    # Asterisk still has the customer leg of the conversation (and its agent's Dial leg,
    # of a uniqueid of its own) and the ringing call.
    h.live = {"ccd-dial-old-0", "1764082700.7", "ccd-dial-old-3"}
    h.agents.set("1001", AgentStatus.ON_CALL)  # the ACD restored its call

    await h.start()
    await dialing(h)

    # Gone: ended with what the records prove, retried by the rules.
    for contact_id, outcome, delay_s in (
        ("spring-1", Outcome.ABANDONED, 3600),
        ("spring-2", Outcome.FAILED, 3600),
        ("spring-4", Outcome.MACHINE, 4 * 3600),
    ):
        attempt = await only_attempt(h, contact_id)
        assert attempt.outcome is outcome, contact_id
        assert attempt.ended_at is not None
        retry = await contact_row(h, contact_id)
        assert retry.status is ContactStatus.PENDING, contact_id
        assert retry.next_attempt_at == utc(attempt.ended_at + delay_s), contact_id
    # Still up: adopted, not dialed again; the fresh contact is dialed by the free agent.
    assert h.ami.numbers() == [number(5)]
    assert h.ami.hangups == []
    for contact_id in ("spring-0", "spring-3"):
        assert (await only_attempt(h, contact_id)).outcome is None
    assert {call.channel_id: call.stage.value for call in h.service.calls.calls()} == {
        "ccd-dial-old-0": "connected",
        "ccd-dial-old-3": "dialing",
        h.ami.channel_of(number(5)): "dialing",
    }
    adopted = {e.linkedid for e in h.published if isinstance(e, DialerAttemptStarted)}
    assert {"ccd-dial-old-0", "ccd-dial-old-3"} <= adopted

    # The adopted calls end as calls of this run do: the conversation with its customer leg.
    await h.feed(h.hung_up("ccd-dial-old-0"))
    ended = await only_attempt(h, "spring-0")
    assert (ended.outcome, ended.connected_at, ended.ended_at) == (
        Outcome.ANSWERED,
        now - 49,
        h.now(),
    )
    assert (await contact_row(h, "spring-0")).status is ContactStatus.DONE
    await h.feed(h.originate_failed("ccd-dial-old-3", REASON_BUSY))
    assert (await only_attempt(h, "spring-3")).outcome is Outcome.BUSY
    assert (await contact_row(h, "spring-3")).next_attempt_at == utc(h.now() + 600)


async def test_nothing_is_dialed_before_the_previous_runs_attempts_are_settled(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(i) for i in range(3)], slow={"open_attempts": 1.0})
    await h.attempts.claim("spring-0", channel_id="ccd-dial-old-0", now=h.now() - 5)
    h.live = {"ccd-dial-old-0"}  # still ringing in Asterisk
    await h.start()
    await dialing(h, 0.9)  # the open attempts are still being read
    assert h.ami.originates == [], "dialed before the reconciliation"
    await h.run_for(2)
    # Two agents, the adopted call ringing: progressive places one call, not two.
    assert len(h.ami.originates) == 1


# ---- (10) pause ------------------------------------------------------------------------------


async def test_a_paused_campaign_places_no_new_call_and_its_calls_in_flight_go_on(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(i) for i in range(3)], agents=["1001", "1002"])
    await h.start()
    await dialing(h)
    assert h.ami.numbers() == [number(0), number(1)]
    first, second = h.ami.channel_of(number(0)), h.ami.channel_of(number(1))

    await h.store.set_campaign_state("spring", CampaignState.PAUSED)
    await h.service.reload("spring")
    view = h.service.live("spring")
    assert view is not None
    assert view["dialing"] is False

    # The calls already placed go on: one is answered and connected, the other is busy.
    first_agent = h.agents.reserved_for(first)
    await h.feed(h.answered(first))
    assert h.ami.written[2:] == connect_actions(first, f"PJSIP/{first_agent}")
    leg = h.agent_leg(first, first_agent)
    await h.feed(h.dial_started(leg))
    await h.run_for(0.5)
    await h.feed(h.dial_ended(leg))
    assert h.agents.status(first_agent) is AgentStatus.ON_CALL
    await h.feed(h.originate_failed(second, REASON_BUSY))
    await h.run_for(10)
    assert h.ami.numbers() == [number(0), number(1)]  # the free agent gets no call
    assert h.agents.status("1002") is AgentStatus.AVAILABLE
    assert h.ami.redirects == [RedirectAction(first, "ccd-dialer-connect", "s")]
    await h.feed(h.hung_up(leg))
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.ANSWERED
    assert (await only_attempt(h, "spring-1")).outcome is Outcome.BUSY
    assert (await contact_row(h, "spring-2")).status is ContactStatus.PENDING

    await h.store.set_campaign_state("spring", CampaignState.RUNNING)
    await h.service.reload("spring")
    await h.run_for(2)
    assert h.ami.numbers() == [number(0), number(1), number(2)]


async def test_a_call_claimed_as_the_campaign_is_paused_still_presents_its_caller_id(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"], slow={"claim": 1.0})
    await h.start()
    await dialing(h, 1.0)  # the claim of spring-0 is under way
    assert h.agents.reserved() != {}
    await h.store.set_campaign_state("spring", CampaignState.PAUSED)
    await h.service.reload("spring")
    await h.run_for(1.0)
    for originate in h.ami.originates:  # placed anyway, or (better) not at all
        assert originate.caller_id == CallerId("5000")
        assert originate.variables["CCD_DIALER_CALLERID"] == "5000"
        assert originate.variables.get("CCD_DIALER_SAFE_HARBOR") == SAFE_HARBOR


async def test_a_person_answering_a_predictive_call_after_the_pause_still_gets_an_agent(
    make: Make,
) -> None:
    campaign = replace(SPRING, mode=DialMode.PREDICTIVE)
    h = await make(campaign, [contact(i) for i in range(4)], agents=["1001", "1002"])
    await h.start()
    await dialing(h)
    assert h.ami.originates, "predictive placed no call"
    assert h.agents.made("reserve") == []  # predictive: an agent is found at the answer
    channel_id = h.ami.originates[0].channel_id or ""

    await h.store.set_campaign_state("spring", CampaignState.PAUSED)
    await h.service.reload("spring")
    await h.feed(h.answered(channel_id))
    await h.run_for(1)  # within the 2 s: rung, not given up on
    rung = h.ami.agents_dialed()
    assert rung in (["PJSIP/1001"], ["PJSIP/1002"]), f"no agent rung; redirected: {h.ami.redirects}"
    assert h.ami.written[len(h.ami.originates) :] == connect_actions(channel_id, rung[0])


# ---- (11) reviewed: reservations and memory over a long run ----------------------------------


async def test_a_preview_offer_is_withdrawn_when_its_campaign_stops_being_a_preview_campaign(
    make: Make,
) -> None:
    campaign = replace(SPRING, mode=DialMode.PREVIEW, agent_ids=frozenset({"1001"}))
    h = await make(campaign, [contact(0)], agents=["1001"])
    await h.start()
    await dialing(h, 1.0)
    offer = await h.service.preview_next("spring", "1001")
    assert offer is not None
    assert h.agents.status("1001") is AgentStatus.RESERVED

    # The campaign is switched to progressive while the agent reads the contact: the
    # offer can be neither dialed nor skipped any more, so it must not hold the agent.
    await h.store.put_campaign(replace(campaign, mode=DialMode.PROGRESSIVE))
    await h.service.reload("spring")
    with pytest.raises(DialerRefused):
        await h.service.preview_skip("spring", "1001", offer.contact.contact.id)
    assert h.service.preview_of("1001") is None
    assert h.agents.made("release") == [("1001", offer.channel_id)]


async def test_a_contact_whose_preview_offer_was_withdrawn_is_offered_again(make: Make) -> None:
    campaign = replace(SPRING, mode=DialMode.PREVIEW, agent_ids=frozenset({"1001"}))
    h = await make(campaign, [contact(0)], agents=["1001"])
    await h.start()
    await dialing(h, 1.0)
    offer = await h.service.preview_next("spring", "1001")
    assert offer is not None

    await h.store.set_campaign_state("spring", CampaignState.PAUSED)
    await h.service.reload("spring")  # the offer is withdrawn, the agent released
    assert h.agents.status("1001") is AgentStatus.AVAILABLE
    await h.store.set_campaign_state("spring", CampaignState.RUNNING)
    await h.service.reload("spring")
    await h.run_for(3.0)

    again = await h.service.preview_next("spring", "1001")
    assert again is not None, "the withdrawn contact is never offered again"
    assert again.contact.contact.id == "spring-0"


async def test_an_agent_pausing_while_reading_an_offer_gets_the_pause(make: Make) -> None:
    campaign = replace(SPRING, mode=DialMode.PREVIEW, agent_ids=frozenset({"1001"}))
    h = await make(campaign, [contact(0)], agents=["1001"])
    await h.start()
    await dialing(h, 1.0)
    offer = await h.service.preview_next("spring", "1001")
    assert offer is not None
    h.agents.pause("1001")  # reserved: the ACD keeps the pause for the release
    assert h.agents.status("1001") is AgentStatus.RESERVED
    await h.run_for(0.2)
    assert h.agents.status("1001") is AgentStatus.PAUSED  # the offer went back
    assert h.service.preview_of("1001") is None
    assert h.ami.originates == []
    h.agents.set("1001", AgentStatus.AVAILABLE)
    again = await h.service.preview_next("spring", "1001")
    assert again is not None
    assert again.contact.contact.id == "spring-0"


async def test_a_ringing_call_adopted_after_a_restart_has_its_agent_reserved_again(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(i) for i in range(4)], agents=["1001", "1002"])
    # The previous run placed a progressive call for agent 1001; after the restart the ACD
    # restored 1001 as available (a reservation does not survive it).
    await h.attempts.claim(
        "spring-0", channel_id="ccd-dial-old-0", now=h.now() - 5, agent_id="1001"
    )
    h.live = {"ccd-dial-old-0"}  # still ringing in Asterisk
    await h.start()
    await dialing(h)

    assert h.agents.reserved().get("1001") == "ccd-dial-old-0"
    assert len(h.ami.originates) == 1, "the adopted call's agent was counted twice"
    new_call = h.ami.originates[0].channel_id or ""
    assert h.agents.reserved() == {"1001": "ccd-dial-old-0", "1002": new_call}

    # The adopted call is answered: its own agent is rung, nobody else's.
    await h.feed(h.answered("ccd-dial-old-0"))
    assert h.ami.agents_dialed() == ["PJSIP/1001"]


async def test_a_ringing_call_adopted_after_a_restart_whose_agent_is_busy_finds_another(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001", "1002"])
    await h.attempts.claim(
        "spring-0", channel_id="ccd-dial-old-0", now=h.now() - 5, agent_id="1001"
    )
    h.live = {"ccd-dial-old-0"}
    h.agents.set("1001", AgentStatus.ON_CALL)  # took an inbound call since
    await h.start()
    await dialing(h)
    assert h.agents.made("reserve")[:1] == [("1001", "ccd-dial-old-0")]  # refused

    await h.feed(h.answered("ccd-dial-old-0"))
    assert h.ami.agents_dialed() == ["PJSIP/1002"]
    assert h.agents.reserved() == {"1002": "ccd-dial-old-0"}


async def test_a_conversation_adopted_after_a_restart_is_counted_once_in_the_abandon_rate(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    now = h.now()
    talking = await h.attempts.claim(
        "spring-0", channel_id="ccd-dial-old-0", now=now - 60, agent_id="1001"
    )
    await h.attempts.answered(talking.attempt_id, at=now - 50, amd_status=AmdStatus.HUMAN)
    await h.attempts.connected(talking.attempt_id, agent_id="1001", at=now - 49)
    h.live = {"ccd-dial-old-0"}
    h.agents.set("1001", AgentStatus.ON_CALL)  # the ACD restored its call
    await h.start()
    await dialing(h)
    view = h.service.live("spring")
    assert view is not None
    # The tallies read at start count the answered call already.
    assert view["abandonment"]["today"] == {"answered": 1, "abandoned": 0, "rate_pct": 0.0}

    await h.feed(h.hung_up("ccd-dial-old-0"))
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.ANSWERED
    view = h.service.live("spring")
    assert view is not None
    assert view["abandonment"]["today"] == {"answered": 1, "abandoned": 0, "rate_pct": 0.0}


async def test_an_originate_whose_connection_dropped_in_flight_is_followed_not_failed(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    # The Originate is written, then the AMI connection drops before its response: the
    # call may ring anyway. Finished as failed at once, a person answering would get
    # neither an agent nor the safe-harbor message (and the contact would be retried).
    h.ami.originate_error = AmiConnectionLost("Originate", "connection reset")
    await h.start()
    await dialing(h)
    channel_id = h.ami.channel_of(number(0))
    assert (await only_attempt(h, "spring-0")).outcome is None
    assert h.agents.reserved() == {"1001": channel_id}

    await h.feed(h.answered(channel_id))
    assert h.ami.agents_dialed() == ["PJSIP/1001"]


async def test_an_originate_lost_with_the_connection_is_hung_up_after_its_ring_time(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    h.ami.originate_error = AmiConnectionLost("Originate", "connection reset")
    await h.start()
    await dialing(h)
    channel_id = h.ami.channel_of(number(0))
    await h.run_for(SPRING.ring_timeout_s + 10)
    assert h.ami.hangups == [channel_id]  # in case it rings after all
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.FAILED
    assert h.agents.status("1001") is AgentStatus.AVAILABLE


async def test_an_originate_refused_before_it_was_written_fails_at_once(make: Make) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    h.ami.originate_error = AmiNotConnected()
    await h.start()
    await dialing(h, 1.0)
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.FAILED
    assert h.agents.made("release")


async def test_a_call_whose_hang_up_the_ami_outage_hid_leaves_nothing_behind(make: Make) -> None:
    h, channel_id = await one_call(make, agents=["1001"])
    name = f"Local/{number(0)}@ccd-dialer-00000001;1"
    h.live = {channel_id}
    await h.feed(h.created(channel_id, name), h.answered(channel_id))
    assert h.ami.agents_dialed() == ["PJSIP/1001"]  # the agent's Dial is being set up
    # The AMI connection drops; the customer hangs up meanwhile (nobody sees it).
    h.resynced = False
    h.live = set()
    await h.run_for(3.0)
    h.resynced = True
    await h.feed(ResyncFinished(at=h.at(), channel_count=0))
    await h.run_for(0.1)
    assert (await only_attempt(h, "spring-0")).outcome is Outcome.ABANDONED
    # What the service keeps per call is gone with it (days of outages must not pile up).
    service = h.service
    assert (service._names, service._connecting, service._agent_legs, service._ring_legs) == (
        {},
        {},
        {},
        {},
    )


async def test_a_campaign_list_read_before_a_pause_does_not_start_the_campaign_again(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    await h.start()
    listed = h.store.list_campaigns

    async def slow_list() -> list[StoredCampaign]:
        stored = await listed()  # read now, answered a second later
        await h.clock.sleep(1.0)
        return stored

    h.store.list_campaigns = slow_list  # type: ignore[method-assign]
    await h.run_for(0.1)  # the periodic poll has read the campaign running
    await h.store.set_campaign_state("spring", CampaignState.PAUSED)
    await h.service.reload("spring")
    await h.run_for(1.5)  # the poll's answer arrives: older than the pause
    view = h.service.live("spring")
    assert view is not None
    assert view["dialing"] is False
    h.resynced = True
    await h.run_for(2.0)
    assert h.ami.originates == []


async def test_a_campaign_list_read_before_a_campaign_was_created_does_not_drop_it(
    make: Make,
) -> None:
    h = await make(SPRING, [contact(0)], agents=["1001"])
    await h.start()
    listed = h.store.list_campaigns

    async def slow_list() -> list[StoredCampaign]:
        stored = await listed()
        await h.clock.sleep(1.0)
        return stored

    h.store.list_campaigns = slow_list  # type: ignore[method-assign]
    await h.run_for(0.1)  # the periodic poll has read the campaigns: "autumn" is not one
    await h.store.put_campaign(replace(SPRING, id="autumn", name="Autumn"))
    await h.service.reload("autumn")
    await h.run_for(1.5)  # the poll's answer arrives
    view = h.service.live("autumn")
    assert view is not None
    assert view["dialing"] is True
    assert "agents" in view, "the new campaign was dropped by the stale list"


async def test_a_preview_call_waits_for_the_previous_runs_attempts_and_the_tallies(
    make: Make,
) -> None:
    campaign = replace(SPRING, mode=DialMode.PREVIEW, agent_ids=frozenset({"1001"}))
    h = await make(campaign, [contact(0)], agents=["1001"], slow={"open_attempts": 1.0})
    await h.start()
    await dialing(h, 0.5)  # resynchronised; the open attempts are still being read
    with pytest.raises(DialerRefused, match="not ready"):
        await h.service.preview_next("spring", "1001")
    assert h.agents.made("reserve") == []
    await h.run_for(1.5)  # settled, tallies loaded
    offer = await h.service.preview_next("spring", "1001")
    assert offer is not None
    await h.service.preview_dial("spring", "1001", offer.contact.contact.id)
    await h.drain()
    assert h.ami.numbers() == [number(0)]


async def test_two_agents_asking_for_a_preview_at_once_never_get_a_contact_twice(
    make: Make,
) -> None:
    campaign = replace(SPRING, mode=DialMode.PREVIEW)
    h = await make(campaign, [contact(0), contact(1)], agents=["1001", "1002", "1003"])
    await h.start()
    await dialing(h, 1.0)
    due = h.store.due_contacts

    async def slow_due(*args: object, **kwargs: object) -> list[StoredContact]:
        found = await due(*args, **kwargs)  # type: ignore[arg-type]
        await h.clock.sleep(0.1)
        return found

    h.store.due_contacts = slow_due  # type: ignore[method-assign]
    asks = [  # named so that the harness waits for them like the service's own tasks
        asyncio.create_task(h.service.preview_next("spring", agent), name=f"ccd-dialer-{agent}")
        for agent in ("1001", "1002")
    ]
    await h.run_for(0.5)
    first, second = [ask.result() for ask in asks]
    h.store.due_contacts = due  # type: ignore[method-assign]
    assert first is not None
    assert second is not None
    assert {first.contact.contact.id, second.contact.contact.id} == {"spring-0", "spring-1"}
    await h.service.preview_dial("spring", "1001", first.contact.contact.id)
    await h.run_for(3.0)
    # Both contacts are taken (one dialing, one offered): nothing else to offer.
    assert await h.service.preview_next("spring", "1003") is None
