"""What the failed-authentication limiter costs, and that a spray cannot grow it.

A client spraying bad tokens from many source addresses (one million distinct addresses,
one failure each) against the limiter with its default bounds (10 failures per 60 s,
10,000 addresses remembered). Measured in process, per failed request: the check a
request makes first (``retry_after``) plus the count after its 401 (``record_failure``),
and the memory the structure holds at the end (tracemalloc).

Baseline, same process and addresses: the naive structure — a plain dict of address to
failure count with no bound — so the ratios say what the bound and the windows cost and
what they save. Also a plain dict bounded the obvious way (evict ``next(iter(d))``), which
is what the limiter first used: a dict's first key after many deletions is found by
scanning the deleted slots before it, which an OrderedDict does not do.

Run:  .venv/bin/python bench/auth_failures.py   (--addresses, --rounds)
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from ccd.domain.auth_failures import FailedAuthLimiter  # noqa: E402

LIMIT, WINDOW_S, CAPACITY = 10, 60.0, 10_000


def addresses(count: int) -> list[str]:
    return [f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(count)]


def limiter_spray(spray: list[str]) -> tuple[float, int, int]:
    """(seconds, addresses held, bytes held) for one pass of the spray."""
    failures = FailedAuthLimiter(limit=LIMIT, window_s=WINDOW_S, capacity=CAPACITY)
    now = 0.0
    started = time.perf_counter()
    for address in spray:
        if failures.retry_after(address, now) is None:
            failures.record_failure(address, now)
        now += 0.00001  # a million requests in 10 s: all inside one window
    elapsed = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    failures = FailedAuthLimiter(limit=LIMIT, window_s=WINDOW_S, capacity=CAPACITY)
    for address in spray:
        failures.record_failure(address, 0.0)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return elapsed, len(failures), held


def naive_spray(spray: list[str]) -> tuple[float, int, int]:
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for address in spray:
        if counts.get(address, 0) < LIMIT:
            counts[address] = counts.get(address, 0) + 1
    elapsed = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    counts = {}
    for address in spray:
        counts[address] = counts.get(address, 0) + 1
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return elapsed, len(counts), held


def bounded_dict_spray(spray: list[str]) -> tuple[float, int, int]:
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for address in spray:
        count = counts.pop(address, 0)
        if count == 0 and len(counts) >= CAPACITY:
            counts.pop(next(iter(counts)))
        counts[address] = count + 1
    elapsed = time.perf_counter() - started
    return elapsed, len(counts), 0


def blocked_checks(rounds: int) -> float:
    """Seconds per check of an address that is blocked (what every request of a blocked
    client costs before its 429)."""
    failures = FailedAuthLimiter(limit=LIMIT, window_s=WINDOW_S, capacity=CAPACITY)
    for _ in range(LIMIT):
        failures.record_failure("203.0.113.9", 0.0)
    started = time.perf_counter()
    for n in range(rounds):
        failures.retry_after("203.0.113.9", n * 0.00001)
    return (time.perf_counter() - started) / rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved passes per path")
    args = parser.parse_args()
    spray = addresses(args.addresses)
    paths = {"limiter": limiter_spray, "naive": naive_spray, "bounded": bounded_dict_spray}
    runs: dict[str, list[tuple[float, int, int]]] = {path: [] for path in paths}
    for round_ in range(args.rounds):
        names = list(paths)
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for path in order:
            runs[path].append(paths[path](spray))
            print(f"round {round_ + 1} {path}: {runs[path][-1][0]:.2f} s", file=sys.stderr)
    blocked = blocked_checks(1_000_000)

    print(describe())
    print(f"spray: {args.addresses:,} distinct addresses, one failure each; best of {args.rounds}")
    print()
    print("| structure | ns per failed request | addresses held | memory held |")
    print("|---|---:|---:|---:|")
    for path, label in (
        ("naive", "plain dict, unbounded (baseline)"),
        ("bounded", "plain dict, evicting next(iter(d))"),
        ("limiter", "FailedAuthLimiter (OrderedDict)"),
    ):
        best = min(runs[path])
        held = f"{best[2] / 2**20:,.1f} MiB" if best[2] else "-"
        print(f"| {label} | {best[0] / args.addresses * 1e9:,.0f} | {best[1]:,} | {held} |")
    ratio = min(runs["limiter"])[0] / min(runs["naive"])[0]
    memory = min(runs["naive"])[2] / min(runs["limiter"])[2]
    print()
    print(f"limiter time / baseline: {ratio:.2f}x; baseline memory / limiter: {memory:.0f}x")
    print(f"check of a blocked address: {blocked * 1e9:,.0f} ns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
