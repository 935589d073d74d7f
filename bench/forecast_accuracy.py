"""Staffing forecast accuracy on held-out history.

Generates (seeded) a queue's realistic history — weekly seasonality (busy Mondays, quiet
weekends), a two-peak intraday profile on the local wall clock, day-to-day noise on top of
Poisson arrivals, handle times that vary by time of day, 8 % abandons and a steady
(holiday-free) growth — into a fresh SQLite database, or reads a database you give
(``--db``). Holds out the last ``--holdout`` days, forecasts each of them from the days
before the held-out window only (through ``ccd.db.forecast_history`` and
``ccd.forecast``), and compares per interval (15, 30, 60 minutes):

- volume and AHT: WAPE = Σ|F - A| / Σ A (AHT weighted by the actual calls), MAPE = mean
  |F - A| / A over intervals with A > 0 (calls; answered calls for AHT);
- staffing: agents Erlang C + occupancy cap need for the forecast vs. for what actually
  came (the same target: 80 % in 20 s, occupancy <= 85 %): mean absolute difference per
  interval with calls, agent-hours difference, intervals under-staffed.

Three methods on the same data: "last week" (the same weekday a week earlier: the naive
baseline), "6 weeks weighted, no trend" (ccd's method without its level factor) and
"6 weeks + weekly trend" (ccd's method as shipped).

Run:  .venv/bin/python bench/forecast_accuracy.py   (--weeks-of-history, --holdout, --seed,
      --growth-pct-per-week, --db URL --queue Q --zone Z --end YYYY-MM-DD)
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.machine import describe  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.cdr_queries import CDRS  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.db.forecast_history import ForecastHistory  # noqa: E402
from ccd.forecast.history import DayHistory, WeekTotal, history_days, trend_weeks  # noqa: E402
from ccd.forecast.intervals import INTERVAL_MINUTES, WallSlot, day_intervals  # noqa: E402
from ccd.forecast.run import read_history, read_weeks  # noqa: E402
from ccd.forecast.staffing import StaffingTarget, staff  # noqa: E402
from ccd.forecast.volume import IntervalForecast, SlotTotal, forecast_day, slot_totals  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402

QUEUE = "sales"
ZONE = "Europe/Paris"
# Mon..Sun share of a weekday's volume.
WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.95, 0.45, 0.25)
BASE_DAY_CALLS = 1200.0
OPEN_HOURS = (8.0, 20.0)
TARGET = StaffingTarget(service_level=0.8, threshold_s=20, max_occupancy=0.85)
INSERT_BATCH = 5000


def intraday_weight(hour: float) -> float:
    """Relative arrival rate at a local wall-clock hour: peaks at 10:30 and 14:30."""
    if not OPEN_HOURS[0] <= hour < OPEN_HOURS[1]:
        return 0.0
    morning = math.exp(-(((hour - 10.5) / 1.3) ** 2))
    afternoon = 0.8 * math.exp(-(((hour - 14.5) / 1.6) ** 2))
    return 0.25 + morning + afternoon


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def mean_talk_s(block: float) -> float:
    """Mean talk time of a call starting at a local hour: longer mornings, shorter evenings."""
    return 210 * (1.15 - 0.025 * (block - 8))


def expected_level(first: date, day: date, growth: float) -> float:
    n = (day - first).days
    return BASE_DAY_CALLS * WEEKDAY_FACTOR[day.weekday()] * (1 + growth * n / 7)


def expected_day(
    first: date, growth: float, zone: ZoneInfo
) -> Callable[[date, int], list[IntervalForecast]]:
    """What the generator expects (no noise): the best any forecast could say."""
    blocks = [h / 4 for h in range(96)]
    total_weight = sum(intraday_weight(b + 0.125) for b in blocks)

    def for_day(day: date, minutes: int) -> list[IntervalForecast]:
        level = expected_level(first, day, growth)
        out = []
        for interval in day_intervals(day, zone, minutes):
            local = interval.local_start
            start_h = local.hour + local.minute / 60
            inside = [b for b in blocks if start_h <= b < start_h + minutes / 60]
            volume = sum(level * intraday_weight(b + 0.125) / total_weight for b in inside)
            handle = sum(intraday_weight(b + 0.125) * (mean_talk_s(b) + 20.0) for b in inside)
            weight = sum(intraday_weight(b + 0.125) for b in inside)
            out.append(IntervalForecast(interval, volume, handle / weight if weight else 0.0))
        return out

    return for_day


def generate_rows(
    first: date, days: int, zone: ZoneInfo, growth: float, seed: int
) -> list[dict[str, object]]:
    rng = random.Random(seed)
    blocks = [h / 4 for h in range(96)]  # local quarter hours
    total_weight = sum(intraday_weight(b + 0.125) for b in blocks)
    rows: list[dict[str, object]] = []
    for n in range(days):
        day = first + timedelta(days=n)
        level = expected_level(first, day, growth) * math.exp(
            rng.gauss(0, 0.06)
        )  # a day busier or quieter than its kind
        for block in blocks:
            share = intraday_weight(block + 0.125) / total_weight
            for _ in range(poisson(rng, level * share)):
                local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
                    hours=block + rng.random() / 4
                )
                started = local.astimezone(UTC)
                answered = rng.random() >= 0.08
                mean_talk = mean_talk_s(block)
                talk = rng.lognormvariate(math.log(mean_talk) - 0.125, 0.5) if answered else 0.0
                wait = rng.uniform(0, 40)
                rows.append(
                    {
                        "linkedid": f"{seed}.{n}.{len(rows)}",
                        "direction": "inbound",
                        "caller_num": "5550100",
                        "caller_name": "",
                        "callee_num": "100",
                        "did": "18005550100",
                        "started_at": started,
                        "answered_at": started + timedelta(seconds=wait) if answered else None,
                        "ended_at": started + timedelta(seconds=wait + talk),
                        "ring_s": wait,
                        "talk_s": talk,
                        "hold_s": 0.0,
                        "hangup_cause": 16,
                        "hangup_cause_text": "Normal Clearing",
                        "hung_up_by": "caller",
                        "disposition": "answered" if answered else "abandoned",
                        "ivr_path": [],
                        "queue": QUEUE,
                        "wait_s": wait,
                        "agent_id": "1001" if answered else None,
                        "wrapup_s": rng.uniform(10, 30) if answered else None,
                        "campaign_id": None,
                        "contact_id": None,
                        "recording_ref": None,
                        "written_at": started + timedelta(seconds=wait + talk + 1),
                    }
                )
    return rows


async def load(engine: AsyncEngine, rows: Sequence[dict[str, object]]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        async with engine.begin() as connection:
            await connection.execute(insert(CDRS), list(rows[start : start + INSERT_BATCH]))


@dataclass
class Score:
    abs_volume: float = 0.0
    volume: float = 0.0
    volume_ape: list[float] = field(default_factory=list)
    abs_aht_weighted: float = 0.0
    aht_weighted: float = 0.0
    aht_ape: list[float] = field(default_factory=list)
    agents_abs: list[int] = field(default_factory=list)
    agent_hours_forecast: float = 0.0
    agent_hours_actual: float = 0.0
    under: int = 0
    busy_intervals: int = 0


METHODS = {
    "last week (baseline)": {"weeks": 1, "trend": False},
    "6 weeks weighted, no trend": {"weeks": 6, "trend": False},
    "6 weeks + weekly trend (ccd)": {"weeks": 6, "trend": True},
}
ORACLE = "the generator's expected values (noise floor)"


async def evaluate(
    engine: AsyncEngine,
    queue: str,
    zone_name: str,
    holdout: list[date],
    scores: dict[tuple[int, str], Score],
    expected: Callable[[date, int], list[IntervalForecast]] | None = None,
) -> None:
    zone = ZoneInfo(zone_name)
    reader = ForecastHistory(engine)
    cache: dict[date, DayHistory] = {}
    week_cache: dict[tuple[date, date], WeekTotal] = {}

    async def weeks(wanted: Sequence[tuple[date, date]]) -> list[WeekTotal]:
        missing = [w for w in wanted if w not in week_cache]
        for week in await read_weeks(reader, queue, missing, zone):
            week_cache[(week.first, week.last)] = week
        return [week_cache[w] for w in wanted]

    async def days(wanted: Sequence[date]) -> list[DayHistory]:
        missing = [d for d in wanted if d not in cache]
        for history in await read_history(reader, queue, missing, zone):
            cache[history.day] = history
        return [cache[d] for d in wanted]

    first_held = holdout[0]
    for target in holdout:
        print(f"  forecasting {target}", file=sys.stderr, flush=True)
        (actual_day,) = await days([target])
        for minutes in INTERVAL_MINUTES:
            actual = slot_totals(actual_day, zone, minutes)
            for method, options in METHODS.items():
                n_weeks, trend = int(options["weeks"]), bool(options["trend"])
                history = await days(history_days(target, first_held, n_weeks))
                totals = await weeks(trend_weeks(target, first_held, n_weeks)) if trend else []
                forecast = forecast_day(target, history, zone, minutes, totals)
                add_day(scores.setdefault((minutes, method), Score()), forecast.intervals, actual)
            if expected is not None:
                truth = expected(target, minutes)
                add_day(scores.setdefault((minutes, ORACLE), Score()), truth, actual)


def add_day(
    score: Score, forecast: Sequence[IntervalForecast], actual: Mapping[WallSlot, SlotTotal]
) -> None:
    for f in forecast:
        real = actual.get(f.interval.slot)
        a_vol = real.offered if real else 0
        a_aht = real.handle_s / real.answered if real and real.answered else 0.0
        score.abs_volume += abs(f.volume - a_vol)
        score.volume += a_vol
        if a_vol:
            score.volume_ape.append(abs(f.volume - a_vol) / a_vol)
        if real and real.answered:
            score.abs_aht_weighted += real.answered * abs(f.aht_s - a_aht)
            score.aht_weighted += real.answered * a_aht
            score.aht_ape.append(abs(f.aht_s - a_aht) / a_aht)
        seconds = (f.interval.end - f.interval.start).total_seconds()
        planned = staff(f.volume, f.aht_s, seconds, TARGET).agents
        needed = staff(a_vol, a_aht, seconds, TARGET).agents
        score.agent_hours_forecast += planned * seconds / 3600
        score.agent_hours_actual += needed * seconds / 3600
        if planned or needed:
            score.agents_abs.append(abs(planned - needed))
        if a_vol:
            score.busy_intervals += 1
            score.under += planned < needed


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def table(scores: dict[tuple[int, str], Score]) -> list[str]:
    lines = [
        "| interval | method | volume WAPE | volume MAPE | AHT WAPE | AHT MAPE "
        "| agents MAE | agent-hours vs. actual | under-staffed intervals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (minutes, method), s in sorted(scores.items(), key=lambda kv: kv[0][0]):
        hours_diff = s.agent_hours_forecast - s.agent_hours_actual
        lines.append(
            f"| {minutes} min | {method} | {pct(s.abs_volume, s.volume)} "
            f"| {100 * mean(s.volume_ape):.1f} % | {pct(s.abs_aht_weighted, s.aht_weighted)} "
            f"| {100 * mean(s.aht_ape):.1f} % | {mean(s.agents_abs):.2f} "
            f"| {hours_diff:+.1f} h ({pct(hours_diff, s.agent_hours_actual)}) "
            f"| {pct(s.under, s.busy_intervals)} |"
        )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks-of-history", type=int, default=16)
    parser.add_argument("--holdout", type=int, default=14, help="days held out (the last ones)")
    parser.add_argument("--seed", type=int, default=1, help="the first seed")
    parser.add_argument("--seeds", type=int, default=5, help="generated queues, one per seed")
    parser.add_argument("--growth-pct-per-week", type=float, default=0.5)
    parser.add_argument("--db", help="a ccd database URL to read instead of generating one")
    parser.add_argument("--queue", default=QUEUE)
    parser.add_argument("--zone", default=ZONE)
    parser.add_argument(
        "--end", type=date.fromisoformat, default=date(2026, 11, 29), help="the last held-out day"
    )
    args = parser.parse_args()
    configure_logging(level="WARNING", fmt="console")
    zone = ZoneInfo(args.zone)
    days = args.weeks_of_history * 7
    first = args.end - timedelta(days=days - 1)
    holdout = [args.end - timedelta(days=k) for k in range(args.holdout - 1, -1, -1)]
    started = time.perf_counter()
    scores: dict[tuple[int, str], Score] = {}
    if args.db:
        source = f"database {args.db}, queue {args.queue}"
        engine = create_engine(args.db)
        try:
            await evaluate(engine, args.queue, args.zone, holdout, scores)
        finally:
            await engine.dispose()
    else:
        calls = 0
        seeds = range(args.seed, args.seed + args.seeds)
        for seed in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/history.sqlite3"
                await migrate.upgrade(url)
                rows = generate_rows(first, days, zone, args.growth_pct_per_week / 100, seed)
                calls += len(rows)
                print(f"seed {seed}: {len(rows)} calls over {days} days", file=sys.stderr)
                engine = create_engine(url)
                try:
                    await load(engine, rows)
                    truth = expected_day(first, args.growth_pct_per_week / 100, zone)
                    await evaluate(engine, args.queue, args.zone, holdout, scores, truth)
                finally:
                    await engine.dispose()
        source = (
            f"generated, {len(seeds)} queues (seeds {seeds[0]}-{seeds[-1]}), {calls} calls, "
            f"{first} to {args.end} ({args.zone}, a DST change inside), growth "
            f"{args.growth_pct_per_week} %/week"
        )
    print(f"Machine: {describe()}")
    print(f"History: {source}")
    print(
        f"Held out: {holdout[0]} to {holdout[-1]} ({len(holdout)} days), forecast from the "
        f"days before {holdout[0]}; staffing target 80 % in 20 s, occupancy <= 85 %"
    )
    print()
    print("\n".join(table(scores)))
    print()
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
