"""Recordings over the real API, store and recording service on a SQLite copy: who may
read and play what, HTTP Range playback, the audit row of every playback, PCI pause/resume
and its conflicts, the queue/campaign policy, and retention on a fake clock.

Asterisk's side is ``FakeRecorder``: the recorder operations ccd asked for, in order (the
sandbox test, tests/system/test_recording.py, shows them working on real Asterisk)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.model import Queue
from ccd.api.recordings import RecordingApi
from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore, AuditUnavailable
from ccd.db.dialer_store import DialerStore
from ccd.db.recording_store import RecordingStore
from ccd.dialer.model import Campaign, DialMode
from ccd.domain.audit import AuditEntry, AuditRecord
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    AgentLegStarted,
    AgentRingStarted,
    ChannelHungUp,
    DialEnded,
    DialerAttemptStarted,
    OriginateResponded,
    QueueConnected,
    RecordingStarted,
    ResyncFinished,
)
from ccd.recording.files import recorder_id
from ccd.recording.model import Recording
from ccd.recording.pauses import Pauses
from ccd.recording.places import RecordingPlaces
from ccd.recording.policy import RecordingMode, RecordingPolicy
from ccd.recording.service import LiveChannelRef, RecordingService
from tests.clock import FakeClock
from tests.integration.apifakes import Api, running_api, send, wait_until
from tests.integration.authmatrix import (
    IDENTITIES,
    RECORDED,
    RECORDED_CALL,
    RECORDING_ENDPOINTS,
    call,
    expected_status,
    headers_for,
)

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
OTHERS = "rec-" + "b" * 32  # agent 1002's
AUDIO = bytes(range(256)) * 40  # 10 240 bytes: every byte value, so a range is checkable
CUSTOMER = "PJSIP/trunk-00000001"
AGENT_LEG = "ccd-acd-r1"
RETENTION_DAYS = 30


@dataclass
class FakeRecorder:
    """What ccd asked of Asterisk's recorder, in order; ``refuse`` makes the next fail."""

    calls: list[tuple[object, ...]] = field(default_factory=list)
    refuse: Exception | None = None

    def _take(self, *operation: object) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.calls.append(operation)

    async def start(self, recorder_id: str, target_channel: str, file: str) -> None:
        self._take("start", recorder_id, target_channel, file)

    async def stop(self, recorder_id: str) -> None:
        self._take("stop", recorder_id)

    async def mute(self, recorder_id: str, muted: bool) -> None:
        self._take("mute", recorder_id, muted)


@dataclass
class Rig:
    api: Api
    service: RecordingService
    store: RecordingStore
    audit: AuditStore
    recorder: FakeRecorder
    clock: FakeClock
    directory: Path
    events: list[object]
    channels: dict[str, str]  # the live channels' names by uniqueid


def stored(recording_id: str, agent: str, started_at: datetime) -> Recording:
    return Recording(
        id=recording_id,
        linkedid=f"call-{recording_id[-4:]}",
        channel=CUSTOMER,
        agent_id=agent,
        queue_id="sales",
        campaign_id=None,
        file=recording_id + ".wav",
        started_at=started_at,
        ended_at=started_at + timedelta(minutes=2),
        size_bytes=len(AUDIO),
    )


def snapshot(uniqueid: str, name: str = "") -> ChannelSnapshot:
    return ChannelSnapshot(uniqueid, uniqueid, name or uniqueid, ChannelState.UP)


def hung_up(uniqueid: str) -> ChannelHungUp:
    return ChannelHungUp(at=NOW, channel=snapshot(uniqueid), cause=16, cause_text="Normal")


