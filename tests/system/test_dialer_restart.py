"""The dialer across failures, on the real Asterisk and PostgreSQL: ``kill -9`` of `ccd run`
mid-conversation (the call is adopted by the next run and ends normally; no contact is
dialed twice), and PostgreSQL stopped mid-campaign (no call placed without its evidence;
the call in flight still gets its record; dialing resumes)."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import time
from pathlib import Path
from typing import Any

import aiohttp

from ccd.acd.model import Queue
from ccd.db.dialer_store import DialerStore
from ccd.db.engine import create_engine
from ccd.db.tokens import TokenStore
from ccd.dialer.model import CallingWindow, Campaign, CampaignState, DialMode, Weekday
from ccd.domain.auth import Role
from ccd.domain.events import DialerAttemptStarted
from tests.ports import free_port
from tests.system.acdrig import _fetch, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.dialerrig import (
    CAMPAIGN,
    PERSON,
    QUEUE,
    SAFE_HARBOR_PROMPT,
    add_contacts,
    dialer_daemon,
    number,
)
from tests.system.rawami import RawAmi
from tests.system.rig import daemon_environment, quiet_sandbox, start_ccd, stop_process
from tests.system.waiting import eventually

STAYS_ON_THE_CALL = sim_agent("4001")  # answers and stays an hour: hung up by the test


async def attempts(url: str) -> list[dict[str, Any]]:
    rows = await _fetch(url, "SELECT * FROM dialer_attempts ORDER BY id", [])
    return [dict(row) for row in rows]


async def running_campaign(url: str) -> str:
    """A running progressive campaign worked by the queue's agents; an admin token."""
    engine = create_engine(url)
    try:
        always = CallingWindow(frozenset(Weekday), time(0, 0), time(23, 59, 59))
        await DialerStore(engine).put_campaign(
            Campaign(
                id=CAMPAIGN,
                name=CAMPAIGN,
                mode=DialMode.PROGRESSIVE,
                caller_id="+15550100",
                queue_id=QUEUE,
                windows=(always,),
                ring_timeout_s=15,
                safe_harbor_prompt=SAFE_HARBOR_PROMPT,
                state=CampaignState.RUNNING,
            )
        )
        _id, token = await TokenStore(engine).create(Role.ADMIN, label="restart test")
        return token
    finally:
        await engine.dispose()


async def test_kill_9_mid_conversation_the_next_run_adopts_the_call_and_dials_nobody_twice(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = await acd_database(
        postgres_cluster,
        config([Queue(id=QUEUE)], [STAYS_ON_THE_CALL], {STAYS_ON_THE_CALL.id: [QUEUE]}),
    )
    token = await running_campaign(url)
    first_contact, second_contact = await add_contacts(url, [number(PERSON, 1), number(PERSON, 2)])
    await quiet_sandbox(asterisk_sandbox)
    env = {**os.environ, **daemon_environment(asterisk_sandbox, tmp_path / "data")}
    env |= {
        "CCD_HTTP__PORT": str(free_port()),
        "CCD_LOG__FORMAT": "json",
        "CCD_DATABASE__URL": url,
        "PYTHONUNBUFFERED": "1",
    }
    first = await start_ccd(env, tmp_path / "first.log")
    try:
        await first.wait_ready()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{first.port}/api/v1/agents/{STAYS_ON_THE_CALL.id}/login",
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status == 200, await response.text()

        async def talking() -> dict[str, Any] | None:
            rows = await attempts(url)
            return rows[0] if rows and rows[0]["agent_connected_at"] is not None else None

        conversation = await eventually(talking, within_s=30, what="the first call connected")

        async def on_call_logged() -> bool:
            # The ACD writes agent transitions every 0.5 s: a kill -9 loses the last ones.
            rows = await _fetch(url, "SELECT status FROM acd_agent_sessions ORDER BY id", [])
            return bool(rows) and rows[-1]["status"] == "on_call"

        await eventually(on_call_logged, within_s=5, what="the agent's call in its session log")
        first.process.send_signal(signal.SIGKILL)
        assert await first.process.wait() == -signal.SIGKILL
    finally:
        await stop_process(first)
    assert conversation["contact_id"] == first_contact
    assert conversation["ended_at"] is None  # nobody closed it: ccd died

    second = await start_ccd(env, tmp_path / "second.log")
    try:
        await second.wait_ready()
        await eventually(
            lambda: any(
                e.get("event") == "dialer call adopted after restart" for e in second.log_events()
            ),
            within_s=15,
            what="the conversation adopted",
        )
        await asyncio.sleep(2)
        rows = await attempts(url)
        assert len(rows) == 1, rows  # the agent is still talking: nothing else dialed
        assert rows[0]["ended_at"] is None

        # The conversation ends (the agent hangs up): the adopted attempt is answered.
        [agent_leg] = [
            name
            for name in asterisk_sandbox.active_channels()
            if name.startswith(f"{STAYS_ON_THE_CALL.interface}-") and name.endswith(";1")
        ]
        async with await RawAmi.connect(asterisk_sandbox.host, asterisk_sandbox.port) as ami:
            reply = await ami.action(
                "Login",
                Username=asterisk_sandbox.username,
                Secret=asterisk_sandbox.secret,
                Events="off",
            )
            assert reply["Response"] == "Success", reply
            reply = await ami.action("Hangup", Channel=agent_leg)
            assert reply["Response"] == "Success", reply

        async def both_dialed() -> list[dict[str, Any]] | None:
            rows = await attempts(url)
            done = len(rows) == 2 and rows[0]["ended_at"] is not None
            return rows if done and rows[1]["agent_connected_at"] is not None else None

        rows = await eventually(both_dialed, within_s=30, what="the second contact connected")
        assert rows[0]["outcome"] == "answered"
        assert [row["contact_id"] for row in rows] == [first_contact, second_contact]
        second.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await second.process.wait()
    finally:
        await stop_process(second)
        asterisk_sandbox.hangup_all()


async def test_postgres_down_no_call_is_placed_and_the_call_in_flight_keeps_its_record(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agent = sim_agent("1001")
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[agent], talk_s=3
    ) as dialer:
        started: list[DialerAttemptStarted] = []
        dialer.run.daemon.components.bus.subscribe(
            lambda event: started.append(event) if isinstance(event, DialerAttemptStarted) else None
        )
        await add_contacts(dialer.run.database_url, [number(PERSON, n) for n in range(1, 7)])
        token = await dialer.login(agent.id)
        await dialer.action("start")
        await eventually(
            lambda: len(dialer.run.daemon.components.dialer.calls) > 0,
            within_s=20,
            what="a call in flight",
        )
        await asyncio.to_thread(postgres_cluster.stop)
        try:
            placed_before = len(started)
            await asyncio.sleep(8)  # the call in flight ends meanwhile (3 s of talk)
            assert len(started) == placed_before  # no evidence, no call
            assert len(dialer.run.daemon.components.dialer.calls) == 0
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        # The call that ended during the outage gets its complete record.
        [in_flight] = await dialer.ended(1, within_s=20)
        assert in_flight["outcome"] == "answered"
        assert in_flight["agent_connected_at"] is not None
        # The agent closes it (its wrap-up lasts until then) and dialing resumes.
        status, body = await dialer.run.api(
            "POST",
            f"/api/v1/campaigns/{CAMPAIGN}/dispositions",
            token,
            {"attempt_id": in_flight["id"], "disposition": "no-sale"},
        )
        assert status == 200, body
        await eventually(lambda: len(started) > placed_before, within_s=20, what="dialing again")
