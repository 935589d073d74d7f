"""The dialer's modes and rules end to end on the real Asterisk and PostgreSQL, checked
as a user sees them (attempt records, CDRs, the REST views): predictive pacing with its
live figures and compliance evidence, preview dialing driven by the agent, retries up to
the campaign's maximum, machine messages, inbound callers served before the campaign,
the do-not-call disposition, and a contacts upload with bad rows."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ccd.domain import contract
from tests.system.acdrig import NO_ANSWER, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.dialerrig import (
    BUSY,
    CAMPAIGN,
    MACHINE,
    MACHINE_PROMPT,
    PERSON,
    QUEUE,
    DialerRun,
    add_contacts,
    dialer_daemon,
    number,
)
from tests.system.waiting import eventually

PERSON_OUTCOMES = {"answered", "abandoned"}
TALK_S = 2  # how long a simulated agent (1xxx) talks before hanging up


def _concurrent(spans: list[tuple[datetime, datetime]]) -> int:
    """The most spans open at once."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    return max(itertools.accumulate(step for _, step in edges), default=0)


async def _csv_rows(dialer: DialerRun, path: str) -> list[dict[str, str]]:
    status, text = await dialer.get_text(path)
    assert status == 200, text
    return list(csv.DictReader(io.StringIO(text)))


