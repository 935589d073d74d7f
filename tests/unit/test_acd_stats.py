"""Queue statistics, service level, position and estimated wait."""

import pytest

from ccd.acd.engine import (
    AcdEngine,
    AgentAnswered,
    AgentLoggedIn,
    AgentPaused,
    AgentUnpaused,
    CallEnded,
    CallerJoined,
    CallerLeft,
    ResetDailyStats,
    Tick,
    UnknownQueue,
)
from ccd.acd.model import Queue
from ccd.acd.stats import Ewma, service_level
from tests.unit.acdengine import agent, caller


def test_service_level_excludes_short_abandons() -> None:
    assert service_level(8, 10, 0) == 0.8
    assert service_level(8, 10, 2) == pytest.approx(8 / 12)
    assert service_level(0, 0, 0) is None


def test_ewma_uses_default_until_first_sample() -> None:
    aht = Ewma(default=180, alpha=0.5)
    assert aht.value == 180
    aht.add(100)
    assert aht.value == 100
    aht.add(200)
    assert aht.value == 150


def test_queue_counters_and_derived_figures() -> None:
    e = AcdEngine({"q": Queue("q", service_level_s=20, wrapup_s=10)})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentLoggedIn(agent("b"), frozenset({"q"})), 0)
    e.handle(CallerJoined(caller("fast", at=0)), 0)
    e.handle(AgentAnswered("a", "fast"), 5)  # within SL
    e.handle(CallerJoined(caller("slow", at=0)), 0)
    e.handle(AgentAnswered("b", "slow"), 30)  # after SL
    e.handle(CallerJoined(caller("short", at=40)), 40)
    e.handle(CallerLeft("short"), 45)  # short abandon: excluded from SL
    e.handle(CallerJoined(caller("long", at=50)), 50)
    e.handle(CallerLeft("long"), 100)  # abandoned after SL
    e.handle(CallerJoined(caller("waiting", at=60)), 60)
    e.handle(AgentPaused("a", "x"), 61)  # pause stays pending: a is on a call
    stats = e.queue_stats("q", 110)
    assert (stats.offered, stats.answered, stats.answered_within_sl) == (5, 2, 1)
    assert (stats.abandoned, stats.abandoned_within_sl) == (2, 1)
    assert stats.service_level == pytest.approx(1 / 3)
    assert stats.asa_s == pytest.approx(17.5)
    assert (stats.waiting, stats.longest_wait_s) == (1, 50)
    assert stats.agents == {"on_call": 2}
    assert stats.aht_s == 180  # nobody has finished a call yet
    e.handle(CallEnded("a"), 105)
    e.handle(CallEnded("b"), 130)
    stats = e.queue_stats("q", 130)
    assert stats.agents == {"wrap_up": 2}
    # EWMA (alpha 0.2) of talk + wrap-up: 100+10, then 100+10 + 0.2*(100+10 - 110).
    assert stats.aht_s == pytest.approx(110)
    assert stats.as_dict()["agents"] == {"wrap_up": 2}


def test_reset_daily_stats_zeroes_counters_but_keeps_waiting_callers() -> None:
    e = AcdEngine({"q": Queue("q")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("c1", at=0)), 0)
    e.handle(CallerJoined(caller("c2", at=1)), 1)
    e.handle(CallerLeft("c2"), 2)
    e.handle(ResetDailyStats(), 10)
    stats = e.queue_stats("q", 10)
    assert (stats.offered, stats.abandoned, stats.waiting) == (0, 0, 1)
    assert stats.service_level is None
    e.handle(AgentUnpaused("a"), 11)
    e.handle(AgentAnswered("a", "c1"), 12)
    assert e.queue_stats("q", 12).answered == 1


def test_position_follows_priority_then_join_order() -> None:
    e = AcdEngine({"q": Queue("q"), "r": Queue("r")})
    e.handle(AgentLoggedIn(agent("a"), frozenset({"q", "r"})), 0)
    e.handle(AgentPaused("a", "x"), 0)
    e.handle(CallerJoined(caller("first", at=1)), 1)
    e.handle(CallerJoined(caller("second", at=2)), 2)
    e.handle(CallerJoined(caller("vip", at=3, priority=2)), 3)
    e.handle(CallerJoined(caller("other", at=0, queue="r")), 3)
    assert [e.position(c) for c in ("vip", "first", "second", "other")] == [1, 2, 3, 1]
    e.handle(CallerLeft("first"), 4)
    assert e.position("second") == 2
    assert e.position("first") is None
    assert [c.call_id for c in e.waiting_in("q")] == ["vip", "second"]


def test_estimated_wait_is_position_times_aht_over_serving_agents() -> None:
    e = AcdEngine({"q": Queue("q")})
    for name in ("a", "b", "c"):
        e.handle(AgentLoggedIn(agent(name), frozenset({"q"})), 0)
    e.handle(AgentPaused("c", "lunch"), 0)
    for i in range(4):
        e.handle(CallerJoined(caller(f"c{i}", at=i)), i)
    # a and b ring c0 and c1; c2 and c3 are 3rd and 4th in line, 2 agents not paused.
    assert e.estimated_wait_s("c3", 5) == pytest.approx(4 * 180 / 2)
    e.handle(AgentPaused("b", "x"), 5)
    e.handle(AgentPaused("a", "x"), 5)
    # Nobody serving: divided by max(1, 0).
    assert e.estimated_wait_s("c3", 6) == pytest.approx(4 * 180 / 1)
    assert e.estimated_wait_s("nobody", 6) is None


def test_queue_stats_of_unknown_queue_is_refused() -> None:
    e = AcdEngine({"q": Queue("q")})
    with pytest.raises(UnknownQueue):
        e.queue_stats("nope", 0)
    assert e.handle(Tick(), 0) == []
