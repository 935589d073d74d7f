"""Pure orderings of eligible agents for each queue strategy."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ccd.acd.model import Strategy


class Candidate(NamedTuple):
    # A tuple, not a frozen dataclass: the engine builds one per free agent on every
    # decision, and a frozen dataclass costs several times more to construct.
    agent_id: str
    skills: Mapping[str, int]
    idle_since: float
    calls_taken: int
    talk_time_s: float
    # Fixed position for linear / round-robin (e.g. login order).
    position: int


def order_candidates(
    strategy: Strategy,
    candidates: Sequence[Candidate],
    required: Mapping[str, int],
    last_agent_id: str | None,
    rng: random.Random,
) -> list[Candidate]:
    """Return candidates best-first. Ring-all returns every candidate (rung together)."""
    by_position = sorted(candidates, key=lambda c: (c.position, c.agent_id))
    if strategy in (Strategy.LINEAR, Strategy.RING_ALL):
        return by_position
    if strategy is Strategy.LONGEST_IDLE:
        return sorted(by_position, key=lambda c: c.idle_since)
    if strategy is Strategy.FEWEST_CALLS:
        return sorted(by_position, key=lambda c: (c.calls_taken, c.idle_since))
    if strategy is Strategy.LEAST_TALK_TIME:
        return sorted(by_position, key=lambda c: (c.talk_time_s, c.idle_since))
    if strategy is Strategy.RANDOM:
        shuffled = list(by_position)
        rng.shuffle(shuffled)
        return shuffled
    if strategy is Strategy.ROUND_ROBIN:
        return _round_robin(by_position, last_agent_id)
    if strategy is Strategy.SKILLS_BASED:
        return sorted(by_position, key=lambda c: (-_match_score(c, required), c.idle_since))
    raise ValueError(f"unknown strategy {strategy}")


def _match_score(candidate: Candidate, required: Mapping[str, int]) -> int:
    return sum(candidate.skills.get(name, 0) for name in required)


def _round_robin(by_position: list[Candidate], last_agent_id: str | None) -> list[Candidate]:
    ids = [c.agent_id for c in by_position]
    # If the last agent is not a candidate (busy, logged out) start from the top.
    start = ids.index(last_agent_id) + 1 if last_agent_id in ids else 0
    return by_position[start:] + by_position[:start]