async def test_predictive_campaign_keeps_agents_busy_and_accounts_for_every_person(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agents = [sim_agent(n) for n in ("1001", "1004", "1005")]  # answer, talk TALK_S
    async with dialer_daemon(
        asterisk_sandbox,
        postgres_cluster,
        tmp_path,
        agents=agents,
        talk_s=TALK_S,
        mode="predictive",
    ) as dialer:
        people = [number(PERSON, serial) for serial in range(1, 11)]
        ids = await add_contacts(dialer.run.database_url, people)
        tokens = {agent.id: await dialer.login(agent.id) for agent in agents}
        views: list[dict[str, Any]] = []

        async def watch() -> None:
            while True:
                views.append((await dialer.view())["live"])
                await asyncio.sleep(0.3)

        watcher = asyncio.create_task(watch())
        try:
            async with dialer.disposing(tokens):
                await dialer.action("start")

                async def all_dialed() -> bool:
                    rows = await dialer.attempts()
                    return {row["contact_id"] for row in rows} == set(ids) and all(
                        row["ended_at"] is not None for row in rows
                    )

                await eventually(all_dialed, within_s=50, what="every contact dialed, calls over")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        attempts = await dialer.attempts()
        # Everyone dialed once (an abandoned person is retried only an hour later), and
        # every person either talked to an agent or heard the safe-harbor message.
        assert sorted(row["contact_id"] for row in attempts) == sorted(ids)
        assert {row["outcome"] for row in attempts} <= PERSON_OUTCOMES, attempts
        answered = [row for row in attempts if row["outcome"] == "answered"]
        abandoned = [row for row in attempts if row["outcome"] == "abandoned"]
        assert answered, attempts
        for row in answered:
            assert row["agent_id"] in tokens
            assert (row["agent_connected_at"] - row["answered_at"]).total_seconds() < 2.0
            # The conversation lasts until the agent hangs up, not less.
            talked = (row["ended_at"] - row["agent_connected_at"]).total_seconds()
            assert talked >= TALK_S - 0.5, (talked, row)
        for row in abandoned:
            assert row["agent_connected_at"] is None
            assert row["safe_harbor_at"] is not None
        # Never more conversations than agents, and never two at once for one agent.
        spans = [(row["agent_connected_at"], row["ended_at"]) for row in answered]
        assert _concurrent(spans) <= len(agents)
        for agent in tokens:
            mine = sorted(
                s for s, row in zip(spans, answered, strict=True) if row["agent_id"] == agent
            )
            for (_, ended), (started, _) in itertools.pairwise(mine):
                assert started >= ended, mine

        # The live view showed the pacing and the abandonment figures as it dialed.
        assert views
        for live in views:
            assert live["calls"]["connected"] <= len(agents), live
            assert sum(live.get("agents", {}).values()) <= len(agents), live
        paced = [live for live in views if "pacing" in live]
        assert paced, views
        for live in paced:
            pacing = live["pacing"]
            assert pacing["mode"] in ("predictive", "progressive"), pacing
            assert isinstance(pacing["reason"], str), pacing
            assert pacing["reason"], pacing
            assert pacing["dial_ratio"] >= 0, pacing
            assert live["dial_ratio"] == pacing["dial_ratio"]
            assert live["abandonment"]["source"] == "dialer"
            assert live["abandonment"]["cap_pct"] == 3.0
        assert any(live["pacing"]["mode"] == "predictive" for live in paced), paced
        final = (await dialer.view())["live"]
        assert final["contacts"]["total"] == len(ids)
        assert final["today"]["dialed"] == len(attempts)
        assert final["today"]["answered"] == len(answered) + len(abandoned)
        assert final["today"]["abandoned"] == len(abandoned)
        assert final["today"]["connected"] == len(answered)
        assert final["today"]["in_flight"] == 0
        assert final["abandonment"]["today"]["answered"] == len(answered) + len(abandoned)
        assert final["abandonment"]["today"]["abandoned"] == len(abandoned)

        # The compliance report counts what the attempt records say.
        status, report = await dialer.run.api(
            "GET", f"/api/v1/campaigns/{CAMPAIGN}/compliance", dialer.admin
        )
        assert status == 200, report
        assert report["today"]["answered"] == len(answered) + len(abandoned)
        assert report["today"]["abandoned"] == len(abandoned)
        assert report["rolling_30_days"]["answered"] == len(answered) + len(abandoned)
        assert report["rolling_30_days"]["abandoned"] == len(abandoned)
        # The evidence: one row per answered call, with its verdict.
        rows = await _csv_rows(dialer, f"/api/v1/campaigns/{CAMPAIGN}/compliance.csv")
        verdicts = {int(row["attempt_id"]): row["verdict"] for row in rows}
        expected = {row["id"]: "connected" for row in answered} | {
            row["id"]: "abandoned" for row in abandoned
        }
        assert len(rows) == len(attempts)
        assert verdicts == expected


async def test_preview_dials_only_what_the_agent_chose(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent], mode="preview"
    ) as dialer:
        first, second = number(PERSON, 1), number(PERSON, 2)
        status, report = await dialer.post_csv(
            f"/api/v1/campaigns/{CAMPAIGN}/contacts",
            f"phone,name,plan\r\n{first},Ann Lee,gold\r\n{second},Bo Chen,silver\r\n",
        )
        assert status == 200, report
        assert report["imported"] == 2
        shown = {
            first: ("Ann Lee", first, {"plan": "gold"}),
            second: ("Bo Chen", second, {"plan": "silver"}),
        }
        token = await dialer.login(agent.id)
        await dialer.action("start")
        await asyncio.sleep(1.5)
        assert await dialer.attempts() == []  # nothing until the agent asks

        path = f"/api/v1/campaigns/{CAMPAIGN}/preview"
        status, offer = await dialer.run.api("POST", path, token)
        assert status == 200, offer
        assert offer["agent_id"] == agent.id
        contact = offer["contact"]
        assert (contact["name"], contact["number"], contact["fields"]) == shown[contact["number"]]
        status, again = await dialer.run.api("POST", path, token)
        assert status == 200, again
        assert again["contact"]["id"] == contact["id"]  # the same until dialed or skipped
        assert (await dialer.view())["live"]["agents"] == {"reserved": 1}

        status, body = await dialer.request("POST", f"{path}/{contact['id']}/skip", token)
        assert status == 204, body
        status, offer = await dialer.run.api("POST", path, token)
        assert status == 200, offer
        chosen = offer["contact"]
        assert chosen["id"] != contact["id"]
        assert chosen["number"] != contact["number"]
        assert (chosen["name"], chosen["number"], chosen["fields"]) == shown[chosen["number"]]
        await asyncio.sleep(0.5)
        assert await dialer.attempts() == []  # offered is not dialed

        status, body = await dialer.run.api("POST", f"{path}/{chosen['id']}/dial", token)
        assert status == 202, body
        assert body["status"] == "dialing"
        [attempt] = await dialer.ended(1)
        assert attempt["contact_id"] == chosen["id"]
        assert attempt["number"] == chosen["number"]
        assert attempt["agent_id"] == agent.id
        assert attempt["outcome"] == "answered"
        assert attempt["agent_connected_at"] is not None
        assert (attempt["agent_connected_at"] - attempt["answered_at"]).total_seconds() < 2.0
        await dialer.dispose(token, attempt["id"], "sale")
        await asyncio.sleep(2)
        assert len(await dialer.attempts()) == 1  # the skipped contact waits for the agent
        skipped = await dialer.contact_view(contact["id"])
        assert skipped["status"] == "pending"
        assert skipped["attempt_history"] == []


