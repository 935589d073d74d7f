"""The running ACD: the pure ``AcdEngine`` wired to Asterisk, the waiting callers'
FastAGI sessions, the database and the bus.

Everything the engine decides comes back as commands, executed here:
``RingAgent`` → ``Originate Channel=<agent> Application=Bridge Data=<caller>,F(...)`` with a
``ChannelId`` chosen by ccd (so the agent's channel is known before it exists);
``CancelRing`` → ``Hangup`` of that channel; ``Overflow`` → the waiting session sets
``CCD_QUEUE_ACTION`` and ends; ``PlaceCallback`` → an Originate to the customer. What
Asterisk reports goes back into the engine: ``OriginateResponse`` (answered, no answer,
busy), the caller's ``Hangup`` while waiting (abandon), the agent channel's ``Hangup``
(call over). Every agent transition is appended to the session log and pushed on the
websocket.

Engine time is epoch seconds (``clock.now().timestamp()``), so callers' join times and
agent states carry over a restart: waiting callers come back by themselves (the dialplan
runs the AGI again with their original join time) and agents' states are read back from
the session log.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

import structlog

from ccd.acd.engine import (
    AcdEngine,
    AcdError,
    AgentAnswered,
    AgentBusy,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentStateChanged,
    AgentUnpaused,
    AutoPauseAgent,
    CallbackDropped,
    CallbackFailed,
    CallbackRequested,
    CallEnded,
    CallerAbandoned,
    CallerConnected,
    CallerJoined,
    CallerLeft,
    CallerMoved,
    CancelRing,
    Command,
    Event,
    Overflow,
    PlaceCallback,
    QueuesConfigured,
    ResetDailyStats,
    RingAgent,
    Tick,
)
from ccd.acd.model import AgentState, AgentStatus, WaitingCaller
from ccd.acd.seed import AcdConfig
from ccd.acd.targets import (
    CallbackTarget,
    HangupTarget,
    QueueTarget,
    TransferTarget,
    VoicemailTarget,
    parse_target,
)
from ccd.acd.waiting import Arrival, Leave, QueueRefused, Ticket
from ccd.ami import contract
from ccd.ami.protocol import AmiActionFailed, AmiConnectionLost, AmiNotConnected
from ccd.ami.safety import UnsafeAmiValue
from ccd.api.ports import AcdRefused
from ccd.clock import Clock
from ccd.db.acd_store import SessionEntry
from ccd.domain.events import (
    AgentRingStarted,
    ChannelHungUp,
    OriginateResponded,
    QueueConnected,
    QueueEntered,
    QueueExit,
    QueueLeft,
    ResyncFinished,
)

log = structlog.get_logger("ccd.acd")

AGENT_CHANNEL_PREFIX = "ccd-acd-"
"""Uniqueids ccd gives the agent channels it originates (Originate ChannelId)."""
TICK_S = 0.25
SESSION_FLUSH_S = 0.5
SESSION_LOG_LIMIT = 50_000
# Originate failure reasons (Asterisk's AST_CONTROL_*): busy and congestion mean the
# device cannot take a call now — skip the agent without counting a no-answer.
_BUSY_REASONS = frozenset({0, 5, 8})
_CALLBACK_NUMBER = re.compile(r"\+?[0-9]{2,20}")
HANGUP_RETRY_S = 2.0
# An Originate this old whose channel is not live after a resync is not coming.
ORIGINATE_SETTLE_S = 2.0


class AcdAmi(Protocol):
    async def originate(self, fields: Mapping[str, str]) -> str: ...

    def originate_now(self, fields: Mapping[str, str]) -> asyncio.Task[str]:
        """Write the Originate before returning; the task resolves once it is queued."""
        ...

    async def send_action(
        self, fields: Mapping[str, str], *, as_list: Literal[False], timeout_s: float | None = None
    ) -> dict[str, str]: ...


class AcdConfigSource(Protocol):
    async def load(self) -> AcdConfig: ...

    async def append_sessions(self, rows: Sequence[SessionEntry]) -> None: ...

    async def latest_sessions(self) -> dict[str, SessionEntry]: ...


@dataclass(slots=True)
class _Ring:
    agent_id: str
    call_id: str
    action_id: str
    channel_id: str  # the agent channel's uniqueid (Originate ChannelId)
    created: float = 0.0
    sent: asyncio.Task[None] | None = None
    cancelled: bool = False
    hung_up: bool = False  # its Hangup arrived before the OriginateResponse


@dataclass(frozen=True, slots=True)
class _CallBack:
    call_id: str  # the waiting call it is for
    channel_id: str  # the customer leg's uniqueid (Originate ChannelId)
    created: float


@dataclass(slots=True)
class _Caller:
    arrival: Arrival
    queue_id: str
    joined_at: float
    ticket: Ticket | None = None
    # An instruction for a caller with no session at this moment (between AGI retries).
    pending: Leave | None = None


class AcdService:
    def __init__(
        self,
        *,
        ami: AcdAmi,
        store: AcdConfigSource,
        publish: Callable[[object], None],
        on_message: Callable[[dict[str, Any]], None],
        clock: Clock,
        interface_busy: Callable[[str], bool] = lambda _interface: False,
        live_channels: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._ami = ami
        self._store = store
        self._publish = publish
        self._on_message = on_message
        self._clock = clock
        self._interface_busy = interface_busy
        # uniqueid -> channel name of every channel Asterisk has (the live model, right
        # after a resync): settles what a dropped AMI connection hid.
        self._live_channels = live_channels
        self.engine = AcdEngine({})
        self._config = AcdConfig()
        self._callers: dict[str, _Caller] = {}
        self._by_uniqueid: dict[str, str] = {}  # caller uniqueid -> call id
        self._rings: dict[str, _Ring] = {}  # action id -> ring
        self._ring_of: dict[tuple[str, str], _Ring] = {}  # (agent, call) -> ring
        self._agent_channels: dict[str, str] = {}  # answered agent channel uniqueid -> agent
        self._ring_channels: dict[str, _Ring] = {}  # ringing agent channel uniqueid -> ring
        self._callbacks: dict[str, _CallBack] = {}  # by the call back's Originate ActionID
        # Answered call backs whose customer has not reached the queue yet: uniqueid -> call.
        self._callbacks_answered: dict[str, str] = {}
        self._session_rows: list[SessionEntry] = []
        self._pending_events: deque[Event] = deque()
        self._applying = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._today: date | None = None
        self.started = False

    # ---- lifetime ----------------------------------------------------------------

    async def start(self) -> None:
        """Load the configuration, bring back logged-in agents, start the clock."""
        await self.reload_config()
        latest = await self._store.latest_sessions()
        restored = 0
        for agent_id, entry in sorted(latest.items()):
            agent = self._config.agents.get(agent_id)
            if agent is None or entry.status == AgentStatus.LOGGED_OUT.value:
                continue
            queue_ids = frozenset(entry.queue_ids) & self._config.queues.keys()
            state = AgentState(
                AgentStatus(entry.status),
                since=entry.at.timestamp(),
                reason=entry.reason,
                call_id=entry.call_id,
            )
            # An agent on a call stays on it until the resync shows whether its channel
            # is still up (see _reconcile_calls).
            self._apply(AgentLoggedIn(agent, queue_ids, restore=state))
            restored += 1
        self._today = self._local_today()
        self._loops = [
            asyncio.create_task(self._tick_loop(), name="ccd-acd-tick"),
            asyncio.create_task(self._session_log_loop(), name="ccd-acd-session-log"),
        ]
        self.started = True
        log.info(
            "acd started",
            queues=len(self._config.queues),
            agents=len(self._config.agents),
            agents_restored=restored,
        )

    async def stop(self) -> None:
        self.started = False
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)
        await self._flush_session_log()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                today = self._local_today()
                if today != self._today:
                    self._today = today
                    self._apply(ResetDailyStats())
                self._apply(Tick())
            except Exception:
                # One bad tick must not stop the clock (ring timeouts, wrap-up, max wait).
                log.exception("acd tick failed")

    async def _session_log_loop(self) -> None:
        while True:
            await asyncio.sleep(SESSION_FLUSH_S)
            await self._flush_session_log()

    async def _flush_session_log(self) -> None:
        rows, self._session_rows = self._session_rows, []
        if not rows:
            return
        try:
            await self._store.append_sessions(rows)
        except asyncio.CancelledError:
            # Stopping mid-write: keep the rows for stop()'s final flush.
            self._session_rows = rows + self._session_rows
            raise
        except Exception as exc:
            # Kept and retried; bounded so a long outage cannot exhaust memory.
            self._session_rows = (rows + self._session_rows)[-SESSION_LOG_LIMIT:]
            log.warning("agent session log not written, will retry", rows=len(rows), error=str(exc))

    def _local_today(self) -> date:
        return self._clock.now().astimezone().date()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    # ---- the engine loop ---------------------------------------------------------

    def _apply(self, event: Event) -> None:
        """Feed the engine and execute what it decides. Commands may feed further
        events (e.g. a busy device); they are queued, never handled re-entrantly."""
        self._pending_events.append(event)
        if self._applying:
            return
        self._applying = True
        try:
            while self._pending_events:
                next_event = self._pending_events.popleft()
                for command in self.engine.handle(next_event, self._now()):
                    try:
                        self._execute(command)
                    except Exception:
                        # One command failing (a bug, a full disk) must not drop the others
                        # the engine decided in the same step.
                        log.exception("acd command failed", command=type(command).__name__)
        finally:
            self._applying = False
            self._pending_events.clear()

    def _execute(self, command: Command) -> None:
        match command:
            case RingAgent():
                self._ring(command)
            case CancelRing(agent_id=agent_id, call_id=call_id):
                self._cancel_ring(agent_id, call_id)
            case AgentStateChanged():
                self._agent_changed(command)
            case CallerConnected(call_id=call_id, agent_id=agent_id, waited_s=waited_s):
                self._connected(call_id, agent_id, waited_s)
            case Overflow():
                self._overflow(command)
            case CallerMoved(call_id=call_id, from_queue=from_queue, to_queue=to_queue):
                caller = self._callers.get(call_id)
                if caller is not None:
                    caller.queue_id = to_queue
                log.info("queue caller moved", call_id=call_id, frm=from_queue, to=to_queue)
                self._message("queue.caller_moved", call_id=call_id, to_queue=to_queue)
            case CallerAbandoned(call_id=call_id, waited_s=waited_s):
                log.info("queue caller abandoned", call_id=call_id, waited_s=round(waited_s, 1))
                self._forget_caller(call_id)
                self._message("queue.caller_abandoned", call_id=call_id, waited_s=waited_s)
            case PlaceCallback():
                self._spawn(self._place_callback(command), "callback")
            case CallbackDropped(call_id=call_id, reason=reason):
                log.info("call back given up", call_id=call_id, reason=reason)
                self._forget_caller(call_id)
            case AutoPauseAgent(agent_id=agent_id, reason=reason):
                log.warning("agent auto-paused", agent_id=agent_id, reason=reason)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=f"ccd-acd-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- ringing agents ----------------------------------------------------------

    def _ring(self, command: RingAgent) -> None:
        caller = self._callers.get(command.call_id)
        if self._interface_busy(command.interface):
            # On a call ccd did not place: skipped (the engine offers them again later).
            log.info("agent device busy, skipped", agent_id=command.agent_id)
            self._apply(AgentBusy(command.agent_id, command.call_id))
            return
        ring = _Ring(
            agent_id=command.agent_id,
            call_id=command.call_id,
            action_id=f"ccd-acd-ring-{uuid.uuid4().hex}",
            channel_id=f"{AGENT_CHANNEL_PREFIX}{uuid.uuid4().hex}",
            created=self._now(),
        )
        self._rings[ring.action_id] = ring
        self._ring_of[(ring.agent_id, ring.call_id)] = ring
        self._ring_channels[ring.channel_id] = ring
        queue_id = caller.queue_id if caller is not None else ""
        fields = {
            "ActionID": ring.action_id,
            "Channel": command.interface,
            "Application": "Bridge",
            # F(...): when the agent hangs up first, the caller leaves the bridge for
            # ccd-queue-after instead of falling back into the waiting loop.
            "Data": f"{command.caller_channel},F({contract.QUEUE_AFTER_CONTEXT}^s^1)",
            "Timeout": str(int(command.timeout_s * 1000)),
            "ChannelId": ring.channel_id,
            "OtherChannelId": ring.channel_id + "-2",
            "Variable": ",".join(
                f"{name}={value}"
                for name, value in (
                    (contract.VAR_ACD_CALL, command.call_id),
                    (contract.VAR_ACD_AGENT, command.agent_id),
                    (contract.VAR_QUEUE, queue_id),
                )
            ),
        }
        if caller is not None and caller.arrival.caller_num:
            name = caller.arrival.caller_name.replace('"', "")
            fields["CallerID"] = f'"{name}" <{caller.arrival.caller_num}>'
        log.info("ringing agent", agent_id=ring.agent_id, call_id=ring.call_id, queue=queue_id)
        if caller is not None:
            # Before the Originate is written, so before any event of the agent's channels:
            # they are legs of the caller's call, not a call of their own.
            self._publish(
                AgentRingStarted(
                    at=self._clock.now(),
                    linkedid=caller.arrival.linkedid,
                    leg_linkedid=ring.channel_id,
                    agent_id=ring.agent_id,
                    queue=queue_id,
                )
            )
        try:
            # Written now, in this loop iteration: join → ring is not delayed behind
            # whatever else the loop has queued (the AMI burst of the caller's arrival).
            queued = self._ami.originate_now(fields)
        except Exception as exc:
            self._ring_not_sent(ring, exc)
            return
        ring.sent = self._spawn(self._ring_queued(ring, queued), "ring")

    async def _ring_queued(self, ring: _Ring, queued: asyncio.Task[str]) -> None:
        try:
            await queued
        except Exception as exc:
            self._ring_not_sent(ring, exc)

    def _ring_not_sent(self, ring: _Ring, exc: Exception) -> None:
        log.warning("agent originate failed", agent_id=ring.agent_id, error=str(exc) or "")
        nothing_written = isinstance(exc, AmiNotConnected | UnsafeAmiValue) and not isinstance(
            exc, AmiConnectionLost
        )
        if nothing_written:
            # Nothing was written: nothing can ring.
            self._rings.pop(ring.action_id, None)
            self._ring_channels.pop(ring.channel_id, None)
        else:
            # Written but unanswered (connection lost, timeout): Asterisk may ring the
            # agent anyway. Keep the ring known as cancelled — a late success is hung
            # up — and try to end it now.
            ring.cancelled = True
            self._spawn(self._hangup(ring.channel_id, attempts=3), "cancel")
        if self._ring_of.get((ring.agent_id, ring.call_id)) is ring:
            del self._ring_of[(ring.agent_id, ring.call_id)]
            # Not the agent's fault: skipped for now, offered again shortly.
            self._apply(AgentBusy(ring.agent_id, ring.call_id))

    def _cancel_ring(self, agent_id: str, call_id: str) -> None:
        ring = self._ring_of.pop((agent_id, call_id), None)
        if ring is None:
            return
        ring.cancelled = True
        self._spawn(self._hang_up_ring(ring), "cancel")

    async def _hang_up_ring(self, ring: _Ring) -> None:
        if ring.sent is not None:
            with contextlib.suppress(Exception):
                await ring.sent
        await self._hangup(ring.channel_id)

    async def _hangup(self, channel: str, attempts: int = 1) -> None:
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(HANGUP_RETRY_S)
            try:
                await self._ami.send_action(
                    {"Action": "Hangup", "Channel": channel, "Cause": "16"}, as_list=False
                )
                return
            except AmiActionFailed:
                return  # no such channel (gone already): nothing left to do
            except Exception as exc:
                log.debug("hangup not applied", channel=channel, error=str(exc))

    def _connected(self, call_id: str, agent_id: str, waited_s: float) -> None:
        ring = self._ring_of.pop((agent_id, call_id), None)
        if ring is not None:
            self._ring_channels.pop(ring.channel_id, None)
            if ring.hung_up:
                # Answered and gone at once (the Hangup overtook the OriginateResponse).
                self._pending_events.append(CallEnded(agent_id))
            else:
                self._agent_channels[ring.channel_id] = agent_id
        caller = self._callers.get(call_id)
        if caller is None:
            return
        queue = self.engine.queues().get(caller.queue_id)
        self._publish(
            QueueConnected(
                at=self._clock.now(),
                linkedid=caller.arrival.linkedid,
                queue=caller.queue_id,
                agent_id=agent_id,
                wait_s=waited_s,
                wrapup_s=queue.wrapup_s if queue is not None else 0.0,
            )
        )
        log.info("queue caller connected", call_id=call_id, agent_id=agent_id, waited_s=waited_s)
        self._message("queue.caller_connected", call_id=call_id, agent_id=agent_id)
        self._forget_caller(call_id)

    # ---- what Asterisk reports ---------------------------------------------------

    def handle(self, event: object) -> None:
        """Bus subscriber."""
        if not self.started:
            return
        if isinstance(event, OriginateResponded):
            self._originate_responded(event)
        elif isinstance(event, ChannelHungUp):
            self._hung_up(event.channel.uniqueid)
        elif isinstance(event, ResyncFinished):
            self._reconcile_calls()

    def _originate_responded(self, event: OriginateResponded) -> None:
        call_back = self._callbacks.pop(event.action_id, None)
        if call_back is not None:
            call_id = call_back.call_id
            if event.success:
                # Until the customer's AGI reaches ccd, their hangup means "try again".
                self._callbacks_answered[event.uniqueid] = call_id
            else:
                log.info("call back not answered", call_id=call_id, reason=event.reason)
                self._apply_safely(CallbackFailed(call_id))
            return
        ring = self._rings.pop(event.action_id, None)
        if ring is None:
            return
        if ring.cancelled:
            self._ring_channels.pop(ring.channel_id, None)
            if event.success:
                self._spawn(self._hangup(ring.channel_id), "cancel")
            return
        if event.success:
            self._apply(AgentAnswered(ring.agent_id, ring.call_id))
            return
        self._ring_of.pop((ring.agent_id, ring.call_id), None)
        self._ring_channels.pop(ring.channel_id, None)
        if event.reason in _BUSY_REASONS:
            log.info("agent busy", agent_id=ring.agent_id, reason=event.reason)
            self._apply(AgentBusy(ring.agent_id, ring.call_id))
        else:
            log.info("agent did not answer", agent_id=ring.agent_id, reason=event.reason)
            self._apply(AgentNoAnswer(ring.agent_id, ring.call_id))

    def _hung_up(self, uniqueid: str) -> None:
        agent_id = self._agent_channels.pop(uniqueid, None)
        if agent_id is not None:
            self._apply(CallEnded(agent_id))
        ring = self._ring_channels.pop(uniqueid, None)
        if ring is not None:
            ring.hung_up = True
        callback_of = self._callbacks_answered.pop(uniqueid, None)
        if callback_of is not None:
            log.info("call back hung up before reaching the queue", call_id=callback_of)
            self._apply_safely(CallbackFailed(callback_of))
        call_id = self._by_uniqueid.get(uniqueid)
        if call_id is not None:
            self._by_uniqueid.pop(uniqueid, None)
            self._apply_safely(CallerLeft(call_id))

    def _apply_safely(self, event: Event) -> None:
        try:
            self._apply(event)
        except AcdError as exc:
            log.debug("acd event ignored", event_type=type(event).__name__, reason=str(exc))

    def _reconcile_calls(self) -> None:
        """After a resync, settle what ccd could not see: callers and agent legs whose
        Hangup was missed (AMI down), and agents on a call ccd has no channel for (restored
        after a restart) — tied to their interface's live channel, or, without one, their
        call is over."""
        if self._live_channels is None:
            return
        live = self._live_channels()
        # Callers first: an agent freed below must not be offered a caller already gone.
        for tracked_by in (self._by_uniqueid, self._agent_channels, self._callbacks_answered):
            for uniqueid in [u for u in tracked_by if u not in live]:
                log.info("channel hung up while ccd was not looking", uniqueid=uniqueid)
                self._hung_up(uniqueid)
        # Originates whose result was lost with the connection (nothing of them is live).
        settled_before = self._now() - ORIGINATE_SETTLE_S
        for action_id, call_back in list(self._callbacks.items()):
            if call_back.channel_id not in live and call_back.created < settled_before:
                del self._callbacks[action_id]
                log.info("call back lost with the AMI connection", call_id=call_back.call_id)
                self._apply_safely(CallbackFailed(call_back.call_id))
        for action_id, ring in list(self._rings.items()):
            if ring.cancelled and ring.channel_id not in live and ring.created < settled_before:
                del self._rings[action_id]
                self._ring_channels.pop(ring.channel_id, None)
        # Callers holding an instruction for a session that never came back.
        for call_id, caller in list(self._callers.items()):
            gone = caller.arrival.uniqueid not in live and caller.ticket is None
            if gone and self.engine.position(call_id) is None:
                del self._callers[call_id]
        tracked = set(self._agent_channels.values())
        for agent_id in self.engine.logged_in():
            agent = self.engine.agent(agent_id)
            on_call = self.engine.agent_state(agent_id).status is AgentStatus.ON_CALL
            if agent is None or not on_call or agent_id in tracked:
                continue
            prefix = agent.interface + "-"
            channels = [u for u, name in live.items() if name.startswith(prefix)]
            for uniqueid in channels:
                self._agent_channels[uniqueid] = agent_id
            if not channels:
                log.info("agent call ended while ccd was away", agent_id=agent_id)
                self._apply(CallEnded(agent_id))

    # ---- waiting callers (HoldDesk) ------------------------------------------------

    def arrive(self, arrival: Arrival) -> Ticket:
        if not self.started:
            raise QueueRefused("the ACD is not running")
        call_id = arrival.call_id
        earlier = self._callers.get(call_id)
        # A caller ccd already knows (its AGI came back, or a call back) stays in the queue
        # it was moved to and keeps its first join time.
        queues = self.engine.queues()
        queue_id = earlier.queue_id if earlier is not None else arrival.queue_id
        queue = queues.get(queue_id) or queues.get(arrival.queue_id)
        if queue is None:
            raise QueueRefused(f"unknown queue {arrival.queue_id!r}")
        now = self._now()
        joined_at = min(arrival.joined_at if arrival.joined_at is not None else now, now)
        pending = None
        if earlier is not None:
            joined_at = min(earlier.joined_at, joined_at)
            if earlier.arrival.uniqueid == arrival.uniqueid:
                # Only the channel it was decided for (a call back is a new channel).
                pending = earlier.pending
        announcing = queue.announce_position or queue.announce_hold_time
        ticket = Ticket(
            arrival=arrival,
            leave=asyncio.get_running_loop().create_future(),
            callback_key=queue.callback_key,
            announce_every_s=queue.announce_every_s if announcing else None,
        )
        if pending is not None:
            # Decided while no session held the caller: delivered now, once.
            ticket.leave.set_result(pending)
            self._forget_caller(call_id)
            return ticket
        caller = _Caller(arrival=arrival, queue_id=queue.id, joined_at=joined_at, ticket=ticket)
        self._callers[call_id] = caller
        self._by_uniqueid[arrival.uniqueid] = call_id
        if arrival.callback_of is not None:
            self._callbacks_answered = {
                u: c for u, c in self._callbacks_answered.items() if c != arrival.callback_of
            }
        self._publish(
            QueueEntered(
                at=self._clock.now(),
                linkedid=arrival.linkedid,
                queue=caller.queue_id,
                joined_at=datetime.fromtimestamp(joined_at, UTC),
            )
        )
        waiting = WaitingCaller(
            call_id=call_id,
            channel=arrival.channel,
            queue_id=caller.queue_id,
            joined_at=joined_at,
            priority=arrival.priority,
            required_skills=dict(arrival.skills),
            number=arrival.caller_num if _CALLBACK_NUMBER.fullmatch(arrival.caller_num) else "",
        )
        in_line = self.engine.position(call_id) is not None
        if in_line and not self.engine.callback_pending(call_id):
            # The same caller's AGI came back (ccd's AGI session dropped): same place.
            return ticket
        log.info(
            "queue caller joined",
            call_id=call_id,
            queue=caller.queue_id,
            priority=arrival.priority,
            callback=arrival.callback_of is not None,
        )
        self._message("queue.caller_joined", call_id=call_id, queue=caller.queue_id)
        self._apply(CallerJoined(waiting))
        return ticket

    def callback_requested(self, ticket: Ticket) -> None:
        arrival = ticket.arrival
        number = arrival.caller_num
        if not _CALLBACK_NUMBER.fullmatch(number):
            log.info("call back refused: no usable caller number", call_id=arrival.call_id)
            return
        try:
            self._apply(CallbackRequested(arrival.call_id, number))
        except AcdError as exc:
            log.info("call back refused", call_id=arrival.call_id, reason=str(exc))
            return
        caller = self._callers.get(arrival.call_id)
        if caller is not None:
            self._left(caller, QueueExit.CALLBACK, self._now() - caller.joined_at)
        log.info("call back requested", call_id=arrival.call_id)
        self._message("queue.callback_requested", call_id=arrival.call_id)
        if not ticket.leave.done():
            ticket.leave.set_result(Leave(contract.QueueAction.CALLBACK))

    def announcement(self, ticket: Ticket) -> list[tuple[str, int | str]]:
        call_id = ticket.arrival.call_id
        caller = self._callers.get(call_id)
        position = self.engine.position(call_id)
        if caller is None or position is None:
            return []
        queue = self.engine.queues().get(caller.queue_id)
        if queue is None:
            return []
        items: list[tuple[str, int | str]] = []
        if queue.announce_position:
            if position == 1:
                items.append(("file", "queue-youarenext"))
            else:
                items += [("file", "queue-thereare"), ("number", position - 1)]
                items.append(("file", "queue-callswaiting"))
        if queue.announce_hold_time:
            wait = self.engine.estimated_wait_s(call_id, self._now())
            if wait is not None:
                minutes = max(1, round(wait / 60))
                items += [("file", "queue-holdtime"), ("number", minutes)]
                items.append(("file", "queue-minute" if minutes == 1 else "queue-minutes"))
        if items:
            items.append(("file", "queue-thankyou"))
        return items

    def departed(self, ticket: Ticket) -> None:
        caller = self._callers.get(ticket.arrival.call_id)
        if caller is not None and caller.ticket is ticket:
            caller.ticket = None

    def _overflow(self, command: Overflow) -> None:
        caller = self._callers.get(command.call_id)
        # "callback": the engine kept the caller's place for a call back (they had a
        # usable number); the call itself ends with the thank-you.
        offered_callback = command.target == "callback" and self.engine.callback_pending(
            command.call_id
        )
        if offered_callback:
            reason = QueueExit.CALLBACK
            leave = Leave(contract.QueueAction.CALLBACK)
        else:
            reason = QueueExit.TIMED_OUT if command.reason == "max_wait" else QueueExit.OVERFLOWED
            leave = self._leave_for(command.target)
        log.info(
            "queue caller overflowed",
            call_id=command.call_id,
            reason=command.reason,
            target=command.target,
        )
        if caller is None:
            return
        self._left(caller, reason, command.waited_s)
        self._message("queue.caller_overflowed", call_id=command.call_id, reason=command.reason)
        if caller.ticket is not None and not caller.ticket.leave.done():
            caller.ticket.leave.set_result(leave)
            if not offered_callback:  # a call back still needs the caller's join time
                self._callers.pop(command.call_id, None)
        else:
            caller.pending = leave  # delivered when the caller's AGI comes back

    def _left(self, caller: _Caller, reason: QueueExit, wait_s: float) -> None:
        """The caller leaves the line without an agent (for the CDR); their channel's
        hangup from now on is not an abandon."""
        self._by_uniqueid.pop(caller.arrival.uniqueid, None)
        self._publish(
            QueueLeft(
                at=self._clock.now(),
                linkedid=caller.arrival.linkedid,
                queue=caller.queue_id,
                reason=reason,
                wait_s=wait_s,
            )
        )

    def _leave_for(self, target_text: str | None) -> Leave:
        if target_text is None:
            return Leave(contract.QueueAction.HANGUP)
        try:
            target = parse_target(target_text)
        except ValueError:
            return Leave(contract.QueueAction.FALLBACK)
        match target:
            case VoicemailTarget(mailbox=mailbox):
                return Leave(
                    contract.QueueAction.VOICEMAIL, {contract.VAR_QUEUE_VOICEMAIL_BOX: mailbox}
                )
            case TransferTarget(context=context, exten=exten):
                return Leave(
                    contract.QueueAction.TRANSFER,
                    {
                        contract.VAR_QUEUE_NEXT_CONTEXT: context,
                        contract.VAR_QUEUE_NEXT_EXTEN: exten,
                    },
                )
            case HangupTarget() | CallbackTarget() | QueueTarget():
                # A queue the engine could not move the caller to, or a call back that
                # cannot be offered (no usable number): an announcement, then hang up.
                return Leave(contract.QueueAction.HANGUP)

    def _forget_caller(self, call_id: str) -> None:
        caller = self._callers.pop(call_id, None)
        if caller is not None:
            self._by_uniqueid.pop(caller.arrival.uniqueid, None)

    async def _place_callback(self, command: PlaceCallback) -> None:
        caller = self._callers.get(command.call_id)
        joined = caller.joined_at if caller is not None else self._now()
        action_id = f"ccd-acd-cb-{uuid.uuid4().hex}"
        channel_id = f"{AGENT_CHANNEL_PREFIX}cb-{uuid.uuid4().hex}"
        self._callbacks[action_id] = _CallBack(command.call_id, channel_id, self._now())
        fields = {
            "ActionID": action_id,
            "ChannelId": channel_id,
            "Channel": f"Local/{command.number}@{contract.CALLBACK_DIAL_CONTEXT}",
            "Context": contract.QUEUE_CALLBACK_CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "Timeout": "45000",
            "Variable": ",".join(
                (
                    f"{contract.VAR_QUEUE}={command.queue_id}",
                    f"{contract.VAR_QUEUE_JOINED}={int(joined)}",
                    f"{contract.VAR_ACD_CALLBACK}={command.call_id}",
                )
            ),
        }
        try:
            await self._ami.originate(fields)
            log.info("calling back", call_id=command.call_id, queue=command.queue_id)
        except Exception as exc:
            self._callbacks.pop(action_id, None)
            log.warning("call back originate failed", call_id=command.call_id, error=str(exc))
            self._apply_safely(CallbackFailed(command.call_id))

    # ---- agents (AcdLive) --------------------------------------------------------

    def _agent_changed(self, change: AgentStateChanged) -> None:
        at = datetime.fromtimestamp(change.at, UTC)
        self._session_rows.append(
            SessionEntry(
                agent_id=change.agent_id,
                status=change.status.value,
                reason=change.reason,
                call_id=change.call_id,
                queue_ids=tuple(sorted(change.queue_ids)),
                at=at,
            )
        )
        if len(self._session_rows) > SESSION_LOG_LIMIT:
            del self._session_rows[: len(self._session_rows) - SESSION_LOG_LIMIT]
        self._message(
            "agent.state",
            agent_id=change.agent_id,
            status=change.status.value,
            reason=change.reason,
            call_id=change.call_id,
            queues=sorted(change.queue_ids),
        )

    def _message(self, kind: str, **fields: Any) -> None:
        self._on_message({"type": kind, "at": self._clock.now().isoformat(), **fields})

    def _act(self, event: Event) -> None:
        if not self.started:
            raise AcdRefused("the ACD is not running")
        try:
            self._apply(event)
        except AcdError as exc:
            raise AcdRefused(str(exc)) from None

    def _known_agent(self, agent_id: str) -> None:
        if agent_id not in self._config.agents:
            raise AcdRefused(f"agent {agent_id} is not configured")

    async def login(self, agent_id: str, queue_ids: Sequence[str] | None) -> None:
        self._known_agent(agent_id)
        chosen = (
            self._config.memberships.get(agent_id, frozenset())
            if queue_ids is None
            else frozenset(queue_ids)
        )
        unknown = sorted(chosen - self._config.queues.keys())
        if unknown:
            raise AcdRefused(f"unknown queue: {', '.join(unknown)}")
        self._act(AgentLoggedIn(self._config.agents[agent_id], chosen))

    async def logout(self, agent_id: str) -> None:
        self._known_agent(agent_id)
        self._act(AgentLoggedOut(agent_id))

    async def pause(self, agent_id: str, reason: str) -> None:
        self._known_agent(agent_id)
        if reason not in self._config.pause_reasons:
            raise AcdRefused(f"pause reason {reason!r} is not configured")
        self._act(AgentPaused(agent_id, reason))

    async def unpause(self, agent_id: str) -> None:
        self._known_agent(agent_id)
        self._act(AgentUnpaused(agent_id))

    async def join(self, agent_id: str, queue_id: str) -> None:
        self._known_agent(agent_id)
        self._act(AgentJoinedQueue(agent_id, queue_id))

    async def leave(self, agent_id: str, queue_id: str) -> None:
        self._known_agent(agent_id)
        self._act(AgentLeftQueue(agent_id, queue_id))

    async def reload_config(self) -> None:
        config = await self._store.load()
        self._config = config
        self._apply(QueuesConfigured(dict(config.queues)))
        # Logged-in agents pick up profile changes (interface, skills); removed agents
        # are logged out after their current call.
        for agent_id in self.engine.logged_in():
            agent = config.agents.get(agent_id)
            if agent is None:
                self._apply_safely(AgentLoggedOut(agent_id))
                continue
            queue_ids = self.engine.agent_queues(agent_id) & config.queues.keys()
            self._apply_safely(AgentLoggedIn(agent, queue_ids))

    def queue_live(self, queue_id: str) -> dict[str, Any] | None:
        if queue_id not in self.engine.queues():
            return None
        now = self._now()
        view = self.engine.queue_stats(queue_id, now).as_dict()
        view["callers"] = [
            self._caller_view(waiting, now) for waiting in self.engine.waiting_in(queue_id)
        ]
        view["agents_by_id"] = {
            agent_id: self.engine.agent_state(agent_id).status.value
            for agent_id in self.engine.logged_in()
            if queue_id in self.engine.agent_queues(agent_id)
        }
        return view

    def _caller_view(self, waiting: WaitingCaller, now: float) -> dict[str, Any]:
        caller = self._callers.get(waiting.call_id)
        return {
            "call_id": waiting.call_id,
            "position": self.engine.position(waiting.call_id),
            "waited_s": round(now - waiting.joined_at, 1),
            "priority": waiting.priority,
            "caller_num": caller.arrival.caller_num if caller is not None else None,
            "callback": self.engine.callback_pending(waiting.call_id),
            "ringing": sorted(self.engine.ringing_for(waiting.call_id)),
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "queues": {queue_id: self.queue_live(queue_id) for queue_id in self.engine.queues()},
            "agents": {agent_id: self.agent_live(agent_id) for agent_id in self.engine.logged_in()},
        }

    def agent_live(self, agent_id: str) -> dict[str, Any] | None:
        if agent_id not in self.engine.logged_in():
            return None
        state = self.engine.agent_state(agent_id)
        calls, talk_s = self.engine.agent_counters(agent_id)
        in_state_s = max(0.0, self._now() - state.since)
        view: dict[str, Any] = {
            "status": state.status.value,
            "since": datetime.fromtimestamp(state.since, UTC).isoformat(),
            "in_state_s": round(in_state_s, 1),
            "reason": state.reason,
            "call_id": state.call_id,
            "queues": sorted(self.engine.agent_queues(agent_id)),
            "calls_taken": calls,
            "talk_s": round(talk_s, 1),
            "pending_pause": self.engine.pending_pause(agent_id),
            "logout_pending": self.engine.logout_pending(agent_id),
        }
        if state.status is AgentStatus.PAUSED:
            reason = self._config.pause_reasons.get(state.reason or "")
            limit = reason.time_limit_s if reason is not None else None
            # Flagged for the supervisor, never ended automatically.
            view["billable"] = reason.billable if reason is not None else False
            view["pause_over_limit"] = limit is not None and in_state_s > limit
        return view
