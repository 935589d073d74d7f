"""Per-queue counters and the figures derived from them (pure).

Definitions (what a supervisor sees in ``GET /api/v1/queues/{id}``):

- **offered**: callers that entered the queue — joined it, or were moved into it from
  another queue (escalation, ``queue:<id>`` overflow). Callers turned away at once
  (queue full, nobody logged in) count as offered *and* overflowed.
- **answered**: connected to an agent of this queue; ``answered_within_sl`` when the wait
  (from the caller's first join, across moves) was at most the queue's
  ``service_level_s``.
- **abandoned**: hung up while waiting. ``abandoned_within_sl`` of them hung up before
  the service-level threshold ("short abandons").
- **timed_out**: left for the overflow destination (or another queue) after ``max_wait_s``.
- **overflowed**: sent away for any other reason (queue full, nobody logged in, queue
  removed from the configuration).
- **escalated**: moved to ``escalate_to_queue``.
- **callbacks**: callers who asked to be called back (virtual hold);
  **callbacks_dropped**: callbacks given up (customer never answered, or hung up after
  the call back while waiting again) — neither counts as abandoned.
- **service level** = ``answered_within_sl / (answered + abandoned - abandoned_within_sl)``:
  short abandons are excluded, the common convention (they would have hung up whatever
  the staffing). None when nothing was answered or abandoned yet.
- **ASA** (average speed of answer) = total wait of answered callers / answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_AHT_S = 180.0
AHT_ALPHA = 0.2


@dataclass(slots=True)
class QueueCounters:
    """Today's counters of one queue (reset by ``ResetDailyStats``)."""

    offered: int = 0
    answered: int = 0
    answered_within_sl: int = 0
    abandoned: int = 0
    abandoned_within_sl: int = 0
    overflowed: int = 0
    timed_out: int = 0
    escalated: int = 0
    callbacks: int = 0
    callbacks_dropped: int = 0
    total_wait_answered_s: float = 0.0


@dataclass(slots=True)
class Ewma:
    """Exponentially weighted moving average; ``default`` until the first sample, which
    then replaces it (a day's first calls should not be averaged with a guess)."""

    default: float = DEFAULT_AHT_S
    alpha: float = AHT_ALPHA
    samples: int = 0
    _value: float = field(default=0.0, repr=False)

    @property
    def value(self) -> float:
        return self._value if self.samples else self.default

    def add(self, sample: float) -> None:
        if self.samples == 0:
            self._value = sample
        else:
            self._value += self.alpha * (sample - self._value)
        self.samples += 1


def service_level(answered_within: int, answered: int, abandoned_after: int) -> float | None:
    """Fraction (0..1) answered within the threshold; None before any outcome."""
    denominator = answered + abandoned_after
    if denominator <= 0:
        return None
    return answered_within / denominator


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue_id: str
    offered: int
    answered: int
    answered_within_sl: int
    abandoned: int
    abandoned_within_sl: int
    overflowed: int
    timed_out: int
    escalated: int
    callbacks: int
    callbacks_dropped: int
    total_wait_answered_s: float
    waiting: int
    longest_wait_s: float
    # AgentStatus value -> number of agents of this queue in it (logged-out excluded).
    agents: Mapping[str, int]
    service_level_s: float
    service_level: float | None
    asa_s: float | None
    # Recent average handle time (talk + wrap-up), the EWT basis.
    aht_s: float

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["agents"] = dict(self.agents)
        return data


def build_stats(
    queue_id: str,
    counters: QueueCounters,
    *,
    waiting: int,
    longest_wait_s: float,
    agents: Mapping[str, int],
    service_level_s: float,
    aht_s: float,
) -> QueueStats:
    c = counters
    return QueueStats(
        queue_id=queue_id,
        offered=c.offered,
        answered=c.answered,
        answered_within_sl=c.answered_within_sl,
        abandoned=c.abandoned,
        abandoned_within_sl=c.abandoned_within_sl,
        overflowed=c.overflowed,
        timed_out=c.timed_out,
        escalated=c.escalated,
        callbacks=c.callbacks,
        callbacks_dropped=c.callbacks_dropped,
        total_wait_answered_s=c.total_wait_answered_s,
        waiting=waiting,
        longest_wait_s=longest_wait_s,
        agents=dict(agents),
        service_level_s=service_level_s,
        service_level=service_level(
            c.answered_within_sl, c.answered, c.abandoned - c.abandoned_within_sl
        ),
        asa_s=c.total_wait_answered_s / c.answered if c.answered else None,
        aht_s=aht_s,
    )
