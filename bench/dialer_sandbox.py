"""The outbound dialer on the real Asterisk sandbox: calls placed per second, answer →
agent connected, abandonment, and what it costs ccd in CPU.

ccd runs in this process (as in the system tests: ``tests/system``'s rig) against the
Asterisk sandbox and a throwaway PostgreSQL cluster (``scripts/pg-cluster``, removed
afterwards). One campaign (progressive by default, ``--mode predictive`` too) is created
and started over REST as an admin would, worked by ``--agents`` simulated agents
(``Local/11xx@ccd-agents``: answer at once, talk ``--talk`` s, hang up) and dialing
``--contacts`` simulated people (``+1612555xxxx`` → ``ccd-sim``'s ``human``: answers at
once, says "Hello?"). The agents' wrap-up ends after ``--wrapup`` s without a disposition
(``dialer.max_wrapup_s``). AMD is off, so a person is answered the moment Asterisk
answers the Local channel: the figures are ccd's own (pacing, claims, Originate, agent
ring and bridge), not a telephone network's.

From the attempt records, once no contact is due any more (a retry due later, e.g. an
abandoned call's after 1 h, is not waited for):

- calls placed per second: attempts over the span of their ``started_at``;
- answer → agent connected (``answered_at`` → ``agent_connected_at``, the 2-second
  rule's interval): p50 / p95 / p99 / max;
- the share of answered calls abandoned (no agent within 2 s);
- CPU: this process's CPU time over the campaign (ccd plus the bench's once-a-second
  progress query) and the sandbox Asterisk's, from ``/proc``.

Run as root, holding the sandbox lock:

    flock /tmp/ccd-sandbox.lock .venv/bin/python bench/dialer_sandbox.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench.machine import describe  # noqa: E402
from bench.sandbox_rig import FIRST_AGENT, parser, sandbox_up  # noqa: E402
from ccd.acd.model import Queue  # noqa: E402
from ccd.app import Daemon  # noqa: E402
from ccd.domain import contract  # noqa: E402
from ccd.domain.auth import Role  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from ccd.settings import parse_settings  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.system.acdrig import acd_database, config, sim_agent  # noqa: E402
from tests.system.conftest import AsteriskSandbox, PostgresCluster  # noqa: E402
from tests.system.dialerrig import (  # noqa: E402
    ALWAYS_OPEN,
    CAMPAIGN,
    PERSON,
    QUEUE,
    SAFE_HARBOR_PROMPT,
    add_contacts,
    number,
)
from tests.system.rawami import RawAmi  # noqa: E402
from tests.system.rig import daemon_environment  # noqa: E402

PG_SCRIPT = REPO / "scripts" / "pg-cluster"


@contextlib.contextmanager
def postgres() -> Any:
    """A throwaway PostgreSQL cluster (``scripts/pg-cluster``), removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="ccd-bench-pg-"))
    port = free_port()
    try:
        up = subprocess.run(
            [str(PG_SCRIPT), "up", str(directory), str(port)],
            capture_output=True,
            text=True,
            check=True,
        )
        yield PostgresCluster(directory, port, up.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run([str(PG_SCRIPT), "down", str(directory)], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)


async def clean_sandbox(sandbox: AsteriskSandbox) -> None:
    """No channel in the sandbox: hung up, or, for channels "channel request hangup"
    cannot end (seen: ``Surrogate/Local/…@ccd-dialer`` channels, Down, left behind by
    dialer calls), Asterisk restarted — they would fail the next run's and the system
    tests' ``quiet_sandbox()``. We hold the sandbox lock: nobody else is using it."""
    sandbox.hangup_all()
    for _ in range(20):
        await asyncio.sleep(0.25)
        if not sandbox.active_channels():
            return
    left = sandbox.active_channels()
    print(f"{len(left)} channels survive hangup (e.g. {left[0]}): restarting", file=sys.stderr)
    await asyncio.to_thread(sandbox.restart)


def channels_left(sandbox: AsteriskSandbox) -> list[tuple[str, str]]:
    """(name, linkedid) of every channel Asterisk still has."""
    found = []
    for name in sandbox.active_channels():
        linkedid = ""
        for line in sandbox.cli(f"core show channel {name}").splitlines():
            if line.strip().startswith("LinkedID:"):
                linkedid = line.split(":", 1)[1].strip()
        found.append((name, linkedid))
    return found


def asterisk_cpu_s() -> float | None:
    """CPU seconds (user + system) of the sandbox's Asterisk, None if it is not found."""
    ticks = os.sysconf("SC_CLK_TCK")
    total: float | None = None
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            if name == "asterisk":
                fields = text[text.rindex(")") + 2 :].split()
                total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextlib.asynccontextmanager
async def daemon(
    sandbox: AsteriskSandbox, database_url: str, data_dir: Path, args: argparse.Namespace
) -> AsyncIterator[tuple[Daemon, aiohttp.ClientSession, RawAmi]]:
    """ccd in this process, as ``tests/system/acdrig.acd_daemon`` starts it, plus the
    dialer's wrap-up limit (not a knob of the test rig)."""
    await clean_sandbox(sandbox)
    environ = daemon_environment(sandbox, data_dir) | {
        "CCD_DATABASE__URL": database_url,
        "CCD_DIALER__MAX_WRAPUP_S": str(args.wrapup),
        "CCD_LOG__LEVEL": "WARNING",
    }
    ccd = Daemon(parse_settings(None, source="bench", environ=environ))
    await ccd.start()
    try:
        await ccd.components.gateway.wait_resynced(20)
        async with (
            await RawAmi.connect(sandbox.host, sandbox.port) as ami,
            aiohttp.ClientSession(base_url=f"http://127.0.0.1:{ccd.http_port}") as http,
        ):
            reply = await ami.action(
                "Login", Username=sandbox.username, Secret=sandbox.secret, Events="off"
            )
            assert reply["Response"] == "Success", reply
            # The agents' talk time, a dialplan global: set until it sticks (just after a
            # restart, Asterisk loading its dialplan resets the globals).
            for _ in range(40):
                await ami.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(args.talk))
                await asyncio.sleep(0.25)
                reply = await ami.action("Getvar", Variable=contract.VAR_SIM_TALK_S)
                if reply.get("Value") == str(args.talk):
                    break
            else:
                raise RuntimeError(f"{contract.VAR_SIM_TALK_S} not set: {reply}")
            yield ccd, http, ami
    finally:
        await ccd.stop()
        await clean_sandbox(sandbox)