async def connect(rig: Rig, linkedid: str = RECORDED_CALL, agent: str = "1001") -> Recording:
    """The ACD rings ``agent`` for ``linkedid`` and the agent answers."""
    rig.service.handle(
        AgentRingStarted(
            at=NOW, linkedid=linkedid, leg_linkedid=AGENT_LEG, agent_id=agent, queue="sales"
        )
    )
    rig.service.handle(
        QueueConnected(
            at=NOW, linkedid=linkedid, queue="sales", agent_id=agent, wait_s=3.0, wrapup_s=0.0
        )
    )
    await wait_until(lambda: rig.service.active(linkedid) is not None, what="recording started")
    running = rig.service.active(linkedid)
    assert running is not None
    return running


@asynccontextmanager
async def recording_rig(
    engine: AsyncEngine,
    directory: Path,
    *,
    integrators_may_play: bool = False,
    live_call: bool = True,
    audit: Any = None,
) -> AsyncIterator[Rig]:
    clock = FakeClock(NOW)
    await AcdStore(engine, clock=clock).upsert_queue(Queue(id="sales"))
    await DialerStore(engine, clock=clock).put_campaign(
        Campaign(
            id="spring",
            name="Spring",
            mode=DialMode.PROGRESSIVE,
            caller_id="+12125550100",
            agent_ids=frozenset({"1001"}),
        )
    )
    store = RecordingStore(engine)
    trail = AuditStore(engine, clock)
    for recording in (
        stored(RECORDED, "1001", NOW - timedelta(days=1)),
        stored(OTHERS, "1002", NOW - timedelta(days=2)),
    ):
        await store.add(recording)
        (directory / recording.file).write_bytes(AUDIO)
    recorder = FakeRecorder()
    events: list[object] = []
    channels = {
        RECORDED_CALL: CUSTOMER,
        "1700000300.1": "Local/5550100@ccd-dialer-00000002;1",
        "1700000400.1": "PJSIP/trunk-00000009",
    }
    places = RecordingPlaces.single(
        "default", PurePosixPath("/var/spool/asterisk/monitor/ccd"), directory
    )
    service = RecordingService(
        recorders=lambda server: recorder,
        store=store,
        publish=events.append,
        clock=clock,
        places=places,
        retention_days=RETENTION_DAYS,
        retention_interval_s=3600,
        rng=random.Random(1),
        channel=lambda uniqueid: (
            LiveChannelRef(channels[uniqueid], "default") if uniqueid in channels else None
        ),
    )
    deps = RecordingApi(
        store=store,
        control=service,
        audit=audit if audit is not None else trail,
        places=places,
        integrators_may_play=integrators_may_play,
    )
    async with running_api(recordings=deps) as api:
        rig = Rig(api, service, store, trail, recorder, clock, directory, events, channels)
        if live_call:
            await store.set_policy("queue", "sales", RecordingPolicy(RecordingMode.ALL))
            await connect(rig)
        try:
            yield rig
        finally:
            await service.stop()


async def play(rig: Rig, recording_id: str, role: str = "admin", range_: str | None = None) -> Any:
    headers = rig.api.auth(role)
    if range_ is not None:
        headers["Range"] = range_
    return await rig.api.client.get(f"/api/v1/recordings/{recording_id}", headers=headers)


# ---- who may call what --------------------------------------------------------------


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(RECORDING_ENDPOINTS))
async def test_auth_matrix(route: str, identity: str, engine: AsyncEngine, tmp_path: Path) -> None:
    endpoint = RECORDING_ENDPOINTS[route]
    async with recording_rig(engine, tmp_path) as rig:
        before = list(rig.recorder.calls)
        status = await call(rig.api, endpoint, headers_for(identity))
        assert status == expected_status(endpoint, identity)
        if status in (401, 403):
            assert rig.recorder.calls == before  # a refused caller did nothing to Asterisk
            assert not await rig.audit.search(action="recording.played")


