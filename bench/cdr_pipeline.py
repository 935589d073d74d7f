"""CDR pipeline benchmark: finished records through spool → writer → real PostgreSQL.

Starts a throwaway PostgreSQL cluster with ``scripts/pg-cluster up`` (and removes it
afterwards), migrates it, and measures in the same run:

  naive        one record per transaction (``CdrStore.insert_batch([record])``, one at a
               time, awaited): the baseline batching is compared with
  pipeline     ccd's path with its default settings: ``Spool.append`` (one write(2) per
               record), grouped fsync every ``flush_interval_s``, ``CdrWriter`` inserting
               batches of up to ``batch_size`` with ``ON CONFLICT DO NOTHING``, then the
               spool acknowledgement. Records are offered at ``--rate`` per second for
               ``--seconds``; latency is from "record finished" (append) to "row committed"
               (the insert transaction returned), per record
  flood        the same pipeline fed as fast as the producer can append: the ceiling

Each record is a call with two legs (three rows). The producer, the writer and the
database client share one event loop, as they do inside ccd. Both the spool and the
PostgreSQL cluster live on this machine's disk with fsync on.

Usage: python bench/cdr_pipeline.py [--rate 5000] [--seconds 10] [--naive 2000] [--flood 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from ccd.cdr.codec import SpoolRecord  # noqa: E402
from ccd.cdr.spool import Spool  # noqa: E402
from ccd.cdr.writer import CdrWriter  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.cdr_store import BatchResult, CdrStore  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.domain.cdr import CallRecord, Disposition  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from tests.cdrsamples import sample_call  # noqa: E402
from tests.ports import free_port  # noqa: E402

PG_SCRIPT = ROOT / "scripts" / "pg-cluster"
TARGET_RATE = 5000
TARGET_P99_S = 1.0


def records(prefix: str, count: int) -> list[CallRecord]:
    """Calls like a busy call center's: distinct callers and start times (one every
    0.2 ms), a hundred extensions, fifty agents, five queues, a mix of dispositions."""
    dispositions = (Disposition.ANSWERED,) * 7 + (Disposition.NO_ANSWER, Disposition.BUSY)
    out = []
    for n in range(count):
        template = sample_call("template", legs=2, offset_s=n * 0.0002)
        linkedid = f"{prefix}.{n}"
        legs = tuple(
            replace(leg, uniqueid=f"{linkedid}.{i}", linkedid=linkedid)
            for i, leg in enumerate(template.legs)
        )
        out.append(
            replace(
                template,
                linkedid=linkedid,
                legs=legs,
                caller_num=f"+1555{n:07d}",
                callee_num=str(1000 + n % 100),
                queue=f"queue-{n % 5}",
                agent_id=f"agent-{n % 50}",
                disposition=dispositions[n % len(dispositions)],
            )
        )
    return out


class TimedStore:
    """The real store, noting when each record's transaction committed."""

    def __init__(self, store: CdrStore, produced_at: dict[str, float]) -> None:
        self._store = store
        self._produced_at = produced_at
        self.latencies: list[float] = []
        self.committed = 0
        self.batch_sizes: list[int] = []
        self.last_commit = 0.0

    async def insert_batch(self, batch: Sequence[SpoolRecord]) -> BatchResult:
        result = await self._store.insert_batch(batch)
        now = time.perf_counter()
        self.last_commit = now
        self.batch_sizes.append(len(batch))
        for record in batch:
            self.latencies.append(now - self._produced_at[record.linkedid])
        self.committed += len(batch)
        return result


@dataclass
class Outcome:
    name: str
    records: int
    seconds: float
    latencies: list[float]
    batches: list[int]
    cpu_s: float  # this process (producer + writer + driver), not PostgreSQL

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def naive(url: str, count: int) -> Outcome:
    engine = create_engine(url)
    store = CdrStore(engine)
    latencies = []
    cpu = time.process_time()
    started = time.perf_counter()
    for record in records("naive", count):
        t0 = time.perf_counter()
        await store.insert_batch([record])
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    cpu = time.process_time() - cpu
    return Outcome("naive (1 row/txn)", count, elapsed, latencies, [1] * count, cpu)


