"""Rig for the high-availability tests: two `ccd run` processes (instances ``a`` and
``b``) against the sandbox and one PostgreSQL database, callers whose dialplan lists
both FastAGI addresses (``CCD_AGI_ADDRESSES``), and what each instance says about its
role (``/readyz`` → ``ha``)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ccd.acd.model import Queue
from ccd.db.engine import create_engine
from ccd.db.tokens import TokenStore
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.ports import free_port
from tests.system.acdrig import _fetch, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.ivrrig import customer_call
from tests.system.rawami import RawAmi
from tests.system.rig import CcdProcess, daemon_environment, quiet_sandbox, start_ccd, stop_process
from tests.system.waiting import eventually

QUEUE = "sales"
AGENTS = (sim_agent("1001"), sim_agent("1004"))  # 1xxx answer and talk CCD_SIM_TALK_S
LEASE_S = 3.0
RENEW_INTERVAL_S = 0.5
IVR_FLOW = f"""
id = "front"
default = true
entry = "menu"
default_destination = "to_sales"
queue_context = "{contract.QUEUE_CONTEXT}"
queue_exten = "s"

[nodes.menu]
kind = "menu"
prompts = ["beep"]
options = {{ "1" = "to_sales" }}
timeout_s = 12
retries = 0
after_retries = "to_sales"

