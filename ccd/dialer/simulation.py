"""Discrete-event simulation of an outbound campaign driving the real pacing core (seeded,
pure), and a VICIdial-style adaptive baseline to compare it with.

The campaign: ``agents`` identical agents logged in for the whole shift; every call is a
person with probability ``answer_rate`` (which may step to ``answer_rate_after`` at
``step_at_s``), an answering machine with ``machine_rate`` (AMD hangs up on it
``AMD_S`` after it answered; it never takes an agent), busy, failed, or no answer
(rings the campaign's whole ``ring_timeout_s``). A person's ring time is gamma
distributed (mean ``person_ring_mean_s``), talk time lognormal (mean ``talk_mean_s``),
then ``wrapup_s`` of wrap-up. A person who answers is connected to a free agent
``connect_delay_s`` later; with no agent free they wait, and a person not connected
within ``ABANDON_AFTER_S`` (2 s) of answering is abandoned (the safe-harbor message). The
pacer is asked every ``tick_s``.

Same seed, same calls: call number k draws the same uniforms (what it turns out to be, its
ring and talk times) whatever the pacer, so two pacers see the same sequence of call
outcomes; only how many calls they place, and when, differs (with a stepping answer rate,
a call's uniform is read against the rate of the moment it is placed).

Reported: agent occupancy = talk time / logged-in time (wrap-up is not talk: with the
defaults the ceiling is talk / (talk + wrap-up + connect delay) ~ 95.7 %), abandonment =
abandoned / people who answered (the TSR rate), calls placed, and the highest today and
rolling 30-day rates seen at any tick (from ``MIN_ANSWERED_FOR_MAX`` people answered on:
before that a single abandon is a large percentage of nothing; the pacing core's own rule
allows no abandon that early, so for it the figure is exact from the first call).

The baseline (``VicidialAdaptive``) is ``AST_VDadapt.pl``'s ``ADAPT_HARD_LIMIT`` as
VICIdial documents it: a dial level starting at 1.0, recomputed every 15 s from ready
agents minus calls waiting for an agent (their mean over the 15 s, relative to the active
agents: ``level *= 1 + (ready - waiting) / active``), clamped to [1, 3] (VICIdial's default
maximum adapt dial level), and cut to 1 while today's drop percentage (since midnight
only) is above the cap. Each tick it places ``floor(level * active agents)`` minus the
lines already in use (ringing, waiting and connected calls, as VICIdial's
``VDauto_dial`` counts its active lines with ``available_only_ratio_tally`` off).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

from ccd.dialer.model import ABANDON_AFTER_S, AbandonTally, DialMode, Outcome
from ccd.dialer.pacing import (
    AgentConnected,
    CallEnded,
    CallPlaced,
    Floor,
    Pacer,
    PacingEvent,
    RingEnded,
)

AMD_S = 3.0  # answer -> AMD's verdict "machine"
BUSY_RING_S = 3.0
FAILED_RING_S = 1.0
MIN_ANSWERED_FOR_MAX = 100
ADAPT_INTERVAL_S = 15.0
ADAPT_MIN_LEVEL = 1.0
ADAPT_MAX_LEVEL = 3.0
_NORMAL = NormalDist()
_NO_HISTORY = AbandonTally()


@dataclass(frozen=True, slots=True)
class SimConfig:
    agents: int
    answer_rate: float  # people / attempts
    duration_s: float = 4 * 3600.0
    machine_rate: float = 0.10
    busy_rate: float = 0.08
    failed_rate: float = 0.04
    person_ring_mean_s: float = 8.0
    ring_timeout_s: float = 25.0
    talk_mean_s: float = 120.0
    talk_sigma: float = 0.5  # of the talk time's log
    wrapup_s: float = 5.0
    connect_delay_s: float = 0.3
    tick_s: float = 1.0
    cap_pct: float = 3.0
    # The answer rate from step_at_s on (the list changes mid-shift).
    answer_rate_after: float | None = None
    step_at_s: float = 0.0
    # The rolling 30-day tally before this shift (the shift is "today").
    prior_rolling: AbandonTally = _NO_HISTORY
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SimResult:
    placed: int
    people: int  # answered by a person (live-answered)
    connected: int
    abandoned: int
    machines: int
    talk_s: float
    occupancy: float  # talk / logged-in time
    busy_occupancy: float  # (connect + talk + wrap-up) / logged-in time, the usual one
    abandon_pct: float  # abandoned / people, the whole shift
    max_today_pct: float
    max_rolling_pct: float
    final_rolling_pct: float
    decisions: int


class Policy(Protocol):
    """What the simulator asks each tick; fed the same events as the pacing core."""

    def handle(self, event: PacingEvent, now: float) -> None: ...

    def place(
        self, floor: Floor, today: AbandonTally, rolling: AbandonTally, now: float
    ) -> int: ...


class CorePolicy:
    """The real pacing core."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    def handle(self, event: PacingEvent, now: float) -> None:
        self.pacer.handle(event, now)

    def place(self, floor: Floor, today: AbandonTally, rolling: AbandonTally, now: float) -> int:
        return self.pacer.decide(floor, today, rolling, now).place


