"""Predictive pacing in simulation: ccd's pacing core against a VICIdial-style baseline.

Targets (issue 10, "Shown working"): 100 agents / 10 % answer rate -> occupancy >= 92 %
with abandonment <= 3 %, and higher occupancy than the baseline at equal or lower
abandonment; 20 agents / 30 %; the answer rate stepping 10 % -> 40 % mid-shift without
the rolling 30-day rate ever passing the cap; pacing decision p99 < 1 ms with 500 agents.

What runs: ``ccd.dialer.simulation`` (a seeded discrete-event campaign: people, machines,
busy, failed, no answer; gamma ring times, lognormal talk times, 5 s wrap-up, the 2 s
abandon rule) driving the real ``ccd.dialer.pacing.Pacer`` and, on the same seed (the
same calls in the same order), ``VicidialAdaptive`` (AST_VDadapt.pl's ADAPT_HARD_LIMIT as
documented). Occupancy is talk / logged-in time as the issue defines it; "busy" adds the
connect delay and wrap-up (the usual contact-center definition). Latency: ``decide`` on a
500-agent floor (free, busy and ringing drawn at random each time, estimates full),
timed with ``perf_counter_ns``.

Run:  .venv/bin/python bench/dialer_pacing.py   (--hours, --seed, --decisions)
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.acd_decision import percentile  # noqa: E402
from bench.machine import describe  # noqa: E402
from ccd.dialer.model import AbandonTally, DialMode, Outcome  # noqa: E402
from ccd.dialer.pacing import AgentConnected, CallEnded, CallPlaced, Floor, Pacer, RingEnded  # noqa: E402
from ccd.dialer.simulation import SimConfig, SimResult, run_baseline, run_core  # noqa: E402


def scenarios(hours: float, seed: int) -> list[tuple[str, SimConfig]]:
    base = SimConfig(agents=100, answer_rate=0.10, duration_s=hours * 3600.0, seed=seed)
    return [
        ("100 agents, 10 % answer", base),
        ("20 agents, 30 % answer", replace(base, agents=20, answer_rate=0.30)),
        (
            "100 agents, 10 % -> 40 % mid-shift, rolling history 2.0 % of 20,000",
            replace(
                base,
                answer_rate_after=0.40,
                step_at_s=base.duration_s / 2,
                prior_rolling=AbandonTally(20_000, 400),
            ),
        ),
    ]


def row(name: str, pacer: str, result: SimResult, seconds: float) -> str:
    return (
        f"| {name} | {pacer} | {100 * result.occupancy:.1f} % | "
        f"{100 * result.busy_occupancy:.1f} % | {result.abandon_pct:.2f} % | "
        f"{result.max_today_pct:.2f} % | {result.max_rolling_pct:.2f} % | {result.placed:,} | "
        f"{result.people:,} | {result.abandoned:,} | {seconds:.1f} s |"
    )


def latency(decisions: int, seed: int) -> list[float]:
    """``decide`` on 500-agent floors, in ms."""
    rng = random.Random(seed)
    pacer = Pacer(DialMode.PREDICTIVE, 3.0)
    for i in range(2_000):
        pacer.handle(CallPlaced(f"c{i}"), 0.0)
        person = rng.random() < 0.1
        outcome = Outcome.ANSWERED if person else Outcome.NO_ANSWER
        ring = rng.uniform(2.0, 20.0) if person else 25.0
        pacer.handle(RingEnded(f"c{i}", outcome, ring), 0.0)
    for i in range(1_000):
        pacer.handle(AgentConnected(f"t{i}", 0.3), 0.0)
        pacer.handle(CallEnded(f"t{i}", rng.lognormvariate(4.7, 0.5)), 0.0)
    clean = AbandonTally(50_000, 800)
    samples: list[float] = []
    for _ in range(decisions):
        free = rng.randint(0, 40)
        floor = Floor(
            free=free,
            busy_elapsed_s=[rng.uniform(0.0, 600.0) for _ in range(500 - free)],
            ringing_s=[rng.uniform(0.0, 25.0) for _ in range(rng.randint(200, 1000))],
            waiting=rng.randint(0, 3),
        )
        start = time.perf_counter_ns()
        pacer.decide(floor, clean, clean, 0.0)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--hours", type=float, default=4.0, help="shift length per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--decisions", type=int, default=5_000)
    args = parser.parse_args()

    print(f"machine: {describe()}", file=sys.stderr)
    rows: list[str] = []
    results: dict[tuple[str, str], SimResult] = {}
    runs = scenarios(args.hours, args.seed)
    for name, config in runs:
        for pacer, run in (("ccd", run_core), ("VICIdial adaptive", run_baseline)):
            started = time.perf_counter()
            result = run(config)
            seconds = time.perf_counter() - started
            results[name, pacer] = result
            rows.append(row(name, pacer, result, seconds))
            print(
                f"{name} / {pacer}: occupancy {100 * result.occupancy:.1f} %, "
                f"abandoned {result.abandon_pct:.2f} % ({seconds:.1f} s)",
                file=sys.stderr,
            )
    print(f"latency: {args.decisions} decisions on 500-agent floors", file=sys.stderr)
    samples = latency(args.decisions, args.seed)

    print(f"\nmachine: {describe()}")
    print(f"\n{args.hours:g} h shift per run, seed {args.seed}, cap 3 %\n")
    print(
        "| scenario | pacer | occupancy (talk) | busy (talk + wrap-up) | abandoned | "
        "max today | max rolling | calls placed | people | abandons | run |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for line in rows:
        print(line)
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    print(
        f"\npacing decision, 500 agents, 200-1,000 calls ringing: p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms, max {max(samples):.3f} ms (n = {len(samples)})"
    )

    main_core = results[runs[0][0], "ccd"]
    main_base = results[runs[0][0], "VICIdial adaptive"]
    step = results[runs[2][0], "ccd"]
    verdicts = [
        ("100 agents / 10 %: occupancy >= 92 %", main_core.occupancy >= 0.92),
        ("100 agents / 10 %: abandonment <= 3 %", main_core.abandon_pct <= 3.0),
        (
            "100 agents / 10 %: more occupancy than the baseline at <= its abandonment",
            main_core.occupancy > main_base.occupancy
            and main_core.abandon_pct <= main_base.abandon_pct,
        ),
        ("step 10 -> 40 %: rolling rate never above the cap", step.max_rolling_pct <= 3.0),
        ("decision p99 < 1 ms with 500 agents", p99 < 1.0),
    ]
    print()
    for label, met in verdicts:
        print(f"- {label}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
