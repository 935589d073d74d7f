"""The wallboard's view (pure): queue tiles, agent rows, targets, the call -> queue memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ccd.wallboard.view import (
    AgentInfo,
    CallQueues,
    QueueInfo,
    ServiceLevelTargets,
    abandon_rate_pct,
    build_board,
    is_board_message,
    queue_tile,
)

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)
SALES = QueueInfo("sales", "Sales", 20.0)


def queue_live(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "offered": 0,
        "answered": 0,
        "abandoned": 0,
        "waiting": 0,
        "longest_wait_s": 0.0,
        "agents": {},
        "service_level": None,
        "callers": [],
    }
    return base | fields


def agent_live(status: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": status,
        "since": "2026-11-25T09:29:00+00:00",
        "in_state_s": 60.0,
        "reason": None,
        "call_id": None,
        "queues": ["sales"],
        "calls_taken": 0,
        "server": "default",
    }
    return base | fields


def test_service_level_against_target() -> None:
    # 17 of 20 answered in time (85 %) meets an 80 % target; misses a 90 % one.
    live = queue_live(service_level=17 / 20, offered=22, abandoned=2)
    assert queue_tile(SALES, live, 80.0)["meets_target"] is True
    tile = queue_tile(SALES, live, 90.0)
    assert (tile["service_level_pct"], tile["meets_target"]) == (85.0, False)
    # Exactly on target meets it.
    assert queue_tile(SALES, queue_live(service_level=0.8), 80.0)["meets_target"] is True


def test_no_outcome_yet_means_no_service_level_and_no_verdict() -> None:
    tile = queue_tile(SALES, queue_live(), 80.0)
    assert (tile["service_level_pct"], tile["meets_target"], tile["abandon_rate_pct"]) == (
        None,
        None,
        None,
    )


def test_abandon_rate_is_abandoned_over_offered() -> None:
    assert abandon_rate_pct(0, 0) is None
    assert abandon_rate_pct(3, 1) == 33.3
    assert abandon_rate_pct(8, 2) == 25.0


def test_agents_by_state_lists_every_state_and_counts_logged_in() -> None:
    tile = queue_tile(SALES, queue_live(agents={"on_call": 2, "paused": 1}), 80.0)
    assert tile["agents"] == {
        "available": 0,
        "reserved": 0,
        "on_call": 2,
        "wrap_up": 0,
        "paused": 1,
    }
    assert tile["agents_logged_in"] == 3


def test_a_queue_the_acd_does_not_run_shows_empty() -> None:
    tile = queue_tile(SALES, None, 80.0)
    assert (tile["running"], tile["waiting"], tile["offered"]) == (False, 0, 0)


def test_targets_per_queue_override_the_default() -> None:
    targets = ServiceLevelTargets(80.0, {"support": 95.0})
    assert (targets.for_queue("sales"), targets.for_queue("support")) == (80.0, 95.0)


def test_board_orders_queues_and_agents_and_drops_caller_numbers() -> None:
    snapshot = {
        "queues": {
            "support": queue_live(waiting=1, callers=[{"call_id": "c9", "caller_num": "+3361"}]),
            "sales": queue_live(),
        },
        "agents": {
            "1002": agent_live("paused", reason="lunch", pause_over_limit=True),
            "1001": agent_live("on_call", call_id="c9"),
            "1003": None,  # logged out between two reads
        },
    }
    board = build_board(
        queues=[SALES, QueueInfo("support", "", 30.0), QueueInfo("billing", "Billing", 10.0)],
        agents=[AgentInfo("1001", "Alice"), AgentInfo("1002", "")],
        snapshot=snapshot,
        calls=CallQueues(),
        targets=ServiceLevelTargets(),
        now=NOW,
        day_start=MIDNIGHT,
        day_end=MIDNIGHT + timedelta(days=1),
        hour_marks=[(MIDNIGHT, "00h"), (MIDNIGHT + timedelta(days=1), "24h")],
    )
    assert [q["id"] for q in board["queues"]] == ["billing", "sales", "support"]
    assert [q["name"] for q in board["queues"]] == ["Billing", "Sales", "support"]
    assert [(a["id"], a["name"], a["status"]) for a in board["agents"]] == [
        ("1001", "Alice", "on_call"),
        ("1002", "1002", "paused"),
    ]
    alice, bob = board["agents"]
    assert (alice["call_id"], alice["call_queue"]) == ("c9", "support")
    assert (bob["reason"], bob["pause_over_limit"], bob["call_queue"]) == ("lunch", True, None)
    assert "+3361" not in repr(board)
    assert (board["generated_at"], board["day_start"]) == (NOW.isoformat(), MIDNIGHT.isoformat())
    assert board["day_end"] == (MIDNIGHT + timedelta(days=1)).isoformat()
    assert board["hour_marks"][-1] == {
        "at": (MIDNIGHT + timedelta(days=1)).isoformat(),
        "label": "24h",
    }


def test_call_queues_learns_from_messages_and_forgets_the_oldest() -> None:
    calls = CallQueues(capacity=2)
    calls.learn_message({"type": "queue.caller_joined", "call_id": "a", "queue": "sales"})
    calls.learn_message({"type": "queue.caller_moved", "call_id": "a", "to_queue": "support"})
    calls.learn_message({"type": "queue.caller_joined", "call_id": "b", "queue": "sales"})
    calls.learn_message({"type": "agent.state", "call_id": "z", "queue": "sales"})  # not a join
    assert (calls.queue_of("a"), calls.queue_of("b"), calls.queue_of("z")) == (
        "support",
        "sales",
        None,
    )
    calls.learn_message({"type": "queue.caller_joined", "call_id": "c", "queue": "sales"})
    assert (len(calls), calls.queue_of("a"), calls.queue_of(None)) == (2, None, None)


def test_board_messages_are_the_acds() -> None:
    assert is_board_message("agent.state")
    assert is_board_message("queue.caller_abandoned")
    assert not is_board_message("call.updated")
    assert not is_board_message("snapshot")