class VicidialAdaptive:
    """The baseline: ``ADAPT_HARD_LIMIT`` (see the module docstring)."""

    def __init__(self, cap_pct: float) -> None:
        self.cap_pct = cap_pct
        self.level = ADAPT_MIN_LEVEL
        self._next_adapt: float | None = None
        self._diff_sum = 0.0
        self._active_sum = 0.0
        self._samples = 0

    def handle(self, event: PacingEvent, now: float) -> None:
        pass  # VICIdial paces on agent and line counts, not on call outcomes

    def place(self, floor: Floor, today: AbandonTally, rolling: AbandonTally, now: float) -> int:
        del rolling  # VICIdial knows drops since midnight only
        active = floor.agents
        self._diff_sum += floor.free - floor.waiting
        self._active_sum += active
        self._samples += 1
        if self._next_adapt is None:
            self._next_adapt = now + ADAPT_INTERVAL_S
        elif now >= self._next_adapt:
            self._next_adapt = now + ADAPT_INTERVAL_S
            mean_active = self._active_sum / self._samples
            if mean_active > 0:
                self.level *= 1.0 + (self._diff_sum / self._samples) / mean_active
            self.level = min(ADAPT_MAX_LEVEL, max(ADAPT_MIN_LEVEL, self.level))
            self._diff_sum = self._active_sum = 0.0
            self._samples = 0
        if today.rate_pct > self.cap_pct:
            self.level = ADAPT_MIN_LEVEL
        lines = len(floor.ringing_s) + floor.waiting + len(floor.busy_elapsed_s)
        return max(0, math.floor(self.level * active) - lines)


@dataclass(slots=True)
class _Call:
    placed_at: float
    outcome: Outcome  # from the call's first uniform, against the rate when it was placed
    u_ring: float
    u_talk: float


def _outcome(config: SimConfig, u: float, p: float) -> Outcome:
    """What a call turns out to be: its uniform ``u`` against the answer rate ``p`` and
    the config's machine, busy and failed rates, in that order."""
    if u < p:
        return Outcome.ANSWERED
    if u < p + config.machine_rate:
        return Outcome.MACHINE
    if u < p + config.machine_rate + config.busy_rate:
        return Outcome.BUSY
    if u < p + config.machine_rate + config.busy_rate + config.failed_rate:
        return Outcome.FAILED
    return Outcome.NO_ANSWER