async def test_agent_sees_only_recordings_of_their_own_calls(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        status, body = await send(rig.api, "GET", "/api/v1/recordings", "agent")
        assert status == 200
        assert [r["id"] for r in body["recordings"]] == [RECORDED]
        status, _ = await send(rig.api, "GET", "/api/v1/recordings?agent=1002", "agent")
        assert status == 403
        # Another agent's recording does not exist for them: 404, nothing played or audited.
        status, _ = await send(rig.api, "GET", f"/api/v1/recordings/{OTHERS}/metadata", "agent")
        assert status == 404
        response = await play(rig, OTHERS, "agent")
        assert response.status == 404
        assert not await rig.audit.search(action="recording.played")
        # Supervisors and QA see both, newest first, filterable.
        status, body = await send(rig.api, "GET", "/api/v1/recordings", "qa")
        assert [r["id"] for r in body["recordings"]] == [RECORDED, OTHERS]
        status, body = await send(rig.api, "GET", "/api/v1/recordings?agent=1002", "supervisor")
        assert [r["id"] for r in body["recordings"]] == [OTHERS]
        since = (NOW - timedelta(hours=36)).isoformat()
        status, body = await send(
            rig.api, "GET", f"/api/v1/recordings?since={since.replace('+', '%2B')}", "admin"
        )
        assert [r["id"] for r in body["recordings"]] == [RECORDED]
        status, body = await send(rig.api, "GET", f"/api/v1/recordings?call=call-{'a' * 4}")
        assert [r["id"] for r in body["recordings"]] == [RECORDED]


async def test_integrators_play_only_when_the_setting_allows(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, integrators_may_play=True, live_call=False) as rig:
        response = await play(rig, RECORDED, "integrator")
        assert response.status == 200
        assert await response.read() == AUDIO
        played = await rig.audit.search(action="recording.played")
        assert [(p.actor_role, p.target_id) for p in played] == [("integrator", RECORDED)]
        # Analysts never.
        assert (await play(rig, RECORDED, "analyst")).status == 403


async def test_bad_query_parameters_are_422_naming_them(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        for query, name in (
            ("limit=0", "limit"),
            ("since=2026-12-01T00:00:00", "since"),
            ("color=red", "color"),
            ("agent=1001&agent=1002", "agent"),
        ):
            status, body = await send(rig.api, "GET", f"/api/v1/recordings?{query}")
            assert status == 422, query
            assert name in {e["field"] for e in body["errors"]}, body
        status, _ = await send(rig.api, "GET", "/api/v1/recordings/rec-..%2F..%2Fetc/metadata")
        assert status == 404


# ---- playback -------------------------------------------------------------------------


async def test_full_playback_is_the_file_and_audited(engine: AsyncEngine, tmp_path: Path) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        response = await play(rig, RECORDED, "supervisor")
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/wav"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert await response.read() == AUDIO
        (played,) = await rig.audit.search(action="recording.played")
        assert (played.actor_role, played.actor_token_id) == ("supervisor", "t-sup")
        assert (played.target_kind, played.target_id) == ("recording", RECORDED)
        assert played.detail == {"call_id": f"call-{'a' * 4}", "range": None}


@pytest.mark.parametrize(
    "conditional",
    [
        {"If-None-Match": "*"},
        {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        {"If-Match": '"not-this-file"'},
        {"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"if-none-match": "*", "if-match": '"not-this-file"'},  # names in any case
    ],
)
async def test_conditional_headers_are_ignored_each_playback_is_the_audited_audio(
    conditional: dict[str, str], engine: AsyncEngine, tmp_path: Path
) -> None:
    # Audio is not cached (no-store): a conditional request still plays it, never an
    # empty 304 counted as a playback nor an empty, non-problem 412.
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        headers = {**rig.api.auth("qa"), **conditional}
        response = await rig.api.client.get(f"/api/v1/recordings/{RECORDED}", headers=headers)
        assert response.status == 200
        assert await response.read() == AUDIO
        (played,) = await rig.audit.search(action="recording.played")
        assert (played.actor_role, played.target_id) == ("qa", RECORDED)
        # With a Range as well: the bytes asked for.
        headers["Range"] = "bytes=100-355"
        response = await rig.api.client.get(f"/api/v1/recordings/{RECORDED}", headers=headers)
        assert response.status == 206
        assert await response.read() == AUDIO[100:356]
        assert len(await rig.audit.search(action="recording.played")) == 2


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-355", 100, 355),
        ("bytes=10000-", 10000, len(AUDIO) - 1),
        ("bytes=-16", len(AUDIO) - 16, len(AUDIO) - 1),
        ("bytes=10000-99999", 10000, len(AUDIO) - 1),  # clipped to the end
    ],
)
async def test_range_gives_206_with_exactly_those_bytes(
    range_: str, start: int, end: int, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        response = await play(rig, RECORDED, "qa", range_)
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(AUDIO)}"
        assert await response.read() == AUDIO[start : end + 1]
        (played,) = await rig.audit.search(action="recording.played")
        assert played.detail["range"] == range_


@pytest.mark.parametrize("range_", [f"bytes={len(AUDIO)}-", f"bytes={len(AUDIO) + 5}-99999"])
async def test_unsatisfiable_range_is_416(range_: str, engine: AsyncEngine, tmp_path: Path) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        response = await play(rig, RECORDED, "admin", range_)
        assert response.status == 416
        assert response.headers["Content-Range"] == f"bytes */{len(AUDIO)}"
        assert await response.read() != AUDIO


class BrokenAudit:
    async def record(self, entry: AuditEntry) -> AuditRecord:
        raise AuditUnavailable("audit trail unavailable: down")


async def test_no_playback_without_its_audit_row(engine: AsyncEngine, tmp_path: Path) -> None:
    async with recording_rig(engine, tmp_path, live_call=False, audit=BrokenAudit()) as rig:
        response = await play(rig, RECORDED, "admin")
        assert response.status == 503
        body = await response.read()
        assert AUDIO[:64] not in body
        assert b"audit" in body
        rig.api.statuses.remove(503)  # asked for: the trail is down


async def test_missing_audio_is_404(engine: AsyncEngine, tmp_path: Path) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        (tmp_path / f"{RECORDED}.wav").unlink()
        assert (await play(rig, RECORDED)).status == 404


# ---- retention ------------------------------------------------------------------------


async def test_retention_deletes_old_files_keeps_rows_and_playback_is_410(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        old = stored("rec-" + "c" * 32, "1001", NOW - timedelta(days=RETENTION_DAYS, hours=1))
        await rig.store.add(old)
        (tmp_path / old.file).write_bytes(AUDIO[:1000])
        gone = replace(
            stored("rec-" + "d" * 32, "1001", NOW - timedelta(days=RETENTION_DAYS + 5)),
            ended_at=None,  # ccd stopped mid-call: its end never stored
        )
        await rig.store.add(gone)  # its file is already missing: no failure, no bytes
        with structlog.testing.capture_logs() as logs:
            run = await rig.service.sweep()
        assert (run.deleted, run.bytes_freed, run.failures) == (2, 1000, 0)
        (line,) = [entry for entry in logs if entry["event"] == "recording retention run"]
        assert (line["deleted"], line["bytes_freed"], line["failures"]) == (2, 1000, 0)
        assert not (tmp_path / old.file).exists()
        assert (tmp_path / f"{RECORDED}.wav").exists()  # a day old: kept
        status, meta = await send(rig.api, "GET", f"/api/v1/recordings/{old.id}/metadata")
        assert status == 200
        assert meta["deleted_at"] is not None
        response = await play(rig, old.id)
        assert response.status == 410
        # A second run finds nothing more; a day later the next one ages out.
        assert (await rig.service.sweep()).deleted == 0
        rig.clock.advance(timedelta(days=RETENTION_DAYS - 1, hours=1).total_seconds())
        assert (await rig.service.sweep()).deleted == 2  # now older than 30 days: both
        assert not (tmp_path / f"{RECORDED}.wav").exists()


async def test_retention_runs_on_the_clock(engine: AsyncEngine, tmp_path: Path) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:

        async def deleted() -> int:
            rows = [await rig.store.get(RECORDED), await rig.store.get(OTHERS)]
            return sum(r is not None and r.deleted_at is not None for r in rows)

        rig.service.start()
        await wait_until(lambda: rig.clock.sleepers == 1, what="the first sweep done")
        assert await deleted() == 0
        await rig.clock.step(timedelta(days=RETENTION_DAYS + 2).total_seconds())
        for _ in range(500):
            if await deleted() == 2:
                break
            await asyncio.sleep(0.01)
        assert await deleted() == 2


# ---- recording a call, pause and resume -------------------------------------------------


async def test_connected_queue_call_is_recorded_on_the_customers_channel(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path) as rig:
        running = rig.service.active(RECORDED_CALL)
        assert running is not None
        recorder = recorder_id(running.id)
        assert rig.recorder.calls == [
            ("start", recorder, CUSTOMER, f"/var/spool/asterisk/monitor/ccd/{running.id}.wav")
        ]
        assert (running.agent_id, running.queue_id, running.campaign_id) == ("1001", "sales", None)
        assert rig.events == [
            RecordingStarted(at=NOW, linkedid=RECORDED_CALL, recording_id=running.id)
        ]
        _, body = await send(rig.api, "GET", f"/api/v1/recordings?call={RECORDED_CALL}")
        assert [(r["id"], r["ended_at"]) for r in body["recordings"]] == [(running.id, None)]
        # The agent hangs up: the recorder is stopped; its own hang-up ends the recording.
        rig.service.handle(hung_up(AGENT_LEG))
        await wait_until(lambda: ("stop", recorder) in rig.recorder.calls, what="stopped")
        (tmp_path / f"{running.id}.wav").write_bytes(AUDIO[:2048])
        rig.service.handle(hung_up(recorder))
        assert rig.service.active(RECORDED_CALL) is None
        await wait_until(lambda: rig.clock.sleepers >= 1, what="waiting for the file")
        await rig.clock.step(1.0)

        async def ended() -> Recording | None:
            found = await rig.store.get(running.id)
            return found if found is not None and found.ended_at is not None else None

        for _ in range(500):
            if (finished := await ended()) is not None:
                break
            await asyncio.sleep(0.01)
        assert finished is not None
        assert finished.size_bytes == 2048


async def test_queue_that_records_nothing_starts_no_recorder(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        rig.service.handle(
            QueueConnected(
                at=NOW,
                linkedid=RECORDED_CALL,
                queue="sales",
                agent_id="1001",
                wait_s=1,
                wrapup_s=0,
            )
        )
        for _ in range(50):
            await rig.clock.step(0)
        assert rig.recorder.calls == []
        assert rig.service.active(RECORDED_CALL) is None


async def test_dialer_call_is_recorded_when_the_agent_answers(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        await rig.store.set_policy("campaign", "spring", RecordingPolicy(RecordingMode.ALL))
        customer, leg = "1700000300.1", "1700000300.4"
        service = rig.service
        service.handle(
            DialerAttemptStarted(
                at=NOW, linkedid=customer, campaign_id="spring", contact_id="c1", attempt_id="a1"
            )
        )
        service.handle(AgentLegStarted(at=NOW, linkedid=customer, uniqueid=leg, agent_id="1001"))
        service.handle(
            DialEnded(at=NOW, caller=snapshot(customer), destination=snapshot(leg), status="ANSWER")
        )
        await wait_until(lambda: service.active(customer) is not None, what="recorded")
        running = service.active(customer)
        assert running is not None
        assert (running.agent_id, running.campaign_id, running.queue_id) == ("1001", "spring", None)
        assert rig.recorder.calls[0][:3] == (
            "start",
            recorder_id(running.id),
            "Local/5550100@ccd-dialer-00000002;1",
        )


async def test_dialer_agent_answering_before_its_leg_is_announced_is_recorded(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """On Asterisk the agent's Dial can end (answered at once) before the dialer's
    AgentLegStarted for it reaches the bus."""
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        await rig.store.set_policy("campaign", "spring", RecordingPolicy(RecordingMode.ALL))
        customer, leg = "1700000300.1", "1700000300.4"
        service = rig.service
        service.handle(
            DialerAttemptStarted(
                at=NOW, linkedid=customer, campaign_id="spring", contact_id="c1", attempt_id="a1"
            )
        )
        agent_leg = ChannelSnapshot(leg, customer, "Local/1001@ccd-agents-0001;1", ChannelState.UP)
        service.handle(
            DialEnded(at=NOW, caller=snapshot(customer), destination=agent_leg, status="ANSWER")
        )
        service.handle(AgentLegStarted(at=NOW, linkedid=customer, uniqueid=leg, agent_id="1001"))
        await wait_until(lambda: service.active(customer) is not None, what="recorded")


async def test_after_a_restart_running_recordings_are_followed_and_gone_ones_ended(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A ccd stopped mid-call left two recordings without an end: one whose recorder still
    runs on Asterisk, one whose recorder is gone. The resync after the AMI connect sorts
    them out."""
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        running = replace(
            stored("rec-" + "e" * 32, "1001", NOW - timedelta(minutes=3)),
            linkedid=RECORDED_CALL,
            ended_at=None,
            size_bytes=None,
        )
        gone = replace(
            stored("rec-" + "f" * 32, "1002", NOW - timedelta(minutes=9)),
            ended_at=None,
            size_bytes=None,
        )
        for recording in (running, gone):
            await rig.store.add(recording)
        (tmp_path / gone.file).write_bytes(AUDIO[:500])
        # The running one's recorder is a live channel; the other one's is not.
        rig.channels[recorder_id(running.id)] = "Local/s@ccd-recording-hold-0000000a;1"
        rig.service.handle(ResyncFinished(at=NOW, channel_count=3))
        await wait_until(lambda: rig.service.active(RECORDED_CALL) is not None, what="adopted")
        status, body = await send(rig.api, "POST", f"/api/v1/calls/{RECORDED_CALL}/recording/pause")
        assert (status, body["id"], body["paused"]) == (200, running.id, True)
        assert rig.recorder.calls == [("mute", recorder_id(running.id), True)]
        await wait_until(lambda: rig.clock.sleepers >= 1, what="waiting for the file")
        await rig.clock.step(1.0)
        for _ in range(500):
            ended = await rig.store.get(gone.id)
            if ended is not None and ended.ended_at is not None:
                break
            await asyncio.sleep(0.01)
        assert ended is not None
        assert (ended.ended_at, ended.size_bytes) == (NOW, 500)


async def test_recorder_that_never_ran_ends_the_recording(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path) as rig:
        running = rig.service.active(RECORDED_CALL)
        assert running is not None
        rig.service.handle(
            OriginateResponded(
                at=NOW,
                action_id=recorder_id(running.id),
                success=False,
                reason=0,
                channel="",
                uniqueid="",
            )
        )
        assert rig.service.active(RECORDED_CALL) is None
        status, _ = await send(rig.api, "POST", f"/api/v1/calls/{RECORDED_CALL}/recording/pause")
        assert status == 409


async def test_pause_and_resume_are_idempotent_and_shown_in_the_metadata(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path) as rig:
        running = rig.service.active(RECORDED_CALL)
        assert running is not None
        recorder = recorder_id(running.id)
        path = f"/api/v1/calls/{RECORDED_CALL}/recording"
        rig.clock.advance(5)
        for _ in range(2):
            status, body = await send(rig.api, "POST", f"{path}/pause", "agent")
            assert status == 200
            assert body["paused"] is True
            assert body["pauses"] == [{"start": "2026-12-06T10:00:05.000Z", "end": None}]
        rig.clock.advance(20)
        for _ in range(2):
            status, body = await send(rig.api, "POST", f"{path}/resume", "supervisor")
            assert status == 200
            assert body["paused"] is False
        expected = [{"start": "2026-12-06T10:00:05.000Z", "end": "2026-12-06T10:00:25.000Z"}]
        assert body["pauses"] == expected
        # Asterisk was asked once each way, on the recorder.
        assert rig.recorder.calls[1:] == [("mute", recorder, True), ("mute", recorder, False)]
        status, meta = await send(rig.api, "GET", f"/api/v1/recordings/{running.id}/metadata")
        assert meta["pauses"] == expected


async def test_pause_conflicts_and_refusals(engine: AsyncEngine, tmp_path: Path) -> None:
    async with recording_rig(engine, tmp_path) as rig:
        # No recording running on that call: 409.
        status, body = await send(rig.api, "POST", "/api/v1/calls/1700000999.1/recording/pause")
        assert status == 409
        assert "no recording" in body["detail"]
        # Another agent's call: 403.
        await connect(rig, linkedid="1700000400.1", agent="1002")
        status, _ = await send(
            rig.api, "POST", "/api/v1/calls/1700000400.1/recording/pause", "agent"
        )
        assert status == 403
        # Unsafe ids are 422 before anything reaches Asterisk.
        status, _ = await send(rig.api, "POST", "/api/v1/calls/x%0Dy/recording/pause")
        assert status == 422
        # Asterisk refuses the mute: 503, the pause not recorded.
        rig.recorder.refuse = ConnectionError("AMI down")
        status, _ = await send(rig.api, "POST", f"/api/v1/calls/{RECORDED_CALL}/recording/pause")
        assert status == 503
        rig.api.statuses.remove(503)
        running = rig.service.active(RECORDED_CALL)
        assert running is not None
        assert running.pauses == Pauses()


# ---- policy ---------------------------------------------------------------------------


async def test_policy_defaults_to_none_and_is_validated(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        status, body = await send(rig.api, "GET", "/api/v1/campaigns/spring/recording")
        assert (status, body) == (200, {"mode": "none"})
        body_ok = {"mode": "percent", "percent": 25}
        status, body = await send(
            rig.api, "PUT", "/api/v1/campaigns/spring/recording", body=body_ok
        )
        assert (status, body) == (200, body_ok)
        status, body = await send(rig.api, "GET", "/api/v1/campaigns/spring/recording")
        assert body == body_ok
        for bad, name in (
            ({"mode": "percent", "percent": 150}, "percent"),
            ({"mode": "sometimes"}, "mode"),
            ({"mode": "all", "percent": 5}, "percent"),
            ({"mode": "all\r\nAction: Originate"}, "mode"),
        ):
            status, body = await send(rig.api, "PUT", "/api/v1/queues/sales/recording", body=bad)
            assert status == 422, bad
            assert name in {e["field"] for e in body["errors"]}, body
        status, _ = await send(rig.api, "PUT", "/api/v1/queues/nope/recording", body=body_ok)
        assert status == 404
        status, _ = await send(rig.api, "GET", "/api/v1/campaigns/nope/recording")
        assert status == 404
        status, body = await send(rig.api, "GET", "/api/v1/queues/sales/recording")
        assert body == {"mode": "none"}  # unchanged by the refused writes
        # Writing the queue's other settings (API PUT, TOML seed: an upsert) keeps its policy.
        await rig.store.set_policy("queue", "sales", RecordingPolicy(RecordingMode.ALL))
        await AcdStore(engine).upsert_queue(Queue(id="sales", wrapup_s=5))
        status, body = await send(rig.api, "GET", "/api/v1/queues/sales/recording")
        assert body == {"mode": "all"}


# ---- the audit trail of changes -------------------------------------------------------


async def test_pause_and_resume_are_audited_with_the_silenced_interval(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path) as rig:
        running = rig.service.active(RECORDED_CALL)
        assert running is not None
        path = f"/api/v1/calls/{RECORDED_CALL}/recording"
        rig.clock.advance(5)
        assert (await send(rig.api, "POST", f"{path}/pause", "agent"))[0] == 200
        assert (await send(rig.api, "POST", f"{path}/pause", "agent"))[0] == 200
        rig.clock.advance(20)
        assert (await send(rig.api, "POST", f"{path}/resume", "supervisor"))[0] == 200
        # Refused: no recording on that call; nothing is audited for it.
        assert (await send(rig.api, "POST", "/api/v1/calls/1700000999.1/recording/pause"))[0] == 409
    trail = list(reversed(await rig.audit.search(target_kind="recording")))
    assert [(r.action, r.actor_token_id, r.target_id) for r in trail] == [
        ("recording.paused", "t-agent", running.id),
        ("recording.paused", "t-agent", running.id),
        ("recording.resumed", "t-sup", running.id),
    ]
    paused, again, resumed = (r.detail for r in trail)
    opened = {"start": "2026-12-06T10:00:05.000Z", "end": None}
    closed = {"start": "2026-12-06T10:00:05.000Z", "end": "2026-12-06T10:00:25.000Z"}
    assert paused == {
        "call_id": RECORDED_CALL,
        "recording_id": running.id,
        "interval": opened,
        "before": {"paused": False},
        "after": {"paused": True, "pauses": [opened]},
    }
    # Asked again while paused: recorded, and the trail shows it changed nothing.
    assert (again["before"], again["after"]["paused"]) == ({"paused": True}, True)
    assert resumed["interval"] == closed
    assert (resumed["before"], resumed["after"]) == (
        {"paused": True},
        {"paused": False, "pauses": [closed]},
    )


async def test_a_pause_the_trail_cannot_take_is_applied_and_answered_503(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # PCI: the customer's card number must not be recorded, whatever the database does.
    async with recording_rig(engine, tmp_path, audit=BrokenAudit()) as rig:
        path = f"/api/v1/calls/{RECORDED_CALL}/recording/pause"
        status, problem = await send(rig.api, "POST", path, "agent")
        assert status == 503
        rig.api.statuses.remove(503)
        assert "paused" in problem["detail"]
        assert "audit" in problem["detail"]
        running = rig.service.active(RECORDED_CALL)
        assert running is not None
        assert running.pauses.paused
        assert rig.recorder.calls[-1] == ("mute", recorder_id(running.id), True)


async def test_policy_changes_are_audited_with_before_and_after(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        body = {"mode": "percent", "percent": 25}
        campaign = "/api/v1/campaigns/spring/recording"
        assert (await send(rig.api, "PUT", campaign, "supervisor", body))[0] == 200
        path = "/api/v1/queues/sales/recording"
        assert (await send(rig.api, "PUT", path, body={"mode": "all"}))[0] == 200
        # Refused writes change nothing and are not audited.
        assert (await send(rig.api, "PUT", path, body={"mode": "sometimes"}))[0] == 422
        assert (await send(rig.api, "PUT", "/api/v1/queues/nope/recording", body=body))[0] == 404
    trail = list(reversed(await rig.audit.search(action="recording_policy.set")))
    assert [(r.actor_role, r.target_kind, r.target_id, r.detail) for r in trail] == [
        ("supervisor", "campaign", "spring", {"before": {"mode": "none"}, "after": body}),
        ("admin", "queue", "sales", {"before": {"mode": "none"}, "after": {"mode": "all"}}),
    ]


@pytest.mark.parametrize("range_", ["bytes=abc", "bytes=9-2", f"bytes={len(AUDIO)}-"])
async def test_a_range_that_selects_nothing_is_a_416_problem_and_plays_nothing(
    range_: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with recording_rig(engine, tmp_path, live_call=False) as rig:
        response = await play(rig, RECORDED, "admin", range_)
        assert response.status == 416
        assert response.content_type == "application/problem+json"
        assert response.headers["Content-Range"] == f"bytes */{len(AUDIO)}"
        assert (await response.json())["status"] == 416
        assert not await rig.audit.search(action="recording.played")
