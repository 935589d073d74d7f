"""`ccd run` on the Asterisk sandbox and PostgreSQL: call.ended webhooks of real calls are
in the outbox while the receiver is down; ccd is killed with ``kill -9``; after the
restart, with the receiver back, each arrives once, signed (verified by the reference
``standardwebhooks`` library), with the call's CDR."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from ccd.acd.model import Queue
from ccd.db import migrate
from ccd.db.engine import create_engine
from ccd.db.tokens import TokenStore
from ccd.domain.auth import Role
from ccd.domain.contract import SimExten, sim_channel
from tests.ports import free_port
from tests.system.acdrig import acd_daemon, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.rig import (
    create_database,
    daemon_environment,
    quiet_sandbox,
    start_ccd,
    stop_process,
)
from tests.system.waiting import eventually

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

SHORT_CALL = f"channel originate {sim_channel(SimExten.HANGUP_AFTER_2)} application Wait 5"


@pytest.fixture
async def database(postgres_cluster: PostgresCluster) -> str:
    url = await create_database(postgres_cluster)
    await migrate.upgrade(url)
    return url


@pytest.fixture
async def ccd_env(
    asterisk_sandbox: AsteriskSandbox, database: str, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    await quiet_sandbox(asterisk_sandbox)
    env = {**os.environ, **daemon_environment(asterisk_sandbox, tmp_path / "data")}
    env.update(
        {
            "CCD_HTTP__PORT": str(free_port()),
            "CCD_LOG__FORMAT": "json",
            "CCD_DATABASE__URL": database,
            "CCD_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on 127.0.0.1
            "CCD_WEBHOOKS__RETRY_MIN_S": "0.2",
            "CCD_WEBHOOKS__RETRY_MAX_S": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    yield env
    asterisk_sandbox.hangup_all()


async def outbox(url: str) -> dict[str, str]:
    """linkedid of each call.ended row → its status."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT dedupe_key, status FROM webhook_deliveries WHERE event_type = 'call.ended'"
        )
        return {row["dedupe_key"].split(":", 1)[1]: row["status"] for row in rows}
    finally:
        await connection.close()


async def test_kill_9_with_deliveries_pending_then_delivered_after_restart(
    ccd_env: dict[str, str], asterisk_sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    url = ccd_env["CCD_DATABASE__URL"]
    engine = create_engine(url)
    try:
        _id, token = await TokenStore(engine).create(Role.ADMIN, label="webhooks test")
    finally:
        await engine.dispose()
    receiver_port = free_port()  # nothing listens there yet: the receiver is down
    api = f"http://127.0.0.1:{ccd_env['CCD_HTTP__PORT']}"
    headers = {"Authorization": f"Bearer {token}"}

    first = await start_ccd(ccd_env, tmp_path / "first.log")
    try:
        await first.wait_ready()
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.post(
                f"{api}/api/v1/webhooks",
                json={"url": f"http://127.0.0.1:{receiver_port}/hook", "event_types": ["call.*"]},
            ) as response,
        ):
            assert response.status == 201
            subscription = await response.json()
        for _ in range(2):
            await asyncio.to_thread(asterisk_sandbox.cli, SHORT_CALL)

        async def pending() -> bool:
            rows = await outbox(url)
            return len(rows) == 2 and set(rows.values()) == {"pending"}

        await eventually(pending, within_s=20, what="2 call.ended rows pending")
        first.process.send_signal(signal.SIGKILL)
        assert await first.process.wait() == -signal.SIGKILL
    finally:
        await stop_process(first)
    ended = set(await outbox(url))

    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver_port).start()
    second = await start_ccd(ccd_env, tmp_path / "second.log")
    try:
        await second.wait_ready()

        async def delivered() -> bool:
            return set((await outbox(url)).values()) == {"delivered"}

        await eventually(delivered, within_s=30, what="call.ended rows delivered")
    finally:
        second.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await second.process.wait()
        await stop_process(second)
        await runner.cleanup()
    verifier = Webhook(subscription["secret"])
    payloads = [verifier.verify(body, headers) for headers, body in received]
    ended_payloads = [p for p in payloads if p["type"] == "call.ended"]
    assert {p["data"]["call_id"] for p in ended_payloads} == ended
    assert all(p["data"]["cdr"]["linkedid"] == p["data"]["call_id"] for p in ended_payloads)
    ids = [headers["webhook-id"] for headers, _ in received]
    assert len(ids) == len(set(ids))  # nothing reached the receiver before the kill
    assert json.dumps(subscription).count("whsec_") == 1


IVR_LOOKUP_TO_QUEUE = """
id = "crmpop"
default = true
entry = "lookup"
default_destination = "bye"
queue_context = "ccd-queue-wait"
queue_exten = "s"

[nodes.lookup]
kind = "lookup"
url = "{url}"
assign = {{ account = "account", tier = "tier" }}
next = "to_sales"
fallback = "to_sales"

[nodes.to_sales]
kind = "queue"
queue = "sales"

[nodes.bye]
kind = "hangup"
"""


async def test_a_queued_call_pops_the_screen_then_answers_then_ends_in_order(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        arrived.set()
        return web.Response(status=204)

    async def crm(request: web.Request) -> web.Response:
        return web.json_response({"account": "4711", "tier": "gold"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/crm", crm)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = await acd_database(
        postgres_cluster,
        config([Queue(id="sales", ring_timeout_s=10)], [sim_agent("1007")], {"1007": ["sales"]}),
    )
    flow = IVR_LOOKUP_TO_QUEUE.format(url=f"http://127.0.0.1:{port}/crm")
    try:
        async with acd_daemon(
            asterisk_sandbox,
            url,
            tmp_path,
            flows={"crmpop.toml": flow},
            settings_env={"CCD_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"},
        ) as run:
            admin = await run.token(Role.ADMIN)
            status, subscription = await run.api(
                "POST",
                "/api/v1/webhooks",
                admin,
                {"url": f"http://127.0.0.1:{port}/hook", "event_types": ["call.*"]},
            )
            assert status == 201
            await run.acd.login("1007", None)
            caller = await run.caller("", ivr_flow="crmpop")

            def types() -> list[str]:
                return [json.loads(body)["type"] for _, body in received]

            await eventually(
                lambda: "call.ended" in types(), within_s=40, what="call.ended delivered"
            )
    finally:
        await runner.cleanup()
    verifier = Webhook(subscription["secret"])
    events = [verifier.verify(body, headers) for headers, body in received]
    mine = [e for e in events if e["data"]["call_id"] == caller]
    assert [e["type"] for e in mine] == ["call.ringing", "call.answered", "call.ended"]
    ringing, answered, ended = mine
    assert ringing["data"]["caller_num"] == run.caller_number(caller)
    assert ringing["data"]["queue"] == "sales"
    assert ringing["data"]["agent_id"] == "1007"
    assert ringing["data"]["ivr_variables"]["account"] == "4711"
    assert ringing["data"]["ivr_variables"]["tier"] == "gold"
    assert "lookup" in [step["node"] for step in ringing["data"]["ivr_path"]]
    assert answered["data"]["agent_id"] == "1007"
    assert ended["data"]["cdr"]["agent_id"] == "1007"
    assert ended["data"]["cdr"]["disposition"] == "answered"
