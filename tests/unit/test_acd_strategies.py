import random

import pytest

from ccd.acd.model import Strategy
from ccd.acd.strategies import Candidate, order_candidates


def cand(
    agent_id: str,
    *,
    idle: float = 0.0,
    calls: int = 0,
    talk: float = 0.0,
    pos: int = 0,
    skills: dict[str, int] | None = None,
) -> Candidate:
    return Candidate(agent_id, skills or {}, idle, calls, talk, pos)


def ids(strategy: Strategy, cands: list[Candidate], **kw: object) -> list[str]:
    required = kw.get("required", {})
    last = kw.get("last")
    rng = kw.get("rng", random.Random(1))
    assert isinstance(required, dict)
    assert last is None or isinstance(last, str)
    assert isinstance(rng, random.Random)
    return [c.agent_id for c in order_candidates(strategy, cands, required, last, rng)]


def test_longest_idle_prefers_earliest_idle_since() -> None:
    cands = [cand("a", idle=30), cand("b", idle=10), cand("c", idle=20)]
    assert ids(Strategy.LONGEST_IDLE, cands) == ["b", "c", "a"]


def test_fewest_calls_then_longest_idle() -> None:
    cands = [cand("a", calls=2, idle=0), cand("b", calls=1, idle=50), cand("c", calls=1, idle=5)]
    assert ids(Strategy.FEWEST_CALLS, cands) == ["c", "b", "a"]


def test_least_talk_time_then_longest_idle() -> None:
    cands = [cand("a", talk=300), cand("b", talk=60, idle=9), cand("c", talk=60, idle=1)]
    assert ids(Strategy.LEAST_TALK_TIME, cands) == ["c", "b", "a"]


def test_linear_and_ring_all_follow_position() -> None:
    cands = [cand("a", pos=2, idle=0), cand("b", pos=0, idle=9), cand("c", pos=1)]
    assert ids(Strategy.LINEAR, cands) == ["b", "c", "a"]
    assert ids(Strategy.RING_ALL, cands) == ["b", "c", "a"]


def test_round_robin_starts_after_last_agent_and_wraps() -> None:
    cands = [cand("a", pos=0), cand("b", pos=1), cand("c", pos=2)]
    assert ids(Strategy.ROUND_ROBIN, cands, last="b") == ["c", "a", "b"]
    assert ids(Strategy.ROUND_ROBIN, cands, last="c") == ["a", "b", "c"]
    assert ids(Strategy.ROUND_ROBIN, cands, last=None) == ["a", "b", "c"]
    # Last agent not a candidate any more: start from the top.
    assert ids(Strategy.ROUND_ROBIN, cands, last="zz") == ["a", "b", "c"]


def test_random_is_a_seeded_permutation() -> None:
    cands = [cand(str(i), pos=i) for i in range(8)]
    first = ids(Strategy.RANDOM, cands, rng=random.Random(42))
    again = ids(Strategy.RANDOM, cands, rng=random.Random(42))
    assert first == again
    assert sorted(first) == [str(i) for i in range(8)]
    orders = {tuple(ids(Strategy.RANDOM, cands, rng=random.Random(s))) for s in range(5)}
    assert len(orders) > 1


def test_skills_based_best_match_then_longest_idle() -> None:
    cands = [
        cand("low", skills={"fr": 3}, idle=0),
        cand("high_recent", skills={"fr": 9}, idle=50),
        cand("high_idle", skills={"fr": 9}, idle=10),
        cand("extra_unrelated", skills={"fr": 3, "de": 10}, idle=1),
    ]
    order = ids(Strategy.SKILLS_BASED, cands, required={"fr": 1})
    assert order == ["high_idle", "high_recent", "low", "extra_unrelated"]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_strategy_returns_each_candidate_once(strategy: Strategy) -> None:
    cands = [cand(c, pos=i, idle=10 - i) for i, c in enumerate("abcd")]
    assert sorted(ids(strategy, cands)) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_strategy_handles_no_candidates(strategy: Strategy) -> None:
    assert ids(strategy, []) == []
