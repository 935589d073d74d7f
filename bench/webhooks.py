"""Webhook delivery benchmark: throughput and end-to-end latency (event → receiver) at a
steady event rate, with one slow receiver among fast ones.

Real pieces: ccd's ``WebhookService`` (outbox in a migrated SQLite database, the delivery
worker, signing, ``Sender`` over aiohttp) and real HTTP receivers on 127.0.0.1. Each
event is stamped when it is emitted; each receiver notes the time it arrived.

Two runs in the same process, the same rate and duration:

  baseline  ``--fast`` fast receivers (answer at once) only
  with slow the same, plus one receiver that takes ``--slow-s`` per request (subscribed to
            every event too)

The table shows, per run and receiver kind: deliveries, throughput, and latency p50 / p95 /
p99 / max for the fast receivers — the slow one must not move their numbers.

Defaults: 25 events/s to 4 fast receivers = 100 deliveries/s to fast receivers (plus 25/s
queued for the slow one). Delivery log lines are off.

Usage: python bench/webhooks.py [--rate 25] [--seconds 20] [--fast 4] [--slow-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from ccd.clock import SystemClock  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.db.webhook_store import WebhookStore, new_subscription_id  # noqa: E402
from ccd.domain.calls import Call  # noqa: E402
from ccd.webhooks.model import Subscription  # noqa: E402
from ccd.webhooks.payloads import Event  # noqa: E402
from ccd.webhooks.schedule import RetryPolicy  # noqa: E402
from ccd.webhooks.sender import Sender  # noqa: E402
from ccd.webhooks.service import WebhookService  # noqa: E402
from ccd.webhooks.signing import new_secret  # noqa: E402


@dataclass
class Receiver:
    delay_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        sent = json.loads(body)["data"]["emitted"]
        self.latencies_ms.append((time.time() - sent) * 1000)
        return web.Response(status=204)


async def serve(receiver: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    return runner


@dataclass
class Result:
    name: str
    fast: list[Receiver]
    slow: Receiver | None
    emitted: int
    seconds: float


async def run(name: str, *, rate: int, seconds: float, fast: int, slow_s: float | None) -> Result:
    directory = Path(tempfile.mkdtemp(prefix="ccd-bench-webhooks-"))
    url = f"sqlite+aiosqlite:///{directory / 'ccd.sqlite3'}"
    await migrate.upgrade(url)
    engine = create_engine(url)
    store = WebhookStore(engine)
    clock = SystemClock()
    fast_receivers = [Receiver() for _ in range(fast)]
    slow_receiver = Receiver(delay_s=slow_s) if slow_s is not None else None
    receivers = [*fast_receivers, *([slow_receiver] if slow_receiver else [])]
    runners = [await serve(r) for r in receivers]
    for receiver in receivers:
        now = clock.now()
        await store.create(
            Subscription(
                new_subscription_id(), receiver.url, ("*",), new_secret(), True, "", now, now
            )
        )
    sender = Sender(allow_private=True, connect_timeout_s=5, timeout_s=30, max_response_bytes=65536)
    service = WebhookService(
        store=store,
        sender=sender,
        clock=clock,
        calls=_NoCalls(),
        retry=RetryPolicy(),
        per_subscription=4,
        poll_interval_s=1.0,
        rng=random.Random(1),
    )
    await service.refresh()
    await sender.start()
    service.start()
    emitted = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) + 1
            while emitted < due:
                service.emit(
                    Event(
                        type="agent.state",
                        order_key=f"call:{emitted}",
                        at=datetime.now(UTC),
                        data={"n": emitted, "emitted": time.time()},
                    )
                )
                emitted += 1
            await asyncio.sleep(1 / rate)
        # Let the fast receivers catch up (the slow one never can).
        deadline = time.monotonic() + 10

        def behind() -> bool:
            return any(len(r.latencies_ms) < emitted for r in fast_receivers)

        while time.monotonic() < deadline and behind():  # noqa: ASYNC110 - a bench may poll
            await asyncio.sleep(0.05)
    finally:
        await service.stop(5)
        await sender.close()
        for runner in runners:
            await runner.cleanup()
        await engine.dispose()
    return Result(name, fast_receivers, slow_receiver, emitted, seconds)


class _NoCalls:
    def calls(self) -> Sequence[Call]:
        return []

    def call(self, linkedid: str) -> Call | None:
        return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, kind: str, receivers: list[Receiver], emitted: int, seconds: float) -> str:
    latencies = [v for r in receivers for v in r.latencies_ms]
    delivered = len(latencies)
    expected = emitted * len(receivers)
    return (
        f"| {name} | {kind} x{len(receivers)} | {delivered}/{expected} | "
        f"{delivered / seconds:.0f}/s | {statistics.median(latencies) if latencies else 0:.1f} | "
        f"{percentile(latencies, 0.95):.1f} | {percentile(latencies, 0.99):.1f} | "
        f"{max(latencies, default=0):.1f} |"
    )


async def main_async(args: argparse.Namespace) -> None:
    # Delivery log lines off (one info line per delivery would be most of the CPU here).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results = []
    for name, slow_s in (("baseline", None), ("with slow", args.slow_s)):
        print(f"running {name}…", file=sys.stderr, flush=True)
        results.append(
            await run(name, rate=args.rate, seconds=args.seconds, fast=args.fast, slow_s=slow_s)
        )
    print(f"machine: {describe()}")
    print(
        f"{args.rate} events/s for {args.seconds:g} s, each to every subscriber; "
        f"slow receiver: {args.slow_s:g} s per request, 4 deliveries in flight per subscriber"
    )
    print()
    print("| run | receivers | delivered | throughput | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        print(row(result.name, "fast", result.fast, result.emitted, result.seconds))
        if result.slow is not None:
            print(row(result.name, "slow", [result.slow], result.emitted, result.seconds))
    base = [v for r in results[0].fast for v in r.latencies_ms]
    slow = [v for r in results[1].fast for v in r.latencies_ms]
    if base and slow:
        print()
        print(
            f"fast receivers' p99 with the slow one / without: "
            f"{percentile(slow, 0.99) / percentile(base, 0.99):.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rate", type=int, default=25, help="events per second (each to every subscriber)"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fast", type=int, default=4, help="fast receivers")
    parser.add_argument("--slow-s", type=float, default=2.0, help="the slow receiver's delay")
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
