"""ACD decision latency, in process: 1,000 waiting callers, 500 agents.

Target (issue 5, "Performance"): caller join -> agent chosen and the Originate command
(RingAgent) returned, p99 < 5 ms with 1,000 waiting callers and 500 agents.

What runs: the real pure ``AcdEngine`` fed events the way ``ccd.acd.service`` feeds it
(one ``handle`` call per event; every RingAgent answered at once, as if the agent picked
up), timed with ``perf_counter_ns`` around each ``handle``. Each RingAgent also goes
through the service's pure ``RingTracker`` (ids chosen, the Originate to write), timed
on its own ("ring tracker"), and its ring is answered, connected and hung up there too.
Virtual time advances 50 ms per step; a Tick every 20 steps (the service ticks every
250 ms).

Contact center ("busy" scenario):
- 5 queues. sales / support (no wrap-up) and billing / tech (10 s wrap-up) share 450
  agents: each agent is in two of them, a third of them in a third one, with random
  language skills (en 1-10, fr and de on half of them); strategies longest-idle,
  skills-based, fewest-calls and round-robin; callers carry priorities 0-2 and a third
  of them require fr or de. vip has 50 dedicated agents (longest-idle).
- Filled until 1,000 callers wait in the four shared queues with every shared agent
  busy, then, per step: a random shared agent ends its call (measured: "call end", it
  rings the next caller of its queues at once or goes to wrap-up), a new caller joins a
  shared queue (measured: "join, queued": all agents busy, 1,000 waiting), and every
  other step a vip caller joins while vip agents are free (measured: "join -> ring":
  RingAgent returned to ring a free agent). Vip calls end after 25 steps (measured:
  "call end, nobody waiting"). Every 20 steps a Tick (measured: wrap-ups ending,
  agents becoming available and taking the head of the line).

Worst case ("scan" scenario): one queue, 1,000 callers who all need French, 499 French
agents all busy and one free agent without French. A caller with no requirement joins:
the engine walks past the 1,000 callers the free agent cannot serve, then rings it
(measured: "join -> ring behind 1,000"); the call is answered and ends (measured:
"call end, 1,000 ineligible").

Baseline: the engine before the per-queue index (commit 6017381, which scanned every
waiter x every agent per event) when ``git`` can read it, on fewer steps (it is slow),
same scenarios and seeds. ``--no-baseline`` skips it.

Run:  .venv/bin/python bench/acd_decision.py   (--steps, --seed, --no-baseline)
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from ccd.acd import engine as current_engine  # noqa: E402
from ccd.acd.model import Agent, Queue, Strategy, WaitingCaller  # noqa: E402
from ccd.acd.rings import (  # noqa: E402
    CallerConnectedToAgent,
    ChannelGone,
    OriginateAnswered,
    OriginateQueued,
    OriginateRing,
    RingRequested,
    RingTracker,
)

BASELINE_REV = "6017381"
SHARED = ("sales", "support", "billing", "tech")
T0 = 1_700_000_000.0
STEP_S = 0.05
TICK_EVERY = 20
VIP_AGENTS = 50
SHARED_AGENTS = 450
WAITING = 1_000
VIP_TALK_STEPS = 25


def queues() -> dict[str, Queue]:
    return {
        "sales": Queue("sales", strategy=Strategy.LONGEST_IDLE, required_skills={"en": 1}),
        "support": Queue("support", strategy=Strategy.SKILLS_BASED, required_skills={"en": 3}),
        "billing": Queue("billing", strategy=Strategy.FEWEST_CALLS, wrapup_s=10),
        "tech": Queue("tech", strategy=Strategy.ROUND_ROBIN, wrapup_s=10),
        "vip": Queue("vip", strategy=Strategy.LONGEST_IDLE),
    }


class Driver:
    """Feeds one engine module, answers rings at once, records latencies (ms)."""

    def __init__(self, module: ModuleType, seed: int) -> None:
        self.m = module
        self.rng = random.Random(seed)
        self.engine: Any = module.AcdEngine(queues(), rng=random.Random(seed))
        self.now = T0
        self.calls = 0
        self.samples: dict[str, list[float]] = {}
        self.on_call: dict[str, str] = {}  # agent -> call
        self.vip_calls: deque[tuple[int, str]] = deque()  # (end step, agent)
        self.rings = RingTracker()
        self.agent_leg: dict[str, str] = {}  # agent -> its answered channel (ChannelId)

    def handle(self, event: object, label: str | None = None) -> list[Any]:
        start = time.perf_counter_ns()
        cmds: list[Any] = self.engine.handle(event, self.now)
        elapsed_ms = (time.perf_counter_ns() - start) / 1e6
        if label is not None:
            self.samples.setdefault(label, []).append(elapsed_ms)
        return cmds

    def answer_rings(self, cmds: list[Any]) -> int:
        rung = 0
        for cmd in cmds:
            if isinstance(cmd, self.m.RingAgent):
                rung += 1
                self.ring(cmd)
                self.handle(self.m.AgentAnswered(cmd.agent_id, cmd.call_id))
                self.on_call[cmd.agent_id] = cmd.call_id
        return rung

    def ring(self, cmd: Any) -> None:
        """The service's side of a ring: the tracker decides the Originate (timed), then
        Asterisk queues it, the agent answers and the engine connects the caller."""
        requested = RingRequested(
            cmd.agent_id, cmd.call_id, cmd.interface, cmd.caller_channel, cmd.timeout_s
        )
        start = time.perf_counter_ns()
        [originate] = self.rings.handle(requested, self.now)
        elapsed_ms = (time.perf_counter_ns() - start) / 1e6
        if self.m is current_engine:  # the tracker is today's either way
            self.samples.setdefault("ring tracker: RingAgent -> Originate", []).append(elapsed_ms)
        assert isinstance(originate, OriginateRing)
        self.rings.handle(OriginateQueued(originate.action_id), self.now)
        self.rings.handle(OriginateAnswered(originate.action_id, originate.channel_id), self.now)
        self.rings.handle(CallerConnectedToAgent(cmd.agent_id, cmd.call_id), self.now)
        self.agent_leg[cmd.agent_id] = originate.channel_id

    def end_call(self, agent_id: str, label: str) -> list[Any]:
        del self.on_call[agent_id]
        self.rings.handle(ChannelGone(self.agent_leg.pop(agent_id)), self.now)
        return self.handle(self.m.CallEnded(agent_id), label)

    def new_caller(self, queue_id: str, priority: int = 0, **skills: int) -> WaitingCaller:
        self.calls += 1
        call_id = f"call-{self.calls}"
        return WaitingCaller(
            call_id, f"PJSIP/trunk-{call_id}", queue_id, self.now, priority, skills
        )

    def shared_caller(self) -> WaitingCaller:
        need = self.rng.choice([{}, {}, {"fr": 2}, {"de": 2}])
        return self.new_caller(self.rng.choice(SHARED), self.rng.randint(0, 2), **need)


def setup_busy(d: Driver) -> None:
    m = d.m
    for i in range(SHARED_AGENTS):
        skills = {"en": d.rng.randint(1, 10)}
        if d.rng.random() < 0.5:
            skills["fr"] = d.rng.randint(1, 10)
        if d.rng.random() < 0.5:
            skills["de"] = d.rng.randint(1, 10)
        # Pairs chosen so every shared queue has agents of every language.
        member = set(d.rng.sample(SHARED, 3 if d.rng.random() < 1 / 3 else 2))
        d.handle(m.AgentLoggedIn(Agent(f"s{i}", f"PJSIP/s{i}", skills), frozenset(member)))
    for i in range(VIP_AGENTS):
        d.handle(m.AgentLoggedIn(Agent(f"v{i}", f"PJSIP/v{i}"), frozenset({"vip"})))
    while len(d.engine.waiting()) < WAITING:
        d.answer_rings(d.handle(m.CallerJoined(d.shared_caller())))


def step_busy(d: Driver, step: int) -> None:
    m = d.m
    d.now += STEP_S
    # One call ends per step, two while more than 1,000 wait (wrap-ups slow the agents
    # down), so the line stays at about 1,000.
    for _ in range(2 if len(d.engine.waiting()) > WAITING else 1):
        shared_busy = [a for a in d.on_call if a.startswith("s")]
        agent_id = d.rng.choice(shared_busy)
        cmds = d.end_call(agent_id, "call end (agent takes next or wraps up)")
        d.answer_rings(cmds)
    d.handle(m.CallerJoined(d.shared_caller()), "join, queued (all busy, 1,000 waiting)")
    if step % 2 == 0:
        cmds = d.handle(m.CallerJoined(d.new_caller("vip")), "join -> ring (free agent)")
        for cmd in cmds:
            if isinstance(cmd, m.RingAgent):
                d.vip_calls.append((step + VIP_TALK_STEPS, cmd.agent_id))
        if not d.answer_rings(cmds):
            raise RuntimeError("vip caller not rung: the scenario is broken")
    while d.vip_calls and d.vip_calls[0][0] <= step:
        _, vip_agent = d.vip_calls.popleft()
        d.end_call(vip_agent, "call end, nobody waiting")
    if step % TICK_EVERY == 0:
        d.answer_rings(d.handle(m.Tick(), "tick (wrap-ups end, agents take callers)"))


def setup_scan(d: Driver) -> None:
    m = d.m
    d.engine = m.AcdEngine({"q": Queue("q")}, rng=random.Random(0))
    for i in range(499):
        agent = Agent(f"fr{i}", f"PJSIP/fr{i}", {"fr": 5})
        d.handle(m.AgentLoggedIn(agent, frozenset({"q"})))
    for _ in range(499 + WAITING):
        d.answer_rings(d.handle(m.CallerJoined(d.new_caller("q", fr=5))))
    d.handle(m.AgentLoggedIn(Agent("plain", "PJSIP/plain"), frozenset({"q"})))


def step_scan(d: Driver, step: int) -> None:
    m = d.m
    d.now += STEP_S
    cmds = d.handle(m.CallerJoined(d.new_caller("q")), "join -> ring behind 1,000 ineligible")
    if d.answer_rings(cmds) != 1:
        raise RuntimeError("plain caller not rung: the scenario is broken")
    d.end_call("plain", "call end, 1,000 ineligible waiting")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def run(module: ModuleType, name: str, steps: int, seed: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for scenario, setup, step_fn in (
        ("busy", setup_busy, step_busy),
        ("scan", setup_scan, step_scan),
    ):
        d = Driver(module, seed)
        started = time.perf_counter()
        setup(d)
        print(
            f"[{name}] {scenario}: set up in {time.perf_counter() - started:.1f} s "
            f"({len(d.engine.waiting())} waiting)",
            file=sys.stderr,
        )
        report_every = max(1, steps // 10)
        for step in range(1, steps + 1):
            step_fn(d, step)
            if step % report_every == 0:
                print(
                    f"[{name}] {scenario}: step {step}/{steps}, {len(d.engine.waiting())} waiting",
                    file=sys.stderr,
                )
        samples.update(d.samples)
    return samples


def load_baseline() -> ModuleType | None:
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BASELINE_REV}:ccd/acd/engine.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "acd_engine_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("acd_engine_baseline", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=5000, help="steps per scenario")
    parser.add_argument("--baseline-steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    print(f"machine: {describe()}", file=sys.stderr)
    results = {"ccd": run(current_engine, "ccd", args.steps, args.seed)}
    if not args.no_baseline:
        baseline = load_baseline()
        if baseline is None:
            print("baseline engine not readable from git: skipped", file=sys.stderr)
        else:
            results[f"before ({BASELINE_REV})"] = run(
                baseline, "baseline", args.baseline_steps, args.seed
            )
    print(f"\nmachine: {describe()}")
    print("\n| measured (ms per handle) | engine | n | p50 | p99 | max |")
    print("|---|---|---:|---:|---:|---:|")
    for label in results["ccd"]:
        for engine_name, samples in results.items():
            values = samples.get(label)
            if not values:
                continue
            print(
                f"| {label} | {engine_name} | {len(values)} | {percentile(values, 0.5):.3f} "
                f"| {percentile(values, 0.99):.3f} | {max(values):.3f} |"
            )
    ring = results["ccd"]["join -> ring (free agent)"]
    verdict = "met" if percentile(ring, 0.99) < 5.0 else "NOT met"
    print(f"\ntarget join -> ring p99 < 5 ms: {verdict} ({percentile(ring, 0.99):.3f} ms)")


if __name__ == "__main__":
    main()
