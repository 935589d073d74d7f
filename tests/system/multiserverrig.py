"""Rig for tests of one ccd serving several real Asterisk servers: two extra sandbox
instances (``east`` and ``west``: their own roots, ports and ``systemname``, made by
``scripts/asterisk-sandbox`` with ``CCD_SANDBOX_INSTANCE``) beside the default sandbox,
and ccd in-process with one ``[[asterisk]]`` table per instance, a fresh PostgreSQL
database of its own, and its FastAGI server reached by both Asterisks.

Use it in a test module::

    from tests.system.multiserverrig import Sandboxes, multi_server_daemon

    async def test_x(two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster,
                     tmp_path: Path) -> None:
        async with multi_server_daemon(two_sandboxes, postgres_cluster, tmp_path,
                                       flows={"front.toml": FLOW}) as run:
            caller = await run.caller_in_ivr("west", "front")
            call = await run.live_call(caller)        # GET /api/v1/calls/{id}
            assert call["server"] == "west"

The ``two_sandboxes`` fixture (tests/system/conftest.py, built by ``bring_up_sandboxes``
here) is module-scoped: both instances come up once per module (about 2 s each) and are
stopped and unmounted after the module, failed or not; a test that stopped or killed a
server or changed its ``systemname`` gets it back as it was when its
``multi_server_daemon`` ends. Each ``multi_server_daemon`` is one ccd with a database
of its own (``database_url`` to bring one seeded beforehand, e.g.
``tests.system.acdrig.acd_database``). Run the module under the sandbox lock like every
sandbox test:
``flock /tmp/ccd-sandbox.lock .venv/bin/pytest -q -p no:cacheprovider tests/system/…``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccd.ami.gateway import AmiGateway
from ccd.app import Daemon
from ccd.db import migrate
from ccd.domain import contract
from ccd.domain.auth import Role
from ccd.domain.events import AmiConnected, AmiDisconnected, ResyncFinished
from ccd.settings import parse_settings
from tests.ports import free_port
from tests.system.conftest import (
    AMI_HOST,
    AMI_SECRET,
    AMI_USERNAME,
    RECORDER_SECRET,
    RECORDER_USERNAME,
    SANDBOX_SCRIPT,
    PostgresCluster,
    _require_root,
    _run,
)
from tests.system.ivrrig import customer_call
from tests.system.rawami import Frame, RawAmi
from tests.system.rig import create_database
from tests.system.waiting import eventually

SERVERS = ("east", "west")
"""The two instances' names: ccd's server names and their ``systemname``."""

# Port ranges of their own (the default sandbox has RTP 10000-10999, UDPTL 11000-11999),
# below Linux's ephemeral range so no outgoing socket takes them.
_RANGES = {
    "east": ("20000-20999", "21000-21999"),
    "west": ("22000-22999", "23000-23999"),
}

ServerEvent = AmiConnected | AmiDisconnected | ResyncFinished


@dataclass
class SandboxInstance:
    """One extra Asterisk sandbox (``scripts/asterisk-sandbox`` with
    ``CCD_SANDBOX_INSTANCE``): AMI on loopback, its own chroot root, the CLI."""

    name: str
    ami_port: int
    sip_port: int
    rtp_ports: str
    udptl_ports: str
    systemname: str
    """asterisk.conf ``systemname`` (the instance's name unless a test changes it)."""
    host: str = AMI_HOST
    username: str = AMI_USERNAME
    secret: str = AMI_SECRET
    recorder_username: str = RECORDER_USERNAME
    recorder_secret: str = RECORDER_SECRET

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CCD_SANDBOX_INSTANCE": self.name,
            "CCD_SANDBOX_AMI_PORT": str(self.ami_port),
            "CCD_SANDBOX_SIP_PORT": str(self.sip_port),
            "CCD_SANDBOX_RTP_PORTS": self.rtp_ports,
            "CCD_SANDBOX_UDPTL_PORTS": self.udptl_ports,
            "CCD_SANDBOX_SYSTEMNAME": self.systemname,
        }

    def _script(self, *args: str, timeout: float = 120) -> str:
        what = f"scripts/asterisk-sandbox {' '.join(args)} (instance {self.name})"
        try:
            done = subprocess.run(
                [str(SANDBOX_SCRIPT), *args],
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{what}: timed out after {timeout:.0f}s", pytrace=False)
        if done.returncode != 0:
            pytest.fail(f"{what}: exit {done.returncode}\n{done.stderr.strip()}", pytrace=False)
        return done.stdout

    @property
    def root(self) -> Path:
        """The instance's chroot as seen from the host (e.g. to read its recordings)."""
        return Path(self._script("path").strip())

    def up(self) -> None:
        """Start Asterisk (mounting its root first); returns once AMI answers."""
        self._script("up")

    def down(self) -> None:
        """Stop Asterisk and remove its root's mounts (nothing of it is left)."""
        self._script("down")

    def restart(self, *, systemname: str | None = None) -> None:
        """Stop and start Asterisk, with ``systemname`` in asterisk.conf from now on if
        given (its calls are gone; AMI connections drop)."""
        if systemname is not None:
            self.systemname = systemname
        self._script("restart")

    def is_up(self) -> bool:
        done = subprocess.run(
            [str(SANDBOX_SCRIPT), "status"], env=self._env(), capture_output=True, check=False
        )
        return done.returncode == 0

    def asterisk_pid(self) -> int | None:
        """This instance's Asterisk process, found as ``scripts/asterisk-sandbox`` finds
        it (``asterisk_pid``): the pid in its root's pid file, still an ``asterisk``, and
        chrooted in this instance's root (so never the default sandbox's Asterisk nor
        another instance's); None when it is not running."""
        root = self.root
        try:
            pid = int((root / "run" / "ccd-sandbox.pid").read_text().strip())
            proc = Path("/proc") / str(pid)
            if (proc / "comm").read_text().strip() != "asterisk":
                return None
            if os.readlink(proc / "root") != str(root):
                return None
        except (OSError, ValueError):  # no pid file, or the process is gone
            return None
        return pid

    def kill(self, within_s: float = 10) -> None:
        """SIGKILL this instance's Asterisk, as a crash or a lost host would end it: no
        channel is hung up and no event sent. Returns once the process is gone; its root
        stays mounted and ``up`` starts it again (the script takes the stale pid file for
        not running)."""
        pid = self.asterisk_pid()
        if pid is None:
            pytest.fail(f"instance {self.name}: no Asterisk of its own to kill", pytrace=False)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + within_s
        while _process_alive(pid):
            if time.monotonic() >= deadline:
                pytest.fail(f"instance {self.name}: Asterisk {pid} outlived SIGKILL {within_s}s")
            time.sleep(0.05)

    def cli(self, command: str) -> str:
        """Output of an Asterisk CLI command on this instance."""
        return self._script("cli", command, timeout=30)

    def hangup_all(self) -> None:
        self.cli("channel request hangup all")

    def active_channels(self) -> list[str]:
        """Names of the channels this Asterisk has now (``core show channels concise``)."""
        out = self.cli("core show channels concise")
        return [line.split("!", 1)[0] for line in out.splitlines() if "!" in line]


def _process_alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie (one no parent reaps is as dead as it gets)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    # "pid (comm) state …": comm may hold spaces or parentheses, the state follows the last.
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass(frozen=True)
class Sandboxes:
    """The extra instances by name (``sandboxes["west"]``), in configuration order."""

    instances: Mapping[str, SandboxInstance]

    def __getitem__(self, name: str) -> SandboxInstance:
        return self.instances[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.instances)

    def toml(self, servers: Mapping[str, str]) -> str:
        """ccd's ``[[asterisk]]`` tables: ``servers`` maps each ccd server name to the
        instance it is (the first is the default server)."""
        tables = []
        for name, instance in servers.items():
            s = self.instances[instance]
            tables.append(
                f'[[asterisk]]\nname = "{name}"\nhost = "{s.host}"\nport = {s.ami_port}\n'
                f'username = "{s.username}"\n\n'
            )
        return "".join(tables)


def _instance(name: str) -> SandboxInstance:
    rtp, udptl = _RANGES[name]
    return SandboxInstance(
        name=name,
        ami_port=free_port(),
        sip_port=free_port(),
        rtp_ports=rtp,
        udptl_ports=udptl,
        systemname=name,
    )


@contextmanager
def bring_up_sandboxes() -> Iterator[Sandboxes]:
    """``east`` and ``west`` up; stopped and unmounted when left, even after a failure
    (or a setup that did half its work)."""
    _require_root("the extra Asterisk sandboxes")
    # The default root (the overlays' lower layer) exists and is current.
    _run([SANDBOX_SCRIPT, "up"], "scripts/asterisk-sandbox up", 900)
    instances = {name: _instance(name) for name in SERVERS}

    def fresh(instance: SandboxInstance) -> None:
        instance.down()  # whatever an interrupted earlier run left
        instance.up()

    def gone(instance: SandboxInstance) -> None:
        subprocess.run(
            [str(SANDBOX_SCRIPT), "down"], env=instance._env(), capture_output=True, check=False
        )

    try:
        _each(instances.values(), fresh)
        yield Sandboxes(instances)
    finally:
        _each(instances.values(), gone)


def _each(instances: Iterable[SandboxInstance], act: Callable[[SandboxInstance], None]) -> None:
    """``act`` on every instance at once (each has its own root, ports and lock), then
    raise the first failure, if any."""
    with ThreadPoolExecutor() as pool:
        futures = [pool.submit(act, instance) for instance in instances]
    for future in futures:
        future.result()


# ---- ccd against both ---------------------------------------------------------------


@dataclass
class MultiServerRun:
    """One ccd in-process serving every instance of ``sandboxes``."""

    daemon: Daemon
    database_url: str
    sandboxes: Sandboxes
    servers: Mapping[str, str]
    """ccd's server names → the instance each is (``{"east": "east", "west": "west"}``)."""
    http: aiohttp.ClientSession
    ami: dict[str, RawAmi]
    """Per server: an AMI connection (user ccd, events off) for actions only."""
    heard: dict[str, list[Frame]]
    """Per server: every AMI event its Asterisk sent since ccd started (the recorder
    user: AGI commands, Newexten…), as it comes; ``wait_heard`` waits for one."""
    server_events: list[ServerEvent] = field(default_factory=list)
    """Every AMI connect, disconnect and resync ccd saw, with its server, in order."""
    _listeners: _Listeners = field(default_factory=lambda: _Listeners({}))
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tokens: dict[tuple[Role, str | None], str] = field(default_factory=dict)

    @property
    def agi_port(self) -> int:
        return self.daemon.agi_port

    # -- callers ---------------------------------------------------------------------

    def instance(self, server: str) -> SandboxInstance:
        """The sandbox instance that ccd's server ``server`` is."""
        return self.sandboxes[self.servers[server]]

    def _caller_id(self, server: str, number: str) -> str:
        # Unique across servers: an explicit ChannelId gets no systemname prefix.
        return f"{server}-caller-{number}-{next(self._serial)}"

    async def _place_caller(
        self, server: str, number: str, context: str, variables: Mapping[str, str]
    ) -> str:
        return await customer_call(
            self.ami[server],
            number=number,
            name=f"Customer {number}",
            context=context,
            variables=variables,
            channel_id=self._caller_id(server, number),
        )

    async def caller_in_ivr(self, server: str, flow: str, *, number: str = "5550100") -> str:
        """A customer (``Local/answer@ccd-sim``, caller id ``number``) calling into the
        IVR flow ``flow`` on ``server``; returns the call's id (its linkedid, also the
        caller's channel id). The AGI session runs in this ccd."""
        variables = {contract.VAR_IVR_FLOW: flow, contract.VAR_AGI_PORT: str(self.agi_port)}
        return await self._place_caller(server, number, contract.IVR_CONTEXT, variables)

    async def caller_in_queue(
        self, server: str, queue: str, *, number: str = "5550200", priority: int = 0
    ) -> str:
        """A customer waiting in ccd's queue ``queue`` on ``server`` (``ccd-queue-wait``);
        returns the call's id."""
        variables = {
            contract.VAR_QUEUE: queue,
            contract.VAR_PRIORITY: str(priority),
            contract.VAR_AGI_PORT: str(self.agi_port),
        }
        return await self._place_caller(server, number, contract.QUEUE_CONTEXT, variables)

    async def originate(self, server: str, **fields: str) -> Frame:
        """An AMI ``Originate`` sent straight to ``server`` (``Async`` true unless given);
        returns Asterisk's response."""
        fields.setdefault("Async", "true")
        reply = await self.ami[server].action("Originate", **fields)
        assert reply.get("Response") == "Success", reply
        return reply

    async def set_global(self, server: str, variable: str, value: str) -> None:
        """A dialplan global on ``server`` (e.g. ``contract.VAR_SIM_TALK_S``)."""
        reply = await self.ami[server].action("Setvar", Variable=variable, Value=value)
        assert reply.get("Response") == "Success", reply

    async def wait_heard(
        self, server: str, match: Callable[[Frame], bool], within_s: float = 15, what: str = ""
    ) -> Frame:
        """The first event ``server``'s Asterisk sent that ``match``es (already heard or
        still to come)."""

        def found() -> Frame | None:
            return next((frame for frame in self.heard[server] if match(frame)), None)

        frame: Frame = await eventually(
            found, within_s=within_s, what=what or f"a matching AMI event from {server}"
        )
        return frame

    async def in_ivr_menu(self, server: str, call_id: str, within_s: float = 15) -> Frame:
        """ccd's IVR (a FastAGI session from ``server``) reads the digits of call
        ``call_id``'s menu: the ``AGIExecStart`` of its ``GET DATA``."""
        return await self.wait_heard(
            server,
            lambda f: (
                f.get("Event") == "AGIExecStart"
                and f.get("Linkedid") == call_id
                and f.get("Command", "").startswith("GET DATA")
            ),
            within_s,
            f"{call_id} in an IVR menu on {server}",
        )

    async def channels_on(self, server: str) -> list[str]:
        """The channel names ``server``'s Asterisk has now (its CLI, not ccd's view)."""
        return await asyncio.to_thread(self.instance(server).active_channels)

    # -- the REST API ----------------------------------------------------------------

    async def token(self, role: Role = Role.ADMIN, agent_id: str | None = None) -> str:
        """A bearer token of ``role`` (made once per role and agent, then reused)."""
        key = (role, agent_id)
        if key not in self._tokens:
            _id, token = await self.daemon.components.tokens.create(
                role, agent_id, label="multi-server test"
            )
            self._tokens[key] = token
        return self._tokens[key]

    async def api(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, token: str = ""
    ) -> tuple[int, Any]:
        """``method path`` with ``token`` (default: an admin's); returns (status, JSON or
        None when the body is empty)."""
        token = token or await self.token(Role.ADMIN)
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(method, path, json=body, headers=headers) as response:
            empty = response.status == 204 or response.content_length == 0
            return response.status, None if empty else await response.json()

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        """``GET /readyz``: (status, body with ``reasons``)."""
        async with self.http.get("/readyz") as response:
            return response.status, await response.json()

    async def wait_ready(self, within_s: float = 30) -> None:
        async def ready() -> bool:
            return (await self.readiness())[0] == 200

        await eventually(ready, within_s=within_s, what="/readyz 200", interval_s=0.1)

    async def wait_not_ready(self, within_s: float = 15) -> dict[str, Any]:
        """The body of ``/readyz`` once it answers 503 (its ``reasons``)."""

        async def not_ready() -> dict[str, Any] | None:
            status, body = await self.readiness()
            return body if status == 503 else None

        body: dict[str, Any] = await eventually(not_ready, within_s=within_s, what="/readyz 503")
        return body

    async def live_calls(self) -> list[dict[str, Any]]:
        """``GET /api/v1/calls``."""
        status, body = await self.api("GET", "/api/v1/calls")
        assert status == 200, body
        calls: list[dict[str, Any]] = body["calls"]
        return calls

    async def live_call(self, call_id: str, within_s: float = 15) -> dict[str, Any]:
        """``GET /api/v1/calls/{id}``, waiting until ccd lists the call."""

        async def listed() -> dict[str, Any] | None:
            status, body = await self.api("GET", f"/api/v1/calls/{call_id}")
            return body if status == 200 else None

        call: dict[str, Any] = await eventually(
            listed, within_s=within_s, what=f"live call {call_id}", interval_s=0.1
        )
        return call

    async def wait_call_gone(self, call_id: str, within_s: float = 20) -> None:
        async def gone() -> bool:
            return (await self.api("GET", f"/api/v1/calls/{call_id}"))[0] == 404

        await eventually(gone, within_s=within_s, what=f"call {call_id} over", interval_s=0.1)

    async def cdrs(self, *, server: str | None = None, **query: str) -> list[dict[str, Any]]:
        """``GET /api/v1/cdrs`` (``?server=`` and any other filter), every page."""
        params = {"limit": "1000", **query, **({"server": server} if server else {})}
        path = "/api/v1/cdrs?" + "&".join(f"{k}={v}" for k, v in params.items())
        status, body = await self.api("GET", path)
        assert status == 200, body
        assert body["next_cursor"] is None, "more than 1000 CDRs"
        rows: list[dict[str, Any]] = body["cdrs"]
        return rows

    async def cdrs_of(self, call_id: str) -> list[dict[str, Any]]:
        """Every stored CDR whose call is ``call_id`` (one is right)."""
        return [row for row in await self.cdrs() if row["linkedid"] == call_id]

    async def wait_cdr(self, call_id: str, within_s: float = 20) -> dict[str, Any]:
        """The stored CDR of call ``call_id`` once the API lists it (fails on a second)."""

        async def stored() -> list[dict[str, Any]]:
            return await self.cdrs_of(call_id)

        rows: list[dict[str, Any]] = await eventually(
            stored, within_s=within_s, what=f"the CDR of {call_id}", interval_s=0.2
        )
        assert len(rows) == 1, rows
        return rows[0]

    async def settled(self, *call_ids: str, within_s: float = 20) -> None:
        """Every call over, the CDR of each of ``call_ids`` listed and nothing left to
        write: what a user reads now is final. The CDR writer keeps running."""
        live = self.daemon.components.live
        writer = self.daemon.components.cdr_writer
        await eventually(lambda: not live.calls(), within_s=within_s, what="every call over")
        for call_id in call_ids:
            await self.wait_cdr(call_id, within_s)
        await eventually(lambda: writer.backlog == 0, within_s=within_s, what="every CDR written")

    # -- one server's outage -----------------------------------------------------------

    async def stop_server(self, server: str) -> None:
        """Stop ``server``'s Asterisk (its calls die with it; ccd's connection drops)."""
        await asyncio.to_thread(self.instance(server).down)

    async def kill_server(self, server: str) -> None:
        """SIGKILL ``server``'s Asterisk: its calls vanish without a Hangup and ccd's
        connection drops (``start_server`` brings it back)."""
        await asyncio.to_thread(self.instance(server).kill)

    async def start_server(self, server: str) -> None:
        """Start ``server``'s Asterisk again and reconnect this rig's AMI to it (ccd
        reconnects on its own: ``wait_resynced``)."""
        instance = self.instance(server)
        await asyncio.to_thread(instance.up)
        await self._reconnect(server)

    async def _reconnect(self, server: str) -> None:
        instance = self.instance(server)
        await self.ami[server].close()
        self.ami[server] = await _actions_ami(instance)
        await self._listeners.restart(server, instance)

    async def restart_server(self, server: str, *, systemname: str | None = None) -> None:
        """Restart ``server``'s Asterisk (``systemname``: a new one from now on)."""
        instance = self.instance(server)
        await asyncio.to_thread(lambda: instance.restart(systemname=systemname))
        await self._reconnect(server)

    async def wait_resynced(self, server: str, within_s: float = 30) -> None:
        """ccd's connection to ``server`` is logged in and resynced."""
        await self.gateway(server).wait_resynced(within_s)

    def gateway(self, server: str) -> AmiGateway:
        """ccd's connection to ``server``."""
        fleet = self.daemon.components.fleet
        assert fleet is not None
        return fleet.get(server)


async def _actions_ami(instance: SandboxInstance) -> RawAmi:
    ami = await RawAmi.connect(instance.host, instance.ami_port)
    # Events off: this connection only sends actions, and an unread event backlog would
    # make Asterisk drop it (manager write timeout).
    reply = await ami.action(
        "Login", Username=instance.username, Secret=instance.secret, Events="off"
    )
    assert reply["Response"] == "Success", reply
    return ami


@dataclass
class _Listeners:
    """Per server: a task reading every event of the recorder user into a list."""

    heard: dict[str, list[Frame]]
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def start(self, server: str, instance: SandboxInstance) -> None:
        client = await RawAmi.connect(instance.host, instance.ami_port)
        await client.login(instance.recorder_username, instance.recorder_secret)
        frames = self.heard.setdefault(server, [])

        async def read() -> None:
            try:
                while True:
                    frames.append(await client.read_frame(3600))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # Asterisk stopped
            finally:
                await client.close()

        self.tasks[server] = asyncio.create_task(read(), name=f"ami events of {server}")

    async def stop(self, server: str) -> None:
        task = self.tasks.pop(server, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def restart(self, server: str, instance: SandboxInstance) -> None:
        await self.stop(server)
        await self.start(server, instance)

    async def stop_all(self) -> None:
        for server in list(self.tasks):
            await self.stop(server)


@asynccontextmanager
async def recording_ami(instance: SandboxInstance) -> AsyncIterator[RawAmi]:
    """AMI with every event of ``instance`` (the recorder user: AGI and Newexten too);
    read with ``wait_for``."""
    client = await RawAmi.connect(instance.host, instance.ami_port)
    async with client:
        await client.login(instance.recorder_username, instance.recorder_secret)
        yield client


async def _quiet(instance: SandboxInstance) -> None:
    """Hang up every channel of ``instance`` and wait until it has none."""
    await asyncio.to_thread(instance.hangup_all)

    async def idle() -> bool:
        return not await asyncio.to_thread(instance.active_channels)

    await eventually(idle, within_s=10, what=f"no channel left on {instance.name}")


def _write_flows(directory: Path, flows: Mapping[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in flows.items():
        (directory / name).write_text(text)
    return directory


@asynccontextmanager
async def multi_server_daemon(
    sandboxes: Sandboxes,
    cluster: PostgresCluster,
    data_dir: Path,
    *,
    database_url: str | None = None,
    flows: Mapping[str, str] | None = None,
    settings_env: Mapping[str, str] | None = None,
    toml: str = "",
    servers: Mapping[str, str] | None = None,
    ready: bool = True,
) -> AsyncIterator[MultiServerRun]:
    """ccd with one ``[[asterisk]]`` per instance, every server resynced (and, with
    ``ready``, ``/readyz`` 200) when entered; stopped, and every instance's calls hung
    up, when left.

    ``database_url``: a migrated database to use (default: a fresh one in ``cluster``);
    ``flows``: IVR flow files (name → TOML); ``settings_env``: more ``CCD_*`` settings;
    ``toml``: more of ccd.toml (other sections); ``servers``: ccd's server names → the
    instance each is (default: every instance under its own name)."""
    servers = dict(servers or {name: name for name in sandboxes.names})
    for instance in sandboxes.instances.values():
        await _quiet(instance)
    if database_url is None:
        database_url = await create_database(cluster)
        await migrate.upgrade(database_url)
    environ = {
        "CCD_AMI__SECRET": AMI_SECRET,
        "CCD_AMI__RECONNECT_MIN_S": "0.2",
        "CCD_AMI__RECONNECT_MAX_S": "1",
        "CCD_DATA_DIR": str(data_dir),
        "CCD_DATABASE__URL": database_url,
        "CCD_HTTP__HOST": "127.0.0.1",
        "CCD_HTTP__PORT": "0",
        "CCD_AGI__PORT": "0",
    }
    if flows is not None:
        environ["CCD_IVR__FLOWS_DIR"] = str(_write_flows(data_dir / "ivr", flows))
    environ |= dict(settings_env or {})
    settings = parse_settings(
        sandboxes.toml(servers) + toml, source=str(data_dir / "ccd.toml"), environ=environ
    )
    daemon = Daemon(settings)
    server_events: list[ServerEvent] = []

    def collect(event: object) -> None:
        if isinstance(event, AmiConnected | AmiDisconnected | ResyncFinished):
            server_events.append(event)

    daemon.components.bus.subscribe(collect)
    await daemon.start()
    amis: dict[str, RawAmi] = {}
    listeners = _Listeners({})
    try:
        fleet = daemon.components.fleet
        assert fleet is not None
        assert fleet.names == tuple(servers)
        for gateway in fleet:
            await gateway.wait_resynced(20)
        for name, instance_name in servers.items():
            amis[name] = await _actions_ami(sandboxes[instance_name])
            await listeners.start(name, sandboxes[instance_name])
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{daemon.http_port}") as http:
            run = MultiServerRun(
                daemon=daemon,
                database_url=database_url,
                sandboxes=sandboxes,
                servers=servers,
                http=http,
                ami=amis,
                heard=listeners.heard,
                server_events=server_events,
                _listeners=listeners,
            )
            if ready:
                await run.wait_ready()
            yield run
    finally:
        await listeners.stop_all()
        for ami in amis.values():
            await ami.close()
        await daemon.stop()
        # The next test finds every server up, as configured, and without calls.
        for instance in sandboxes.instances.values():
            if not instance.is_up():
                instance.up()
            if instance.systemname != instance.name:
                instance.restart(systemname=instance.name)
            instance.hangup_all()
