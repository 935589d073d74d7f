"""Reports benchmark: a month of calls in real PostgreSQL, reported by quarter hour.

Starts a throwaway PostgreSQL cluster (``scripts/pg-cluster up``, removed afterwards),
migrates it and loads ``--calls`` CDRs (default 50,000) spread over November 2026: 5
queues, 50 agents, callers drawn from a pool a third the size of the calls (so first-
contact resolution has repeats to find), mixed outcomes; plus each agent's session log
(login, a lunch pause, logout every day). Then, in the same run, each report is built

  streamed   ccd's way: ``ReportQueries`` reads ``batch_rows`` (5,000) rows per query and
             the tallies fold them as they come
  one query  the baseline: the same code with one query for the whole month
             (``batch_rows`` larger than the table), the whole result in memory at once

and timed (wall time, median of ``--rounds``) and measured for peak Python memory
(``tracemalloc``, in a separate round: tracing slows Python down).

Usage: python bench/reports.py [--calls 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.db.report_queries import DEFAULT_BATCH_ROWS, ReportQueries  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from ccd.reports.buckets import Interval  # noqa: E402
from ccd.reports.service import ReportRequest, ReportRules, ReportService  # noqa: E402
from tests.cdrrows import cdr_row  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.reportrows import insert_rows, queue_row  # noqa: E402

PG_SCRIPT = ROOT / "scripts" / "pg-cluster"
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
QUEUES = [f"queue-{n}" for n in range(5)]
AGENTS = [f"agent-{n:02d}" for n in range(50)]
INSERT_CHUNK = 5000


def month_of_calls(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    span = (MONTH_END - MONTH_START).total_seconds()
    callers = [f"+1212{n:07d}" for n in range(max(1, count // 3))]
    rows = []
    for n in range(count):
        started = MONTH_START + timedelta(seconds=rng.random() * span)
        roll = rng.random()
        wait = rng.expovariate(1 / 25)
        queue = rng.choice(QUEUES)
        if roll < 0.85:
            talk = rng.expovariate(1 / 180)
            rows.append(
                cdr_row(
                    f"bench.{n}",
                    started_at=started,
                    answered_at=started + timedelta(seconds=wait),
                    ended_at=started + timedelta(seconds=wait + talk),
                    talk_s=talk,
                    hold_s=min(talk, rng.expovariate(1 / 10)),
                    disposition="answered",
                    queue=queue,
                    wait_s=wait,
                    agent_id=rng.choice(AGENTS),
                    wrapup_s=5.0,
                    caller_num=rng.choice(callers),
                )
            )
        else:
            rows.append(
                cdr_row(
                    f"bench.{n}",
                    started_at=started,
                    answered_at=None,
                    ended_at=started + timedelta(seconds=wait),
                    talk_s=0.0,
                    disposition="abandoned" if roll < 0.97 else "overflowed",
                    queue=queue,
                    wait_s=wait,
                    caller_num=rng.choice(callers),
                )
            )
    return rows


def month_of_sessions() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    day = MONTH_START
    while day < MONTH_END:
        for agent in AGENTS:
            for status, reason, hour in (
                ("available", None, 8),
                ("paused", "lunch", 12),
                ("available", None, 13),
                ("logged_out", None, 17),
            ):
                rows.append(
                    {
                        "agent_id": agent,
                        "status": status,
                        "reason": reason,
                        "call_id": None,
                        "queue_ids": [],
                        "at": day + timedelta(hours=hour),
                    }
                )
        day += timedelta(days=1)
    return rows


async def load(url: str, calls: int) -> None:
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        await insert_rows(engine, "acd_queues", [queue_row(q, 20.0) for q in QUEUES])
        rows = month_of_calls(calls)
        for i in range(0, len(rows), INSERT_CHUNK):
            await insert_rows(engine, "cdrs", rows[i : i + INSERT_CHUNK])
        sessions = month_of_sessions()
        for i in range(0, len(sessions), INSERT_CHUNK):
            await insert_rows(engine, "acd_agent_sessions", sessions[i : i + INSERT_CHUNK])
    finally:
        await engine.dispose()


def request(interval: Interval) -> ReportRequest:
    return ReportRequest(
        start=MONTH_START,
        end=MONTH_END,
        interval=interval,
        zone=ZoneInfo("Europe/Paris"),
        now=MONTH_END + timedelta(days=5),
    )


Build = Callable[[ReportService], Awaitable[dict[str, Any]]]
REPORTS: list[tuple[str, Build]] = [
    ("queues, 15 min", lambda s: s.queue_report(request(Interval.MIN15))),
    ("agents, day", lambda s: s.agent_report(request(Interval.DAY))),
]


async def measure(
    url: str, rounds: int, calls: int
) -> list[tuple[str, str, int, float, float, float]]:
    """Per report and path: rows out, median wall s, median Python CPU s, peak MiB. The
    paths alternate round by round (the order rotating), so load that comes and goes on a
    shared machine hits both alike."""
    engine = create_engine(url)
    rules = ReportRules(max_rows=50_000)
    paths = {"streamed": DEFAULT_BATCH_ROWS, "one query": calls * 10}
    results = []
    try:
        for name, build in REPORTS:
            services = {
                path: ReportService(ReportQueries(engine, batch_rows=batch), rules)
                for path, batch in paths.items()
            }
            walls: dict[str, list[float]] = {path: [] for path in paths}
            cpus: dict[str, list[float]] = {path: [] for path in paths}
            rows: dict[str, int] = {}
            for service in services.values():
                await build(service)  # warm the database's cache
            order = list(paths)
            for _ in range(rounds):
                for path in order:
                    began, cpu = time.perf_counter(), time.process_time()
                    report = await build(services[path])
                    walls[path].append(time.perf_counter() - began)
                    cpus[path].append(time.process_time() - cpu)
                    rows[path] = len(report["rows"])
                order.reverse()
            for path, service in services.items():
                tracemalloc.start()
                await build(service)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                wall, cpu_s = statistics.median(walls[path]), statistics.median(cpus[path])
                results.append((name, path, rows[path], wall, cpu_s, peak / 2**20))
                print(f"{name} / {path}: {wall:.2f} s wall, {cpu_s:.2f} s CPU", flush=True)
    finally:
        await engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=50_000, help="CDRs over the month")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per path")
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    directory = Path(tempfile.mkdtemp(prefix="ccd-bench-pg-"))
    print(f"starting PostgreSQL in {directory}", flush=True)
    up = subprocess.run(
        [str(PG_SCRIPT), "up", str(directory), str(free_port())],
        capture_output=True,
        text=True,
        check=False,
    )
    if up.returncode != 0:
        print(up.stderr, file=sys.stderr)
        shutil.rmtree(directory, ignore_errors=True)
        return 1
    url = up.stdout.strip().splitlines()[-1]
    try:
        print(f"loading {args.calls} calls and the agents' sessions", flush=True)
        asyncio.run(load(url, args.calls))
        results = asyncio.run(measure(url, args.rounds, args.calls))
    finally:
        subprocess.run([str(PG_SCRIPT), "down", str(directory)], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)

    print()
    print(f"machine: {describe()}")
    print(f"{args.calls} calls over 2026-11 (zone Europe/Paris), median of {args.rounds} rounds")
    print(
        "| report | path | rows out | wall s | calls/s | py CPU s | peak MiB | memory x streamed |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    streamed_peak = {r[0]: r[5] for r in results if r[1] == "streamed"}
    for name, path, rows, wall, cpu_s, peak in results:
        print(
            f"| {name} | {path} | {rows:,} | {wall:.2f} | {args.calls / wall:,.0f} "
            f"| {cpu_s:.2f} | {peak:.1f} | {peak / streamed_peak[name]:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
