"""The reports count real calls: callers through ccd's ACD on the Asterisk sandbox, CDRs
and the session log in real PostgreSQL, the reports read over HTTP as an analyst.

Agent 1001 answers (talks 1 s); 1002 never answers, so callers of queue ``lonely`` wait
until they hang up.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ccd.acd.model import Queue
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.acdrig import AcdRun, acd_daemon, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually

REPEAT_NUMBER = "5557001"


async def call_in(run: AcdRun, queue: str, number: str, channel_id: str) -> str:
    """A caller with caller id ``number`` entering ``queue`` (the rig's ``caller`` names
    channels after the number, and this test needs one number twice)."""
    variables = {contract.VAR_QUEUE: queue, contract.VAR_AGI_PORT: str(run.agi_port)}
    response = await run.ami.action(
        "Originate",
        Channel=f"Local/{contract.SimExten.ANSWER}@{contract.SIM_CONTEXT}",
        Context=contract.QUEUE_CONTEXT,
        Exten="s",
        Priority="1",
        Async="true",
        CallerID=f"Customer <{number}>",
        ChannelId=channel_id,
        Variable=",".join(f"{k}={v}" for k, v in variables.items()),
    )
    assert response.get("Response") == "Success", response
    return channel_id


async def report(run: AcdRun, token: str, kind: str, query: str) -> list[dict[str, Any]]:
    status, body = await run.api("GET", f"/api/v1/reports/{kind}?{query}", token)
    assert status == 200, body
    rows: list[dict[str, Any]] = body["rows"]
    return rows


async def test_reports_count_calls_through_the_sandbox_acd(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    sales = Queue(id="sales", ring_timeout_s=15, wrapup_s=1, service_level_s=20)
    lonely = Queue(id="lonely", ring_timeout_s=30, max_no_answer=100)
    url = await acd_database(
        postgres_cluster,
        config(
            [sales, lonely],
            [sim_agent("1001"), sim_agent("1002")],
            {"1001": ["sales"], "1002": ["lonely"]},
        ),
    )
    began = datetime.now(UTC) - timedelta(seconds=1)
    async with acd_daemon(asterisk_sandbox, url, tmp_path, talk_s=1) as run:
        await run.acd.login("1001", None)
        await run.acd.login("1002", None)
        # The same customer twice to sales, one call after the other.
        first = await call_in(run, "sales", REPEAT_NUMBER, "report-first")
        await eventually(lambda: len(run.connected()) == 1, within_s=15, what="first answered")
        # (run.settled() stops the CDR writer: only once, at the end.)
        live = run.daemon.components.live
        await eventually(lambda: not live.calls(), within_s=15, what="first call over")
        second = await call_in(run, "sales", REPEAT_NUMBER, "report-second")
        await eventually(lambda: len(run.connected()) == 2, within_s=15, what="second answered")
        # lonely: one caller gives up at once (a short abandon), one after 6 s.
        short = await call_in(run, "lonely", "5557002", "report-short")
        await eventually(lambda: len(run.entered()) == 3, within_s=10, what="short waiting")
        await run.ami.action("Hangup", Channel=short)
        patient = await call_in(run, "lonely", "5557003", "report-patient")
        await eventually(lambda: len(run.entered()) == 4, within_s=10, what="patient waiting")
        await asyncio.sleep(6)
        await run.ami.action("Hangup", Channel=patient)
        await run.settled()
        for linkedid in (first, second, short, patient):
            assert await run.cdr(linkedid) is not None, linkedid

        analyst = await run.token(Role.ANALYST)
        since = began.isoformat().replace("+00:00", "Z")
        queues = {
            row["queue"]: row
            for row in await report(run, analyst, "queues", f"from={since}&interval=day")
        }
        assert {k: queues["sales"][k] for k in ("offered", "answered", "handled")} == {
            "offered": 2,
            "answered": 2,
            "handled": 2,
        }
        # Both answered within 20 s; the first call was repeated by the second.
        assert queues["sales"]["service_level_pct"] == 100.0
        assert queues["sales"]["fcr_pct"] == 50.0
        assert queues["sales"]["aht_s"] is not None
        assert queues["sales"]["aht_s"] >= 1.0
        lonely_row = queues["lonely"]
        assert (lonely_row["offered"], lonely_row["abandoned"]) == (2, 2)
        assert lonely_row["short_abandoned"] == 1
        # (2 - 1) / (2 - 1): the long abandon is the only call that counts.
        assert lonely_row["abandon_rate_pct"] == 100.0

        [agent] = await report(run, analyst, "agents", f"from={since}&interval=day&agent=1001")
        assert agent["handled"] == 2
        assert agent["logged_in_s"] > 0
        assert agent["occupancy_pct"] is not None
        assert 0 < agent["occupancy_pct"] <= 100
