"""A staffed forecast of one day: every interval with its volume, AHT and staffing, the
day's totals, and the same as JSON-ready data, an aligned text table and CSV rows (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccd.forecast.staffing import Staffing, StaffingTarget, staff
from ccd.forecast.volume import MIN_WEEKS_FOR_TREND, DayForecast, IntervalForecast

CSV_FIELDS = (
    "interval_start",
    "interval_end",
    "volume",
    "aht_s",
    "traffic_erlangs",
    "agents_for_service_level",
    "agents",
    "scheduled",
    "limited_by",
    "service_level_pct",
    "asa_s",
    "occupancy_pct",
)


@dataclass(frozen=True, slots=True)
class StaffedInterval:
    forecast: IntervalForecast
    staffing: Staffing


@dataclass(frozen=True, slots=True)
class Totals:
    volume: float
    aht_s: float  # volume-weighted
    agent_hours: float  # Σ agents x interval length
    scheduled_hours: float
    peak_agents: int


@dataclass(frozen=True, slots=True)
class StaffingForecast:
    queue: str
    zone: str
    interval_minutes: int
    target: StaffingTarget
    day: DayForecast
    intervals: tuple[StaffedInterval, ...]
    totals: Totals


def staff_day(
    queue: str, zone: str, minutes: int, day: DayForecast, target: StaffingTarget
) -> StaffingForecast:
    rows = tuple(
        StaffedInterval(
            f,
            staff(f.volume, f.aht_s, (f.interval.end - f.interval.start).total_seconds(), target),
        )
        for f in day.intervals
    )
    return StaffingForecast(queue, zone, minutes, target, day, rows, _totals(rows))


def _hours(row: StaffedInterval) -> float:
    return (row.forecast.interval.end - row.forecast.interval.start).total_seconds() / 3600


def _totals(rows: Sequence[StaffedInterval]) -> Totals:
    volume = sum(r.forecast.volume for r in rows)
    handled = sum(r.forecast.volume * r.forecast.aht_s for r in rows)
    return Totals(
        volume=volume,
        aht_s=handled / volume if volume > 0 else 0.0,
        agent_hours=sum(r.staffing.agents * _hours(r) for r in rows),
        scheduled_hours=sum(r.staffing.scheduled * _hours(r) for r in rows),
        peak_agents=max((r.staffing.agents for r in rows), default=0),
    )


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def interval_data(row: StaffedInterval) -> dict[str, object]:
    f, s = row.forecast, row.staffing
    return {
        "start": f.interval.start.isoformat(),
        "end": f.interval.end.isoformat(),
        "local_start": f.interval.local_start.isoformat(),
        "volume": round(f.volume, 2),
        "aht_s": round(f.aht_s, 1),
        "traffic_erlangs": round(s.traffic, 3),
        "agents_for_service_level": s.agents_for_service_level,
        "agents": s.agents,
        "scheduled": s.scheduled,
        "limited_by": s.limited_by.value,
        "service_level_pct": _pct(s.service_level),
        "asa_s": _round(s.asa_s, 1),
        "occupancy_pct": _pct(s.occupancy),
    }


def as_data(report: StaffingForecast) -> dict[str, object]:
    day, target, totals = report.day, report.target, report.totals
    return {
        "queue": report.queue,
        "date": day.day.isoformat(),
        "zone": report.zone,
        "interval_minutes": report.interval_minutes,
        "target": {
            "sl_target_pct": round(target.service_level * 100, 3),
            "sl_seconds": target.threshold_s,
            "max_occupancy_pct": round(target.max_occupancy * 100, 3),
            "shrinkage_pct": round(target.shrinkage * 100, 3),
        },
        "method": {
            "history_days": [
                {"date": d.day.isoformat(), "offered": d.offered, "weight": round(d.weight, 4)}
                for d in day.days_used
            ],
            "history_weeks": [
                {"from": w.first.isoformat(), "to": w.last.isoformat(), "offered": w.offered}
                for w in day.weeks_used
            ],
            "mean_day_volume": round(day.mean_day_volume, 2),
            "trend_pct_per_week": round(day.trend_pct_per_week, 2),
            "level_factor": round(day.level_factor, 4),
            "day_volume": round(day.day_volume, 2),
            "day_aht_s": round(day.day_aht_s, 1),
        },
        "intervals": [interval_data(row) for row in report.intervals],
        "totals": {
            "volume": round(totals.volume, 2),
            "aht_s": round(totals.aht_s, 1),
            "agent_hours": round(totals.agent_hours, 2),
            "scheduled_hours": round(totals.scheduled_hours, 2),
            "peak_agents": totals.peak_agents,
        },
    }


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_lines(report: StaffingForecast) -> list[str]:
    """An aligned table, one line per interval, then the total line."""
    headers = ["INTERVAL", "CALLS", "AHT s", "ERLANGS", "AGENTS", "SCHED", "SL %", "ASA s", "OCC %"]
    body: list[list[str]] = []
    for row in report.intervals:
        f, s = row.forecast, row.staffing
        start = f.interval.local_start
        end = f.interval.end.astimezone(start.tzinfo)
        label = f"{start:%H:%M}-{end:%H:%M}"
        if f.interval.slot.fold or start.utcoffset() != end.utcoffset():
            label += f" ({start:%z})"  # a fall-back day's repeated hour: which one
        agents = f"{s.agents}" + ("*" if s.limited_by.value == "occupancy" else "")
        body.append(
            [
                label,
                f"{f.volume:.1f}",
                f"{f.aht_s:.0f}",
                f"{s.traffic:.2f}",
                agents,
                f"{s.scheduled}",
                _cell(_pct(s.service_level), 1),
                _cell(s.asa_s, 1),
                _cell(_pct(s.occupancy), 1),
            ]
        )
    t = report.totals
    total = [
        "TOTAL",
        f"{t.volume:.1f}",
        f"{t.aht_s:.0f}",
        "",
        f"{t.agent_hours:.1f} h",
        f"{t.scheduled_hours:.1f} h",
        "",
        "",
        f"peak {t.peak_agents}",
    ]
    table = [headers, *body, total]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [line(headers), *(line(r) for r in body), rule, line(total)]


def csv_rows(report: StaffingForecast) -> list[list[str]]:
    rows: list[list[str]] = [list(CSV_FIELDS)]
    for row in report.intervals:
        data = interval_data(row)
        rows.append(
            [
                str(data["start"]),
                str(data["end"]),
                *("" if data[k] is None else str(data[k]) for k in CSV_FIELDS[2:]),
            ]
        )
    return rows


def summary_lines(report: StaffingForecast) -> list[str]:
    """What was forecast, against which target, from which history (above the table)."""
    day, target = report.day, report.target
    lines = [
        f"staffing forecast: queue {report.queue}, {day.day:%A %Y-%m-%d} ({report.zone}), "
        f"{report.interval_minutes}-minute intervals",
        f"target: {target.service_level * 100:g} % answered within {target.threshold_s:g} s, "
        f"occupancy at most {target.max_occupancy * 100:g} %, "
        f"shrinkage {target.shrinkage * 100:g} %",
    ]
    used = day.days_used
    if not used:
        lines.append("history: no calls on the same weekday of the weeks read: 0 everywhere")
        return lines
    lines.append(
        f"history: {len(used)} {day.day:%A}s from {used[-1].day} to {used[0].day}, "
        f"weighted mean {day.mean_day_volume:.1f} calls, AHT {day.day_aht_s:.0f} s"
    )
    weeks = day.weeks_used
    if len(weeks) >= MIN_WEEKS_FOR_TREND:
        lines.append(
            f"trend: {day.trend_pct_per_week:+.1f} %/week over {len(weeks)} weeks "
            f"({weeks[-1].first} to {weeks[0].last}) -> level x{day.level_factor:.3f}, "
            f"{day.day_volume:.1f} calls"
        )
    else:
        lines.append(f"trend: none (fewer than 3 weeks with calls) -> {day.day_volume:.1f} calls")
    return lines
