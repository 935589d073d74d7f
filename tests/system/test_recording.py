"""Call recording on the real Asterisk sandbox and real PostgreSQL.

A caller (Local channel; its ``;2`` half plays music on hold: the customer's voice) waits in
ccd's ACD queue ``sales`` recorded at 100 %; sim agent 1001 answers and talks. ccd starts
MixMonitor on the caller's channel at the connect, the agent pauses it for a while (PCI),
the agent hangs up: the wav (read from the chroot, where Asterisk wrote it) holds sound,
with silence over the pause; the CDR in PostgreSQL points at the recording; playback with
a Range gives exactly those bytes and is audited.
"""

from __future__ import annotations

import array
import asyncio
import io
import math
import os
import uuid
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from ccd.acd.model import Queue, Strategy
from ccd.domain.auth import Role
from tests.system import acdrig
from tests.system.acdrig import acd_daemon, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.dialerrig import CAMPAIGN, PERSON, add_contacts, dialer_daemon, number
from tests.system.rig import daemon_environment
from tests.system.waiting import eventually

AGENT = sim_agent("1001")
SANDBOX_ROOT = Path(os.environ.get("CCD_SANDBOX_ROOT", "/var/cache/ccd/asterisk-root"))
WINDOW_S = 0.1
QUIET_RMS = 20.0  # of 32767: MixMonitor writes zeros while muted
SOUND_RMS = 200.0  # music on hold


@pytest.fixture
def recording_dirs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[PurePosixPath, Path]]:
    """A directory of this test's own inside the sandbox (Asterisk's view, ccd's view),
    given to the daemon the ACD rig starts through its environment."""
    inside = PurePosixPath(f"/var/spool/asterisk/monitor/ccd-test-{uuid.uuid4().hex[:8]}")
    outside = SANDBOX_ROOT / str(inside).lstrip("/")
    outside.mkdir(parents=True)

    def with_recording(sandbox: AsteriskSandbox, data_dir: Path) -> dict[str, str]:
        return daemon_environment(sandbox, data_dir) | {
            "CCD_RECORDING__ASTERISK_DIR": str(inside),
            "CCD_RECORDING__DIR": str(outside),
        }

    monkeypatch.setattr(acdrig, "daemon_environment", with_recording)
    yield inside, outside
    for file in outside.iterdir():
        file.unlink()
    outside.rmdir()


def rms_windows(audio: bytes) -> tuple[int, list[float]]:
    """The wav's sample rate and the RMS of each ``WINDOW_S`` window."""
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    step = int(rate * WINDOW_S)
    windows = [samples[i : i + step] for i in range(0, len(samples) - step + 1, step)]
    return rate, [math.sqrt(sum(s * s for s in w) / len(w)) for w in windows]