def simulate(config: SimConfig, policy: Policy) -> SimResult:
    """Run one shift; the policy's decisions are the only thing that differs between runs
    with the same config (seed included)."""
    draws = random.Random(config.seed)  # the calls' uniforms, in call order
    end = config.duration_s
    timeline: list[tuple[float, int, str, int]] = []  # (time, sequence, kind, id)
    sequence = 0

    def schedule(at: float, kind: str, ident: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(timeline, (at, sequence, kind, ident))

    ringing: dict[int, _Call] = {}
    connected_at: dict[int, float] = {}  # agent -> when its current call was connected
    free_agents = list(range(config.agents))
    waiting: deque[tuple[int, float]] = deque()  # (call, deadline to be connected by)
    talks: dict[int, tuple[int, float]] = {}  # agent -> (call, talk) of its current call
    parked: dict[int, _Call] = {}  # people waiting for an agent, by call
    placed = people = connected = abandoned = machines = 0
    talk_s = busy_s = 0.0
    today_answered = today_abandoned = 0
    max_today = max_rolling = 0.0
    decisions = 0
    prior = config.prior_rolling
    sigma = config.talk_sigma
    mu = math.log(config.talk_mean_s) - sigma * sigma / 2.0
    ring_shape = 4.0

    def answer_rate(at: float) -> float:
        if config.answer_rate_after is not None and at >= config.step_at_s:
            return config.answer_rate_after
        return config.answer_rate

    def gamma_ring(u: float) -> float:
        # Inverse CDF would need scipy: a gamma(4) from the uniform through the Wilson-
        # Hilferty cube, good to a few percent, and monotone in u (same call, same rank).
        z = _normal_quantile(u)
        k = ring_shape
        x = k * (1.0 - 1.0 / (9.0 * k) + z / (3.0 * math.sqrt(k))) ** 3
        return max(1.0, min(config.ring_timeout_s - 1.0, x * config.person_ring_mean_s / k))

    def connect(agent: int, now: float, call_id: int, call: _Call) -> None:
        nonlocal connected, talk_s, busy_s
        start = now + config.connect_delay_s
        talk = math.exp(mu + sigma * _normal_quantile(call.u_talk))
        connected += 1
        connected_at[agent] = now
        talks[agent] = (call_id, talk)
        talk_s += max(0.0, min(start + talk, end) - start) if start < end else 0.0
        handle_end = start + talk + config.wrapup_s
        busy_s += max(0.0, min(handle_end, end) - now)
        policy.handle(AgentConnected(str(call_id), config.connect_delay_s), now)
        schedule(handle_end, "free", agent)

    schedule(0.0, "tick", 0)
    call_ids = 0
    while timeline:
        now, _, kind, ident = heapq.heappop(timeline)
        if now >= end:
            break
        if kind == "tick":
            schedule(now + config.tick_s, "tick", 0)
            floor = Floor(
                free=len(free_agents),
                busy_elapsed_s=[now - at for at in connected_at.values()],
                ringing_s=[now - c.placed_at for c in ringing.values()],
                waiting=len(waiting),
            )
            today = AbandonTally(today_answered, today_abandoned)
            rolling = AbandonTally(
                prior.answered + today_answered, prior.abandoned + today_abandoned
            )
            if today_answered >= MIN_ANSWERED_FOR_MAX:
                max_today = max(max_today, today.rate_pct)
            if rolling.answered >= MIN_ANSWERED_FOR_MAX:
                max_rolling = max(max_rolling, rolling.rate_pct)
            decisions += 1
            for _ in range(policy.place(floor, today, rolling, now)):
                call_ids += 1
                outcome = _outcome(config, draws.random(), answer_rate(now))
                call = _Call(now, outcome, draws.random(), draws.random())
                ringing[call_ids] = call
                placed += 1
                policy.handle(CallPlaced(str(call_ids)), now)
                if outcome is Outcome.ANSWERED:
                    ring = gamma_ring(call.u_ring)
                elif outcome is Outcome.MACHINE:
                    ring = gamma_ring(call.u_ring) + AMD_S
                elif outcome is Outcome.BUSY:
                    ring = BUSY_RING_S * (0.5 + call.u_ring)
                elif outcome is Outcome.FAILED:
                    ring = FAILED_RING_S * (0.5 + call.u_ring)
                else:
                    ring = config.ring_timeout_s
                schedule(now + ring, "ring", call_ids)
        elif kind == "ring":
            call = ringing.pop(ident)
            ring_s = now - call.placed_at
            if call.outcome is Outcome.ANSWERED:
                people += 1
                today_answered += 1
                policy.handle(RingEnded(str(ident), Outcome.ANSWERED, ring_s), now)
                if free_agents:
                    connect(free_agents.pop(), now, ident, call)
                else:
                    deadline = now + ABANDON_AFTER_S - config.connect_delay_s
                    waiting.append((ident, deadline))
                    parked[ident] = call
                    schedule(deadline, "abandon", ident)
            else:
                if call.outcome is Outcome.MACHINE:
                    machines += 1
                policy.handle(RingEnded(str(ident), call.outcome, ring_s), now)
        elif kind == "free":
            ended, talk = talks.pop(ident)
            del connected_at[ident]
            handle_s = talk + config.wrapup_s + config.connect_delay_s
            policy.handle(CallEnded(str(ended), handle_s), now)
            while waiting and waiting[0][1] < now:
                waiting.popleft()  # its abandon event has counted it
            if waiting:
                call_id, _ = waiting.popleft()
                connect(ident, now, call_id, parked.pop(call_id))
            else:
                free_agents.append(ident)
        elif kind == "abandon" and parked.pop(ident, None) is not None:
            abandoned += 1
            today_abandoned += 1
            waiting = deque(w for w in waiting if w[0] != ident)
    return SimResult(
        placed=placed,
        people=people,
        connected=connected,
        abandoned=abandoned,
        machines=machines,
        talk_s=talk_s,
        occupancy=talk_s / (config.agents * config.duration_s),
        busy_occupancy=busy_s / (config.agents * config.duration_s),
        abandon_pct=100.0 * abandoned / people if people else 0.0,
        max_today_pct=max_today,
        max_rolling_pct=max_rolling,
        final_rolling_pct=AbandonTally(
            prior.answered + today_answered, prior.abandoned + today_abandoned
        ).rate_pct,
        decisions=decisions,
    )


def run_core(config: SimConfig, mode: DialMode = DialMode.PREDICTIVE) -> SimResult:
    return simulate(config, CorePolicy(Pacer(mode, config.cap_pct)))


def run_baseline(config: SimConfig) -> SimResult:
    return simulate(config, VicidialAdaptive(config.cap_pct))


def _normal_quantile(u: float) -> float:
    return _NORMAL.inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))
