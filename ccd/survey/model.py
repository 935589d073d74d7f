"""What a post-call survey stores, and who served the call it rates. Pure.

``ServedCalls`` remembers, per call (linkedid), the queue and agent it was connected to,
from the ACD's ``QueueConnected`` events: the survey starts after the agent left, when the
caller's channel no longer says who that was. Bounded: the oldest calls are forgotten
first (a survey runs seconds after its call, never hours).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from ccd.domain.events import QueueConnected

SERVED_CALLS_KEPT = 20_000


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    """One settled question of one call: ``score`` 1..5, None when not answered."""

    linkedid: str
    queue: str | None
    agent_id: str | None
    campaign_id: str | None
    question: str
    score: int | None
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class ServedBy:
    queue: str
    agent_id: str


class ServedCalls:
    """linkedid → the queue and agent that last served the call (``QueueConnected``)."""

    def __init__(self, kept: int = SERVED_CALLS_KEPT) -> None:
        if kept < 1:
            raise ValueError("kept must be positive")
        self._kept = kept
        self._calls: OrderedDict[str, ServedBy] = OrderedDict()

    def handle(self, event: object) -> None:
        if isinstance(event, QueueConnected):
            self._calls[event.linkedid] = ServedBy(event.queue, event.agent_id)
            self._calls.move_to_end(event.linkedid)
            while len(self._calls) > self._kept:
                self._calls.popitem(last=False)

    def served(self, linkedid: str) -> ServedBy | None:
        return self._calls.get(linkedid)

    def __len__(self) -> int:
        return len(self._calls)
