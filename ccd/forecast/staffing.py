"""Agents needed per interval: Erlang C for the service level, then an occupancy cap, then
shrinkage (pure; the formulas are ``ccd.acd.erlang``'s).

For an interval of ``L`` seconds with forecast volume ``V`` and handle time ``AHT``:
traffic ``A = V · AHT / L`` Erlangs. ``N_SL`` is the fewest agents with
``SL(N) = 1 - C(A, N) · exp(-(N - A) · T / AHT) >= target`` (``C``: Erlang C's probability
of waiting, ``T``: the answer threshold). ``N_occ = ceil(A / max_occupancy)``: Erlang C
alone may staff a busy interval so tightly that agents are on calls more than the cap
allows (occupancy ``A / N``). Agents needed ``N = max(N_SL, N_occ)``; on the schedule,
``ceil(N / (1 - shrinkage))`` (breaks, training, absence). No calls or no handle time:
0 agents.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ccd.acd import erlang

# A / max_occupancy computed in floating point may land a hair above a whole number.
_CEIL_SLACK = 1e-9


class LimitedBy(enum.StrEnum):
    NO_CALLS = "no_calls"
    SERVICE_LEVEL = "service_level"
    OCCUPANCY = "occupancy"


@dataclass(frozen=True, slots=True)
class StaffingTarget:
    service_level: float  # 0 < x < 1: the share answered within threshold_s
    threshold_s: float
    max_occupancy: float  # 0 < x <= 1
    shrinkage: float = 0.0  # 0 <= x < 1

    def __post_init__(self) -> None:
        if not 0 < self.service_level < 1:
            raise ValueError(f"service level {self.service_level} must be between 0 and 1")
        if self.threshold_s <= 0:
            raise ValueError(f"threshold {self.threshold_s} must be > 0")
        if not 0 < self.max_occupancy <= 1:
            raise ValueError(f"max occupancy {self.max_occupancy} must be in (0, 1]")
        if not 0 <= self.shrinkage < 1:
            raise ValueError(f"shrinkage {self.shrinkage} must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class Staffing:
    traffic: float  # Erlangs
    agents_for_service_level: int  # N_SL
    agents: int  # N: on the phones
    scheduled: int  # N with shrinkage
    limited_by: LimitedBy
    # At N agents (None when there are no calls):
    service_level: float | None
    asa_s: float | None
    occupancy: float | None


def staff(volume: float, aht_s: float, interval_s: float, target: StaffingTarget) -> Staffing:
    if interval_s <= 0:
        raise ValueError(f"interval {interval_s} must be > 0")
    if volume <= 0 or aht_s <= 0:
        return Staffing(0.0, 0, 0, 0, LimitedBy.NO_CALLS, None, None, None)
    rate = volume / interval_s
    traffic = rate * aht_s
    for_level = erlang.agents_for_service_level(
        rate, aht_s, target.service_level, target.threshold_s, limit=math.ceil(traffic) + 100_000
    )
    for_occupancy = math.ceil(traffic / target.max_occupancy - _CEIL_SLACK)
    agents = max(for_level, for_occupancy)
    limited_by = LimitedBy.OCCUPANCY if for_occupancy > for_level else LimitedBy.SERVICE_LEVEL
    scheduled = math.ceil(agents / (1 - target.shrinkage) - _CEIL_SLACK)
    return Staffing(
        traffic=traffic,
        agents_for_service_level=for_level,
        agents=agents,
        scheduled=scheduled,
        limited_by=limited_by,
        service_level=erlang.service_level(rate, aht_s, agents, target.threshold_s),
        asa_s=erlang.average_speed_of_answer(rate, aht_s, agents),
        occupancy=erlang.occupancy(rate, aht_s, agents),
    )
