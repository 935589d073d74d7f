"""ccd's ACD on the real Asterisk sandbox and real PostgreSQL.

Callers are Local channels waiting in ``ccd-queue-wait`` (FastAGI hold session, music on
hold); agents are the ``ccd-agents`` simulator: 1001 answers (talks ``CCD_SIM_TALK_S``),
1002 never answers, 1003 is busy. ccd connects agents with Originate Application=Bridge.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from ccd.acd.model import Queue, Strategy
from ccd.domain.auth import Role
from ccd.domain.events import QueueExit
from tests.ports import free_port
from tests.system.acdrig import acd_daemon, acd_database, at, config, every_event, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually

ANSWERS, NEVER_ANSWERS, BUSY = sim_agent("1001"), sim_agent("1002"), sim_agent("1003")


async def test_ten_callers_three_agents_served_in_order_with_auto_pause_and_wrap_up(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    sales = Queue(
        id="sales",
        strategy=Strategy.LONGEST_IDLE,
        ring_timeout_s=3,
        wrapup_s=1,
        max_no_answer=2,
        service_level_s=60,
    )
    url = await acd_database(
        postgres_cluster,
        config(
            [sales],
            [ANSWERS, NEVER_ANSWERS, BUSY],
            {a.id: ["sales"] for a in (ANSWERS, NEVER_ANSWERS, BUSY)},
        ),
    )
    async with acd_daemon(asterisk_sandbox, url, tmp_path) as run:
        supervisor = await run.token(Role.SUPERVISOR)
        socket = await run.http.ws_connect(
            "/api/v1/events", headers={"Authorization": f"Bearer {supervisor}"}
        )
        messages: list[dict[str, Any]] = []

        async def read_events() -> None:
            async for message in socket:
                messages.append(json.loads(message.data))

        reader = asyncio.create_task(read_events())
        # Each agent logs in with their own token; login order makes 1002 the longest
        # idle, then 1003, then 1001.
        for agent in (NEVER_ANSWERS, BUSY, ANSWERS):
            token = await run.token(Role.AGENT, agent.id)
            status, body = await run.api("POST", f"/api/v1/agents/{agent.id}/login", token)
            assert status in (200, 204), body
            await asyncio.sleep(0.05)
        # ...and only as themselves.
        status, body = await run.api(
            "POST", "/api/v1/agents/1001/logout", token=await run.token(Role.AGENT, "1002")
        )
        assert status == 403, body
        callers = []
        for _ in range(10):
            callers.append(await run.caller("sales"))
            await asyncio.sleep(0.05)

        await eventually(
            lambda: len(run.connected()) == 10, within_s=90, what="10 callers connected"
        )
        connected = run.connected()
        assert {c.agent_id for c in connected} == {"1001"}
        assert {c.linkedid for c in connected} == set(callers)
        # First come, first served: callers are offered to agents in join order (a caller
        # whose agent rings out may then be overtaken by the next one).
        joined = sorted(run.entered(), key=lambda e: (e.joined_at, e.at))

        async def every_offer_logged() -> list[dict[str, Any]] | None:
            # The session log is flushed every 0.5 s: the last caller can be connected
            # before its "reserved" row is in the database.
            rows = await run.sessions()
            offered = {r["call_id"] for r in rows if r["status"] == "reserved"}
            return rows if offered >= set(callers) else None

        rows = await eventually(every_offer_logged, within_s=5, what="every offer logged")
        first_offer: list[str] = []
        for row in rows:
            if row["status"] == "reserved" and row["call_id"] not in first_offer:
                first_offer.append(row["call_id"])
        assert first_offer == [e.linkedid for e in joined]

        # Strategy order for the first caller: longest idle first (1002, rings out),
        # then 1003 (busy, skipped), then 1001 who answers.
        first_rings = [r["agent_id"] for r in rows if r["status"] == "reserved"][:3]
        assert first_rings == ["1002", "1003", "1001"]

        # 1002 missed max_no_answer (2) rings in a row: paused with "no-answer", and
        # never rung again.
        never = await run.sessions("1002")
        statuses = [r["status"] for r in never]
        assert statuses.count("reserved") == 2
        assert never[-1]["status"] == "paused"
        assert never[-1]["reason"] == "no-answer"
        assert run.acd.agent_live("1002")["status"] == "paused"

        # Wrap-up: after every call 1001 spent at least wrapup_s before the next ring.
        alice = await run.sessions("1001")
        for row, following in itertools.pairwise(alice):
            if row["status"] == "wrap_up":
                assert following["status"] == "available"
                assert (at(following) - at(row)).total_seconds() >= sales.wrapup_s - 0.05

        # Every caller's CDR: queue, agent, wait, answered.
        async def cdrs_written() -> bool:
            return all([await run.cdr(c) for c in callers])

        await eventually(cdrs_written, within_s=20, what="a CDR per caller")
        for caller in callers:
            cdr = await run.cdr(caller)
            assert cdr is not None
            assert cdr["queue"] == "sales"
            assert cdr["agent_id"] == "1001"
            assert cdr["disposition"] == "answered"
            assert cdr["wait_s"] is not None
            assert cdr["wait_s"] >= 0
            assert cdr["wrapup_s"] == sales.wrapup_s
        # The dialplan's join time has milliseconds (not ${EPOCH}'s whole seconds): a wait
        # starts when the caller joined, not up to a second before.
        for entered in run.entered():
            assert timedelta(0) <= entered.at - entered.joined_at < timedelta(seconds=0.5)

        # The supervisor's view of the queue, and the live agent states on the websocket.
        status, queue = await run.api("GET", "/api/v1/queues/sales", supervisor)
        assert status == 200, queue
        live = queue["live"]
        assert live["offered"] == 10
        assert live["answered"] == 10
        assert live["waiting"] == 0
        assert live["service_level"] == 1.0
        assert live["agents"]["paused"] == 1
        await socket.close()
        await reader
        # The stream starts from a snapshot that carries the ACD's queues.
        assert messages[0]["type"] == "snapshot"
        assert "sales" in messages[0]["acd"]["queues"]
        paused = [
            m for m in messages if m.get("type") == "agent.state" and m.get("agent_id") == "1002"
        ]
        assert paused
        assert paused[-1]["status"] == "paused"
        assert paused[-1]["reason"] == "no-answer"

        # One record per customer call, as a user counts them: the rings of 1002 (no
        # answer) and 1003 (busy) and 1001's legs are part of the customers' calls.
        await run.settled()
        numbers = [run.caller_number(c) for c in callers]
        counts = await run.cdr_counts(numbers)
        assert counts == dict.fromkeys(numbers, 1), (
            f"{len(numbers)} customer calls → {sum(counts.values())} CDRs naming a customer "
            f"as the caller: {counts}"
        )


async def test_abandon_and_overflow_after_max_wait(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    # Only an agent who never answers: callers wait until they give up or time out.
    patient = Queue(
        id="patient",
        ring_timeout_s=30,
        max_no_answer=100,
        announce_position=True,
        announce_every_s=1,
    )
    brief = Queue(
        id="brief", ring_timeout_s=30, max_no_answer=100, max_wait_s=2, overflow_target="hangup"
    )
    url = await acd_database(
        postgres_cluster,
        config([patient, brief], [NEVER_ANSWERS], {"1002": ["patient", "brief"]}),
    )
    async with (
        acd_daemon(asterisk_sandbox, url, tmp_path) as run,
        every_event(asterisk_sandbox) as events,
    ):
        await run.acd.login("1002", None)
        gives_up = await run.caller("patient")
        await eventually(lambda: len(run.entered()) == 1, within_s=10, what="caller waiting")

        def announced() -> bool:
            # First in line: "you are next", played by the hold session over AGI.
            return any(
                e.get("Event") == "AGIExecStart"
                and e.get("Uniqueid") == gives_up
                and "queue-youarenext" in e.get("Command", "")
                for e in events
            )

        await eventually(announced, within_s=10, what="the position announcement")
        await asyncio.sleep(1)
        await run.ami.action("Hangup", Channel=gives_up)

        times_out = await run.caller("brief")
        await eventually(lambda: run.left(), within_s=10, what="caller overflowed")
        assert [(e.linkedid, e.reason) for e in run.left()] == [(times_out, QueueExit.TIMED_OUT)]

        async def both_written() -> bool:
            return bool(await run.cdr(gives_up) and await run.cdr(times_out))

        await eventually(both_written, within_s=20, what="CDRs of both callers")
        abandoned = await run.cdr(gives_up)
        assert abandoned is not None
        assert abandoned["disposition"] == "abandoned"
        assert abandoned["queue"] == "patient"
        assert 1.5 <= abandoned["wait_s"] <= 10
        assert abandoned["agent_id"] is None
        timed_out = await run.cdr(times_out)
        assert timed_out is not None
        assert timed_out["disposition"] == "timed-out"
        assert timed_out["queue"] == "brief"
        assert 2 <= timed_out["wait_s"] <= 10
        # The "hangup" destination: an announcement, then cause 34 from the dialplan.
        assert timed_out["hangup_cause"] == 34
        stats = run.acd.queue_live("patient")
        assert stats["abandoned"] == 1
        # The agent rang for the caller who gave up: still one record per customer call.
        await run.settled()
        numbers = [run.caller_number(c) for c in (gives_up, times_out)]
        counts = await run.cdr_counts(numbers)
        assert counts == dict.fromkeys(numbers, 1), f"2 customer calls → {counts}"


async def test_skills_only_until_escalation_then_widened(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    expert, generalist = sim_agent("1005", support=5), sim_agent("1006", support=1)
    support = Queue(
        id="support",
        strategy=Strategy.SKILLS_BASED,
        required_skills={"support": 3},
        escalate_after_s=4,
        escalated_skills={"support": 1},
        ring_timeout_s=5,
    )
    url = await acd_database(
        postgres_cluster,
        config(
            [support],
            [expert, generalist],
            {"1005": ["support"], "1006": ["support"]},
            pause_reasons=[*config([], [], {}).pause_reasons.values()],
        ),
    )
    async with acd_daemon(asterisk_sandbox, url, tmp_path) as run:
        # The only expert is logged in but paused: the caller needs support >= 3.
        await run.acd.login("1005", None)
        await run.acd.pause("1005", "no-answer")
        await run.acd.login("1006", None)
        caller = await run.caller("support")
        await eventually(lambda: run.entered(), within_s=10, what="caller waiting")
        await eventually(lambda: run.connected(), within_s=20, what="caller connected")
        (connection,) = run.connected()
        assert connection.agent_id == "1006"
        assert connection.linkedid == caller
        # Not before the escalation time.
        assert support.escalate_after_s is not None
        assert connection.wait_s >= support.escalate_after_s - 0.1

        async def rung_rows() -> list[dict[str, object]]:
            return [r for r in await run.sessions("1006") if r["status"] == "reserved"]

        rung = await eventually(rung_rows, within_s=5, what="1006's ring in the session log")
        joined_at = run.entered()[0].joined_at
        assert (at(rung[0]) - joined_at).total_seconds() >= support.escalate_after_s - 0.1


async def test_restart_with_five_waiting_callers_serves_them_all(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    sales = Queue(id="sales", ring_timeout_s=60, max_no_answer=100, wrapup_s=0)
    url = await acd_database(
        postgres_cluster,
        config([sales], [NEVER_ANSWERS, ANSWERS], {"1002": ["sales"], "1001": ["sales"]}),
    )
    port = free_port()  # the same FastAGI port for both runs: Asterisk comes back to it
    async with acd_daemon(
        asterisk_sandbox, url, tmp_path, agi_port=port, hangup_after=False
    ) as first:
        await first.acd.login("1002", None)  # rings for a minute: nobody is served
        callers = [await first.caller("sales") for _ in range(5)]
        await eventually(lambda: len(first.entered()) == 5, within_s=15, what="5 waiting")
        before = {e.linkedid: e.joined_at for e in first.entered()}
    # ccd is down: the callers stay on hold in the dialplan, retrying the AGI every 5 s.
    await asyncio.sleep(1)
    alive = asterisk_sandbox.active_channels()
    # Both halves of every caller's Local channel are still there, on hold.
    assert sum(1 for name in alive if name.startswith("Local/answer@ccd-sim-")) == 10

    async with acd_daemon(
        asterisk_sandbox, url, tmp_path, agi_port=port, quiet_before=False
    ) as second:
        # 1002 came back from the session log (logged in); log it out, bring 1001 in.
        assert second.acd.agent_live("1002") is not None
        await second.acd.logout("1002")
        await second.acd.login("1001", None)
        await eventually(
            lambda: {c.linkedid for c in second.connected()} == set(callers),
            within_s=60,
            what="all 5 callers served after the restart",
        )
        # Their place in line was kept: the join time is the one from before the restart.
        for entered in second.entered():
            assert entered.joined_at == before[entered.linkedid]
        for connection in second.connected():
            assert connection.wait_s >= 1
        asterisk_sandbox.hangup_all()


async def test_virtual_hold_caller_called_back_keeps_their_place(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    desk = Queue(id="desk", callback_key="1", ring_timeout_s=10)
    url = await acd_database(postgres_cluster, config([desk], [ANSWERS], {"1001": ["desk"]}))
    # Call backs run through the dialplan's globals: ccd listens where they point (4573).
    async with acd_daemon(asterisk_sandbox, url, tmp_path, agi_port=4573) as run:
        await run.acd.login("1001", None)
        await run.acd.pause("1001", "no-answer")
        # A number ccd-sim answers (1…) so the call back reaches a "customer".
        caller = await run.caller("desk", number="15550100")
        await eventually(lambda: run.entered(), within_s=10, what="caller waiting")
        await asyncio.sleep(1)
        await run.ami.action("PlayDTMF", Channel=run.customer_half(caller), Digit="1")
        await eventually(lambda: run.left(), within_s=10, what="call back requested")
        assert [(e.linkedid, e.reason) for e in run.left()] == [(caller, QueueExit.CALLBACK)]
        await eventually(
            lambda: run.daemon.components.live.call(caller) is None,
            within_s=15,
            what="the first call hung up after the thank-you",
        )
        live = run.acd.queue_live("desk")
        assert [c["callback"] for c in live["callers"]] == [True]

        await run.acd.unpause("1001")
        await eventually(lambda: run.connected(), within_s=30, what="called back and connected")
        (connection,) = run.connected()
        assert connection.agent_id == "1001"
        assert connection.linkedid != caller  # the call back is a new call...
        rejoined = [e for e in run.entered() if e.linkedid == connection.linkedid]
        # ...that kept the original place in line (its first join time).
        assert rejoined[0].joined_at == run.entered()[0].joined_at

        async def both_written() -> bool:
            return bool(await run.cdr(caller) and await run.cdr(connection.linkedid))

        await eventually(both_written, within_s=30, what="CDRs of both calls")
        first = await run.cdr(caller)
        assert first is not None
        assert first["disposition"] == "callback"
        second = await run.cdr(connection.linkedid)
        assert second is not None
        assert second["disposition"] == "answered"
        assert second["agent_id"] == "1001"


async def test_ami_drop_keeps_waiting_callers_and_settles_a_call_that_ended_meanwhile(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    stays = sim_agent("4001")  # answers and stays on the call until it is hung up
    url = await acd_database(
        postgres_cluster,
        config([Queue(id="sales", ring_timeout_s=10)], [stays], {"4001": ["sales"]}),
    )
    async with acd_daemon(asterisk_sandbox, url, tmp_path) as run:
        await run.acd.login("4001", None)
        first = await run.caller("sales")
        await eventually(lambda: run.connected(), within_s=15, what="first caller connected")
        second = await run.caller("sales")  # waits: the only agent is on the first call
        await eventually(lambda: len(run.entered()) == 2, within_s=10, what="second waiting")

        gateway = run.daemon.components.gateway
        assert gateway._protocol is not None
        gateway._protocol.drop("test: AMI connection cut")
        # While ccd is blind the first call ends: its Hangup events are never seen.
        await run.ami.action("Hangup", Channel=first)
        await asyncio.sleep(0.5)
        await gateway.wait_resynced(30)

        # The resync shows the agent's channel gone: call over, the agent takes the
        # caller who waited through the outage.
        await eventually(
            lambda: [c.linkedid for c in run.connected()] == [first, second],
            within_s=20,
            what="the waiting caller served after the reconnect",
        )
        assert gateway.reconnects >= 1


IVR_TO_QUEUE = """
id = "acdtest"
default = true
entry = "to_sales"
default_destination = "bye"
queue_context = "ccd-queue-wait"
queue_exten = "s"