async def api(
    http: aiohttp.ClientSession, method: str, path: str, token: str, body: Any = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, path, json=body, headers=headers) as response:
        payload = await response.json() if response.content_length != 0 else None
        assert response.status < 300, (method, path, response.status, payload)
        return payload


async def run_campaign(args: argparse.Namespace, cluster: PostgresCluster) -> dict[str, Any]:
    sandbox = AsteriskSandbox()
    agents = [sim_agent(str(FIRST_AGENT + i)) for i in range(args.agents)]
    url = await acd_database(
        cluster, config([Queue(id=QUEUE)], agents, {agent.id: [QUEUE] for agent in agents})
    )
    data_dir = Path(tempfile.mkdtemp(prefix="ccd-dialer-bench-"))
    db = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with daemon(sandbox, url, data_dir, args) as (ccd, http, ami):
            _id, admin = await ccd.components.tokens.create(Role.ADMIN, None, label="bench")
            await api(
                http,
                "POST",
                "/api/v1/campaigns",
                admin,
                {
                    "id": CAMPAIGN,
                    "mode": args.mode,
                    "caller_id": "+15550100",
                    "queue_id": QUEUE,
                    "windows": ALWAYS_OPEN,
                    "ring_timeout_s": 15,
                    "safe_harbor_prompt": SAFE_HARBOR_PROMPT,
                },
            )
            await add_contacts(url, [number(PERSON, i) for i in range(args.contacts)])
            for agent in agents:
                await api(http, "POST", f"/api/v1/agents/{agent.id}/login", admin)
            cpu_before, asterisk_before = time.process_time(), asterisk_cpu_s()
            wall_before = time.monotonic()
            await api(http, "POST", f"/api/v1/campaigns/{CAMPAIGN}/start", admin)
            deadline = wall_before + args.timeout
            tty, polls = sys.stderr.isatty(), 0
            while True:
                ended, started, left = await db.fetchrow(
                    "SELECT count(ended_at), count(*),"
                    " (SELECT count(*) FROM dialer_contacts WHERE campaign_id = $1"
                    "  AND (status = 'dialing' OR status = 'pending' AND next_attempt_at <= now()))"
                    " FROM dialer_attempts WHERE campaign_id = $1",
                    CAMPAIGN,
                )
                elapsed = time.monotonic() - wall_before
                polls += 1
                if tty or polls % 10 == 1:
                    print(
                        f"  {elapsed:5.0f} s: {started} calls placed, {ended} ended, "
                        f"{left} contacts due",
                        file=sys.stderr,
                        end="\r" if tty else "\n",
                    )
                if (left == 0 and ended == started) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            print(file=sys.stderr)
            cpu = time.process_time() - cpu_before
            talk_global = (await ami.action("Getvar", Variable=contract.VAR_SIM_TALK_S)).get(
                "Value"
            )
            asterisk_after = asterisk_cpu_s()
            wall = time.monotonic() - wall_before
            report = await api(http, "GET", f"/api/v1/campaigns/{CAMPAIGN}/compliance", admin)
            await asyncio.sleep(2)  # every attempt has ended: its channels should be gone
            lingering = await asyncio.to_thread(channels_left, sandbox)
        rows = [
            dict(row)
            for row in await db.fetch(
                "SELECT * FROM dialer_attempts WHERE campaign_id = $1 ORDER BY id", CAMPAIGN
            )
        ]
        # The same calls' CDRs (built from Asterisk's own event times): their talk time.
        cdrs = await db.fetch(
            "SELECT talk_s, hung_up_by FROM cdrs"
            " WHERE campaign_id = $1 AND answered_at IS NOT NULL",
            CAMPAIGN,
        )
        cdr_talks = sorted(float(row["talk_s"]) for row in cdrs)
        hung_up_by: dict[str, int] = {}
        for row in cdrs:
            hung_up_by[str(row["hung_up_by"])] = hung_up_by.get(str(row["hung_up_by"]), 0) + 1
    finally:
        await db.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    asterisk = (
        asterisk_after - asterisk_before
        if asterisk_before is not None and asterisk_after is not None
        else None
    )
    return {
        "rows": rows,
        "cpu_s": cpu,
        "asterisk_cpu_s": asterisk,
        "wall_s": wall,
        "compliance": report,
        "lingering": lingering,
        "talk_global": talk_global,
        "cdr_talks": cdr_talks,
        "hung_up_by": hung_up_by,
    }