async def test_busy_number_is_retried_after_its_delay_up_to_max_attempts(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox,
        postgres_cluster,
        tmp_path,
        agents=[agent],
        retries={"busy": {"delay_s": 1, "max_attempts": 2}},
    ) as dialer:
        [contact_id] = await add_contacts(dialer.run.database_url, [number(BUSY, 1)])
        await dialer.login(agent.id)
        await dialer.action("start")
        first, second = await dialer.ended(2, within_s=30)
        assert (first["outcome"], second["outcome"]) == ("busy", "busy")
        gap = (second["started_at"] - first["ended_at"]).total_seconds()
        assert 1.0 <= gap <= 6.0, gap
        await asyncio.sleep(3)
        assert len(await dialer.attempts()) == 2  # never a third
        contact = await dialer.contact_view(contact_id)
        assert contact["status"] == "done"
        assert contact["done_reason"] == "max-attempts"
        assert contact["attempts"] == 2
        assert [a["outcome"] for a in contact["attempt_history"]] == ["busy", "busy"]


async def test_answering_machine_gets_the_campaign_message(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox,
        postgres_cluster,
        tmp_path,
        agents=[agent],
        amd="leave-message",
        machine_message_prompt=MACHINE_PROMPT,
    ) as dialer:
        messages = dialer.messages()
        [contact_id] = await add_contacts(dialer.run.database_url, [number(MACHINE, 1)])
        await dialer.login(agent.id)
        await dialer.action("start")
        [attempt] = await dialer.ended(1, within_s=60)
        assert attempt["outcome"] == "machine"
        assert attempt["amd_status"] == contract.AmdStatus.MACHINE
        assert attempt["agent_connected_at"] is None
        assert [(m.fields.get("Kind"), m.fields.get("Attempt")) for m in messages] == [
            (contract.DIALER_MACHINE_EXTEN, attempt["action_id"])
        ]
        assert messages[0].at >= attempt["answered_at"]
        sessions = await dialer.run.sessions(agent.id)
        assert not any(row["status"] == "on_call" for row in sessions)  # no agent for it
        await dialer.run.settled()
        cdr = await dialer.run.cdr(attempt["action_id"])
        assert cdr is not None
        assert cdr["disposition"] == "machine"
        assert cdr["campaign_id"] == CAMPAIGN
        assert cdr["contact_id"] == contact_id


async def test_blended_agent_takes_the_waiting_inbound_caller_before_the_campaign(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")  # in QUEUE, the campaign's queue; talks 3 s a call
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent], talk_s=3
    ) as dialer:
        run = dialer.run
        await add_contacts(run.database_url, [number(PERSON, 1)])
        token = await dialer.login(agent.id)
        status, body = await run.api(
            "POST", f"/api/v1/agents/{agent.id}/pause", token, {"reason": NO_ANSWER.code}
        )
        assert status in (200, 204), body
        await dialer.action("start")
        caller = await run.caller(QUEUE)
        await eventually(lambda: run.entered(), within_s=10, what="the caller waiting")
        await asyncio.sleep(1)
        assert await dialer.attempts() == []  # the agent is paused: nothing dialed

        # Free at last, with a caller waiting and a campaign to work: the caller first.
        status, body = await run.api("POST", f"/api/v1/agents/{agent.id}/unpause", token)
        assert status in (200, 204), body
        [connected] = await eventually(
            lambda: run.connected(), within_s=15, what="the caller connected"
        )
        assert connected.agent_id == agent.id
        assert connected.linkedid == caller
        [attempt] = await dialer.ended(1, within_s=40)
        assert attempt["agent_id"] == agent.id
        assert attempt["outcome"] == "answered"
        assert attempt["started_at"] > connected.at
        # The agent's log: the inbound call, then (after it) the campaign's.
        sessions = await run.sessions(agent.id)
        on_call = [row for row in sessions if row["status"] == "on_call"]
        assert [row["reason"] == "outbound" for row in on_call] == [False, True], sessions
        inbound_over = next(
            row["at"]
            for row in sessions
            if row["at"] > on_call[0]["at"] and row["status"] != "on_call"
        )
        assert attempt["started_at"] >= inbound_over


