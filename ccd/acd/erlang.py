"""Erlang C staffing formulas (M/M/N queue, callers wait forever), pure and stable.

Traffic ``A`` = arrival rate x average handle time (Erlangs). Factorials are never
formed: Erlang B is built by its recurrence ``B(n) = A·B(n-1) / (n + A·B(n-1))``, which
stays within [0, 1] for any N, and Erlang C follows from it:
``C = N·B / (N - A·(1 - B))``.
"""

from __future__ import annotations

import math


def _check(traffic: float, agents: int) -> None:
    if traffic < 0 or not math.isfinite(traffic):
        raise ValueError(f"traffic {traffic} must be a finite number >= 0")
    if agents < 0:
        raise ValueError(f"agents {agents} must be >= 0")


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of N servers with no waiting room."""
    _check(traffic, agents)
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a caller has to wait (1.0 when the queue is unstable, A >= N)."""
    _check(traffic, agents)
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(traffic, agents)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def service_level(rate_per_s: float, aht_s: float, agents: int, threshold_s: float) -> float:
    """Fraction of callers answered within ``threshold_s``:
    ``1 - C · exp(-(N - A) · T / AHT)``."""
    traffic = rate_per_s * aht_s
    wait_probability = erlang_c(traffic, agents)
    if agents <= traffic:
        return 0.0
    return 1.0 - wait_probability * math.exp(-(agents - traffic) * threshold_s / aht_s)


def average_speed_of_answer(rate_per_s: float, aht_s: float, agents: int) -> float:
    """Mean wait of all callers: ``C · AHT / (N - A)`` (infinite when A >= N)."""
    traffic = rate_per_s * aht_s
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht_s / (agents - traffic)


def occupancy(rate_per_s: float, aht_s: float, agents: int) -> float:
    """Fraction of agent time spent handling calls: ``A / N`` (at most 1)."""
    if agents <= 0:
        return 1.0
    return min(1.0, rate_per_s * aht_s / agents)


def agents_for_service_level(
    rate_per_s: float, aht_s: float, target: float, threshold_s: float, limit: int = 100_000
) -> int:
    """Fewest agents reaching ``target`` (0..1) service level within ``threshold_s``."""
    if not 0 < target < 1:
        raise ValueError(f"target {target} must be between 0 and 1 (exclusive)")
    agents = max(1, math.floor(rate_per_s * aht_s) + 1)
    while agents <= limit:
        if service_level(rate_per_s, aht_s, agents, threshold_s) >= target:
            return agents
        agents += 1
    raise ValueError(f"no staffing up to {limit} agents reaches {target:.1%}")
