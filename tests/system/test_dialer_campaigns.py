"""The outbound dialer end to end on the real Asterisk and PostgreSQL: campaigns started
over REST dial simulated customers (a person, a machine, busy, congestion), connect
simulated agents, keep the 2-second rule with the safe-harbor message, honour do-not-call
and calling windows, and leave the evidence (attempts, CDRs, the compliance report)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ccd.db.dialer_store import DialerStore
from ccd.db.engine import create_engine
from ccd.domain import contract
from tests.system.acdrig import sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.dialerrig import (
    BUSY,
    CALLEE_ZONE,
    CAMPAIGN,
    CONGESTION,
    MACHINE,
    PERSON,
    add_contacts,
    dialer_daemon,
    number,
)
from tests.system.waiting import eventually


async def test_progressive_campaign_dials_each_contact_with_an_agent_reserved(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")  # answers at once, hangs up after talk_s
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent]
    ) as dialer:
        busy, congested, person = number(BUSY, 1), number(CONGESTION, 2), number(PERSON, 3)
        # The person last: after the conversation the agent stays in wrap-up until it
        # posts the disposition (one agent: nothing else is dialed meanwhile).
        ids = await add_contacts(dialer.run.database_url, [busy, congested, person])
        token = await dialer.login(agent.id)
        await dialer.action("start")
        attempts = await dialer.ended(3)
        by_number = {row["number"]: row for row in attempts}
        assert by_number[person]["outcome"] == "answered"
        assert by_number[person]["agent_id"] == agent.id
        delay = by_number[person]["agent_connected_at"] - by_number[person]["answered_at"]
        assert delay.total_seconds() < 2.0
        assert by_number[busy]["outcome"] == "busy"
        assert by_number[congested]["outcome"] == "failed"
        # One agent: never two calls at once (each call waited for the agent to be free).
        spans = sorted((row["started_at"], row["ended_at"]) for row in attempts)
        for (_, ended), (started, _) in itertools.pairwise(spans):
            assert started >= ended, spans
        # Busy and failed numbers come back after their retry delay; the person is done.
        busy_contact = await dialer.contact(ids[0])
        assert busy_contact["status"] == "pending"
        retry_in = busy_contact["next_attempt_at"] - by_number[busy]["ended_at"]
        assert 590 <= retry_in.total_seconds() <= 610
        assert (await dialer.contact(ids[2]))["status"] == "done"

        # The agent closes the call; the CDR carries the campaign, the contact and the agent.
        answered_id = by_number[person]["id"]
        status, body = await dialer.run.api(
            "POST",
            f"/api/v1/campaigns/{CAMPAIGN}/dispositions",
            token,
            {"attempt_id": answered_id, "disposition": "sale"},
        )
        assert status in (200, 204), body
        await dialer.run.settled()
        cdr = await dialer.run.cdr(by_number[person]["action_id"])
        assert cdr is not None
        assert cdr["campaign_id"] == CAMPAIGN
        assert cdr["contact_id"] == ids[2]
        assert cdr["disposition"] == "answered"
        assert cdr["agent_id"] == agent.id
        rows = await dialer.attempts()
        assert {row["id"]: row["disposition"] for row in rows}[answered_id] == "sale"


async def test_no_agent_within_two_seconds_plays_the_safe_harbor_and_counts_it(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    silent = sim_agent("2001")  # rings and never answers
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[silent]
    ) as dialer:
        messages = dialer.messages()
        [contact_id] = await add_contacts(dialer.run.database_url, [number(PERSON, 1)])
        await dialer.login(silent.id)
        await dialer.action("start")
        [attempt] = await dialer.ended(1)
        assert attempt["outcome"] == "abandoned"
        assert attempt["agent_connected_at"] is None
        assert attempt["safe_harbor_at"] is not None
        started = (attempt["safe_harbor_at"] - attempt["answered_at"]).total_seconds()
        assert 1.5 <= started <= 2.5, started
        assert [m.fields.get("Kind") for m in messages] == ["safe-harbor"]
        status, report = await dialer.run.api(
            "GET", f"/api/v1/campaigns/{CAMPAIGN}/compliance", dialer.admin
        )
        assert status == 200, report
        assert report["today"]["answered"] == 1
        assert report["today"]["abandoned"] == 1
        await dialer.run.settled()
        cdr = await dialer.run.cdr(attempt["action_id"])
        assert cdr is not None
        assert cdr["disposition"] == "abandoned"
        assert cdr["contact_id"] == contact_id


async def test_answering_machines_are_hung_up_on_without_an_agent(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent], amd="hang-up"
    ) as dialer:
        await add_contacts(dialer.run.database_url, [number(MACHINE, 1), number(PERSON, 2)])
        await dialer.login(agent.id)
        await dialer.action("start")
        attempts = await dialer.ended(2, within_s=60)
        outcomes = {row["number"]: row for row in attempts}
        machine = outcomes[number(MACHINE, 1)]
        assert machine["outcome"] == "machine"
        assert machine["amd_status"] == contract.AmdStatus.MACHINE
        assert machine["agent_connected_at"] is None
        assert outcomes[number(PERSON, 2)]["outcome"] == "answered"
        # The agent's sessions show one call only: the person's.
        sessions = await dialer.run.sessions(agent.id)
        assert sum(row["status"] == "on_call" for row in sessions) == 1


async def test_do_not_call_and_closed_windows_are_never_dialed(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    today = datetime.now(ZoneInfo(CALLEE_ZONE)).strftime("%a").lower()
    other_days = [d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") if d != today]
    closed_today = [{"days": other_days, "start": "00:00", "end": "23:59:59"}]
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent]
    ) as dialer:
        blocked = number(PERSON, 1)
        ids = await add_contacts(dialer.run.database_url, [blocked, number(PERSON, 2)])
        engine = create_engine(dialer.run.database_url)
        try:
            await DialerStore(engine).add_dnc([blocked])  # after the import: still stops it
        finally:
            await engine.dispose()
        await dialer.login(agent.id)
        await dialer.action("start")
        [attempt] = await dialer.ended(1)
        assert attempt["contact_id"] == ids[1]
        await asyncio.sleep(2)
        assert len(await dialer.attempts()) == 1  # the blocked number never

        # Closed all of today in the callee's zone: nothing dialed, the contact waits for
        # the next open day.
        await dialer.action("pause")
        status, body = await dialer.run.api("GET", f"/api/v1/campaigns/{CAMPAIGN}", dialer.admin)
        assert status == 200, body
        fields = {k: v for k, v in body.items() if k in _PUT_FIELDS}
        status, body = await dialer.run.api(
            "PUT",
            f"/api/v1/campaigns/{CAMPAIGN}",
            dialer.admin,
            {**fields, "windows": closed_today},
        )
        assert status == 200, body
        [late] = await add_contacts(dialer.run.database_url, [number(PERSON, 3)], first=2)
        await dialer.action("resume")

        async def moved() -> bool:
            row = await dialer.contact(late)
            return bool(row["next_attempt_at"] > datetime.now(UTC))

        await eventually(moved, within_s=10, what="the contact moved to the next open day")
        assert len(await dialer.attempts()) == 1


_PUT_FIELDS = frozenset(
    {
        "name",
        "mode",
        "caller_id",
        "agent_ids",
        "queue_id",
        "windows",
        "holidays",
        "ring_timeout_s",
        "retries",
        "abandon_cap_pct",
        "cap_override",
        "amd",
        "safe_harbor_prompt",
        "machine_message_prompt",
        "dispositions",
        "default_region",
    }
)