async def pipeline(url: str, name: str, batch: list[CallRecord], rate: float | None) -> Outcome:
    """Offer ``batch`` at ``rate`` records/s (None: as fast as possible) and wait until
    every record is committed."""
    engine = create_engine(url)
    spool_dir = Path(tempfile.mkdtemp(prefix="ccd-bench-spool-"))
    produced_at: dict[str, float] = {}
    store = TimedStore(CdrStore(engine), produced_at)
    spool = Spool(spool_dir)
    spool.open()
    writer = CdrWriter(spool, store)  # ccd's defaults: batch 500, flush every 50 ms
    writer.start()
    total = len(batch)
    produced = 0
    cpu = time.process_time()
    started = time.perf_counter()
    next_report = started + 1
    try:
        while produced < total or store.committed < total:
            now = time.perf_counter()
            if produced < total:
                if rate is None:
                    due = min(total, produced + 1000)
                else:
                    due = min(total, int((now - started) * rate))
                for record in batch[produced:due]:
                    produced_at[record.linkedid] = time.perf_counter()
                    spool.append(record)
                if due > produced:
                    writer.wake()
                produced = due
            if now >= next_report:
                print(
                    f"  {name}: {now - started:5.1f} s  produced {produced:>7}  "
                    f"committed {store.committed:>7}  backlog {spool.pending:>6}",
                    flush=True,
                )
                next_report += 1
            await asyncio.sleep(0.001 if produced < total else 0.005)
        elapsed = store.last_commit - started
        cpu = time.process_time() - cpu
        assert await writer.drain(5.0)
    finally:
        await engine.dispose()
        shutil.rmtree(spool_dir, ignore_errors=True)
    return Outcome(name, total, elapsed, store.latencies, store.batch_sizes, cpu)


async def run(url: str, args: argparse.Namespace) -> list[Outcome]:
    await migrate.upgrade(url)
    print(f"naive: {args.naive} records, one transaction each", flush=True)
    outcomes = [await naive(url, args.naive)]
    offered = int(args.rate * args.seconds)
    print(f"pipeline: {offered} records offered at {args.rate}/s", flush=True)
    outcomes.append(
        await pipeline(url, f"pipeline @ {args.rate}/s", records("paced", offered), args.rate)
    )
    print(f"flood: {args.flood} records as fast as they can be appended", flush=True)
    outcomes.append(await pipeline(url, "pipeline flood", records("flood", args.flood), None))
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="offered CDR/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the paced run")
    parser.add_argument("--naive", type=int, default=2000, help="records for the baseline")
    parser.add_argument("--flood", type=int, default=50000, help="records for the flood run")
    args = parser.parse_args()
    configure_logging("WARNING", "console")  # the writer's per-batch DEBUG lines would swamp

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
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
        outcomes = asyncio.run(run(url, args))
    finally:
        subprocess.run([str(PG_SCRIPT), "down", str(directory)], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)

    baseline = outcomes[0].rate
    print()
    print(f"machine: {describe()}; load average before: {load_before}")
    print(
        f"{'run':<24}{'records':>9}{'CDR/s':>10}{'x naive':>9}{'mean batch':>12}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'py CPU %':>10}"
    )
    for o in outcomes:
        print(
            f"{o.name:<24}{o.records:>9}{o.rate:>10.0f}{o.rate / baseline:>9.1f}"
            f"{statistics.fmean(o.batches):>12.0f}{o.percentile(0.5) * 1000:>9.1f}"
            f"{o.percentile(0.99) * 1000:>9.1f}{max(o.latencies) * 1000:>9.1f}"
            f"{100 * o.cpu_s / o.seconds:>10.0f}"
        )
    paced = outcomes[1]
    sustained = paced.rate >= 0.98 * args.rate
    print(
        f"\ntarget: {args.rate} CDR/s sustained with p99 < {TARGET_P99_S * 1000:.0f} ms "
        f"(finish → committed): rate {'met' if sustained else 'NOT met'} "
        f"({paced.rate:.0f}/s), p99 {paced.percentile(0.99) * 1000:.0f} ms "
        f"({'met' if paced.percentile(0.99) < TARGET_P99_S else 'NOT met'})"
    )
    print(
        "naive latency is per transaction (no queueing); pipeline latency includes the "
        "flush wait, fsync, queueing and the batch transaction"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
