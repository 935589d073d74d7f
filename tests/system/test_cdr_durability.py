"""CDR durability on real PostgreSQL and real Asterisk calls (the guarantees are in README.md,
"Operations", "Call detail records — durability").

Each test gets its own database in the session's PostgreSQL cluster, so "one row per call"
is checked against everything in it. "Nothing lost" means: every call ccd saw end (its live
model's ``call ended``) has its CDR row once the spool has drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from ccd.app import Daemon
from ccd.cdr.spool import parse_line
from ccd.db import migrate
from ccd.db.cdr_store import CdrStore
from ccd.db.engine import create_engine
from ccd.domain.calls import CallChange, CallEnded
from ccd.domain.cdr import CallRecord
from ccd.domain.contract import SimExten, sim_channel
from ccd.settings import parse_settings
from tests.cdrsamples import sample_asterisk_cdr, sample_call
from tests.ports import free_port
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.rig import (
    create_database,
    daemon_environment,
    quiet_sandbox,
    start_ccd,
    stop_process,
)
from tests.system.waiting import eventually

SHORT_CALL = f"channel originate {sim_channel(SimExten.HANGUP_AFTER_2)} application Wait 5"
BRIDGED_CALL = f"channel originate {sim_channel(SimExten.DIAL_ANSWER)} application Wait 1"
OUTAGE_S = 60


@pytest.fixture
async def cdr_database(postgres_cluster: PostgresCluster) -> str:
    """A fresh, migrated database of this test's own."""
    url = await create_database(postgres_cluster)
    await migrate.upgrade(url)
    return url


