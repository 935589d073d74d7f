"""What the benches on the Asterisk sandbox share: their command line, the sandbox up, a
control AMI login, and ccd in the bench's process with one round-robin queue of
simulated agents (``Local/11xx@ccd-agents``: answer, talk ``VAR_SIM_TALK_S`` s)."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ccd.acd.model import Agent, PauseReason, Queue, Strategy  # noqa: E402
from ccd.acd.seed import AcdConfig  # noqa: E402
from ccd.app import Daemon  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.acd_store import AcdStore  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.domain import contract  # noqa: E402
from ccd.settings import parse_settings  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.system.conftest import AMI_HOST, AMI_PORT, AMI_SECRET, AMI_USERNAME  # noqa: E402
from tests.system.rawami import RawAmi  # noqa: E402

SANDBOX = REPO / "scripts" / "asterisk-sandbox"
BENCH_QUEUE = "bench"
FIRST_AGENT = 1101  # 1xxx answer; 1002 and 1003 are the simulator's no-answer and busy


def parser(description: str | None) -> argparse.ArgumentParser:
    """A bench's command line, its module docstring as the help."""
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawTextHelpFormatter
    )


def add_caller_load(p: argparse.ArgumentParser, *, rounds: int, rounds_help: str) -> None:
    """Callers every ``--gap`` s into a queue of ``--agents`` agents talking ``--talk`` s."""
    p.add_argument("--callers", type=int, default=40, help="callers per round (default 40)")
    p.add_argument("--rounds", type=int, default=rounds, help=rounds_help)
    p.add_argument("--agents", type=int, default=5, help="agents (default 5)")
    p.add_argument("--gap", type=float, default=0.5, help="seconds between callers (0.5)")
    p.add_argument("--talk", type=float, default=1.0, help="agent talk time, s (1)")


def sandbox_up() -> None:
    """``scripts/asterisk-sandbox up``: starts it, or leaves a running one as it is."""
    subprocess.run([str(SANDBOX), "up"], check=True, capture_output=True)


async def control_login() -> RawAmi:
    """An AMI login with events off, for the bench's own actions (Originate, Setvar …)."""
    control = await RawAmi.connect(AMI_HOST, AMI_PORT)
    reply = await control.action("Login", Username=AMI_USERNAME, Secret=AMI_SECRET, Events="off")
    assert reply.get("Response") == "Success", reply
    return control


def agent_interfaces(count: int) -> list[str]:
    return [f"Local/{FIRST_AGENT + i}@{contract.AGENT_SIM_CONTEXT}" for i in range(count)]


async def acd_daemon(
    agent_count: int,
    *,
    data_prefix: str,
    log_level: str = "WARNING",
    username: str = AMI_USERNAME,
    secret: str = AMI_SECRET,
) -> tuple[Daemon, list[Agent]]:
    """ccd (not started) on embedded SQLite with FastAGI on a free port, and its agents:
    all in the round-robin queue ``bench`` (ring 15 s, no wrap-up)."""
    data = Path(tempfile.mkdtemp(prefix=data_prefix))
    environ = {
        "CCD_AMI__HOST": AMI_HOST,
        "CCD_AMI__PORT": str(AMI_PORT),
        "CCD_AMI__USERNAME": username,
        "CCD_AMI__SECRET": secret,
        "CCD_DATA_DIR": str(data),
        "CCD_HTTP__PORT": "0",
        "CCD_AGI__PORT": str(free_port()),
        "CCD_LOG__LEVEL": log_level,
    }
    settings = parse_settings(None, source="bench", environ=environ)
    await migrate.upgrade(settings.database_url)
    queue = Queue(id=BENCH_QUEUE, strategy=Strategy.ROUND_ROBIN, ring_timeout_s=15, wrapup_s=0)
    agents = [
        Agent(id=str(FIRST_AGENT + i), interface=interface)
        for i, interface in enumerate(agent_interfaces(agent_count))
    ]
    engine = create_engine(settings.database_url)
    await AcdStore(engine).apply_seed(
        AcdConfig(
            agents={a.id: a for a in agents},
            queues={queue.id: queue},
            pause_reasons={"no-answer": PauseReason("no-answer")},
            memberships={a.id: frozenset({queue.id}) for a in agents},
        )
    )
    await engine.dispose()
    return Daemon(settings), agents


@contextlib.asynccontextmanager
async def running(daemon: Daemon, agents: list[Agent]) -> AsyncIterator[None]:
    """The daemon started, its AMI resynced and every agent logged in; stopped on exit."""
    await daemon.start()
    try:
        await daemon.components.gateway.wait_resynced(20)
        for agent in agents:
            await daemon.components.acd.login(agent.id, None)
        yield
    finally:
        await daemon.stop()
