"""ccd's ACD with real SIP phones: SIPp customers call the Asterisk sandbox over SIP, go
through ccd's IVR into a queue, and are served by agents whose phones are SIPp too
(``PJSIP/sipp-answers`` answers, ``PJSIP/sipp-rings`` never answers, ``PJSIP/sipp-busy``
replies 486). What is checked is what a user sees: one CDR per customer call, and a
conversation as one live call in ``/api/v1/calls`` (issue 9, item 7: 8 calls made 47
CDRs naming the customer, and each conversation showed as two calls).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ccd.acd.model import Agent, Queue, Strategy
from ccd.domain.auth import Role
from tests.system import sipprig
from tests.system.acdrig import AcdRun, acd_daemon, acd_database, config
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually


def sip_agent(number: str, endpoint: str) -> Agent:
    return Agent(id=number, interface=f"PJSIP/{endpoint}", name=f"SIP {endpoint}")


ANSWERS = sip_agent("7001", sipprig.ANSWERS)
NEVER_ANSWERS = sip_agent("7002", sipprig.RINGS)
BUSY = sip_agent("7003", sipprig.BUSY)
AGENTS = (ANSWERS, NEVER_ANSWERS, BUSY)
TALK_S = 2.0  # the answering agent talks this long, then hangs up

# The customer's calls reach this flow as ccd-sipp-in's ivr-siptest (pjsip.conf,
# extensions.conf of the sandbox): straight into the queue.
IVR_TO_SALES = """
id = "siptest"
entry = "to_sales"
default_destination = "bye"
queue_context = "ccd-queue-wait"
queue_exten = "s"

[nodes.to_sales]
kind = "queue"
queue = "sales"

[nodes.bye]
kind = "hangup"
"""


def sales_queue() -> Queue:
    # max_no_answer high: the phone nobody picks up keeps being rung, as in the field.
    return Queue(
        id="sales",
        strategy=Strategy.LONGEST_IDLE,
        ring_timeout_s=2,
        wrapup_s=0,
        max_no_answer=100,
        service_level_s=60,
    )


async def log_in_everyone(run: AcdRun) -> None:
    # Login order makes the phone that never answers the longest idle, then the busy
    # one: the first customer rings out on one and is refused by the other first.
    for agent in (NEVER_ANSWERS, BUSY, ANSWERS):
        await run.acd.login(agent.id, None)
        await asyncio.sleep(0.05)


async def test_sip_customers_through_the_ivr_get_one_cdr_each(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = await acd_database(
        postgres_cluster, config([sales_queue()], AGENTS, {a.id: ["sales"] for a in AGENTS})
    )
    logs = tmp_path / "sipp"
    customers = [f"0612345{n:03d}" for n in range(1, 7)]
    async with (
        sipprig.agent_phones(logs, talk_s=TALK_S),
        acd_daemon(asterisk_sandbox, url, tmp_path, flows={"siptest.toml": IVR_TO_SALES}) as run,
    ):
        await log_in_everyone(run)
        calls = []
        for number in customers:  # a few at once: they wait in line for the one agent
            calls.append(
                await sipprig.customer_call(
                    logs, number=number, service="ivr-siptest", agi_port=run.agi_port
                )
            )
            await asyncio.sleep(0.2)

        # Every customer reached the one agent who answers (the SIP signalling works).
        await eventually(
            lambda: len(run.connected()) == len(customers),
            within_s=45,
            what=f"{len(customers)} customers connected",
        )
        assert {c.agent_id for c in run.connected()} == {ANSWERS.id}
        for call in calls:
            status = await call.wait(20)
            assert status == 0, call.logs()
        await run.settled()

        # What a user sees: exactly one record per customer call...
        counts = await run.cdr_counts(customers)
        assert counts == dict.fromkeys(customers, 1), (
            f"{len(customers)} customer calls → {sum(counts.values())} CDRs naming a "
            f"customer as the caller: {counts}"
        )
        # ...answered by the agent, through the queue, with the wait.
        for number in customers:
            (row,) = await run.cdrs_naming_caller(number)
            assert row["disposition"] == "answered", row
            assert row["queue"] == "sales", row
            assert row["agent_id"] == ANSWERS.id, row
            assert row["wait_s"] is not None, row
            assert row["wait_s"] >= 0, row
            assert "to_sales" in str(row["ivr_path"]), row


def channels_named(call: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    prefix = f"PJSIP/{endpoint}-"
    channels: list[dict[str, Any]] = call["channels"]
    return [ch for ch in channels if str(ch["name"]).startswith(prefix)]


async def test_a_sip_conversation_is_one_live_call_and_one_cdr(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = await acd_database(
        postgres_cluster, config([sales_queue()], AGENTS, {a.id: ["sales"] for a in AGENTS})
    )
    logs = tmp_path / "sipp"
    number = "0612345100"
    # The agent talks long enough for the live view to be read during the conversation.
    async with (
        sipprig.agent_phones(logs, talk_s=4),
        acd_daemon(asterisk_sandbox, url, tmp_path) as run,
    ):
        await log_in_everyone(run)
        supervisor = await run.token(Role.SUPERVISOR)
        call = await sipprig.customer_call(
            logs, number=number, service="queue-sales", agi_port=run.agi_port
        )

        async def during_the_conversation() -> list[dict[str, Any]] | None:
            status, body = await run.api("GET", "/api/v1/calls", supervisor)
            assert status == 200, body
            calls: list[dict[str, Any]] = body["calls"]
            talking = [
                ch
                for c in calls
                for ch in channels_named(c, sipprig.ANSWERS)
                if ch["state"] == "up" and ch["bridge_id"]
            ]
            return calls if talking else None

        calls = await eventually(
            during_the_conversation, within_s=20, what="the agent talking to the customer"
        )
        # One live call holds both the customer and the agent who answered.
        with_agent = [c for c in calls if channels_named(c, sipprig.ANSWERS)]
        with_customer = [c for c in calls if channels_named(c, sipprig.CALLER)]
        shown_as = {c["id"] for c in with_agent + with_customer}
        assert len(shown_as) == 1, (
            f"the conversation shows as {len(shown_as)} live calls "
            f"(agent's: {[c['id'] for c in with_agent]}, "
            f"customer's: {[c['id'] for c in with_customer]})"
        )
        (conversation,) = with_agent
        assert conversation["caller"]["number"] == number
        assert conversation["state"] == "bridged", conversation

        assert await call.wait(20) == 0, call.logs()
        await run.settled()
        counts = await run.cdr_counts([number])
        assert counts == {number: 1}, f"1 customer call → {counts[number]} CDRs naming them"
        (row,) = await run.cdrs_naming_caller(number)
        assert (row["disposition"], row["agent_id"], row["queue"]) == (
            "answered",
            ANSWERS.id,
            "sales",
        )