[nodes.to_sales]
kind = "queue"
queue = "{QUEUE}"
"""


@dataclass
class Instance:
    name: str
    env: dict[str, str]
    log_path: Path
    process: CcdProcess | None = None

    @property
    def http_port(self) -> int:
        return int(self.env["CCD_HTTP__PORT"])

    @property
    def agi_port(self) -> int:
        return int(self.env["CCD_AGI__PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def running(self) -> CcdProcess:
        assert self.process is not None, f"{self.name} not started"
        return self.process

    async def start(self) -> None:
        self.process = await start_ccd(self.env, self.log_path)

    async def role(self) -> str | None:
        answer = await self.running.readiness()
        if answer is None:
            return None
        _status, body = answer
        ha = body.get("ha")
        return ha.get("role") if isinstance(ha, dict) else None

    async def wait_role(self, role: str, within_s: float = 30) -> float:
        """Seconds until ``/readyz`` is 200 with this role."""
        started = time.monotonic()

        async def reached() -> bool:
            answer = await self.running.readiness()
            return answer is not None and answer[0] == 200 and answer[1]["ha"]["role"] == role

        await eventually(reached, within_s=within_s, what=f"{self.name} {role}", interval_s=0.05)
        return time.monotonic() - started

    def log_events(self) -> list[dict[str, Any]]:
        return self.running.log_events()


@dataclass
class Failover:
    sandbox: AsteriskSandbox
    database_url: str
    a: Instance
    b: Instance
    ami: RawAmi
    http: aiohttp.ClientSession
    token: str
    callers: dict[str, str] = field(default_factory=dict)  # caller number -> kind

    @property
    def agi_addresses(self) -> str:
        return contract.AGI_ADDRESS_SEPARATOR.join(
            f"127.0.0.1:{i.agi_port}" for i in (self.a, self.b)
        )

    async def api(
        self, instance: Instance, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any, Mapping[str, str]]:
        async with self.http.request(
            method,
            instance.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as response:
            payload = await response.json() if response.content_length != 0 else None
            return response.status, payload, dict(response.headers)

    async def call(self, number: str, kind: str) -> None:
        """A caller (``Local/answer@ccd-sim``, caller id ``number``) straight into the
        queue (``kind`` "queue") or into the IVR (``kind`` "ivr"), both instances listed."""
        variables = {
            contract.VAR_AGI_ADDRESSES: self.agi_addresses,
            contract.VAR_QUEUE: QUEUE,
        }
        if kind == "ivr":
            variables = {
                contract.VAR_AGI_ADDRESSES: self.agi_addresses,
                contract.VAR_IVR_FLOW: "front",
            }
        await customer_call(
            self.ami,
            number=number,
            name=f"Customer {number}",
            context=contract.IVR_CONTEXT if kind == "ivr" else contract.QUEUE_CONTEXT,
            variables=variables,
        )
        self.callers[number] = kind

    async def set_talk_time(self, talk_s: float) -> None:
        """How long the simulated agents talk on the calls they answer from now on."""
        reply = await self.ami.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(talk_s))
        assert reply.get("Response") == "Success", reply

    async def queue_live(self, instance: Instance) -> dict[str, Any] | None:
        status, body, _headers = await self.api(instance, "GET", f"/api/v1/queues/{QUEUE}")
        assert status == 200, body
        live: dict[str, Any] | None = body["live"]
        return live

    async def waiting_numbers(self, instance: Instance) -> list[str]:
        live = await self.queue_live(instance)
        if live is None:
            return []
        callers = sorted(live["callers"], key=lambda c: c["position"])
        return [c["caller_num"] for c in callers]

    async def agent_status(self, instance: Instance, agent_id: str) -> str | None:
        status, body, _headers = await self.api(instance, "GET", f"/api/v1/agents/{agent_id}")
        assert status == 200, body
        live = body["live"]
        return None if live is None else str(live["status"])

    async def logged_status(self, agent_id: str) -> str | None:
        """The agent's latest status in the ACD's session log (what a takeover restores)."""
        rows = await _fetch(
            self.database_url,
            "SELECT status FROM acd_agent_sessions WHERE agent_id = $1 ORDER BY id DESC LIMIT 1",
            [agent_id],
        )
        return str(rows[0]["status"]) if rows else None

    async def cdrs(self) -> list[dict[str, Any]]:
        rows = await _fetch(
            self.database_url,
            "SELECT linkedid, caller_num, agent_id, started_at, answered_at, wait_s, talk_s,"
            " disposition,"
            " ivr_path, queue FROM cdrs ORDER BY answered_at NULLS LAST",
            [],
        )
        return [dict(row) for row in rows]


async def _admin_token(url: str) -> str:
    engine = create_engine(url)
    try:
        _id, token = await TokenStore(engine).create(Role.ADMIN, label="failover test")
        return token
    finally:
        await engine.dispose()


@asynccontextmanager
async def failover_pair(
    sandbox: AsteriskSandbox, cluster: PostgresCluster, tmp_path: Path, *, talk_s: float
) -> AsyncIterator[Failover]:
    """Instance ``a`` started (and active) first, then ``b`` (standby); both agents of
    the queue logged in through ``a``; the agent simulator talks ``talk_s`` seconds."""
    url = await acd_database(
        cluster,
        config([Queue(id=QUEUE)], list(AGENTS), {agent.id: [QUEUE] for agent in AGENTS}),
    )
    token = await _admin_token(url)
    flows = tmp_path / "ivr"
    flows.mkdir()
    (flows / "front.toml").write_text(IVR_FLOW)
    await quiet_sandbox(sandbox)

    def instance(name: str) -> Instance:
        http_port = free_port()
        env = {**os.environ, **daemon_environment(sandbox, tmp_path / name)}
        env |= {
            "CCD_HTTP__PORT": str(http_port),
            "CCD_AGI__PORT": str(free_port()),
            "CCD_LOG__FORMAT": "json",
            "CCD_DATABASE__URL": url,
            "CCD_IVR__FLOWS_DIR": str(flows),
            "PYTHONUNBUFFERED": "1",
            "CCD_HA__ENABLED": "true",
            "CCD_HA__INSTANCE": name,
            "CCD_HA__LEASE_S": str(LEASE_S),
            "CCD_HA__RENEW_INTERVAL_S": str(RENEW_INTERVAL_S),
            "CCD_HA__API_URL": f"http://127.0.0.1:{http_port}",
        }
        return Instance(name=name, env=env, log_path=tmp_path / f"{name}.log")

    a, b = instance("a"), instance("b")
    try:
        await a.start()
        await a.wait_role("active")
        await b.start()
        await b.wait_role("standby")
        async with (
            await RawAmi.connect(sandbox.host, sandbox.port) as ami,
            aiohttp.ClientSession() as http,
        ):
            reply = await ami.action(
                "Login", Username=sandbox.username, Secret=sandbox.secret, Events="off"
            )
            assert reply["Response"] == "Success", reply
            await ami.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(talk_s))
            pair = Failover(
                sandbox=sandbox, database_url=url, a=a, b=b, ami=ami, http=http, token=token
            )
            for agent in AGENTS:
                status, body, _headers = await pair.api(
                    a, "POST", f"/api/v1/agents/{agent.id}/login"
                )
                assert status == 200, body
            yield pair
    finally:
        for each in (a, b):
            if each.process is not None:
                await stop_process(each.process)
            kept = os.environ.get("CCD_FAILOVER_LOGS")  # a directory to keep the logs in
            if kept and each.log_path.exists():
                shutil.copy(each.log_path, Path(kept) / f"{tmp_path.name}-{each.name}.log")
        sandbox.hangup_all()
