"""The running ACD (AcdService + the real AcdEngine) against a fake AMI, a fake store and a
clock the test moves: what Asterisk is asked to do, what the CDR and the websocket see,
and what agents and supervisors get back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

import pytest

from ccd.acd.model import Agent, PauseReason, Queue, Strategy
from ccd.acd.ports import AcdRefused
from ccd.acd.rings import HANGUP_RETRY_S
from ccd.acd.service import SESSION_FLUSH_S, TICK_S, AcdService
from ccd.acd.waiting import Leave, QueueRefused
from ccd.ami.actions import CallerId, OriginateAction, RingAgentAction
from ccd.db.acd_store import SessionEntry
from ccd.domain import contract
from ccd.domain.events import (
    AgentRingStarted,
    QueueConnected,
    QueueEntered,
    QueueExit,
    QueueLeft,
    ResyncFinished,
)
from tests.clock import FakeClock, settle
from tests.integration.acdfakes import (
    REASON_BUSY,
    REASON_CONGESTION,
    REASON_NO_ANSWER,
    T0,
    FakeAmi,
    FakeStore,
    Rig,
    arrival,
    make_config,
    pass_time_until,
    running_acd,
)

ADA = Agent("1001", "PJSIP/1001", name="Ada")
BOB = Agent("1002", "PJSIP/1002", name="Bob")
CY = Agent("1003", "PJSIP/1003", name="Cy")


def sales(**overrides: object) -> Queue:
    settings: dict[str, object] = {
        "strategy": Strategy.LINEAR,
        "ring_timeout_s": 15.0,
        "max_no_answer": 2,
    }
    settings.update(overrides)
    return Queue("sales", **settings)  # type: ignore[arg-type]


async def test_caller_with_an_available_agent_rings_that_agent_with_a_bridge_to_the_caller() -> (
    None
):
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        caller = arrival(1, caller_name='Jane "JD" Doe')
        ticket = rig.service.arrive(caller)
        [ring] = await rig.ami.wait_rings(1)
        await rig.clock.step(TICK_S)  # nothing else follows

        assert len(rig.ami.sent) == 1
        # A ring into a bridge (Originate Application=Bridge, never a dialplan context:
        # the header dict it becomes is checked in test_ami_gateway).
        assert isinstance(ring, RingAgentAction)
        assert ring.interface == "PJSIP/1001"
        # The only thing the caller controls is their name: it never reaches Data.
        assert ring.caller_channel == caller.channel
        assert ring.caller_after_context == contract.QUEUE_AFTER_CONTEXT
        assert ring.channel_id
        assert ring.channel_id != ring.action_id
        assert ring.timeout_s == 15.0
        assert ring.caller_id == CallerId("5551234", 'Jane "JD" Doe')
        assert ring.caller_id.header() == '"Jane JD Doe" <5551234>'
        assert ring.variables[contract.VAR_ACD_AGENT] == "1001"
        assert ring.variables[contract.VAR_ACD_CALL] == caller.call_id
        assert ring.variables[contract.VAR_QUEUE] == "sales"
        assert rig.status("1001") == "reserved"
        assert not ticket.leave.done()


async def test_answer_publishes_entered_then_connected_and_the_agent_hangup_ends_the_call() -> None:
    config = make_config([sales(wrapup_s=10.0)], [ADA])
    async with running_acd(config, login=["1001"]) as rig:
        caller = arrival(1)
        rig.service.arrive(caller)
        [originate] = await rig.ami.wait_rings(1)
        rig.clock.advance(7)
        rig.answered(originate)

        entered, ring, connected = rig.published
        assert isinstance(ring, AgentRingStarted)
        # The agent's channels (linkedid = the Originate's ChannelId) belong to the caller's call.
        assert (ring.linkedid, ring.leg_linkedid, ring.agent_id, ring.queue) == (
            caller.linkedid,
            originate.channel_id,
            "1001",
            "sales",
        )
        assert isinstance(entered, QueueEntered)
        assert (entered.linkedid, entered.queue, entered.joined_at) == (
            caller.linkedid,
            "sales",
            T0,
        )
        assert isinstance(connected, QueueConnected)
        assert (connected.linkedid, connected.queue, connected.agent_id) == (
            caller.linkedid,
            "sales",
            "1001",
        )
        assert connected.wait_s == pytest.approx(7.0)
        assert connected.wrapup_s == 10.0
        live = rig.service.agent_live("1001")
        assert live is not None
        assert (live["status"], live["call_id"], live["calls_taken"]) == (
            "on_call",
            caller.call_id,
            1,
        )
        # The caller's own hangup after the bridge is not an abandon.
        rig.clock.advance(60)
        rig.hung_up(caller.uniqueid)
        assert rig.status("1001") == "on_call"

        rig.hung_up(originate.channel_id)
        assert rig.status("1001") == "wrap_up"
        live = rig.service.agent_live("1001")
        assert live is not None
        assert live["talk_s"] == pytest.approx(60.0)
        await rig.clock.step(10)
        assert rig.status("1001") == "available"
        assert [s for s, _ in rig.agent_states("1001")] == [
            "available",
            "reserved",
            "on_call",
            "wrap_up",
            "available",
        ]
        assert not rig.of_type(QueueLeft)
        assert not [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]


async def test_busy_agent_is_skipped_for_the_next_without_counting_a_no_answer() -> None:
    config = make_config([sales(max_no_answer=1)], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"]) as rig:
        rig.service.arrive(arrival(1))
        [first] = await rig.ami.wait_rings(1)
        assert first.interface == "PJSIP/1001"
        rig.failed(first, REASON_BUSY)

        second = (await rig.ami.wait_rings(2))[1]
        assert second.interface == "PJSIP/1002"
        # max_no_answer is 1: a single counted no-answer would have paused Ada.
        assert rig.status("1001") == "available"
        assert ("paused", "no-answer") not in rig.agent_states("1001")


@pytest.mark.parametrize("reason", [REASON_BUSY, REASON_CONGESTION])
async def test_a_busy_only_agent_is_not_originated_again_at_once(reason: int) -> None:
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        rig.service.arrive(arrival(1))
        # Asterisk answers each Originate to the busy device within milliseconds: every
        # ring sent while a few ticks pass is answered "busy" at once.
        answered = 0
        for _ in range(4):
            while answered < len(rig.ami.rings):
                rig.failed(rig.ami.rings[answered], reason)
                answered += 1
            await rig.clock.step(TICK_S)
        # Like a device seen busy before ringing: look again a few seconds later.
        assert len(rig.ami.rings) == 1
        await pass_time_until(rig.clock, lambda: len(rig.ami.rings) == 2)
        assert rig.ami.rings[1].interface == "PJSIP/1001"


async def test_two_no_answers_auto_pause_the_agent_and_every_transition_is_sent() -> None:
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        rig.service.arrive(arrival(1))
        [first] = await rig.ami.wait_rings(1)
        rig.failed(first, REASON_NO_ANSWER)
        # The only agent is offered the same caller again once RING_RETRY_S has passed.
        await pass_time_until(rig.clock, lambda: len(rig.ami.rings) >= 2)
        second = rig.ami.rings[1]
        assert second.interface == "PJSIP/1001"
        assert second.action_id != first.action_id
        assert second.channel_id != first.channel_id
        rig.failed(second, REASON_NO_ANSWER)

        live = rig.service.agent_live("1001")
        assert live is not None
        assert (live["status"], live["reason"]) == ("paused", "no-answer")
        assert rig.agent_states("1001") == [
            ("available", None),
            ("reserved", None),
            ("available", None),
            ("reserved", None),
            ("paused", "no-answer"),
        ]
        await rig.clock.step(10)
        assert len(rig.ami.rings) == 2  # nobody left to ring
        # The caller keeps waiting; an unpause rings the agent again.
        await rig.service.unpause("1001")
        third = (await rig.ami.wait_rings(3))[2]
        assert third.interface == "PJSIP/1001"


async def test_ring_timeout_hangs_up_the_ringing_channel_and_rings_the_next_agent() -> None:
    config = make_config([sales(ring_timeout_s=15.0, max_no_answer=3)], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"]) as rig:
        rig.service.arrive(arrival(1))
        [first] = await rig.ami.wait_rings(1)
        await rig.clock.step(15)
        [hung] = await rig.ami.wait_hangups(1)
        assert hung == first.channel_id
        second = (await rig.ami.wait_rings(2))[1]
        assert second.interface == "PJSIP/1002"
        # Asterisk's own failure report for the cancelled ring changes nothing more.
        rig.failed(first, REASON_NO_ANSWER)
        assert rig.status("1001") == "available"
        assert rig.status("1002") == "reserved"
        assert rig.agent_states("1001").count(("available", None)) == 2


async def test_caller_hanging_up_while_ringing_cancels_the_ring_and_a_late_answer_is_dropped() -> (
    None
):
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        caller = arrival(1)
        rig.service.arrive(caller)
        [originate] = await rig.ami.wait_rings(1)
        rig.clock.advance(4)
        rig.hung_up(caller.uniqueid)

        assert await rig.ami.wait_hangups(1) == [originate.channel_id]
        assert rig.status("1001") == "available"
        [abandoned] = [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]
        assert abandoned["waited_s"] == pytest.approx(4.0)

        # The agent picked up just as the caller left: their leg is hung up at once.
        rig.answered(originate)
        assert await rig.ami.wait_hangups(2) == [originate.channel_id] * 2
        assert rig.status("1001") == "available"
        assert not rig.of_type(QueueConnected)
        rig.hung_up(originate.channel_id)
        assert rig.status("1001") == "available"
        live = rig.service.agent_live("1001")
        assert live is not None
        assert live["calls_taken"] == 0


async def test_agent_hangup_reported_before_the_answer_does_not_leave_the_agent_on_a_call() -> None:
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        rig.service.arrive(arrival(1))
        [originate] = await rig.ami.wait_rings(1)
        # Answered and hung up at once: both AMI events race; here the Hangup wins.
        rig.hung_up(originate.channel_id)
        rig.answered(originate)
        await settle()
        assert rig.status("1001") != "on_call"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "voicemail:100@default",
            Leave(
                contract.QueueAction.VOICEMAIL, {contract.VAR_QUEUE_VOICEMAIL_BOX: "100@default"}
            ),
        ),
        (
            "transfer:reception,200",
            Leave(
                contract.QueueAction.TRANSFER,
                {
                    contract.VAR_QUEUE_NEXT_CONTEXT: "reception",
                    contract.VAR_QUEUE_NEXT_EXTEN: "200",
                },
            ),
        ),
        ("hangup", Leave(contract.QueueAction.HANGUP)),
        (None, Leave(contract.QueueAction.HANGUP)),
    ],
)
async def test_max_wait_sends_the_caller_to_the_overflow_target(
    target: str | None, expected: Leave
) -> None:
    config = make_config([sales(max_wait_s=30.0, overflow_target=target)], [ADA])
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")  # logged in, nobody free
        caller = arrival(1)
        ticket = rig.service.arrive(caller)
        await rig.clock.step(29)  # ticks run
        assert not ticket.leave.done()

        await rig.clock.step(2)
        assert ticket.leave.done()
        assert ticket.leave.result() == expected
        [left] = rig.of_type(QueueLeft)
        assert (left.linkedid, left.queue, left.reason) == (
            caller.linkedid,
            "sales",
            QueueExit.TIMED_OUT,
        )
        assert left.wait_s == pytest.approx(31.0, abs=0.5)
        assert not rig.ami.sent
        # Its later hangup (in voicemail, say) is not an abandon.
        rig.hung_up(caller.uniqueid)
        assert not [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]


async def test_callback_destination_thanks_the_caller_and_calls_back_later() -> None:
    config = make_config([sales(max_wait_s=30.0, overflow_target="callback")], [ADA])
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        # Joined 0.25 s ago (the dialplan's join time has milliseconds).
        joined = T0.timestamp() - 0.25
        caller = arrival(1, caller_num="5557777", joined_at=joined)
        ticket = rig.service.arrive(caller)
        await rig.clock.step(31)
        assert ticket.leave.done()
        assert ticket.leave.result() == Leave(contract.QueueAction.CALLBACK)
        [left] = rig.of_type(QueueLeft)
        assert left.reason == QueueExit.CALLBACK
        rig.hung_up(caller.uniqueid)  # hears the thank-you and hangs up: not an abandon
        assert not [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]
        await rig.service.unpause("1001")
        [call_back] = await rig.ami.wait_callbacks(1)
        assert call_back.channel == f"Local/5557777@{contract.CALLBACK_DIAL_CONTEXT}"
        assert (call_back.context, call_back.exten) == (contract.QUEUE_CALLBACK_CONTEXT, "s")
        assert call_back.timeout_s == 45.0
        assert call_back.channel_id
        assert call_back.variables == {
            contract.VAR_QUEUE: "sales",
            contract.VAR_QUEUE_JOINED: f"{joined:.3f}",  # the exact place in line
            contract.VAR_ACD_CALLBACK: caller.call_id,
        }


async def test_nobody_logged_in_overflows_at_once() -> None:
    config = make_config([sales(overflow_target="voicemail:100")], [ADA])
    async with running_acd(config) as rig:
        ticket = rig.service.arrive(arrival(1))
        assert ticket.leave.done()
        assert ticket.leave.result() == Leave(
            contract.QueueAction.VOICEMAIL, {contract.VAR_QUEUE_VOICEMAIL_BOX: "100"}
        )
        [left] = rig.of_type(QueueLeft)
        assert left.reason is QueueExit.OVERFLOWED


async def test_overflow_to_another_queue_keeps_the_caller_waiting_there() -> None:
    config = make_config(
        [sales(max_wait_s=30.0, overflow_target="queue:support"), Queue("support")],
        [ADA, BOB],
        memberships={"1001": ["sales"], "1002": ["support"]},
    )
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        ticket = rig.service.arrive(arrival(1))
        await rig.service.login("1002", None)
        await rig.service.pause("1002", "training")
        await rig.clock.step(31)
        assert rig.service.queue_live("support")["waiting"] == 1  # type: ignore[index]
        assert not ticket.leave.done()
        await rig.service.unpause("1002")
        [originate] = await rig.ami.wait_rings(1)
        assert originate.interface == "PJSIP/1002"


async def test_ami_down_neither_crashes_nor_pauses_and_the_agent_is_tried_again() -> None:
    async with running_acd(make_config([sales(max_no_answer=1)], [ADA]), login=["1001"]) as rig:
        rig.ami.down = True
        ticket = rig.service.arrive(arrival(1))
        await rig.clock.step(TICK_S)
        assert not rig.ami.sent
        assert rig.status("1001") != "paused"
        rig.ami.down = False
        await pass_time_until(rig.clock, lambda: bool(rig.ami.rings))
        [originate] = rig.ami.rings
        assert originate.interface == "PJSIP/1001"
        assert ("paused", "no-answer") not in rig.agent_states("1001")
        assert not ticket.leave.done()
        rig.answered(originate)
        assert rig.status("1001") == "on_call"


async def test_device_busy_outside_ccd_is_skipped_without_an_originate() -> None:
    busy = {"PJSIP/1001"}
    config = make_config([sales(max_no_answer=1)], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"], interface_busy=busy.__contains__) as rig:
        rig.service.arrive(arrival(1))
        [originate] = await rig.ami.wait_rings(1, timeout_s=4)
        assert originate.interface == "PJSIP/1002"
        assert rig.status("1001") == "available"
        assert all(o.interface != "PJSIP/1001" for o in rig.ami.rings)


async def test_device_busy_outside_ccd_does_not_delay_the_caller() -> None:
    busy = {"PJSIP/1001"}
    config = make_config([sales()], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"], interface_busy=busy.__contains__) as rig:
        rig.service.arrive(arrival(1))
        await settle()  # no tick: the clock has not moved
        [originate] = rig.ami.rings
        assert originate.interface == "PJSIP/1002"


async def test_start_restores_agents_from_the_session_log() -> None:
    config = make_config([sales(), Queue("support")], [ADA, BOB, CY])
    before = T0 - timedelta(hours=1)
    latest = {
        "1001": SessionEntry("1001", "available", None, None, ("sales",), before),
        "1002": SessionEntry("1002", "paused", "lunch", None, ("sales", "support"), before),
        "1003": SessionEntry("1003", "logged_out", None, None, (), before),
        "9999": SessionEntry("9999", "available", None, None, ("sales",), before),  # removed
    }
    async with running_acd(config, latest=latest) as rig:
        ada, bob = rig.service.agent_live("1001"), rig.service.agent_live("1002")
        assert ada is not None
        assert bob is not None
        assert (ada["status"], ada["queues"]) == ("available", ["sales"])
        assert (bob["status"], bob["reason"], bob["queues"]) == (
            "paused",
            "lunch",
            ["sales", "support"],
        )
        assert rig.service.agent_live("1003") is None
        assert rig.service.agent_live("9999") is None
        # The restored available agent takes calls straight away.
        rig.service.arrive(arrival(1))
        [originate] = await rig.ami.wait_rings(1)
        assert originate.interface == "PJSIP/1001"


async def test_session_log_rows_reach_the_store_and_a_failed_write_is_retried() -> None:
    async with running_acd(make_config([sales()], [ADA]), failing_appends=2) as rig:
        await rig.service.login("1001", None)
        rig.clock.advance(5)
        await rig.service.pause("1001", "lunch")
        await pass_time_until(rig.clock, lambda: len(rig.store.rows) >= 2, step_s=SESSION_FLUSH_S)
        assert rig.store.append_attempts >= 3
        rows = [(r.agent_id, r.status, r.reason, r.queue_ids, r.at) for r in rig.store.rows]
        assert rows == [
            ("1001", "available", None, ("sales",), T0),
            ("1001", "paused", "lunch", ("sales",), T0 + timedelta(seconds=5)),
        ]
        rig.clock.advance(5)
        await rig.service.logout("1001")
    # stop() flushes what is left, once.
    assert [r.status for r in rig.store.rows] == ["available", "paused", "logged_out"]


@pytest.mark.parametrize(
    ("action", "named"),
    [
        (lambda s: s.login("7777", None), "7777"),
        (lambda s: s.login("1001", ["sales", "nowhere"]), "nowhere"),
        (lambda s: s.pause("1001", "nap"), "nap"),
        (lambda s: s.pause("7777", "lunch"), "7777"),
        (lambda s: s.join("1001", "nowhere"), "nowhere"),
        (lambda s: s.unpause("1002"), "1002"),  # configured, not logged in
    ],
)
async def test_refusals_name_what_is_unknown(action: object, named: str) -> None:
    async with running_acd(make_config([sales()], [ADA, BOB]), login=["1001"]) as rig:
        with pytest.raises(AcdRefused, match=named):
            await action(rig.service)  # type: ignore[operator]
        assert rig.status("1001") == "available"


async def test_nothing_is_accepted_before_start() -> None:
    service = AcdService(
        ami=FakeAmi(),
        store=FakeStore(make_config([sales()], [ADA])),
        publish=lambda _event: None,
        on_message=lambda _message: None,
        clock=FakeClock(T0),
    )
    with pytest.raises(QueueRefused):
        service.arrive(arrival(1))
    await service.reload_config()
    with pytest.raises(AcdRefused, match="not running"):
        await service.login("1001", None)


async def test_unknown_queue_is_refused_to_the_hold_session() -> None:
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        with pytest.raises(QueueRefused, match="nowhere"):
            rig.service.arrive(arrival(1, queue_id="nowhere"))
        assert not rig.published


async def test_ring_all_connects_the_first_to_answer_and_hangs_up_the_others() -> None:
    config = make_config([sales(strategy=Strategy.RING_ALL)], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"]) as rig:
        rig.service.arrive(arrival(1))
        ada_ring, bob_ring = await rig.ami.wait_rings(2)
        assert {ada_ring.interface, bob_ring.interface} == {"PJSIP/1001", "PJSIP/1002"}
        if bob_ring.interface == "PJSIP/1001":
            ada_ring, bob_ring = bob_ring, ada_ring
        rig.answered(bob_ring)
        assert await rig.ami.wait_hangups(1) == [ada_ring.channel_id]
        assert rig.status("1002") == "on_call"
        assert rig.status("1001") == "available"
        # Ada answered too, a moment too late: her leg is hung up, Bob keeps the call.
        rig.answered(ada_ring)
        assert await rig.ami.wait_hangups(2) == [ada_ring.channel_id] * 2
        assert [c.agent_id for c in rig.of_type(QueueConnected)] == ["1002"]
        assert rig.status("1001") == "available"


async def test_pausing_a_ringing_agent_cancels_the_ring_and_rings_the_next() -> None:
    config = make_config([sales()], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"]) as rig:
        rig.service.arrive(arrival(1))
        [first] = await rig.ami.wait_rings(1)
        await rig.service.pause("1001", "lunch")
        assert await rig.ami.wait_hangups(1) == [first.channel_id]
        second = (await rig.ami.wait_rings(2))[1]
        assert second.interface == "PJSIP/1002"
        live = rig.service.agent_live("1001")
        assert live is not None
        assert (live["status"], live["reason"]) == ("paused", "lunch")


async def test_an_overflow_delivered_on_re_entry_does_not_follow_the_call_forever() -> None:
    config = make_config(
        [sales(max_wait_s=20.0, overflow_target="transfer:ivr-main,s"), Queue("support")],
        [ADA],
    )
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        caller = arrival(1)
        first = rig.service.arrive(caller)
        rig.service.departed(first)  # ccd's AGI session dropped; the dialplan retries
        await rig.clock.step(21)  # the max wait passes while nobody holds the caller
        again = rig.service.arrive(caller)
        assert again.leave.done()  # delivered on re-entry: right
        assert again.leave.result().action == contract.QueueAction.TRANSFER
        rig.service.departed(again)
        # The IVR behind the transfer puts the same call in another queue.
        later = rig.service.arrive(arrival(1, queue_id="support"))
        assert not later.leave.done()


async def test_an_originate_lost_in_flight_is_hung_up_before_the_caller_is_offered_again() -> None:
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        rig.ami.lose_in_flight = 1
        rig.service.arrive(arrival(1))
        # The engine offers the caller again after its busy pause (clock seconds).
        await pass_time_until(rig.clock, lambda: len(rig.ami.rings) >= 1)
        [retry] = rig.ami.rings
        [lost] = rig.ami.lost
        assert retry.channel_id != lost.channel_id
        # Asterisk may have the lost one ringing: ccd knows its ChannelId and must end it.
        assert lost.channel_id in rig.ami.hangups()


async def test_hanging_up_a_lost_ring_is_retried_on_the_acd_clock() -> None:
    async with running_acd(make_config([sales()], [ADA]), login=["1001"]) as rig:
        rig.ami.lose_in_flight = 1
        rig.ami.failing_hangups = 1  # AMI still down for the first try
        rig.service.arrive(arrival(1))
        await settle()
        [lost] = rig.ami.lost
        assert rig.ami.hangups() == []
        await rig.clock.step(HANGUP_RETRY_S - TICK_S)
        assert rig.ami.hangups() == []
        await rig.clock.step(TICK_S)
        assert rig.ami.hangups() == [lost.channel_id]


async def test_a_call_back_hung_up_before_reaching_the_queue_is_tried_again() -> None:
    queue = sales(callback_key="5")
    async with running_acd(make_config([queue], [ADA]), login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        first = rig.service.arrive(arrival(1, caller_num="5551111"))
        second = rig.service.arrive(arrival(2, caller_num="5552222"))
        rig.service.callback_requested(first)
        rig.service.callback_requested(second)
        assert first.leave.done()
        assert second.leave.done()
        rig.hung_up(first.arrival.uniqueid)  # both hear "thank you" and hang up
        rig.hung_up(second.arrival.uniqueid)
        await rig.service.unpause("1001")
        [call_back] = await rig.ami.wait_callbacks(1)
        assert call_back.channel.startswith("Local/5551111@")
        # The customer answers, then hangs up before ccd-queue-wait's AGI reaches ccd.
        rig.answered(call_back, uniqueid="1764064100.1")
        rig.hung_up("1764064100.1", name="Local/5551111@ccd-callback-dial-00000001;1")
        # The next customer in line is called meanwhile (and does not answer) ...
        await pass_time_until(rig.clock, lambda: len(rig.ami.callbacks) >= 2)
        assert rig.ami.callbacks[1].channel.startswith("Local/5552222@")
        rig.failed(rig.ami.callbacks[1], REASON_NO_ANSWER)
        # ... and the first is tried again after the engine's call-back retry delay.
        await pass_time_until(rig.clock, lambda: len(rig.ami.callbacks) >= 3, step_s=5.0)
        assert rig.ami.callbacks[2].channel == call_back.channel


async def test_a_resync_settles_the_hangups_a_dropped_ami_connection_hid() -> None:
    live: dict[str, str] = {}
    config = make_config([sales()], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"], live_channels=lambda: live) as rig:
        await rig.service.pause("1002", "lunch")
        rig.service.arrive(arrival(1))
        [originate] = await rig.ami.wait_rings(1)
        rig.answered(originate)
        waiting = arrival(2)
        rig.service.arrive(waiting)
        assert rig.status("1001") == "on_call"
        # AMI drops; Ada's call and the waiting caller both end unseen; the resync after
        # the reconnect finds neither channel.
        rig.clock.advance(30)
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=0))

        [abandoned] = [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]
        assert abandoned["call_id"] == waiting.call_id
        assert rig.status("1001") == "available"
        await rig.clock.step(TICK_S)
        assert len(rig.ami.rings) == 1  # Ada is not offered the caller who left


@asynccontextmanager
async def calling_back(
    live_channels: dict[str, str],
) -> AsyncIterator[tuple[Rig, OriginateAction]]:
    """A caller who asked for a call back, hung up, and is being called back (the call
    back's Originate is yielded); ``live_channels`` is what a resync would see."""
    config = make_config([sales(callback_key="5")], [ADA])
    async with running_acd(config, login=["1001"], live_channels=lambda: live_channels) as rig:
        await rig.service.pause("1001", "lunch")
        ticket = rig.service.arrive(arrival(1, caller_num="5551111"))
        rig.service.callback_requested(ticket)
        rig.hung_up(ticket.arrival.uniqueid)
        await rig.service.unpause("1001")
        [call_back] = await rig.ami.wait_callbacks(1)
        yield rig, call_back


async def test_a_call_back_hung_up_while_ami_was_down_is_tried_again_after_the_resync() -> None:
    async with calling_back(live_channels={}) as (rig, call_back):
        rig.answered(call_back, uniqueid="1764064100.1")
        # AMI drops; the customer hangs up before the queue's AGI reaches ccd, unseen.
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=0))
        await pass_time_until(rig.clock, lambda: len(rig.ami.callbacks) >= 2, step_s=5.0)
        assert rig.ami.callbacks[1].channel == call_back.channel


