"""Discrete-event queue simulator driving the real AcdEngine (seeded, pure).

Poisson arrivals, exponential handling times, N identical agents in one queue, optional
exponential abandonment patience. Agents answer the moment they are rung (ring time is
not part of the M/M/N model), so with no abandonment the result converges on Erlang C
(``ccd.acd.erlang``). Figures are the engine's own ``queue_stats`` after a warm-up
(``ResetDailyStats`` at the end of the warm-up), so the simulator also checks the
engine's counters.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from ccd.acd.engine import (
    AcdEngine,
    AgentAnswered,
    AgentLoggedIn,
    CallEnded,
    CallerConnected,
    CallerJoined,
    CallerLeft,
    Command,
    Event,
    ResetDailyStats,
    RingAgent,
)
from ccd.acd.model import Agent, Queue, WaitingCaller

_QUEUE = "sim"


@dataclass(frozen=True, slots=True)
class SimConfig:
    arrival_rate_per_s: float
    aht_s: float
    agents: int
    duration_s: float
    service_level_s: float = 20.0
    # Mean of the exponential time a caller is willing to wait; None: waits forever.
    patience_mean_s: float | None = None
    warmup_s: float = 3600.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SimResult:
    offered: int
    answered: int
    abandoned: int
    # The engine's definition (ccd.acd.stats): short abandons excluded.
    service_level: float
    asa_s: float
    occupancy: float
    abandon_rate: float


def simulate(config: SimConfig) -> SimResult:
    rng = random.Random(config.seed)
    engine = AcdEngine({_QUEUE: Queue(_QUEUE, service_level_s=config.service_level_s)})
    start = 0.0
    for i in range(config.agents):
        engine.handle(AgentLoggedIn(Agent(f"a{i}", f"Local/{i}@sim"), frozenset({_QUEUE})), start)
    end = start + config.warmup_s + config.duration_s
    window_start = start + config.warmup_s
    # Heap of (time, sequence, kind, id): kind "arrive" | "leave" (patience) | "end".
    timeline: list[tuple[float, int, str, str]] = []
    sequence = 0

    def schedule(at: float, kind: str, ident: str) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(timeline, (at, sequence, kind, ident))

    schedule(start + rng.expovariate(config.arrival_rate_per_s), "arrive", "c0")
    schedule(window_start, "warm", "")
    calls = 0
    connected: set[str] = set()
    busy_s = 0.0

    def run(event: Event, now: float) -> None:
        nonlocal busy_s
        pending: list[Command] = engine.handle(event, now)
        while pending:
            follow: list[Command] = []
            for cmd in pending:
                if isinstance(cmd, RingAgent):
                    follow += engine.handle(AgentAnswered(cmd.agent_id, cmd.call_id), now)
                elif isinstance(cmd, CallerConnected):
                    connected.add(cmd.call_id)
                    talk = rng.expovariate(1.0 / config.aht_s)
                    busy_s += max(0.0, min(now + talk, end) - max(now, window_start))
                    schedule(now + talk, "end", cmd.agent_id)
            pending = follow

    while timeline:
        now, _, kind, ident = heapq.heappop(timeline)
        if now >= end:
            break
        if kind == "arrive":
            calls += 1
            schedule(now + rng.expovariate(config.arrival_rate_per_s), "arrive", f"c{calls}")
            if config.patience_mean_s is not None:
                schedule(now + rng.expovariate(1.0 / config.patience_mean_s), "leave", ident)
            run(CallerJoined(WaitingCaller(ident, f"Local/{ident}", _QUEUE, now)), now)
        elif kind == "leave":
            if ident not in connected:
                run(CallerLeft(ident), now)
        elif kind == "end":
            run(CallEnded(ident), now)
        else:
            run(ResetDailyStats(), now)
    stats = engine.queue_stats(_QUEUE, end)
    return SimResult(
        offered=stats.offered,
        answered=stats.answered,
        abandoned=stats.abandoned,
        service_level=stats.service_level if stats.service_level is not None else 0.0,
        asa_s=stats.asa_s if stats.asa_s is not None else 0.0,
        occupancy=busy_s / (config.agents * config.duration_s),
        abandon_rate=stats.abandoned / stats.offered if stats.offered else 0.0,
    )