[nodes.to_sales]
kind = "queue"
queue = "sales"
priority = 5
skills = ["sales", "english"]

[nodes.bye]
kind = "hangup"
"""


async def test_the_ivr_queue_node_feeds_the_acd(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    # Only the agent with both skills the IVR asks for may take the call.
    able, unable = sim_agent("1007", sales=3, english=2), sim_agent("1008", sales=9)
    url = await acd_database(
        postgres_cluster,
        config(
            [Queue(id="sales", ring_timeout_s=10)],
            [able, unable],
            {"1007": ["sales"], "1008": ["sales"]},
        ),
    )
    async with acd_daemon(
        asterisk_sandbox, url, tmp_path, flows={"acdtest.toml": IVR_TO_QUEUE}
    ) as run:
        await run.acd.login("1008", None)
        await run.acd.login("1007", None)
        caller = await run.caller("", ivr_flow="acdtest")
        await eventually(lambda: run.connected(), within_s=20, what="IVR caller connected")
        (connection,) = run.connected()
        assert (connection.linkedid, connection.agent_id) == (caller, "1007")

        async def written() -> dict[str, object] | None:
            return await run.cdr(caller)

        row = await eventually(written, within_s=30, what="the caller's CDR")
        assert row["queue"] == "sales"
        assert row["agent_id"] == "1007"
        assert row["disposition"] == "answered"
        assert "to_sales" in str(row["ivr_path"])
        await run.settled()
        number = run.caller_number(caller)
        assert await run.cdr_counts([number]) == {number: 1}
