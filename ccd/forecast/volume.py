"""Volume and average handle time (AHT) per interval of a coming day, from the same
weekday of the last weeks (pure: history in, forecast out).

With ``D_k`` the calls offered on the k-th most recent same weekday (k = 1..n) and
``V_k(s)`` those of wall-clock slot ``s`` (``ccd.forecast.intervals``):

- **Days used.** A day without a single call is left out: the queue did not exist yet,
  was closed (a holiday) or ccd recorded nothing (an outage); the forecast is for an open
  day.
- **Recency weights** ``w_k = (n - k + 1) · n / Σ(n - j + 1)``: linear, newest heaviest,
  scaled to average 1 (so weighted sums still count calls).
- **Interval base** ``B(s) = Σ w_k V_k(s) / Σ w_k`` over the days the slot exists on (a
  spring-forward day has no 02:00; a fall-back day's second 01:00 reads the first one's
  history where a day had only one).
- **Day level.** ``D̄ = Σ w_k D_k / Σ w_k`` is the level around the days used, centred at
  ``x_d = Σ w_k x_k / Σ w_k`` (``x`` = weeks from the target day, negative). The trend
  comes from the queue's **weekly totals** ``W_j`` (all days of the seven-day windows
  before the target: relatively √7 times less noisy than one weekday), with the same recency
  weights, over the weeks with as many open days (days with a call) as the most open one
  (a week with a holiday, an outage, the queue's first days or days not recorded yet
  would bend the line): the weighted least-squares line
  ``W(x) = W̄ + b (x - x̄)``, ``b = Σ w (x - x̄)(W - W̄) / Σ w (x - x̄)²``, ``x_j`` the
  window's middle day. With at least ``MIN_WEEKS_FOR_TREND`` weeks the level factor is
  ``f = max(0, W(0)) / W(x_d)`` — the growth from where the base is centred to the target
  day — else (or when ``W(x_d) <= 0``) 1. Day volume ``T = D̄ · f``.
- **Volume** ``V(s) = B(s) · f``: the weekday's intraday shape at the trend's level. A
  slot with no history is 0.
- **AHT** (handle = talk, hold included, + wrap-up, of answered calls):
  ``AHT(s) = (Σ w_k H_k(s) + m · AHT_day) / (Σ w_k N_k(s) + m)`` where ``H`` is handle
  seconds, ``N`` answered calls and ``AHT_day = ΣΣ w H / ΣΣ w N``: a thin slot is pulled
  toward the day's AHT as if it had ``m = AHT_PRIOR_CALLS`` more calls at that average.
  A slot with no calls in its history has volume 0 and AHT 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo

from ccd.forecast.history import DayHistory, WeekTotal
from ccd.forecast.intervals import Interval, WallSlot, day_intervals, wall_slot

MIN_WEEKS_FOR_TREND = 3
AHT_PRIOR_CALLS = 10.0


@dataclass(frozen=True, slots=True)
class IntervalForecast:
    interval: Interval
    volume: float
    aht_s: float


@dataclass(frozen=True, slots=True)
class DayUsed:
    day: date
    offered: int
    weight: float


@dataclass(frozen=True, slots=True)
class DayForecast:
    day: date
    intervals: tuple[IntervalForecast, ...]
    days_used: tuple[DayUsed, ...]  # most recent first
    weeks_used: tuple[WeekTotal, ...]  # most recent first
    mean_day_volume: float  # D̄
    trend_pct_per_week: float  # 100 · b / W̄ (0 without a trend)
    level_factor: float  # f
    day_volume: float  # T
    day_aht_s: float


@dataclass
class SlotTotal:
    offered: int = 0
    answered: int = 0
    handle_s: float = 0.0


def slot_totals(history: DayHistory, zone: tzinfo, minutes: int) -> dict[WallSlot, SlotTotal]:
    """The day's calls by wall-clock slot; every slot the day has is present."""
    slots = {iv.slot: SlotTotal() for iv in day_intervals(history.day, zone, minutes)}
    for bucket in history.buckets:
        slot = slots.setdefault(wall_slot(bucket.start, zone, minutes), SlotTotal())
        slot.offered += bucket.offered
        slot.answered += bucket.answered
        slot.handle_s += bucket.handle_s
    return slots


def _open_days(history: Sequence[DayHistory]) -> list[DayHistory]:
    return sorted((h for h in history if h.offered), key=lambda h: h.day, reverse=True)


def recency_weights(n: int) -> tuple[float, ...]:
    """``n`` weights, most recent first: n, n-1, ..., 1 scaled to average 1."""
    raw = [float(n - k) for k in range(n)]
    total = sum(raw)
    return tuple(w * n / total for w in raw)


