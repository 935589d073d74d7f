"""The running recorder: starts MixMonitor on the customer's channel when an agent is
connected, pauses and resumes it for PCI, ends it with the agent's leg, and deletes
recordings past retention.

When an agent is connected:
- ccd's ACD: ``QueueConnected`` (the agent answered; the agent's channel is the one
  ``AgentRingStarted`` named for that call and agent);
- the dialer: the agent's Dial leg (``AgentLegStarted``) answered (``DialEnded`` ANSWER),
  in the campaign ``DialerAttemptStarted`` named for that call.
The queue's or campaign's policy (``ccd.recording.policy``) decides; a recorded call gets
a recorder (``Recorder.start``: a channel of ccd's running MixMonitor into
``<recording id>.wav`` and ChanSpy on the customer's channel — the channel whose uniqueid
is the call's linkedid: the caller's channel, the dialer's customer leg), a row in
``recordings``, and ``RecordingStarted`` on the bus (its CDR's ``recording_ref``).

The recording ends when its recorder hangs up: ccd hangs it up when the agent's channel
does (what follows, a survey or another queue, is not this agent's conversation); ChanSpy
ends it with the customer's channel; an Originate that failed never started it. Its end,
pauses and file size are then stored. One recording per call at a time.

Several Asterisk servers: ChanSpy hears only channels of its own server, and MixMonitor
writes on that server's file system. So the recorder is originated on the server of the
customer's channel (the agent's is on the same one: queues and campaigns are per server),
its pause and hang-up go there, the row stores the server, and the file is read from
that server's place (``ccd.recording.places``). A resync of one server settles only the
recordings made on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from ccd.clock import Clock
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
from ccd.recording.files import (
    asterisk_path,
    file_name,
    local_path,
    new_recording_id,
    recorder_id,
)
from ccd.recording.model import Recording
from ccd.recording.places import RecordingPlaces
from ccd.recording.policy import should_record
from ccd.recording.ports import Recorder, RecordingRepository

log = structlog.get_logger("ccd.recording")

TRACKED_LIMIT = 10_000  # calls remembered for a connect that may follow (bounded)
ANSWER = "ANSWER"
# MixMonitor closes the file on its own thread after the recorder hangs up: the size is
# read this long after.
FILE_SETTLE_S = 1.0


class LiveChannelRef(NamedTuple):
    """A live channel as the recorder needs it: its name and its server."""

    name: str
    server: str


class NoRecording(Exception):
    """The call has no recording running."""


class NotYourCall(Exception):
    """An agent asked about a call that is not theirs."""


@dataclass(frozen=True, slots=True)
class RetentionRun:
    deleted: int
    bytes_freed: int
    failures: int


@dataclass(slots=True)
class _Active:
    recording: Recording
    agent_leg: str | None

    @property
    def recorder(self) -> str:
        return recorder_id(self.recording.id)


class RecordingService:
    def __init__(
        self,
        *,
        recorders: Callable[[str], Recorder],
        store: RecordingRepository,
        publish: Callable[[object], None],
        clock: Clock,
        places: RecordingPlaces,
        retention_days: int,
        retention_interval_s: float,
        rng: random.Random,
        channel: Callable[[str], LiveChannelRef | None],
    ) -> None:
        self._recorders_of = recorders  # a server's recorder, by server name
        self._store = store
        self._publish = publish
        self._clock = clock
        self.places = places
        self._retention = timedelta(days=retention_days)
        self._retention_interval_s = retention_interval_s
        self._rng = rng
        self._channel = channel  # a live channel's name and server, by uniqueid
        self._rings: dict[tuple[str, str], str] = {}  # (linkedid, agent) -> agent channel
        self._campaigns: dict[str, str] = {}  # dialer linkedid -> campaign
        self._dialer_legs: dict[str, tuple[str, str]] = {}  # agent leg -> (linkedid, agent)
        self._answered_legs: dict[str, bool] = {}  # dialer calls' answered Dial legs
        self._active: dict[str, _Active] = {}  # linkedid -> running recording
        self._recorders: dict[str, str] = {}  # recorder channel uniqueid -> linkedid
        self._starting: set[str] = set()
        self._ended_legs: set[str] = set()  # agent legs that hung up while starting
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retention_task: asyncio.Task[None] | None = None

    # ---- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._retention_task = asyncio.create_task(self._retention_loop(), name="ccd-retention")

    async def stop(self) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def active(self, linkedid: str) -> Recording | None:
        running = self._active.get(linkedid)
        return running.recording if running is not None else None

    # ---- the bus -------------------------------------------------------------------

    def handle(self, event: object) -> None:
        """Bus subscriber."""
        match event:
            case AgentRingStarted(linkedid=linkedid, agent_id=agent_id, leg_linkedid=leg):
                self._remember(self._rings, (linkedid, agent_id), leg)
            case QueueConnected(linkedid=linkedid, agent_id=agent_id, queue=queue):
                ringed = self._rings.pop((linkedid, agent_id), None)
                self._connected(linkedid, agent_id, ringed, kind="queue", target=queue)
            case DialerAttemptStarted(linkedid=linkedid, campaign_id=campaign_id):
                self._remember(self._campaigns, linkedid, campaign_id)
            case AgentLegStarted(linkedid=linkedid, uniqueid=leg, agent_id=agent_id):
                self._remember(self._dialer_legs, leg, (linkedid, agent_id))
                # The dialer publishes this on the Dial's start, which reaches the bus
                # after the Dial's end when the agent answers at once.
                if self._answered_legs.pop(leg, False):
                    self._agent_answered(leg)
            case DialEnded(destination=destination, status=status) if status == ANSWER:
                if destination.uniqueid in self._dialer_legs:
                    self._agent_answered(destination.uniqueid)
                elif destination.linkedid in self._campaigns:
                    self._remember(self._answered_legs, destination.uniqueid, True)
            case ChannelHungUp(channel=channel):
                self._hung_up(channel.uniqueid)
            case OriginateResponded(action_id=action_id, success=False):
                self._recorder_gone(action_id)
            case ResyncFinished(server=server):
                self._spawn(self._reconcile(self.places.server_name(server)), "reconcile")

    def _agent_answered(self, leg: str) -> None:
        linkedid, agent_id = self._dialer_legs[leg]
        campaign = self._campaigns.get(linkedid)
        if campaign is not None:
            self._connected(linkedid, agent_id, leg, kind="campaign", target=campaign)

    def _remember(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        if len(table) > TRACKED_LIMIT:
            del table[next(iter(table))]

    def _connected(
        self, linkedid: str, agent_id: str, agent_leg: str | None, *, kind: str, target: str
    ) -> None:
        if linkedid in self._active or linkedid in self._starting:
            return
        self._starting.add(linkedid)
        self._spawn(self._start(linkedid, agent_id, agent_leg, kind, target), "start")

    async def _start(
        self, linkedid: str, agent_id: str, agent_leg: str | None, kind: str, target: str
    ) -> None:
        bound = log.bind(linkedid=linkedid, agent=agent_id, **{kind: target})
        try:
            policy = await self._store.policy(kind, target)
            if policy is None or not should_record(policy, self._rng):
                return
            customer = self._channel(linkedid)
            if customer is None:
                bound.warning("recording not started: the customer's channel is gone")
                return
            server = self.places.server_name(customer.server)
            place = self.places.of(server)
            if place is None:
                bound.warning(
                    "recording not started: no recording_dir for this server", server=server
                )
                return
            recording_id = new_recording_id()
            name = file_name(recording_id)
            recorder = recorder_id(recording_id)
            self._recorders[recorder] = linkedid
            await self._recorders_of(server).start(
                recorder, customer.name, asterisk_path(place.asterisk_dir, name)
            )
            recording = Recording(
                id=recording_id,
                linkedid=linkedid,
                channel=customer.name,
                agent_id=agent_id,
                queue_id=target if kind == "queue" else None,
                campaign_id=target if kind == "campaign" else None,
                file=name,
                started_at=self._clock.now(),
                server=server,
            )
            await self._store.add(recording)
            self._active[linkedid] = _Active(recording, agent_leg)
            self._publish(
                RecordingStarted(
                    at=recording.started_at, linkedid=linkedid, recording_id=recording_id
                )
            )
            bound.info("recording started", recording=recording_id, file=name, server=server)
        except Exception as exc:
            bound.warning("recording not started", error=str(exc) or type(exc).__name__)
            return
        finally:
            self._starting.discard(linkedid)
        if agent_leg is not None and agent_leg in self._ended_legs:
            self._ended_legs.discard(agent_leg)
            self._hung_up(agent_leg)

    def _hung_up(self, uniqueid: str) -> None:
        self._dialer_legs.pop(uniqueid, None)
        self._answered_legs.pop(uniqueid, None)
        self._campaigns.pop(uniqueid, None)
        if uniqueid in self._recorders:
            self._recorder_gone(uniqueid)
            return
        for running in self._active.values():
            if running.agent_leg == uniqueid:
                # The agent left: stop recording; the recorder's hang-up ends it.
                self._spawn(self._stop(running), "stop")
                return
        if self._starting:
            self._remember_ended(uniqueid)

    def _recorder_gone(self, recorder: str) -> None:
        linkedid = self._recorders.pop(recorder, None)
        if linkedid is None:
            return
        running = self._active.pop(linkedid, None)
        if running is not None:
            self._spawn(self._finish(running), "finish")

    async def _reconcile(self, server: str) -> None:
        """After every AMI (re)connect of ``server``, once its live channels are
        Asterisk's: a recording made on it whose end is not stored and that ccd does not
        follow (a ccd restart) is followed again while its recorder runs (pause works; it
        ends with the customer), and ended now when its recorder is gone (hung up while
        ccd could not see it). Other servers' recordings wait for their own resync."""
        try:
            unfinished = await self._store.unfinished()
        except Exception as exc:
            log.warning("unfinished recordings not read", error=str(exc))
            return
        for recording in unfinished:
            if self.places.server_name(recording.server) != server:
                continue
            recorder = recorder_id(recording.id)
            if recorder in self._recorders or recording.linkedid in self._starting:
                continue
            running = _Active(recording, agent_leg=None)
            if self._channel(recorder) is not None:
                self._recorders[recorder] = recording.linkedid
                self._active.setdefault(recording.linkedid, running)
                log.info("recording followed again", recording=recording.id)
            else:
                self._spawn(self._finish(running), "finish")

    async def _stop(self, running: _Active) -> None:
        recorder = running.recorder
        try:
            await self._recorder_of(running.recording).stop(recorder)
        except Exception as exc:  # gone already (the customer hung up too): nothing to stop
            log.debug("recorder not hung up", recorder=recorder, error=str(exc))

    def _recorder_of(self, recording: Recording) -> Recorder:
        return self._recorders_of(self.places.server_name(recording.server))

    def _local_path(self, recording: Recording) -> Path | None:
        place = self.places.of(recording.server)
        return None if place is None else local_path(place.local_dir, recording.file)

    def _remember_ended(self, uniqueid: str) -> None:
        self._ended_legs.add(uniqueid)
        if len(self._ended_legs) > TRACKED_LIMIT:
            self._ended_legs.pop()

    async def _finish(self, running: _Active) -> None:
        recording = running.recording
        ended_at = self._clock.now()
        await self._clock.sleep(FILE_SETTLE_S)
        path = self._local_path(recording)
        size = None if path is None else await asyncio.to_thread(_size, path)
        finished = replace(
            recording, ended_at=ended_at, pauses=recording.pauses.closed(ended_at), size_bytes=size
        )
        try:
            await self._store.save(finished)
        except Exception as exc:
            log.warning("recording end not stored", recording=recording.id, error=str(exc))
            return
        log.info(
            "recording ended",
            recording=recording.id,
            linkedid=recording.linkedid,
            size_bytes=size,
            pauses=len(finished.pauses.intervals),
        )

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=f"ccd-recording-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- PCI pause -----------------------------------------------------------------

    async def pause(self, linkedid: str, *, agent_id: str | None = None) -> Recording:
        """Mute the call's running recording (already paused: unchanged). ``agent_id``:
        the asking agent, who must be the call's. Raises ``NoRecording``, ``NotYourCall``,
        or the recorder's error."""
        return await self._set_paused(linkedid, True, agent_id)

    async def resume(self, linkedid: str, *, agent_id: str | None = None) -> Recording:
        return await self._set_paused(linkedid, False, agent_id)

    async def _set_paused(self, linkedid: str, paused: bool, agent_id: str | None) -> Recording:
        running = self._active.get(linkedid)
        if running is None:
            raise NoRecording(linkedid)
        if agent_id is not None and running.recording.agent_id != agent_id:
            raise NotYourCall(linkedid)
        recording = running.recording
        now = self._clock.now()
        pauses, changed = recording.pauses.pause(now) if paused else recording.pauses.resume(now)
        if not changed:
            return recording
        await self._recorder_of(recording).mute(running.recorder, paused)
        updated = replace(recording, pauses=pauses)
        running.recording = updated
        await self._store.save(updated)
        log.info(
            "recording paused" if paused else "recording resumed",
            recording=recording.id,
            linkedid=linkedid,
            agent=recording.agent_id,
        )
        return updated

    # ---- retention -----------------------------------------------------------------

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:
                log.warning("recording retention failed", error=str(exc))
            await self._clock.sleep(self._retention_interval_s)

    async def sweep(self) -> RetentionRun:
        """Delete every recording that started longer than retention ago: file removed, row
        marked deleted (kept: CDRs refer to it). One log line per run."""
        now = self._clock.now()
        cutoff = now - self._retention
        deleted = freed = failures = 0
        while True:
            batch = await self._store.expired(cutoff)
            progress = 0
            for recording in batch:
                path = self._local_path(recording)
                try:
                    if path is None:
                        raise FileNotFoundError(
                            f"no recording_dir for server {recording.server!r} (configure it)"
                        )
                    size = await asyncio.to_thread(_remove, path)
                    await self._store.save(replace(recording, deleted_at=now))
                except Exception as exc:
                    failures += 1
                    log.warning("recording not deleted", recording=recording.id, error=str(exc))
                    continue
                deleted += 1
                progress += 1
                freed += size
            if not batch or not progress:
                break
        log.info(
            "recording retention run",
            deleted=deleted,
            bytes_freed=freed,
            failures=failures,
            older_than=cutoff.isoformat(),
        )
        return RetentionRun(deleted, freed, failures)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _remove(path: Path) -> int:
    """Bytes freed; a file already gone frees nothing (and is no failure)."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size
