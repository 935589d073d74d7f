"""What the wallboard shows, built from the ACD's live snapshot (pure: no IO, no clock).

The page renders this object as it is; it only ticks the durations (waits, time in
state) forward between two pushes. No caller numbers are copied: a wall screen is seen
by everyone on the floor.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Agent states in the order the tiles show them (the ACD's AgentStatus values).
AGENT_STATES = ("available", "reserved", "on_call", "wrap_up", "paused")
# Messages on the event hub after which the board may look different.
BOARD_MESSAGE_PREFIXES = ("agent.", "queue.")
# How many call -> queue pairs to remember (calls connect and end; the map must not grow).
CALL_MEMORY = 4096


@dataclass(frozen=True, slots=True)
class ServiceLevelTargets:
    """The percentage of callers a queue aims to answer within its ``service_level_s``
    (the "80" of "80 % in 20 s"); ``per_queue`` overrides ``default_pct``."""

    default_pct: float = 80.0
    per_queue: Mapping[str, float] = field(default_factory=dict)

    def for_queue(self, queue_id: str) -> float:
        return self.per_queue.get(queue_id, self.default_pct)


@dataclass(frozen=True, slots=True)
class QueueInfo:
    id: str
    name: str
    service_level_s: float


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    name: str


def is_board_message(message_type: str) -> bool:
    return message_type.startswith(BOARD_MESSAGE_PREFIXES)


class CallQueues:
    """Which queue each call came through. The ACD forgets a caller once an agent has it,
    so the board remembers the queue from the caller's waiting time (snapshots and
    ``queue.caller_joined`` / ``_moved``) to show an agent's current queue. Bounded."""

    def __init__(self, capacity: int = CALL_MEMORY) -> None:
        self._capacity = capacity
        self._queue_of: OrderedDict[str, str] = OrderedDict()

    def remember(self, call_id: str, queue_id: str) -> None:
        self._queue_of[call_id] = queue_id
        self._queue_of.move_to_end(call_id)
        while len(self._queue_of) > self._capacity:
            self._queue_of.popitem(last=False)

    def learn_message(self, message: Mapping[str, Any]) -> None:
        call_id = message.get("call_id")
        if not isinstance(call_id, str):
            return
        kind = message.get("type")
        if kind == "queue.caller_joined" and isinstance(message.get("queue"), str):
            self.remember(call_id, message["queue"])
        elif kind == "queue.caller_moved" and isinstance(message.get("to_queue"), str):
            self.remember(call_id, message["to_queue"])

    def learn_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        for queue_id, live in (snapshot.get("queues") or {}).items():
            for caller in (live or {}).get("callers", ()):
                self.remember(caller["call_id"], queue_id)

    def queue_of(self, call_id: str | None) -> str | None:
        return None if call_id is None else self._queue_of.get(call_id)

    def __len__(self) -> int:
        return len(self._queue_of)


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100.0, 1)


def abandon_rate_pct(offered: int, abandoned: int) -> float | None:
    """Abandoned ÷ offered today, in percent; None before the first caller."""
    return None if offered <= 0 else round(abandoned * 100.0 / offered, 1)


def queue_tile(
    info: QueueInfo, live: Mapping[str, Any] | None, target_pct: float
) -> dict[str, Any]:
    live = live or {}
    service_level = _pct(live.get("service_level"))
    offered = int(live.get("offered", 0))
    abandoned = int(live.get("abandoned", 0))
    by_state = live.get("agents") or {}
    return {
        "id": info.id,
        "name": info.name or info.id,
        "running": bool(live),
        "waiting": int(live.get("waiting", 0)),
        "longest_wait_s": float(live.get("longest_wait_s", 0.0)),
        "service_level_pct": service_level,
        "service_level_s": info.service_level_s,
        "target_pct": target_pct,
        "meets_target": None if service_level is None else service_level >= target_pct,
        "offered": offered,
        "answered": int(live.get("answered", 0)),
        "abandoned": abandoned,
        "abandon_rate_pct": abandon_rate_pct(offered, abandoned),
        "agents": {state: int(by_state.get(state, 0)) for state in AGENT_STATES},
        "agents_logged_in": sum(int(n) for n in by_state.values()),
    }


def agent_row(
    agent_id: str, info: AgentInfo | None, live: Mapping[str, Any], calls: CallQueues
) -> dict[str, Any]:
    call_id = live.get("call_id")
    return {
        "id": agent_id,
        "name": (info.name if info is not None else "") or agent_id,
        "status": live["status"],
        "reason": live.get("reason"),
        "since": live["since"],
        "in_state_s": float(live.get("in_state_s", 0.0)),
        "call_id": call_id,
        "call_queue": calls.queue_of(call_id),
        "queues": list(live.get("queues", ())),
        "calls_taken": int(live.get("calls_taken", 0)),
        "pause_over_limit": bool(live.get("pause_over_limit", False)),
        "server": live["server"],
    }


def build_board(
    *,
    queues: Sequence[QueueInfo],
    agents: Sequence[AgentInfo],
    snapshot: Mapping[str, Any],
    calls: CallQueues,
    targets: ServiceLevelTargets,
    now: datetime,
    day_start: datetime,
    day_end: datetime,
    hour_marks: Sequence[tuple[datetime, str]],
) -> dict[str, Any]:
    """The wallboard message: queues in id order, then logged-in agents in id order.
    ``snapshot`` is ``AcdLive.snapshot()``; ``day_start`` is the local midnight today's
    counters started at and ``day_end`` the next local midnight (the page asks the interval
    report for that range: 23, 24 or 25 hours); ``hour_marks`` are the chart's time labels,
    each at the instant its local wall clock shows it."""
    calls.learn_snapshot(snapshot)
    live_queues: Mapping[str, Any] = snapshot.get("queues") or {}
    live_agents: Mapping[str, Any] = snapshot.get("agents") or {}
    infos = {q.id: q for q in queues}
    for queue_id in live_queues:
        infos.setdefault(queue_id, QueueInfo(queue_id, "", 20.0))
    names = {a.id: a for a in agents}
    return {
        "type": "wallboard",
        "generated_at": now.isoformat(),
        "day_start": day_start.isoformat(),
        "day_end": day_end.isoformat(),
        "hour_marks": [{"at": at.isoformat(), "label": label} for at, label in hour_marks],
        "queues": [
            queue_tile(infos[q], live_queues.get(q), targets.for_queue(q)) for q in sorted(infos)
        ],
        "agents": [
            agent_row(a, names.get(a), live, calls)
            for a, live in sorted(live_agents.items())
            if live is not None
        ],
    }
