"""ccd end to end: the daemon, its API and websocket against the real Asterisk sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccd.app import Daemon
from ccd.db import migrate
from ccd.domain.auth import Role
from ccd.domain.contract import SimExten, sim_channel
from ccd.settings import Settings, parse_settings
from tests.system.conftest import AsteriskSandbox
from tests.system.rig import CCD, daemon_environment
from tests.system.waiting import eventually


@dataclass
class Running:
    daemon: Daemon
    http: aiohttp.ClientSession
    sandbox: AsteriskSandbox
    events: list[dict[str, Any]] = field(default_factory=list)

    async def calls(self) -> list[dict[str, Any]]:
        async with self.http.get("/api/v1/calls") as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            calls: list[dict[str, Any]] = body["calls"]
            return calls

    def model_channels(self) -> set[str]:
        return {name for name, _state in self.daemon.components.live.model.snapshot()}


@pytest.fixture
async def running(asterisk_sandbox: AsteriskSandbox, tmp_path: Path) -> AsyncIterator[Running]:
    asterisk_sandbox.hangup_all()
    settings: Settings = parse_settings(
        None, source="test", environ=daemon_environment(asterisk_sandbox, tmp_path)
    )
    await migrate.upgrade(settings.database_url)
    daemon = Daemon(settings)
    await daemon.start()
    try:
        await daemon.components.gateway.wait_resynced(20)
        _id, token = await daemon.components.tokens.create(Role.SUPERVISOR, label="e2e")
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{daemon.http_port}",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            yield Running(daemon=daemon, http=http, sandbox=asterisk_sandbox)
    finally:
        await daemon.stop()
        asterisk_sandbox.hangup_all()


async def collect_events(ws: aiohttp.ClientWebSocketResponse, into: list[dict[str, Any]]) -> None:
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            into.append(json.loads(message.data))


async def test_a_real_call_is_seen_live_and_ends(running: Running) -> None:
    async with running.http.ws_connect("/api/v1/events") as ws:
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "snapshot"
        assert first["calls"] == []
        reader = asyncio.create_task(collect_events(ws, running.events))

        running.sandbox.cli(
            f"channel originate {sim_channel(SimExten.DIAL_ANSWER)} application Wait 3600"
        )
        originated_at = time.monotonic()

        async def bridged_call() -> dict[str, Any] | None:
            calls = await running.calls()
            if len(calls) == 1 and calls[0]["state"] == "bridged":
                return calls[0]
            return None

        call = await eventually(bridged_call, within_s=1.0, what="bridged call in /api/v1/calls")
        seen_after_s = time.monotonic() - originated_at
        linkedid = call["id"]
        assert len(call["channels"]) == 4  # Local dial-answer ;1/;2 and answer ;1/;2

        asterisk_channels = set(running.sandbox.active_channels())
        assert running.model_channels() == asterisk_channels
        assert {c["name"] for c in call["channels"]} == asterisk_channels

        await eventually(
            lambda: any(
                e["type"] == "call.started" and e["call"]["id"] == linkedid for e in running.events
            ),
            within_s=1.0 - min(seen_after_s, 0.9),
            what="call.started on the websocket",
        )
        async with running.http.get(f"/api/v1/calls/{linkedid}") as response:
            assert response.status == 200
            assert (await response.json())["id"] == linkedid

        async with running.http.delete(f"/api/v1/calls/{linkedid}") as response:
            assert response.status == 202, await response.text()

        await eventually(
            lambda: any(
                e["type"] == "call.ended" and e["call"]["id"] == linkedid for e in running.events
            ),
            within_s=5,
            what="call.ended on the websocket",
        )
        assert await running.calls() == []
        assert running.sandbox.active_channels() == []
        types = [e["type"] for e in running.events if e["call"]["id"] == linkedid]
        assert types[0] == "call.started"
        assert types[-1] == "call.ended"
        reader.cancel()


async def test_api_originate_runs_the_shipped_originate_context(running: Running) -> None:
    body = {"endpoint": sim_channel(SimExten.ANSWER), "destination": "1000"}
    async with running.http.post("/api/v1/calls", json=body) as response:
        assert response.status == 202, await response.text()
        assert (await response.json())["originate_id"]

    async def bridged_call() -> dict[str, Any] | None:
        calls = await running.calls()
        if calls and calls[0]["state"] == "bridged":
            return calls[0]
        return None

    call = await eventually(bridged_call, within_s=10, what="originated call bridged")
    originator = call["channels"][0]
    assert originator["name"].startswith("Local/answer@ccd-sim"), originator
    assert (originator["context"], originator["exten"]) == ("ccd-originate", "1000")
    assert call["callee"]["number"] == "1000"
    assert running.model_channels() == set(running.sandbox.active_channels())


async def test_header_injection_never_reaches_asterisk(running: Running) -> None:
    before = running.sandbox.active_channels()
    body = {"endpoint": sim_channel(SimExten.ANSWER), "destination": "1000\r\nAction: Logoff"}
    async with running.http.post("/api/v1/calls", json=body) as response:
        assert response.status == 422
        problem = await response.json()
    assert any(error["field"] == "destination" for error in problem["errors"]), problem
    # Asterisk takes one connection's actions in order: once it answers this Ping on
    # ccd's connection, whatever ccd wrote before it has reached Asterisk (a Logoff would
    # have ended the session).
    gateway = running.daemon.components.gateway
    pong = await gateway.send_action({"Action": "Ping"}, as_list=False, timeout_s=5)
    assert pong.get("Response") == "Success", pong
    assert running.sandbox.active_channels() == before
    assert gateway.logged_in


async def test_asterisk_restart_reconnects_resyncs_and_never_resends_originate(
    running: Running,
) -> None:
    gateway = running.daemon.components.gateway
    running.sandbox.cli(
        f"channel originate {sim_channel(SimExten.DIAL_ANSWER)} application Wait 3600"
    )
    await eventually(running.calls, within_s=5, what="a call before the restart")
    # An originate in flight: the far end rings forever, so no OriginateResponse yet.
    body = {"endpoint": sim_channel(SimExten.RING), "destination": "1000", "ring_timeout_s": 60}
    async with running.http.post("/api/v1/calls", json=body) as response:
        assert response.status == 202, await response.text()

    def ringing() -> bool:
        return any(n.startswith("Local/ring@ccd-sim") for n in running.sandbox.active_channels())

    await eventually(ringing, within_s=5, what="the originate ringing")
    reconnects_before = gateway.reconnects

    running.sandbox.restart()  # returns once Asterisk answers AMI again

    await eventually(
        lambda: gateway.reconnects > reconnects_before and gateway.resynced,
        within_s=20,
        what="ccd reconnected and resynced",
    )
    assert gateway.last_backoff_delay_s is not None
    # The restart ended every call: the live model must say so too.
    await eventually(lambda: not running.model_channels(), within_s=5, what="model emptied")
    assert await running.calls() == []
    # A re-sent Originate would be written on the new connection as it logs in (where a
    # client library that replays unanswered actions would write it). Asterisk takes one
    # connection's actions in order: once it answers this Ping, such an Originate has been
    # queued, and by the time a whole new call is up below, it would be ringing.
    pong = await gateway.send_action({"Action": "Ping"}, as_list=False, timeout_s=5)
    assert pong.get("Response") == "Success", pong
    assert running.sandbox.active_channels() == []

    running.sandbox.cli(
        f"channel originate {sim_channel(SimExten.DIAL_ANSWER)} application Wait 3600"
    )
    await eventually(
        lambda: (
            running.model_channels()
            and running.model_channels() == set(running.sandbox.active_channels())
        ),
        within_s=5,
        what="model equals Asterisk after the restart",
    )
    assert not ringing(), "the in-flight Originate was sent again after the reconnect"


async def test_ccd_run_is_ready_then_exits_cleanly_on_sigterm(
    asterisk_sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    env = {**os.environ, **daemon_environment(asterisk_sandbox, tmp_path)}
    env["CCD_HTTP__PORT"] = "18087"
    env["CCD_LOG__FORMAT"] = "json"
    upgrade = await asyncio.create_subprocess_exec(str(CCD), "db", "upgrade", env=env)
    assert await upgrade.wait() == 0
    process = await asyncio.create_subprocess_exec(
        str(CCD), "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                try:
                    async with http.get("http://127.0.0.1:18087/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, within_s=20, what="/readyz 200", interval_s=0.2)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await process.wait()
        stderr = (await process.stderr.read()).decode() if process.stderr else ""
        stdout = (await process.stdout.read()).decode() if process.stdout else ""
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0, stderr
    lines = [json.loads(line) for line in (stderr + stdout).splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    assert "ccd stopping" in events
    assert "ccd stopped" in events
    assert all("level" in line and "timestamp" in line for line in lines)
    assert asterisk_sandbox.secret not in stderr + stdout