async def cdr_rows(url: str) -> dict[str, int]:
    """linkedid → number of legs, for every CDR in the database."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await connection.fetch(
            "SELECT c.linkedid, count(l.uniqueid) AS legs FROM cdrs c "
            "LEFT JOIN cdr_legs l ON l.linkedid = c.linkedid GROUP BY c.linkedid"
        )
        return {row["linkedid"]: int(row["legs"]) for row in rows}
    finally:
        await connection.close()


async def asterisk_cdr_linkedids(url: str) -> set[str]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return {row[0] for row in await connection.fetch("SELECT linkedid FROM asterisk_cdrs")}
    finally:
        await connection.close()


async def asterisk_cdr_count(url: str) -> int:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await connection.fetchval("SELECT count(*) FROM asterisk_cdrs"))
    finally:
        await connection.close()


async def originate(sandbox: AsteriskSandbox, command: str) -> None:
    await asyncio.to_thread(sandbox.cli, command)


@dataclass
class Load:
    """Real calls, one started every ``interval_s``, until stopped."""

    sandbox: AsteriskSandbox
    interval_s: float = 1.0
    started: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await originate(self.sandbox, SHORT_CALL)
            self.started += 1
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        # Every call started has ended before anyone counts rows.
        await eventually(
            lambda: not self.sandbox.active_channels(), within_s=15, what="load calls ended"
        )


# ------------------------------------------------------------------ in-process daemon


@dataclass
class InProcess:
    daemon: Daemon
    url: str
    ended: list[str]
    http: aiohttp.ClientSession

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get("/readyz") as response:
            return response.status, await response.json()

    async def drained(self) -> bool:
        return self.daemon.components.cdr_writer.backlog == 0


async def rows_for_every_ended_call(running: InProcess) -> dict[str, int]:
    """The CDR rows once every call the live model saw end has one (the CDR service gets
    each event right after the live model, so the last row may be a moment behind)."""

    async def covered() -> dict[str, int] | None:
        rows = await cdr_rows(running.url)
        return rows if set(running.ended) <= set(rows) else None

    await eventually(covered, within_s=10, what="a CDR row for every ended call")
    rows: dict[str, int] = await cdr_rows(running.url)
    return rows


@pytest.fixture
async def in_process(
    asterisk_sandbox: AsteriskSandbox, cdr_database: str, tmp_path: Path
) -> AsyncIterator[InProcess]:
    await quiet_sandbox(asterisk_sandbox)
    environ = daemon_environment(asterisk_sandbox, tmp_path)
    environ["CCD_DATABASE__URL"] = cdr_database
    environ["CCD_CDR__RETRY_MAX_S"] = "2"  # recovery noticed within 2 s, not the default 10
    settings = parse_settings(None, source="test", environ=environ)
    daemon = Daemon(settings)
    ended: list[str] = []

    def on_change(change: CallChange) -> None:
        if isinstance(change, CallEnded):
            ended.append(change.call.linkedid)

    daemon.components.live.add_listener(on_change)
    await daemon.start()
    try:
        await daemon.components.gateway.wait_resynced(20)
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{daemon.http_port}") as http:
            yield InProcess(daemon=daemon, url=cdr_database, ended=ended, http=http)
    finally:
        await daemon.stop()
        asterisk_sandbox.hangup_all()


async def test_real_calls_give_one_cdr_row_each_with_legs(
    in_process: InProcess, asterisk_sandbox: AsteriskSandbox
) -> None:
    for command in (BRIDGED_CALL, BRIDGED_CALL, SHORT_CALL):
        await originate(asterisk_sandbox, command)
    await eventually(lambda: len(in_process.ended) == 3, within_s=15, what="3 calls ended")
    rows = await rows_for_every_ended_call(in_process)
    assert set(rows) == set(in_process.ended)
    assert len(in_process.ended) == 3
    # dial-answer: Local dial-answer ;1/;2 plus the dialed Local answer ;1/;2.
    assert sorted(rows.values()) == [2, 4, 4]
    await eventually(
        lambda: asterisk_cdr_linkedids(in_process.url),
        within_s=5,
        what="Asterisk's own Cdr events stored",
    )
    assert await asterisk_cdr_linkedids(in_process.url) <= set(rows)
    writer = in_process.daemon.components.cdr_writer
    assert writer.db_healthy
    assert writer.duplicates_skipped == 0
    assert writer.spool.pending == 0


async def test_postgres_down_for_a_minute_loses_and_duplicates_nothing(
    in_process: InProcess,
    asterisk_sandbox: AsteriskSandbox,
    postgres_cluster: PostgresCluster,
) -> None:
    writer = in_process.daemon.components.cdr_writer
    load = Load(asterisk_sandbox)
    load.start()
    await eventually(lambda: len(in_process.ended) >= 2, within_s=15, what="calls before outage")
    await eventually(in_process.drained, within_s=5, what="spool drained before the outage")
    before_outage = len(in_process.ended)

    await asyncio.to_thread(postgres_cluster.stop)
    stopped_at = time.monotonic()
    try:
        await eventually(
            lambda: len(in_process.ended) > before_outage + 1 and writer.backlog > 0,
            within_s=15,
            what="calls ending during the outage, spooled",
        )
        status, problem = await in_process.readiness()
        assert status == 503
        reasons = problem["reasons"]
        assert any(r.startswith("database: ") for r in reasons), reasons
        assert any(
            r.startswith("cdr: ") and "records waiting in the spool" in r and "failing since" in r
            for r in reasons
        ), reasons
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        spooled_in_outage = writer.backlog
        assert spooled_in_outage > 0
        assert not writer.db_healthy
    finally:
        await asyncio.to_thread(postgres_cluster.start)

    await load.stop()
    await eventually(in_process.drained, within_s=20, what="spool drained after the outage")

    async def ready() -> bool:
        status, _ = await in_process.readiness()
        return status == 200

    await eventually(ready, within_s=10, what="/readyz 200 after recovery")
    rows = await rows_for_every_ended_call(in_process)
    ended = in_process.ended
    assert len(ended) == len(set(ended)), "a call ended twice in the live model"
    assert set(rows) == set(ended), {
        "missing": sorted(set(ended) - set(rows)),
        "unexpected": sorted(set(rows) - set(ended)),
    }
    assert len(ended) >= load.started - 1
    assert all(legs == 2 for legs in rows.values()), rows
    assert writer.written >= len(ended)
    assert writer.spool.pending == 0


# ------------------------------------------------------------------ ccd run subprocess


def spooled_lines(spool_dir: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in spool_dir.glob("*.seg"))


def spooled_calls(spool_dir: Path) -> int:
    """Call records in the spool files (Asterisk's own Cdr events are spooled too)."""
    lines = [
        line for path in spool_dir.glob("*.seg") for line in path.read_bytes().split(b"\n") if line
    ]
    return sum(isinstance(parse_line(line)[0], CallRecord) for line in lines)


@pytest.fixture
async def ccd_env(
    asterisk_sandbox: AsteriskSandbox, cdr_database: str, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    await quiet_sandbox(asterisk_sandbox)
    env = {**os.environ, **daemon_environment(asterisk_sandbox, tmp_path / "data")}
    env.update(
        {
            "CCD_HTTP__PORT": str(free_port()),
            "CCD_LOG__FORMAT": "json",
            "CCD_DATABASE__URL": cdr_database,
            "CCD_CDR__RETRY_MAX_S": "1",
            "PYTHONUNBUFFERED": "1",  # log lines must reach the file before a kill -9
        }
    )
    yield env
    asterisk_sandbox.hangup_all()


async def test_kill_9_between_spool_and_database_then_restart_writes_each_call_once(
    ccd_env: dict[str, str],
    asterisk_sandbox: AsteriskSandbox,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
) -> None:
    spool_dir = Path(ccd_env["CCD_DATA_DIR"]) / "spool" / "cdr"
    first = await start_ccd(ccd_env, tmp_path / "first.log")
    try:
        await first.wait_ready()
        await asyncio.to_thread(postgres_cluster.stop)  # records can only reach the spool
        try:
            for _ in range(4):
                await originate(asterisk_sandbox, SHORT_CALL)
            await originate(asterisk_sandbox, BRIDGED_CALL)
            await eventually(
                lambda: len(first.ended_linkedids()) == 5, within_s=15, what="5 calls ended"
            )
            await eventually(
                lambda: spooled_calls(spool_dir) == 5, within_s=5, what="5 records spooled"
            )
            answer = await first.readiness()
            assert answer is not None
            assert answer[0] == 503
            first.process.send_signal(signal.SIGKILL)
            assert await first.process.wait() == -signal.SIGKILL
        finally:
            await asyncio.to_thread(postgres_cluster.start)
    finally:
        await stop_process(first)
    assert await cdr_rows(ccd_env["CCD_DATABASE__URL"]) == {}
    assert spooled_calls(spool_dir) == 5
    spooled_total = spooled_lines(spool_dir)  # plus Asterisk's own Cdr events
    ended = first.ended_linkedids()

    second = await start_ccd(ccd_env, tmp_path / "second.log")
    try:
        await second.wait_ready()
        await eventually(lambda: not list(spool_dir.glob("*.seg")), within_s=10, what="replayed")
        rows = await cdr_rows(ccd_env["CCD_DATABASE__URL"])
        assert set(rows) == ended
        assert sorted(rows.values()) == [2, 2, 2, 2, 4]
        recovered = [e for e in second.log_events() if e.get("event") == "cdr spool recovered"]
        assert recovered
        assert recovered[0]["records"] == spooled_total
        assert await asterisk_cdr_count(ccd_env["CCD_DATABASE__URL"]) == spooled_total - 5
        second.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await second.process.wait() == 0
    finally:
        await stop_process(second)


async def test_sigterm_under_load_exits_cleanly_and_every_record_lands_once(
    ccd_env: dict[str, str], asterisk_sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    url = ccd_env["CCD_DATABASE__URL"]
    spool_dir = Path(ccd_env["CCD_DATA_DIR"]) / "spool" / "cdr"
    first = await start_ccd(ccd_env, tmp_path / "first.log")
    load = Load(asterisk_sandbox, interval_s=0.1)
    try:
        await first.wait_ready()
        load.start()
        await eventually(
            lambda: len(first.ended_linkedids()) >= 10, within_s=30, what="10 calls ended"
        )
        # Calls keep ending while ccd shuts down.
        first.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await first.process.wait()
    finally:
        await load.stop()
        await stop_process(first)
    log = first.log_events()
    assert code == 0, [e for e in log if e.get("level") in ("error", "critical")]
    events = [e["event"] for e in log]
    assert "ccd stopped" in events
    assert "cdr spool drained" in events or any("left in the spool" in event for event in events), (
        events[-10:]
    )
    ended = first.ended_linkedids()
    written_before_restart = set(await cdr_rows(url))
    assert len(written_before_restart) + spooled_calls(spool_dir) >= len(ended)

    second = await start_ccd(ccd_env, tmp_path / "second.log")
    try:
        await second.wait_ready()
        await eventually(lambda: not list(spool_dir.glob("*.seg")), within_s=10, what="drained")
        rows = await cdr_rows(url)
        assert ended <= set(rows), sorted(ended - set(rows))
        assert all(legs == 2 for legs in rows.values()), rows
        second.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await second.process.wait() == 0
    finally:
        await stop_process(second)


async def test_cdr_tables_from_an_older_schema_and_after_downgrade_upgrade(
    postgres_cluster: PostgresCluster,
) -> None:
    url = await create_database(postgres_cluster)
    await migrate.upgrade(url, "0001")  # a database made by the previous ccd release
    await migrate.upgrade(url)
    await migrate.upgrade(url)  # twice: nothing happens
    engine = create_engine(url)
    try:
        store = CdrStore(engine)
        first = await store.insert_batch([sample_call("old-1"), sample_asterisk_cdr("old-1")])
        assert (first.calls_inserted, first.asterisk_cdrs_inserted) == (1, 1)
        again = await store.insert_batch([sample_call("old-1"), sample_asterisk_cdr("old-1")])
        assert again.duplicates == 2
        assert await cdr_rows(url) == {"old-1": 2}
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            row = await connection.fetchrow("SELECT * FROM cdrs")
        finally:
            await connection.close()
        expected = sample_call("old-1")
        assert row["started_at"] == expected.started_at
        assert row["answered_at"] == expected.answered_at
        assert row["caller_name"] == expected.caller_name
        assert row["hold_s"] == expected.hold_s
        assert row["disposition"] == "answered"
        assert row["written_at"] is not None
        assert json.loads(row["ivr_path"]) == [
            {
                "node": "main-menu",
                "entered_at": expected.ivr_path[0].entered_at.isoformat(),
                "digits": "1",
                "variables": {"lang": "en"},
            }
        ]

        await migrate.downgrade(engine, "0001")
        await migrate.upgrade(engine)
        assert await cdr_rows(url) == {}
        await store.insert_batch([sample_call("old-1")])
        assert await cdr_rows(url) == {"old-1": 2}
    finally:
        await engine.dispose()
