"""Recording and live monitoring on two real Asterisk servers (sandbox instances ``east``
and ``west``, each its own chroot, ports and ``systemname``) with ccd's ACD per server.

A caller waits in queue ``sales`` (recorded at 100 %) on west; sim agent 1001, whose
device is on west, answers through ccd's ACD. The recording is made by west — ChanSpy
hears only its own server's channels — into west's own file system: the file is read
from west's root (``[[asterisk]] recording_dir``), holds sound (the caller's hold music),
and plays through the API; nothing lands in east's. A supervisor listening to that call is
rung on west (``[[asterisk]] monitor_devices``: the simulated supervisors' phones are
west's), where ChanSpy runs on the agent's channel; east carries none of it.
"""

from __future__ import annotations

import array
import io
import math
import uuid
import wave
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from ccd.acd.model import Queue, Strategy
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.acdrig import acd_database, config, sim_agent
from tests.system.conftest import PostgresCluster
from tests.system.multiserverrig import MultiServerRun, Sandboxes, multi_server_daemon
from tests.system.waiting import eventually

AGENT = sim_agent("1001")
SOUND_RMS = 200.0  # of 32767: the caller's hold music (MixMonitor writes zeros in silence)
TALK_S = 5


@pytest.fixture
def recording_dirs(two_sandboxes: Sandboxes) -> Iterator[tuple[PurePosixPath, dict[str, Path]]]:
    """A directory of this test's own inside each instance: the same path as Asterisk sees
    it, and each instance's own as ccd reads it (under that instance's root)."""
    inside = PurePosixPath(f"/var/spool/asterisk/monitor/ccd-test-{uuid.uuid4().hex[:8]}")
    outside = {
        name: two_sandboxes[name].root / str(inside).lstrip("/") for name in two_sandboxes.names
    }
    for directory in outside.values():
        directory.mkdir(parents=True)
    yield inside, outside
    for directory in outside.values():
        for file in directory.iterdir():
            file.unlink()
        directory.rmdir()


def loud_windows(audio: bytes) -> int:
    """How many 0.1 s windows of the wav are louder than ``SOUND_RMS``."""
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        step = wav.getframerate() // 10
        samples = array.array("h", wav.readframes(wav.getnframes()))
    windows = [samples[i : i + step] for i in range(0, len(samples) - step + 1, step)]
    return sum(math.sqrt(sum(s * s for s in w) / len(w)) > SOUND_RMS for w in windows)


def spying_channels(run: MultiServerRun, server: str, device: str) -> list[tuple[str, str]]:
    """(extension, ChanSpy's argument) of ``device``'s channels running ChanSpy on
    ``server``."""
    found = []
    for line in run.sandboxes[server].cli("core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 6 and fields[0].startswith(device) and fields[5] == "ChanSpy":
            found.append((fields[2], fields[6]))
    return found


async def test_a_west_call_is_recorded_and_monitored_on_west(
    two_sandboxes: Sandboxes,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
    recording_dirs: tuple[PurePosixPath, dict[str, Path]],
) -> None:
    inside, outside = recording_dirs
    sales = Queue(id="sales", strategy=Strategy.LONGEST_IDLE, ring_timeout_s=5, wrapup_s=1)
    on_west = replace(AGENT, server="west")
    url = await acd_database(postgres_cluster, config([sales], [on_west], {AGENT.id: ["sales"]}))
    # west is the last [[asterisk]] table: these keys are its own.
    assert two_sandboxes.names[-1] == "west"
    west_keys = (
        f'recording_dir = "{outside["west"]}"\n'
        f'monitor_devices = ["Local/*@{contract.MONITOR_SIM_CONTEXT}"]\n'
    )
    settings_env = {
        "CCD_RECORDING__ASTERISK_DIR": str(inside),
        "CCD_RECORDING__DIR": str(outside["east"]),
    }
    async with multi_server_daemon(
        two_sandboxes,
        postgres_cluster,
        tmp_path,
        database_url=url,
        settings_env=settings_env,
        toml=west_keys,
    ) as run:
        await run.set_global("west", contract.VAR_SIM_TALK_S, str(TALK_S))
        status, body = await run.api(
            "PUT", "/api/v1/queues/sales/recording", {"mode": "percent", "percent": 100}
        )
        assert status == 200, body
        agent_token = await run.token(Role.AGENT, AGENT.id)
        status, body = await run.api("POST", f"/api/v1/agents/{AGENT.id}/login", token=agent_token)
        assert status in (200, 204), body

        caller = await run.caller_in_queue("west", "sales")

        async def recording_listed() -> dict[str, Any] | None:
            status, body = await run.api("GET", f"/api/v1/recordings?call={caller}")
            assert status == 200, body
            return body["recordings"][0] if body["recordings"] else None

        recording = await eventually(recording_listed, within_s=20, what="a recording listed")
        assert (recording["server"], recording["agent_id"]) == ("west", AGENT.id)
        # West's Asterisk runs the recorder: its channel is there, not on east.
        recorder = f"{contract.RECORDER_CHANNEL_PREFIX}{recording['id']}"
        assert (await run.live_call(recorder))["server"] == "west"

        # A supervisor listens: the device is rung on west, ChanSpy on the agent's channel.
        supervisor = await run.token(Role.SUPERVISOR)
        device = f"Local/voice-sup{uuid.uuid4().hex[:6]}@{contract.MONITOR_SIM_CONTEXT}"
        status, session = await run.api(
            "POST",
            f"/api/v1/calls/{caller}/monitor",
            {"device": device, "mode": "listen"},
            token=supervisor,
        )
        assert status == 201, session
        spied = await eventually(
            lambda: spying_channels(run, "west", device), within_s=10, what="ChanSpy on west"
        )
        assert spied == [("listen", f"{session['agent_channel']},qES")]
        assert spying_channels(run, "east", device) == []
        assert (await run.live_call(f"ccd-mon-{session['id']}"))["server"] == "west"
        status, ended = await run.api(
            "DELETE", f"/api/v1/monitors/{session['id']}", token=supervisor
        )
        assert (status, ended["reason"]) == (200, "stopped")

        await run.settled(within_s=30)  # the agent hangs up after TALK_S, then the caller

        async def finished() -> dict[str, Any] | None:
            status, meta = await run.api("GET", f"/api/v1/recordings/{recording['id']}/metadata")
            assert status == 200, meta
            return meta if meta["ended_at"] is not None else None

        meta = await eventually(finished, within_s=10, what="the recording ended")
        file = outside["west"] / f"{recording['id']}.wav"
        assert meta["size_bytes"] == file.stat().st_size > 44
        assert list(outside["east"].iterdir()) == []
        audio = file.read_bytes()
        assert loud_windows(audio) >= 10  # at least a second of the caller's music

        headers = {"Authorization": f"Bearer {await run.token(Role.ADMIN)}"}
        async with run.http.get(f"/api/v1/recordings/{recording['id']}", headers=headers) as got:
            assert got.status == 200
            assert await got.read() == audio
