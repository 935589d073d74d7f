"""Recording with two Asterisk servers: the real RecordingService, AmiRecorder and
RecordingStore (SQLite) and the API's playback, over two in-memory AMIs that record what
ccd asks of each server. A call on ``west`` is recorded by west (ChanSpy hears only its
own server's channels), paused there, read from west's directory, and only a resync of
west settles it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.model import Queue
from ccd.ami.actions import HangupAction, OriginateAction
from ccd.ami.recording import AmiRecorder
from ccd.api.recordings import RecordingApi
from ccd.app import build
from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from ccd.db.recording_store import RecordingStore
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    AgentRingStarted,
    ChannelHungUp,
    QueueConnected,
    ResyncFinished,
)
from ccd.recording.files import recorder_id
from ccd.recording.model import Recording
from ccd.recording.places import RecordingPlace, RecordingPlaces
from ccd.recording.policy import RecordingMode, RecordingPolicy
from ccd.recording.service import LiveChannelRef, RecordingService
from ccd.settings import parse_settings
from tests.clock import FakeClock
from tests.integration.actionami import ActionAmi
from tests.integration.apifakes import running_api, send, wait_until

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WEST_CALL = "west-1765098000.7"
WEST_CUSTOMER = "PJSIP/trunk-0000000b"
AGENT_LEG = "ccd-acd-w1"
AUDIO = b"RIFF" + bytes(range(256)) * 8


@dataclass
class Rig:
    service: RecordingService
    store: RecordingStore
    servers: dict[str, ActionAmi]
    dirs: dict[str, Path]
    channels: dict[str, LiveChannelRef]
    places: RecordingPlaces
    clock: FakeClock


async def ended(rig: Rig, recording_id: str) -> Recording:
    """The recording once its end is stored (the file's size is read a settle time after
    the recorder hung up: the fake clock is stepped past it)."""
    await wait_until(lambda: rig.clock.sleepers >= 1, what="waiting for the file")
    await rig.clock.step(1.0)
    for _ in range(500):
        found = await rig.store.get(recording_id)
        if found is not None and found.ended_at is not None:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"the end of {recording_id} was not stored")


@asynccontextmanager
async def two_servers(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Rig]:
    clock = FakeClock(NOW)
    await AcdStore(engine, clock=clock).upsert_queue(Queue(id="sales"))
    store = RecordingStore(engine)
    await store.set_policy("queue", "sales", RecordingPolicy(RecordingMode.ALL))
    servers = {"east": ActionAmi(), "west": ActionAmi()}
    dirs = {name: tmp_path / name for name in servers}
    for directory in dirs.values():
        directory.mkdir()
    places = RecordingPlaces(
        "east",
        {
            "east": RecordingPlace(PurePosixPath("/var/spool/asterisk/monitor/ccd"), dirs["east"]),
            "west": RecordingPlace(PurePosixPath("/srv/west-recordings"), dirs["west"]),
        },
    )
    recorders = {name: AmiRecorder(ami) for name, ami in servers.items()}
    channels = {WEST_CALL: LiveChannelRef(WEST_CUSTOMER, "west")}
    service = RecordingService(
        recorders=recorders.__getitem__,
        store=store,
        publish=lambda event: None,
        clock=clock,
        places=places,
        retention_days=90,
        retention_interval_s=3600,
        rng=random.Random(1),
        channel=channels.get,
    )
    try:
        yield Rig(service, store, servers, dirs, channels, places, clock)
    finally:
        await service.stop()


def connect_west_call(rig: Rig) -> None:
    rig.service.handle(
        AgentRingStarted(
            at=NOW, linkedid=WEST_CALL, leg_linkedid=AGENT_LEG, agent_id="1001", queue="sales"
        )
    )
    rig.service.handle(
        QueueConnected(
            at=NOW, linkedid=WEST_CALL, queue="sales", agent_id="1001", wait_s=2.0, wrapup_s=0.0
        )
    )


async def started(rig: Rig) -> Recording:
    await wait_until(lambda: rig.service.active(WEST_CALL) is not None, what="recording")
    running = rig.service.active(WEST_CALL)
    assert running is not None
    return running


def hung_up(uniqueid: str, server: str) -> ChannelHungUp:
    snapshot = ChannelSnapshot(uniqueid, uniqueid, uniqueid, ChannelState.UP, server=server)
    return ChannelHungUp(at=NOW, channel=snapshot, cause=16, cause_text="Normal")


async def test_a_west_call_is_recorded_paused_and_played_from_west(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with two_servers(engine, tmp_path) as rig:
        connect_west_call(rig)
        recording = await started(rig)
        recorder = recorder_id(recording.id)
        # The recorder is originated on west, into west's own directory; east is untouched.
        [originate] = rig.servers["west"].actions
        assert isinstance(originate, OriginateAction)
        assert originate.channel_id == recorder
        assert originate.variables["CCD_RECORDING_TARGET"] == WEST_CUSTOMER
        assert originate.variables["CCD_RECORDING_FILE"] == f"/srv/west-recordings/{recording.file}"
        assert rig.servers["east"].actions == []
        stored = await rig.store.get(recording.id)
        assert stored is not None
        assert stored.server == "west"

        # PCI pause and resume go to west.
        await rig.service.pause(WEST_CALL)
        await rig.service.resume(WEST_CALL)
        mutes = [a for a in rig.servers["west"].actions if isinstance(a, dict)]
        assert [(m["Action"], m["Channel"], m["State"]) for m in mutes] == [
            ("MixMonitorMute", recorder, "1"),
            ("MixMonitorMute", recorder, "0"),
        ]
        assert rig.servers["east"].actions == []

        # The agent leaves: west hangs the recorder up; its file's size is read from west.
        (rig.dirs["west"] / recording.file).write_bytes(AUDIO)
        rig.service.handle(hung_up(AGENT_LEG, "west"))
        await wait_until(
            lambda: HangupAction(recorder) in rig.servers["west"].actions, what="recorder stop"
        )
        rig.service.handle(hung_up(recorder, "west"))
        assert (await ended(rig, recording.id)).size_bytes == len(AUDIO)
        assert rig.servers["east"].actions == []

        # Playback reads west's directory (east's has no such file).
        deps = RecordingApi(
            store=rig.store,
            control=rig.service,
            audit=AuditStore(engine),
            places=rig.places,
            integrators_may_play=False,
        )
        async with running_api(recordings=deps) as api:
            response = await api.client.get(
                f"/api/v1/recordings/{recording.id}", headers=api.auth("supervisor")
            )
            assert response.status == 200
            assert await response.read() == AUDIO
            status, body = await send(api, "GET", f"/api/v1/recordings/{recording.id}/metadata")
            assert status == 200
            assert (body["size_bytes"], body["server"]) == (len(AUDIO), "west")


async def test_only_a_resync_of_the_recordings_server_settles_it(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with two_servers(engine, tmp_path) as rig:
        connect_west_call(rig)
        recording = await started(rig)
        # ccd restarts: a new service knows nothing of the running recording.
        await rig.service.stop()
        rig.service = RecordingService(
            recorders={n: AmiRecorder(a) for n, a in rig.servers.items()}.__getitem__,
            store=rig.store,
            publish=lambda event: None,
            clock=rig.clock,
            places=rig.places,
            retention_days=90,
            retention_interval_s=3600,
            rng=random.Random(1),
            channel=rig.channels.get,  # the recorder's channel is gone (not live)
        )
        # An east recording cut off by the same restart, its recorder still running on east.
        east = replace(
            recording,
            id="rec-" + "e" * 32,
            linkedid="east-1765097000.3",
            file="rec-" + "e" * 32 + ".wav",
            started_at=NOW - timedelta(minutes=1),
            server="east",
        )
        await rig.store.add(east)
        rig.channels[recorder_id(east.id)] = LiveChannelRef("Local/s@ccd-recording-hold", "east")
        # east resyncs: its recording is followed again; the west one (whose recorder is
        # not live) is none of its business and is left running.
        rig.service.handle(ResyncFinished(at=NOW, channel_count=1, server="east"))
        await wait_until(lambda: rig.service.active(east.linkedid) is not None, what="adopted")
        for _ in range(10):
            await asyncio.sleep(0)  # a finish spawned by the same pass would be waiting now
        assert rig.clock.sleepers == 0  # nothing is being ended
        still = await rig.store.get(recording.id)
        assert still is not None
        assert still.ended_at is None
        # west resyncs without the recorder: the recording is ended now.
        rig.service.handle(ResyncFinished(at=NOW, channel_count=0, server="west"))
        assert (await ended(rig, recording.id)).ended_at == NOW


async def test_a_server_without_a_recording_directory_records_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with two_servers(engine, tmp_path) as rig:
        rig.service.places = RecordingPlaces("east", {**rig.places.places, "west": None})
        connect_west_call(rig)
        await rig.service.stop()
        assert rig.service.active(WEST_CALL) is None
        assert rig.servers["west"].actions == []
        assert rig.servers["east"].actions == []


async def test_the_daemon_reads_each_servers_recordings_from_its_own_directory(
    tmp_path: Path,
) -> None:
    toml = """
[recording]
asterisk_dir = "/var/spool/asterisk/monitor/ccd"
dir = "/srv/east/monitor"

[monitor]
devices = ["PJSIP/*"]

[[asterisk]]
name = "east"

[[asterisk]]
name = "west"
recording_dir = "/srv/west/monitor"
recording_asterisk_dir = "/var/spool/ccd"
monitor_devices = ["PJSIP/2*"]
"""
    environ = {"CCD_AMI__SECRET": "s", "CCD_DATA_DIR": str(tmp_path)}
    components = build(parse_settings(toml, source=str(tmp_path / "ccd.toml"), environ=environ))
    places = components.recording.places
    assert places.of("east") == RecordingPlace(
        PurePosixPath("/var/spool/asterisk/monitor/ccd"), Path("/srv/east/monitor")
    )
    assert places.of("west") == RecordingPlace(
        PurePosixPath("/var/spool/ccd"), Path("/srv/west/monitor")
    )
    devices = components.monitors.devices
    assert devices.servers_of("PJSIP/2001") == ("east", "west")
    assert devices.servers_of("PJSIP/1001") == ("east",)
