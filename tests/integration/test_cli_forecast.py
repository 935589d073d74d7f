"""``ccd forecast`` as a planner runs it: a real subprocess on a real SQLite database with
CDR history, the table, CSV and JSON, progress on stderr, and bad options as clean errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest

from ccd.db.engine import create_engine
from tests.cdrrows import insert_rows
from tests.forecastrows import history_rows
from tests.integration.clirun import assert_user_error, ccd
from tests.integration.sqlitedb import copy_database

MONDAYS = (date(2026, 11, 23), date(2026, 11, 16), date(2026, 11, 9))
FORECAST = ("forecast", "--queue", "sales", "--date", "2026-11-30", "--weeks", "3")


@pytest.fixture
def workdir(template: Path, tmp_path: Path) -> Path:
    url = copy_database(template, tmp_path)

    async def fill() -> None:
        engine = create_engine(url)
        rows = [row for k, day in enumerate(MONDAYS) for row in history_rows(day, f"m{k}")]
        await insert_rows(engine, rows)
        await engine.dispose()

    asyncio.run(fill())
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ccd.toml").write_text(
        f'[database]\nurl = "{url}"\n\n[forecast]\ninterval_minutes = 30\n'
        '\n[log]\nlevel = "WARNING"\n'
    )
    return tmp_path


def test_table_shows_every_interval_and_a_total_line(workdir: Path) -> None:
    result = ccd(*FORECAST, cwd=workdir)
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == (
        "staffing forecast: queue sales, Monday 2026-11-30 (UTC), 30-minute intervals"
    )
    assert "80 % answered within 20 s, occupancy at most 85 %" in lines[1]
    assert "3 Mondays from 2026-11-09 to 2026-11-23" in lines[2]
    assert lines[3].startswith("trend: +0.0 %/week over 3 weeks (2026-11-09 to 2026-11-29)")
    header = next(line for line in lines if line.startswith("INTERVAL"))
    assert header.split() == [
        "INTERVAL", "CALLS", "AHT", "s", "ERLANGS", "AGENTS", "SCHED", "SL", "%",
        "ASA", "s", "OCC", "%",
    ]  # fmt: skip
    nine = next(line for line in lines if line.startswith("09:00-09:30"))
    assert nine.split()[:7] == ["09:00-09:30", "100.0", "180", "10.00", "14", "14", "88.8"]
    body = [line for line in lines if line[:2].isdigit() and "-" in line[:11]]
    assert len(body) == 48
    # Aligned: every row as wide as the header's columns put it.
    assert len({len(line) for line in [header, *body]} - {len(header)}) <= 1
    total = lines[-1] if lines[-1].startswith("TOTAL") else lines[-2]
    assert total.split() == ["TOTAL", "101.0", "180", "7.5", "h", "7.5", "h", "peak", "14"]
    assert "reading history: 3/6 (2026-11-09: 101 calls)" in result.err
    assert "reading history: 6/6 (week 2026-11-09 to 2026-11-15: 101 calls)" in result.err


def test_csv_and_json_carry_the_same_figures(workdir: Path) -> None:
    result = ccd(*FORECAST, "--format", "csv", "--shrinkage-pct", "30", cwd=workdir)
    assert result.code == 0, result
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == 48
    nine = next(r for r in rows if r["interval_start"] == "2026-11-30T09:00:00+00:00")
    assert (nine["volume"], nine["agents"], nine["scheduled"]) == ("100.0", "14", "20")
    assert rows[0]["service_level_pct"] == ""  # no calls: no service level to expect

    result = ccd(*FORECAST, "--format", "json", "--interval", "60", cwd=workdir)
    assert result.code == 0, result
    body = json.loads(result.out)
    assert body["interval_minutes"] == 60
    assert [row["volume"] for row in body["intervals"] if row["volume"]] == [101.0]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--interval", "20"), "--interval: must be one of 15, 30, 60"),
        (("--sl-target-pct", "100"), "--sl-target-pct: Input should be less than 100"),
        (("--weeks", "many"), "--weeks: Input should be a valid integer"),
        (("--max-occupancy-pct", "0.001"), "--max-occupancy-pct: Input should be greater than"),
    ],
)
def test_bad_options_are_one_clean_error(
    workdir: Path, extra: tuple[str, ...], fragment: str
) -> None:
    assert_user_error(ccd(*FORECAST, *extra, cwd=workdir), fragment)


def test_bad_date_names_the_option(workdir: Path) -> None:
    result = ccd("forecast", "--queue", "sales", "--date", "30/11/2026", cwd=workdir)
    assert_user_error(result, "--date:")