def weighted_trend(points: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """``(x̄, ȳ, b)`` of the weighted least-squares line through ``(x, y, weight)``."""
    total = sum(w for _, _, w in points)
    mean_x = sum(x * w for x, _, w in points) / total
    mean_y = sum(y * w for _, y, w in points) / total
    spread = sum(w * (x - mean_x) ** 2 for x, _, w in points)
    if spread == 0:
        return mean_x, mean_y, 0.0
    slope = sum(w * (x - mean_x) * (y - mean_y) for x, y, w in points) / spread
    return mean_x, mean_y, slope


def _lookup(slots: Mapping[WallSlot, SlotTotal], slot: WallSlot) -> SlotTotal | None:
    found = slots.get(slot)
    if found is None and slot.fold == 1:
        # The target repeats an hour this day had once: that hour's history stands for it.
        found = slots.get(WallSlot(slot.index, 0))
    return found


def _full_weeks(weeks: Sequence[WeekTotal]) -> list[WeekTotal]:
    most_open = max((w.open_days for w in weeks), default=0)
    full = (w for w in weeks if w.open_days == most_open and w.offered)
    return sorted(full, key=lambda w: w.first, reverse=True)


def level_factor(
    target: date, base_centre: float, weeks: Sequence[WeekTotal]
) -> tuple[float, float, tuple[WeekTotal, ...]]:
    """``(f, trend in % of W̄ per week, weeks used)``: see the module docstring."""
    used = _full_weeks(weeks)
    if len(used) < MIN_WEEKS_FOR_TREND:
        return 1.0, 0.0, tuple(used)
    points = [
        ((week.first - target).days / 7 + 3 / 7, float(week.offered), weight)
        for week, weight in zip(used, recency_weights(len(used)), strict=True)
    ]
    mean_x, mean_week, slope = weighted_trend(points)
    at_base = mean_week + slope * (base_centre - mean_x)
    if at_base <= 0:
        return 1.0, 0.0, tuple(used)
    at_target = max(0.0, mean_week + slope * (0.0 - mean_x))
    return at_target / at_base, 100 * slope / mean_week, tuple(used)


def forecast_day(
    target: date,
    history: Sequence[DayHistory],
    zone: tzinfo,
    minutes: int,
    weeks: Sequence[WeekTotal] = (),
) -> DayForecast:
    """The forecast of ``target`` from the same weekday's ``history`` and the ``weeks``
    before it (no weeks: no trend)."""
    intervals = day_intervals(target, zone, minutes)
    days = _open_days(history)
    weights = recency_weights(len(days))
    per_day = [slot_totals(day, zone, minutes) for day in days]
    used = tuple(
        DayUsed(day.day, day.offered, weight) for day, weight in zip(days, weights, strict=True)
    )
    if not days:
        empty = tuple(IntervalForecast(iv, 0.0, 0.0) for iv in intervals)
        return DayForecast(target, empty, used, (), 0.0, 0.0, 1.0, 0.0, 0.0)

    mean_day = sum(d.offered * w for d, w in zip(days, weights, strict=True)) / len(days)
    base_centre = sum(
        (d.day - target).days / 7 * w for d, w in zip(days, weights, strict=True)
    ) / len(days)
    level, trend_pct, weeks_used = level_factor(target, base_centre, weeks)

    weighted = list(zip(weights, per_day, strict=True))
    answered_total = sum(w * s.answered for w, slots in weighted for s in slots.values())
    handle_total = sum(w * s.handle_s for w, slots in weighted for s in slots.values())
    day_aht = handle_total / answered_total if answered_total > 0 else 0.0

    forecasts: list[IntervalForecast] = []
    for interval in intervals:
        found = [(w, _lookup(slots, interval.slot)) for w, slots in weighted]
        present = [(w, slot) for w, slot in found if slot is not None]
        weight_sum = sum(w for w, _ in present)
        base = sum(w * slot.offered for w, slot in present) / weight_sum if present else 0.0
        answered = sum(w * slot.answered for w, slot in present)
        handle = sum(w * slot.handle_s for w, slot in present)
        aht = (handle + AHT_PRIOR_CALLS * day_aht) / (answered + AHT_PRIOR_CALLS) if base else 0.0
        forecasts.append(IntervalForecast(interval, base * level, aht))
    return DayForecast(
        day=target,
        intervals=tuple(forecasts),
        days_used=used,
        weeks_used=weeks_used,
        mean_day_volume=mean_day,
        trend_pct_per_week=trend_pct,
        level_factor=level,
        day_volume=mean_day * level,
        day_aht_s=day_aht,
    )