async def test_a_call_back_whose_result_was_lost_with_ami_is_tried_again_after_the_resync() -> None:
    async with calling_back(live_channels={}) as (rig, call_back):
        assert call_back.channel_id  # known before Asterisk creates the channel
        # AMI drops before the OriginateResponse; after the reconnect nothing of that
        # call back is live: it failed, and is placed again later.
        rig.clock.advance(5)
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=0))
        await pass_time_until(rig.clock, lambda: len(rig.ami.callbacks) >= 2, step_s=5.0)
        assert rig.ami.callbacks[1].channel == call_back.channel
        assert rig.ami.callbacks[1].channel_id != call_back.channel_id


async def test_a_failing_command_does_not_drop_the_others_of_the_same_step() -> None:
    messages: list[str] = []

    def busy(interface: str) -> bool:
        if interface == "PJSIP/1001":
            raise RuntimeError("device state unavailable")
        return False

    config = make_config([sales(strategy=Strategy.RING_ALL)], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"], interface_busy=busy) as rig:
        rig.service.arrive(arrival(1))
        # Ada's ring failed inside ccd; Bob's ring, decided in the same step, went out.
        [ring] = await rig.ami.wait_rings(1)
        assert ring.interface == "PJSIP/1002"
        messages.extend(m["type"] for m in rig.messages)
        assert "queue.caller_joined" in messages


async def test_a_failing_tick_does_not_stop_the_acd_clock() -> None:
    checks = 0

    def busy(_interface: str) -> bool:
        nonlocal checks
        checks += 1
        if checks == 1:
            return True  # skipped; a tick offers the caller again
        if checks == 2:
            raise RuntimeError("device state unavailable")  # during that tick
        return False

    config = make_config([sales()], [ADA])
    async with running_acd(config, login=["1001"], interface_busy=busy) as rig:
        rig.service.arrive(arrival(1))
        # Ring timeouts still run: the ring that never went out ends and Ada is rung.
        await pass_time_until(rig.clock, lambda: bool(rig.ami.rings), step_s=1.0)
        assert rig.ami.rings[0].interface == "PJSIP/1001"


async def test_a_call_back_offer_made_between_agi_retries_is_not_told_to_the_customer() -> None:
    config = make_config([sales(max_wait_s=30.0, overflow_target="callback")], [ADA])
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        caller = arrival(1, caller_num="5557777")
        rig.service.departed(rig.service.arrive(caller))  # ccd's AGI session dropped
        await rig.clock.step(31)  # offered a call back while nobody holds the caller
        rig.hung_up(caller.uniqueid)  # ... and the caller hangs up before the AGI retry
        await rig.service.unpause("1001")
        [call_back] = await rig.ami.wait_callbacks(1)
        rig.answered(call_back, uniqueid="1764064100.1")
        customer = replace(
            caller,
            callback_of=caller.call_id,
            linkedid="1764064100.1",
            uniqueid="1764064100.1",
            channel="Local/5557777@ccd-callback-dial-00000001;1",
        )
        ticket = rig.service.arrive(customer)
        assert not ticket.leave.done()  # the offer was for the first call, not this one
        [ring] = await rig.ami.wait_rings(1)
        assert ring.interface == "PJSIP/1001"


async def test_stop_during_a_session_log_write_loses_nothing() -> None:
    async with running_acd(make_config([sales()], [ADA]), first_append_hangs=True) as rig:
        await rig.service.login("1001", None)
        await rig.clock.step(SESSION_FLUSH_S)
        await rig.store.append_started.wait()
        assert rig.store.append_attempts == 1
    # The service is stopped (SIGTERM) while that write was in progress.
    assert [r.status for r in rig.store.rows] == ["available"]


async def test_an_agent_on_a_call_across_a_restart_is_not_rung_mid_call() -> None:
    before = T0 - timedelta(minutes=2)
    latest = {"1001": SessionEntry("1001", "on_call", None, "1764063000.1", ("sales",), before)}
    # The daemon's device-state check ignores ccd's own agent legs (ccd-acd-… uniqueids),
    # so the ongoing ACD call does not make PJSIP/1001 look busy either.
    async with running_acd(make_config([sales()], [ADA]), latest=latest) as rig:
        rig.service.arrive(arrival(1))
        await rig.clock.step(TICK_S)
        assert rig.ami.rings == []


async def test_the_last_agent_logging_out_sends_waiting_callers_to_the_no_agents_target() -> None:
    config = make_config([sales(no_agents_target="voicemail:100")], [ADA])
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        ticket = rig.service.arrive(arrival(1))
        assert not ticket.leave.done()
        await rig.service.logout("1001")
        await rig.clock.step(5)
        assert ticket.leave.done()
        assert ticket.leave.result().action == contract.QueueAction.VOICEMAIL


async def test_a_pause_over_its_time_limit_is_flagged_not_ended() -> None:
    config = make_config([sales()], [ADA])
    config = replace(
        config, pause_reasons={"lunch": PauseReason("lunch", billable=False, time_limit_s=3600)}
    )
    async with running_acd(config, login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        live = rig.service.agent_live("1001")
        assert live is not None
        assert (live["status"], live["billable"], live["pause_over_limit"]) == (
            "paused",
            False,
            False,
        )
        rig.clock.advance(3601)
        live = rig.service.agent_live("1001")
        assert live is not None
        assert (live["status"], live["pause_over_limit"]) == ("paused", True)
        assert live["in_state_s"] == pytest.approx(3601, abs=1)