def longest_run(profile: str, mark: str) -> tuple[int, int]:
    """Where the longest run of ``mark`` starts in ``profile``, and its length."""
    best = (0, 0)
    start = None
    for i, char in enumerate(profile + "\0"):
        if char == mark and start is None:
            start = i
        elif char != mark and start is not None:
            best = max(best, (start, i - start), key=lambda run: run[1])
            start = None
    return best


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def test_queued_call_recorded_paused_played_and_referenced_by_its_cdr(
    asterisk_sandbox: AsteriskSandbox,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
    recording_dirs: tuple[PurePosixPath, Path],
) -> None:
    _, outside = recording_dirs
    sales = Queue(id="sales", strategy=Strategy.LONGEST_IDLE, ring_timeout_s=5, wrapup_s=1)
    url = await acd_database(postgres_cluster, config([sales], [AGENT], {AGENT.id: ["sales"]}))
    async with acd_daemon(asterisk_sandbox, url, tmp_path, talk_s=7) as run:
        admin = await run.token(Role.ADMIN)
        status, body = await run.api(
            "PUT", "/api/v1/queues/sales/recording", admin, {"mode": "percent", "percent": 100}
        )
        assert (status, body) == (200, {"mode": "percent", "percent": 100})
        agent = await run.token(Role.AGENT, AGENT.id)
        status, body = await run.api("POST", f"/api/v1/agents/{AGENT.id}/login", agent)
        assert status in (200, 204), body

        caller = await run.caller("sales")
        await eventually(lambda: run.connected(), within_s=20, what="the agent connected")
        recordings = await eventually(
            lambda: _recordings(run, admin, caller), within_s=10, what="a recording listed"
        )
        recording = recordings[0]
        assert (recording["agent_id"], recording["queue"]) == ("1001", "sales")
        # Nothing to pause for another agent; the call's own agent pauses, twice is once.
        other = await run.token(Role.AGENT, "1002")
        status, _ = await run.api("POST", f"/api/v1/calls/{caller}/recording/pause", other)
        assert status == 403
        await asyncio.sleep(1.5)
        for _ in range(2):
            status, body = await run.api("POST", f"/api/v1/calls/{caller}/recording/pause", agent)
            assert status == 200, body
            assert body["paused"] is True
        await asyncio.sleep(2.5)
        status, body = await run.api("POST", f"/api/v1/calls/{caller}/recording/resume", agent)
        assert (status, body["paused"]) == (200, False), body

        await run.settled(within_s=30)  # the agent hung up after talk_s, then the caller

        async def ended() -> dict[str, Any] | None:
            status, meta = await run.api(
                "GET", f"/api/v1/recordings/{recording['id']}/metadata", admin
            )
            assert status == 200, meta
            return meta if meta["ended_at"] is not None else None

        meta = await eventually(ended, within_s=10, what="the recording ended")
        assert len(meta["pauses"]) == 1
        pause = meta["pauses"][0]
        assert 2.0 <= seconds_between(pause["start"], pause["end"]) <= 4.0
        # The status code after the agent left: no recording running any more.
        status, _ = await run.api("POST", f"/api/v1/calls/{caller}/recording/pause", admin)
        assert status == 409

        file = outside / f"{recording['id']}.wav"
        audio = await eventually(
            lambda: file.is_file() and file.stat().st_size > 44 and file.read_bytes(),
            within_s=10,
            what="the wav written",
        )
        assert meta["size_bytes"] == len(audio)
        rate, windows = rms_windows(audio)
        assert rate == 8000
        # The file's clock is its samples, not the wall: find the pause as the longest
        # silent run, as long as the pause lasted, with the customer heard before and after.
        profile = "".join(
            "." if rms < QUIET_RMS else "#" if rms > SOUND_RMS else "-" for rms in windows
        )
        first, length = longest_run(profile, ".")
        pause_s = seconds_between(pause["start"], pause["end"])
        assert abs(length * WINDOW_S - pause_s) < 0.8, (pause_s, profile)
        assert len(profile[:first].replace(".", "")) >= 3, profile
        assert profile[first + length :].count("#") >= 10, profile
        cdr = await run.cdr(caller)
        assert cdr is not None
        assert cdr["recording_ref"] == recording["id"]

        headers = {"Authorization": f"Bearer {admin}", "Range": "bytes=44-143"}
        async with run.http.get(f"/api/v1/recordings/{recording['id']}", headers=headers) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 44-143/{len(audio)}"
            assert await r.read() == audio[44:144]
        headers["Range"] = f"bytes={len(audio) + 10}-"
        async with run.http.get(f"/api/v1/recordings/{recording['id']}", headers=headers) as r:
            assert r.status == 416
        played = await run.daemon.components.audit.search(action="recording.played")
        # The 416 played nothing, so it is not a playback in the trail.
        assert [p.detail["range"] for p in played] == ["bytes=44-143"]
        assert {p.detail["call_id"] for p in played} == {caller}


async def test_dialer_call_with_recording_all_is_recorded(
    asterisk_sandbox: AsteriskSandbox,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
    recording_dirs: tuple[PurePosixPath, Path],
) -> None:
    _, outside = recording_dirs
    async with dialer_daemon(
        asterisk_sandbox, postgres_cluster, tmp_path, agents=[AGENT], talk_s=3
    ) as dialer:
        run = dialer.run
        status, body = await run.api(
            "PUT", f"/api/v1/campaigns/{CAMPAIGN}/recording", dialer.admin, {"mode": "all"}
        )
        assert (status, body) == (200, {"mode": "all"})
        await add_contacts(run.database_url, [number(PERSON, 1)])
        token = await dialer.login(AGENT.id)
        await dialer.action("start")
        (attempt,) = await dialer.ended(1)
        assert attempt["outcome"] == "answered"
        call_id = attempt["action_id"]
        status, body = await run.api(
            "POST",
            f"/api/v1/campaigns/{CAMPAIGN}/dispositions",
            token,
            {"attempt_id": attempt["id"], "disposition": "sale"},
        )
        assert status in (200, 204), body
        await run.settled(within_s=30)

        async def ended() -> list[dict[str, Any]] | None:
            found = await _recordings(run, dialer.admin, call_id)
            return found if found and found[0]["ended_at"] is not None else None

        (recording,) = await eventually(ended, within_s=10, what="the recording ended")
        assert (recording["agent_id"], recording["campaign_id"]) == (AGENT.id, CAMPAIGN)
        assert recording["queue"] is None
        file = outside / f"{recording['id']}.wav"
        assert file.stat().st_size == recording["size_bytes"]
        rate, windows = rms_windows(file.read_bytes())
        assert rate == 8000
        assert len(windows) * WINDOW_S > 1.5  # the conversation, not an empty file
        cdr = await run.cdr(call_id)
        assert cdr is not None
        assert cdr["recording_ref"] == recording["id"]
        assert cdr["campaign_id"] == CAMPAIGN


async def _recordings(run: acdrig.AcdRun, token: str, caller: str) -> list[dict[str, object]]:
    status, body = await run.api("GET", f"/api/v1/recordings?call={caller}", token)
    assert status == 200, body
    found: list[dict[str, object]] = body["recordings"]
    return found