async def test_do_not_call_disposition_blocks_the_number_everywhere(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent]
    ) as dialer:
        phone = number(PERSON, 1)
        [contact_id] = await add_contacts(dialer.run.database_url, [phone])
        token = await dialer.login(agent.id)
        check = f"/api/v1/dnc/check?number={quote(phone)}"
        status, before = await dialer.run.api("GET", check, token)
        assert status == 200, before
        assert before["blocked"] is False
        await dialer.action("start")

        async def connected() -> list[dict[str, Any]]:
            return [row for row in await dialer.attempts() if row["agent_connected_at"]]

        [attempt] = await eventually(connected, within_s=20, what="the agent connected")
        recorded = await dialer.dispose(token, attempt["id"], "do-not-call")
        assert recorded["disposition"] == "do-not-call"

        status, after = await dialer.run.api("GET", check, token)  # as the agent may
        assert status == 200, after
        assert after["number"] == phone
        assert after["blocked"] is True
        assert [entry["list"] for entry in after["lists"]] == ["global"]
        await dialer.ended(1)
        contact = await dialer.contact_view(contact_id)
        assert contact["status"] == "done"
        assert contact["done_reason"] == "do-not-call"
        assert [a["disposition"] for a in contact["attempt_history"]] == ["do-not-call"]


async def test_contacts_upload_reports_bad_rows_and_dials_the_good_ones(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent], talk_s=1
    ) as dialer:
        good = [number(PERSON, 1), number(PERSON, 2)]
        text = (
            "phone,name,plan\r\n"
            f"{good[0]},Ann Lee,gold\r\n"  # row 2
            "not a number,Bo Chen,silver\r\n"  # row 3
            "+1612555000,Cy Diaz,gold\r\n"  # row 4: a digit short
            f"{good[1]},Di Eng,bronze\r\n"  # row 5
            f"{good[0]},Ann again,gold\r\n"  # row 6: the same number as row 2
            "+16125550009,Ed Fox,gold,extra\r\n"  # row 7: one cell too many
        )
        status, report = await dialer.post_csv(f"/api/v1/campaigns/{CAMPAIGN}/contacts", text)
        assert status == 200, report
        assert (report["read"], report["imported"], report["new"], report["rejected"]) == (
            6,
            2,
            2,
            4,
        )
        bad = {row["row"]: row for row in report["bad_rows"]}
        assert sorted(bad) == [3, 4, 6, 7], report
        for row in (3, 4, 6):
            assert bad[row]["column"] == "phone", bad[row]
            assert bad[row]["reason"], bad[row]
        assert "duplicate" in bad[6]["reason"]
        assert "2" in bad[6]["reason"]  # names the first row with the number
        assert bad[7]["column"] == ""
        assert "cells" in bad[7]["reason"]
        assert report["bad_rows_truncated"] is False

        token = await dialer.login(agent.id)
        async with dialer.disposing({agent.id: token}):
            await dialer.action("start")
            attempts = await dialer.ended(2, within_s=40)
        assert sorted(row["number"] for row in attempts) == sorted(good)
        assert {row["outcome"] for row in attempts} == {"answered"}
        await asyncio.sleep(1)
        assert len(await dialer.attempts()) == 2  # the bad rows were never contacts
        assert (await dialer.view())["live"]["contacts"]["total"] == 2