def percentile(sorted_ms: list[float], share: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * share))]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def summarise(args: argparse.Namespace, result: dict[str, Any]) -> str:
    rows: list[dict[str, Any]] = result["rows"]
    starts: list[datetime] = sorted(row["started_at"] for row in rows)
    span = (starts[-1] - starts[0]).total_seconds() if len(starts) > 1 else 0.0
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[str(row["outcome"])] = outcomes.get(str(row["outcome"]), 0) + 1
    answered = [row for row in rows if row["answered_at"] is not None]
    abandoned = sum(row["outcome"] == "abandoned" for row in rows)
    delays = sorted(
        (row["agent_connected_at"] - row["answered_at"]).total_seconds() * 1000
        for row in answered
        if row["agent_connected_at"] is not None
    )
    talks = sorted(
        (row["ended_at"] - row["agent_connected_at"]).total_seconds()
        for row in rows
        if row["agent_connected_at"] is not None and row["ended_at"] is not None
    )
    to_answer = sorted(
        (row["answered_at"] - row["started_at"]).total_seconds() * 1000 for row in answered
    )
    lines = [
        f"{args.mode} campaign, {args.agents} agents talking {args.talk} s, wrap-up "
        f"{args.wrapup} s, {args.contacts} person contacts",
        f"machine: {describe()}",
        "",
    ]
    summary = [
        ["figure", "value"],
        ["attempts", f"{len(rows)} ({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))})"],
        ["calls placed per second", f"{(len(rows) - 1) / span:.2f}" if span else "-"],
        ["  (first to last started_at)", f"{span:.1f} s"],
        ["answered (people)", str(len(answered))],
        [
            "agent time per call",
            f"{args.agents * span / (len(rows) - 1):.2f} s (agents x span / calls; talk "
            f"p50 {statistics.median(talks):.2f} s (min {talks[0]:.2f}, max {talks[-1]:.2f}) "
            f"+ wrap-up {args.wrapup} s; {contract.VAR_SIM_TALK_S} at the end: "
            f"{result['talk_global']})"
            if span and talks
            else "-",
        ],
        [
            "CDR talk time",
            f"p50 {statistics.median(result['cdr_talks']):.2f} s "
            f"({len(result['cdr_talks'])} answered CDRs; hung up by "
            f"{', '.join(f'{k} {v}' for k, v in sorted(result['hung_up_by'].items()))})"
            if result["cdr_talks"]
            else "-",
        ],
        [
            "abandoned",
            f"{abandoned} ({100 * abandoned / len(answered):.2f} %)" if answered else "-",
        ],
        ["ccd process CPU", f"{result['cpu_s']:.1f} s in {result['wall_s']:.1f} s wall"],
    ]
    if result["asterisk_cpu_s"] is not None:
        summary.append(["Asterisk CPU", f"{result['asterisk_cpu_s']:.1f} s"])
    if len(rows):
        summary.append(["ccd CPU per call", f"{1000 * result['cpu_s'] / len(rows):.2f} ms"])
    lines.append(table(summary))
    lines.append("")
    latency = [["interval", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"]]
    for name, samples in (
        ("answer → agent connected", delays),
        ("started → answered", to_answer),
    ):
        if samples:
            latency.append(
                [
                    name,
                    str(len(samples)),
                    f"{statistics.median(samples):.1f}",
                    f"{percentile(samples, 0.95):.1f}",
                    f"{percentile(samples, 0.99):.1f}",
                    f"{samples[-1]:.1f}",
                ]
            )
    lines.append(table(latency))
    by_action = {row["action_id"]: row for row in rows}
    lingering: list[tuple[str, str]] = result["lingering"]
    if lingering:
        lines.append(
            f"\nchannels still in Asterisk 2 s after the last attempt ended: {len(lingering)}"
        )
        for name, linkedid in lingering:
            found = by_action.get(linkedid)
            if found is None:
                lines.append(f"  {name} (linkedid {linkedid}: no attempt)")
                continue
            row = found
            connect = (
                f"{(row['agent_connected_at'] - row['answered_at']).total_seconds():.3f} s"
                if row["agent_connected_at"] is not None and row["answered_at"] is not None
                else "-"
            )
            lines.append(
                f"  {name}: attempt {row['id']} {row['outcome']}, answer → agent {connect}"
            )
    else:
        lines.append("\nno channel left in Asterisk after the run")
    today = result["compliance"]["today"]
    lines.append(
        f"\ncompliance report, today: {today['answered']} answered, {today['abandoned']} "
        f"abandoned ({today['rate_pct']} %), within cap: {today['within_cap']}"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser(__doc__)
    p.add_argument("--agents", type=int, default=20, help="simulated agents (default 20)")
    p.add_argument("--contacts", type=int, default=400, help="person contacts (default 400)")
    p.add_argument("--talk", type=float, default=2.5, help="agent talk time, s (default 2.5)")
    p.add_argument("--wrapup", type=float, default=0.5, help="dialer.max_wrapup_s, s (default 0.5)")
    p.add_argument(
        "--mode",
        choices=("progressive", "predictive"),
        default="progressive",
        help="dial mode (default progressive)",
    )
    p.add_argument(
        "--timeout", type=float, default=300, help="give up after this many s (default 300)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("run as root (the Asterisk sandbox runs in a chroot)", file=sys.stderr)
        return 1
    configure_logging(level="WARNING", fmt="console")
    print("asterisk sandbox up …", file=sys.stderr)
    sandbox_up()
    print("PostgreSQL up …", file=sys.stderr)
    with postgres() as cluster:
        print(f"{args.mode}: {args.contacts} contacts, {args.agents} agents …", file=sys.stderr)
        result = asyncio.run(run_campaign(args, cluster))
    print(summarise(args, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
