"""Rig for the ACD system tests: ccd in-process against the real Asterisk sandbox and a
PostgreSQL database of the test's own, with an ACD configuration written through the
store, callers placed as Local channels into ``ccd-queue-wait`` and agents simulated by
the ``ccd-agents`` dialplan context."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ccd.acd.model import Agent, PauseReason, Queue
from ccd.acd.seed import AcdConfig
from ccd.app import Daemon
from ccd.db import migrate
from ccd.db.acd_store import AcdStore
from ccd.db.engine import create_engine
from ccd.domain import contract
from ccd.domain.auth import Role
from ccd.domain.events import QueueConnected, QueueEntered, QueueLeft
from ccd.settings import parse_settings
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.ivrrig import customer_call
from tests.system.rawami import RawAmi
from tests.system.rig import create_database, daemon_environment, quiet_sandbox
from tests.system.waiting import eventually

NO_ANSWER = PauseReason("no-answer", "Missed calls (automatic)")


def sim_agent(number: str, **skills: int) -> Agent:
    """An agent whose phone is the ``ccd-agents`` simulator: 1xxx answer, 1002/2xxx never
    answer, 1003/3xxx are busy."""
    return Agent(
        id=number,
        interface=f"Local/{number}@{contract.AGENT_SIM_CONTEXT}",
        skills=skills,
        name=f"sim {number}",
    )


@dataclass
class AcdRun:
    daemon: Daemon
    database_url: str
    agi_port: int
    ami: RawAmi
    sandbox: AsteriskSandbox
    http: aiohttp.ClientSession
    queue_events: list[object] = field(default_factory=list)
    _serial: int = 0
    _reader_token: str = ""

    @property
    def acd(self) -> Any:
        return self.daemon.components.acd

    async def caller(
        self, queue: str, *, number: str = "", priority: int = 0, ivr_flow: str | None = None
    ) -> str:
        """A caller entering ``queue`` (or, with ``ivr_flow``, that IVR flow, which should
        queue them); returns their channel name (the Local ``;1`` half, which runs
        ``ccd-queue-wait``; the ``;2`` half is the customer on hold music)."""
        self._serial += 1
        number = number or f"555{self._serial:04d}"
        variables = {
            contract.VAR_QUEUE: queue,
            contract.VAR_PRIORITY: str(priority),
            contract.VAR_AGI_PORT: str(self.agi_port),
        }
        if ivr_flow is not None:
            variables = {contract.VAR_IVR_FLOW: ivr_flow, contract.VAR_AGI_PORT: str(self.agi_port)}
        return await customer_call(
            self.ami,
            number=number,
            name=f"Customer {self._serial}",
            context=contract.IVR_CONTEXT if ivr_flow is not None else contract.QUEUE_CONTEXT,
            variables=variables,
        )

    @staticmethod
    def caller_number(caller: str) -> str:
        """The caller id number ``caller()`` gave the caller whose channel is ``caller``."""
        return caller.removeprefix("caller-")

    async def token(self, role: Role, agent_id: str | None = None) -> str:
        _id, token = await self.daemon.components.tokens.create(role, agent_id, label="acd test")
        return token

    async def api(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(method, path, json=body, headers=headers) as response:
            empty = response.status == 204 or response.content_length == 0
            payload = None if empty else await response.json()
            return response.status, payload

    def customer_half(self, caller: str) -> str:
        """The ``;2`` half of a caller's Local channel: the customer's side (DTMF from here
        reaches the waiting caller's AGI)."""
        call = self.daemon.components.live.call(caller)
        assert call is not None, f"no live call {caller}"
        names = [c.snapshot.name for c in call.channels if c.snapshot.name.endswith(";2")]
        assert names, f"no ;2 half in {caller}"
        return names[0]

    def entered(self) -> list[QueueEntered]:
        return [e for e in self.queue_events if isinstance(e, QueueEntered)]

    def connected(self) -> list[QueueConnected]:
        return [e for e in self.queue_events if isinstance(e, QueueConnected)]

    def left(self) -> list[QueueLeft]:
        return [e for e in self.queue_events if isinstance(e, QueueLeft)]

    async def sessions(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """The agent session log, oldest first."""
        query = "SELECT agent_id, status, reason, call_id, at FROM acd_agent_sessions"
        args: list[Any] = []
        if agent_id is not None:
            query += " WHERE agent_id = $1"
            args.append(agent_id)
        return [dict(row) for row in await _fetch(self.database_url, query + " ORDER BY id", args)]

    async def cdr(self, linkedid: str) -> dict[str, Any] | None:
        rows = await _fetch(self.database_url, "SELECT * FROM cdrs WHERE linkedid = $1", [linkedid])
        return dict(rows[0]) if rows else None

    async def settled(self, within_s: float = 20) -> None:
        """Every call over and every record stored: what a user reads now is final."""
        live = self.daemon.components.live
        await eventually(lambda: not live.calls(), within_s=within_s, what="every call over")
        assert await self.daemon.components.cdr_writer.drain(within_s), "CDR spool not drained"

    async def cdrs_naming_caller(self, number: str) -> list[dict[str, Any]]:
        """The stored CDRs whose caller is ``number``, as a user finds them
        (``GET /api/v1/cdrs?number=`` also matches the callee and the DID)."""
        token = self._reader_token or await self.token(Role.SUPERVISOR)
        self._reader_token = token
        status, body = await self.api("GET", f"/api/v1/cdrs?number={number}&limit=1000", token)
        assert status == 200, body
        assert body["next_cursor"] is None, f"more than 1000 CDRs name {number}"
        return [row for row in body["cdrs"] if row["caller_num"] == number]

    async def cdr_counts(self, numbers: Sequence[str]) -> dict[str, int]:
        """Number → how many CDRs name it as the caller (one per customer call is right)."""
        return {number: len(await self.cdrs_naming_caller(number)) for number in numbers}


async def _fetch(url: str, query: str, args: Sequence[Any]) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def acd_database(cluster: PostgresCluster, config: AcdConfig) -> str:
    """A fresh migrated database holding ``config``."""
    url = await create_database(cluster)
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        await AcdStore(engine).apply_seed(config)
    finally:
        await engine.dispose()
    return url


def config(
    queues: Sequence[Queue],
    agents: Sequence[Agent],
    memberships: Mapping[str, Sequence[str]],
    pause_reasons: Sequence[PauseReason] = (NO_ANSWER,),
) -> AcdConfig:
    return AcdConfig(
        agents={a.id: a for a in agents},
        queues={q.id: q for q in queues},
        pause_reasons={p.code: p for p in pause_reasons},
        memberships={agent: frozenset(qs) for agent, qs in memberships.items()},
    )


@asynccontextmanager
async def acd_daemon(
    sandbox: AsteriskSandbox,
    database_url: str,
    data_dir: Path,
    *,
    agi_port: int = 0,
    talk_s: float = 1,
    quiet_before: bool = True,
    hangup_after: bool = True,
    flows: Mapping[str, str] | None = None,
    settings_env: Mapping[str, str] | None = None,
) -> AsyncIterator[AcdRun]:
    """``flows``: IVR flow files (name → TOML) for a flows directory of this run;
    ``settings_env``: more CCD_* settings for the daemon."""
    if quiet_before:
        await quiet_sandbox(sandbox)
    environ = daemon_environment(sandbox, data_dir)
    environ |= {"CCD_DATABASE__URL": database_url, "CCD_AGI__PORT": str(agi_port)}
    environ |= dict(settings_env or {})
    if flows is not None:
        flows_dir = data_dir / "ivr"
        flows_dir.mkdir(parents=True, exist_ok=True)
        for name, text in flows.items():
            (flows_dir / name).write_text(text)
        environ["CCD_IVR__FLOWS_DIR"] = str(flows_dir)
    settings = parse_settings(None, source="test", environ=environ)
    daemon = Daemon(settings)
    run_events: list[object] = []

    def collect(event: object) -> None:
        if isinstance(event, QueueEntered | QueueConnected | QueueLeft):
            run_events.append(event)

    daemon.components.bus.subscribe(collect)
    await daemon.start()
    try:
        await daemon.components.gateway.wait_resynced(20)
        ami = await RawAmi.connect(sandbox.host, sandbox.port)
        async with (
            ami,
            aiohttp.ClientSession(base_url=f"http://127.0.0.1:{daemon.http_port}") as http,
        ):
            # Events off: this connection only sends actions, and an unread event backlog
            # would make Asterisk drop it (manager write timeout).
            reply = await ami.action(
                "Login", Username=sandbox.username, Secret=sandbox.secret, Events="off"
            )
            assert reply["Response"] == "Success", reply
            # The agent simulator's talk time (a global, read by ccd-agents).
            await ami.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(talk_s))
            yield AcdRun(
                daemon=daemon,
                database_url=database_url,
                agi_port=daemon.agi_port,
                ami=ami,
                sandbox=sandbox,
                http=http,
                queue_events=run_events,
            )
    finally:
        await daemon.stop()
        if hangup_after:
            sandbox.hangup_all()


@asynccontextmanager
async def every_event(sandbox: AsteriskSandbox) -> AsyncIterator[list[dict[str, str]]]:
    """Every AMI event (the recorder login: AGI commands included), read as it comes."""
    recorder = await RawAmi.connect(sandbox.host, sandbox.port)
    frames: list[dict[str, str]] = []

    async def read() -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frames.append(await recorder.read_frame(3600))

    async with recorder:
        await recorder.login(sandbox.recorder_username, sandbox.recorder_secret)
        reader = asyncio.create_task(read())
        try:
            yield frames
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def at(row: Mapping[str, Any]) -> datetime:
    value = row["at"]
    assert isinstance(value, datetime)
    return value
