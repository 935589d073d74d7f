"""What one wallboard push costs the event loop, in process.

Every push (after an ACD change, at most one per 0.25 s per open wallboard; and every 15 s)
runs ``ccd.wallboard.view.build_board`` on the ACD's snapshot and serializes the board to
JSON, on the event loop; screens open at once share that build. This measures that work on a large
floor: 5 queues, 1,000 waiting callers, 500 logged-in agents (the ACD performance
target's size), with the snapshot built in the shape ``AcdService.snapshot()`` returns.

Baseline, same process and data: serializing the raw snapshot alone (what the
``/api/v1/events`` websocket's starting snapshot spends on its ``acd`` part), so the ratio
says what building the board adds.

Run:  .venv/bin/python bench/wallboard_push.py   (--rounds, --seed)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from ccd.wallboard.view import (  # noqa: E402
    AGENT_STATES,
    AgentInfo,
    CallQueues,
    QueueInfo,
    ServiceLevelTargets,
    build_board,
)

QUEUES = ("sales", "support", "billing", "tech", "vip")
WAITING = 1_000
AGENTS = 500
NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 6, tzinfo=UTC)
HOUR_MARKS = [(MIDNIGHT + timedelta(hours=h), f"{h:02d}h") for h in range(0, 25, 3)]


def snapshot(rng: random.Random) -> dict[str, Any]:
    """A floor in the shape of ``AcdService.snapshot()``."""
    agents: dict[str, Any] = {}
    by_queue: dict[str, dict[str, int]] = {q: {} for q in QUEUES}
    for n in range(AGENTS):
        status = rng.choice(AGENT_STATES)
        member_of = sorted(rng.sample(QUEUES, 2))
        for queue in member_of:
            by_queue[queue][status] = by_queue[queue].get(status, 0) + 1
        agents[f"{1000 + n}"] = {
            "status": status,
            "since": (NOW - timedelta(seconds=rng.uniform(0, 3600))).isoformat(),
            "in_state_s": round(rng.uniform(0, 3600), 1),
            "reason": "lunch" if status == "paused" else None,
            "call_id": f"17000{n}.1" if status in ("on_call", "reserved") else None,
            "queues": member_of,
            "calls_taken": rng.randint(0, 80),
            "talk_s": round(rng.uniform(0, 20000), 1),
            "pending_pause": None,
            "logout_pending": False,
        }
    queues: dict[str, Any] = {}
    for index, queue in enumerate(QUEUES):
        count = WAITING // len(QUEUES)
        callers = [
            {
                "call_id": f"18000{index}{n}.1",
                "position": n + 1,
                "waited_s": round(600 - n * 0.5, 1),
                "priority": rng.randint(0, 2),
                "caller_num": f"+3361234{n:04d}",
                "callback": False,
                "ringing": [],
            }
            for n in range(count)
        ]
        queues[queue] = {
            "queue_id": queue,
            "offered": 5000,
            "answered": 4500,
            "answered_within_sl": 3900,
            "abandoned": 400,
            "abandoned_within_sl": 100,
            "waiting": count,
            "longest_wait_s": 600.0,
            "agents": by_queue[queue],
            "service_level_s": 20.0,
            "service_level": 3900 / 4800,
            "callers": callers,
            "agents_by_id": {},
        }
    return {"queues": queues, "agents": agents}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    floor = snapshot(rng)
    infos = [QueueInfo(q, q.title(), 20.0) for q in QUEUES]
    names = [AgentInfo(a, f"Agent {a}") for a in floor["agents"]]
    calls = CallQueues()
    targets = ServiceLevelTargets()

    def push() -> str:
        board = build_board(
            queues=infos,
            agents=names,
            snapshot=floor,
            calls=calls,
            targets=targets,
            now=NOW,
            day_start=MIDNIGHT,
            day_end=MIDNIGHT + timedelta(days=1),
            hour_marks=HOUR_MARKS,
        )
        return json.dumps(board, separators=(",", ":"))

    def raw() -> str:
        return json.dumps(floor, separators=(",", ":"))

    samples: dict[str, list[float]] = {"board push (build + JSON)": [], "raw snapshot JSON": []}
    sizes = {"board push (build + JSON)": len(push()), "raw snapshot JSON": len(raw())}
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        for label, work in (("board push (build + JSON)", push), ("raw snapshot JSON", raw)):
            started = time.perf_counter_ns()
            work()
            samples[label].append((time.perf_counter_ns() - started) / 1e6)

    print(f"machine: {describe()}")
    print(f"floor: {len(QUEUES)} queues, {WAITING} waiting callers, {AGENTS} agents logged in")
    print("\n| measured (ms) | n | p50 | p99 | max | bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, values in samples.items():
        print(
            f"| {label} | {len(values)} | {percentile(values, 0.5):.2f} "
            f"| {percentile(values, 0.99):.2f} | {max(values):.2f} | {sizes[label]:,} |"
        )
    board = percentile(samples["board push (build + JSON)"], 0.5)
    base = percentile(samples["raw snapshot JSON"], 0.5)
    print(f"\nboard push / raw snapshot JSON (p50): {board / base:.2f}x")
    # Under constant change a stream pushes at most 4 times a second (0.25 s coalescing);
    # streams open at once share one build (ccd.api.wallboard.BoardSource.board_text).
    print(f"one core's share at 4 builds/s (any number of screens): {4 * board / 10:.1f} %")


if __name__ == "__main__":
    main()
