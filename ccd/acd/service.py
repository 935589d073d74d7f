"""The running ACD: the pure ``AcdEngine`` wired to Asterisk, the waiting callers'
FastAGI sessions, the database and the bus.

Everything the engine decides comes back as commands, executed here. Rings, call backs
and what Asterisk reports about their channels go through the pure ``RingTracker``
(``ccd.acd.rings``), whose commands this shell executes: ``RingAgent`` → the gateway's
``ring_agent`` (an agent rung into a bridge with the caller, with a ChannelId chosen by
ccd so the agent's channel is known before it exists); ``CancelRing`` → ``hangup`` of
that channel; ``PlaceCallback`` → an ``originate`` of the customer into the call-back
context; ``OriginateResponse`` (answered, no answer, busy), the caller's hangup while
waiting (abandon) and the agent channel's hangup (call over) → engine events.
``Overflow`` → the waiting session sets ``CCD_QUEUE_ACTION`` and ends. Every agent
transition is appended to the session log and pushed on the websocket. The tick, the
session-log flush and hangup retries sleep on the injected clock.

The outbound dialer borrows agents through the synchronous ``reserve_outbound``,
``release_outbound``, ``outbound_connected``, ``outbound_ended`` and ``wrap_up_done``
(engine events applied at once: a refusal raises ``AcdError`` to the dialer, the
transitions are logged and pushed like any other) and reads ``claimable``,
``agent_interface``, ``queue_members`` and ``agent_status``. The ACD stays the only
owner of agent states.

Several Asterisk servers (``AcdServers``): queues are per server. A waiting caller is on
the server its channel is on (see ``_caller_server``); the engine offers it only agents
on that server, and every ring, call back and hangup for it goes through that server's
gateway. A ``ResyncFinished`` of one server settles only that server's callers, rings
and agents. Without ``AcdServers`` there is one server: ``ami``.

Engine time is epoch seconds (``clock.now().timestamp()``), so callers' join times and
agent states carry over a restart: waiting callers come back by themselves (the dialplan
runs the AGI again with their original join time) and agents' states are read back from
the session log.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import structlog

from ccd.acd.engine import (
    OUTBOUND_REASON,
    AcdEngine,
    AcdError,
    AgentJoinedQueue,
    AgentLeftQueue,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentStateChanged,
    AgentUnpaused,
    AutoPauseAgent,
    CallbackDropped,
    CallbackRequested,
    CallerAbandoned,
    CallerConnected,
    CallerJoined,
    CallerMoved,
    CancelRing,
    Command,
    Event,
    OutboundConnected,
    OutboundEnded,
    OutboundReleased,
    OutboundReserved,
    Overflow,
    PlaceCallback,
    QueuesConfigured,
    ResetDailyStats,
    RingAgent,
    Tick,
    WrapUpDone,
)
from ccd.acd.model import AgentState, AgentStatus, WaitingCaller
from ccd.acd.ports import AcdRefused
from ccd.acd.rings import (
    CallbackDue,
    CallerConnectedToAgent,
    CallerOffLine,
    CallerWaiting,
    ChannelGone,
    FeedEngine,
    HangUp,
    Note,
    OriginateAnswered,
    OriginateCallback,
    OriginateFailed,
    OriginateNotQueued,
    OriginateQueued,
    OriginateRing,
    Resynced,
    RingCancelled,
    RingCommand,
    RingEvent,
    RingRequested,
    RingTracker,
)
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
from ccd.ami.actions import (
    CallerId,
    HangupAction,
    OriginateAction,
    RingAgentAction,
    local_channel,
)
from ccd.ami.protocol import AmiActionFailed, AmiConnectionLost, AmiNotConnected
from ccd.clock import Clock
from ccd.db.acd_store import SessionEntry
from ccd.domain import contract
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
from ccd.domain.safety import UnsafeAmiValue
from ccd.domain.servers import DEFAULT_SERVER_NAME

log = structlog.get_logger("ccd.acd")

TICK_S = 0.25
SESSION_FLUSH_S = 0.5
SESSION_LOG_LIMIT = 50_000
_CALLBACK_NUMBER = re.compile(r"\+?[0-9]{2,20}")
CALLBACK_RING_S = 45.0


class AcdAmi(Protocol):
    def ring_agent(self, action: RingAgentAction) -> asyncio.Task[str]:
        """Write the Originate before returning (raise at once when nothing was
        written); the task resolves once Asterisk queued it."""
        ...

    async def originate(self, action: OriginateAction) -> str: ...

    async def hangup(self, action: HangupAction) -> None: ...


@dataclass(frozen=True, slots=True)
class AcdServers:
    """The configured Asterisk servers as the ACD uses them (names are ``[[asterisk]]``
    names; the first is the default, meant by an agent without a server)."""

    default: str
    # The gateway of a configured server.
    ami_for: Callable[[str], AcdAmi]
    # Which server a caller's channel is on, from its uniqueid and linkedid; None: not
    # known (yet).
    caller_server: Callable[[str, str], str | None]
    # uniqueid -> channel name of every channel of one server (its live model).
    live_channels_on: Callable[[str], Mapping[str, str]]
    # Whether a device (interface) is busy on one server with a call ccd did not place.
    interface_busy_on: Callable[[str, str], bool]
    # Every configured server's name (an agent naming another one is warned about).
    names: tuple[str, ...] = ()


class AcdConfigSource(Protocol):
    async def load(self) -> AcdConfig: ...

    async def append_sessions(self, rows: Sequence[SessionEntry]) -> None: ...

    async def latest_sessions(self) -> dict[str, SessionEntry]: ...


@dataclass(slots=True)
class _Caller:
    arrival: Arrival
    queue_id: str
    joined_at: float
    ticket: Ticket | None = None
    # An instruction for a caller with no session at this moment (between AGI retries).
    pending: Leave | None = None
    # The Asterisk server the caller is on (None: one server, untagged).
    server: str | None = None


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
        servers: AcdServers | None = None,
    ) -> None:
        """``ami``, ``interface_busy`` and ``live_channels``: the one server's; with
        ``servers`` (several Asterisk servers) those of each server come from it."""
        self._ami = ami
        self._servers = servers
        self._store = store
        self._publish = publish
        self._on_message = on_message
        self._clock = clock
        self._interface_busy = interface_busy
        # uniqueid -> channel name of every channel Asterisk has (the live model, right
        # after a resync): settles what a dropped AMI connection hid.
        self._live_channels = live_channels
        self.engine = AcdEngine({}, default_server=servers.default if servers else None)
        self._config = AcdConfig()
        self._callers: dict[str, _Caller] = {}
        # Rings, call backs and the channels whose hangup means something (pure).
        self.rings = RingTracker()
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
            await self._clock.sleep(TICK_S)
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
            await self._clock.sleep(SESSION_FLUSH_S)
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

    def _ami_on(self, server: str | None) -> AcdAmi:
        """The gateway of ``server`` (None: the default one)."""
        if self._servers is None:
            return self._ami
        return self._servers.ami_for(server or self._servers.default)

    def _caller_server(self, arrival: Arrival) -> str | None:
        """The server a new caller is on. ``caller_server`` reads the systemname prefix
        of the channel's uniqueid first (Asterisk writes it into every uniqueid, so it is
        known the moment the AGI connects, even before ccd has read the channel's first
        AMI event on the other connection), then the live model's call. A caller whose
        server cannot be told (no systemname read, channel not seen yet) waits on the
        default server, with a warning: its agents there may not reach it."""
        servers = self._servers
        if servers is None:
            return None
        server = servers.caller_server(arrival.uniqueid, arrival.linkedid)
        if server is None:
            log.warning(
                "queue caller's asterisk server not known, using the default",
                call_id=arrival.call_id,
                uniqueid=arrival.uniqueid,
                server=servers.default,
            )
            return servers.default
        return server

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
                if self._servers is not None and command.server is not None:
                    busy = self._servers.interface_busy_on(command.interface, command.server)
                else:
                    busy = self._interface_busy(command.interface)
                self._track(
                    RingRequested(
                        agent_id=command.agent_id,
                        call_id=command.call_id,
                        interface=command.interface,
                        caller_channel=command.caller_channel,
                        timeout_s=command.timeout_s,
                        device_busy=busy,
                        server=command.server,
                    )
                )
            case CancelRing(agent_id=agent_id, call_id=call_id):
                self._track(RingCancelled(agent_id, call_id))
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
            case PlaceCallback(call_id=call_id, queue_id=queue_id, number=number):
                caller = self._callers.get(call_id)
                joined = caller.joined_at if caller is not None else self._now()
                server = caller.server if caller is not None else None
                self._track(CallbackDue(call_id, queue_id, number, joined, server))
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

    # ---- rings, call backs and their channels (RingTracker) -------------------------

    def _track(self, event: RingEvent) -> None:
        """Feed the ring tracker and execute what it decides."""
        self._carry_out(self.rings.handle(event, self._now()))

    def _carry_out(self, commands: Iterable[RingCommand]) -> None:
        for command in commands:
            match command:
                case OriginateRing():
                    self._originate_ring(command)
                case OriginateCallback():
                    self._spawn(self._originate_callback(command), "callback")
                case HangUp():
                    self._spawn(self._hangup(command), "hangup")
                case FeedEngine(event=event, note=note, details=details):
                    if note is not None:
                        log.info(note, **details)
                    self._apply_safely(event)
                case Note(message=message, details=details):
                    log.info(message, **details)

    def _originate_ring(self, ring: OriginateRing) -> None:
        caller = self._callers.get(ring.call_id)
        queue_id = caller.queue_id if caller is not None else ""
        action = RingAgentAction(
            action_id=ring.action_id,
            interface=ring.interface,
            caller_channel=ring.caller_channel,
            caller_after_context=contract.QUEUE_AFTER_CONTEXT,
            timeout_s=ring.timeout_s,
            channel_id=ring.channel_id,
            variables={
                contract.VAR_ACD_CALL: ring.call_id,
                contract.VAR_ACD_AGENT: ring.agent_id,
                contract.VAR_QUEUE: queue_id,
            },
            caller_id=(
                CallerId(caller.arrival.caller_num, caller.arrival.caller_name)
                if caller is not None and caller.arrival.caller_num
                else None
            ),
        )
        log.info(
            "ringing agent",
            agent_id=ring.agent_id,
            call_id=ring.call_id,
            queue=queue_id,
            server=ring.server,
        )
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
            queued = self._ami_on(ring.server).ring_agent(action)
        except Exception as exc:
            self._ring_not_queued(ring, exc)
            return
        self._spawn(self._ring_queued(ring, queued), "ring")

    async def _ring_queued(self, ring: OriginateRing, queued: asyncio.Task[str]) -> None:
        try:
            await queued
        except Exception as exc:
            self._ring_not_queued(ring, exc)
        else:
            self._track(OriginateQueued(ring.action_id))

    def _ring_not_queued(self, ring: OriginateRing, exc: Exception) -> None:
        log.warning("agent originate failed", agent_id=ring.agent_id, error=str(exc) or "")
        self._track(OriginateNotQueued(ring.action_id, written=_maybe_written(exc)))

    async def _originate_callback(self, call_back: OriginateCallback) -> None:
        action = OriginateAction(
            channel=local_channel(call_back.number, contract.CALLBACK_DIAL_CONTEXT),
            context=contract.QUEUE_CALLBACK_CONTEXT,
            exten="s",
            timeout_s=CALLBACK_RING_S,
            variables={
                contract.VAR_QUEUE: call_back.queue_id,
                # To the millisecond, as the dialplan sets it: the place in line is exact.
                contract.VAR_QUEUE_JOINED: f"{call_back.joined_at:.3f}",
                contract.VAR_ACD_CALLBACK: call_back.call_id,
            },
            channel_id=call_back.channel_id,
            action_id=call_back.action_id,
        )
        try:
            await self._ami_on(call_back.server).originate(action)
            log.info("calling back", call_id=call_back.call_id, queue=call_back.queue_id)
        except Exception as exc:
            log.warning("call back originate failed", call_id=call_back.call_id, error=str(exc))
            self._track(OriginateNotQueued(call_back.action_id, written=_maybe_written(exc)))

    async def _hangup(self, hang_up: HangUp) -> None:
        for attempt in range(hang_up.attempts):
            if attempt:
                await self._clock.sleep(hang_up.retry_after_s)
            try:
                await self._ami_on(hang_up.server).hangup(HangupAction(hang_up.channel_id))
                return
            except AmiActionFailed:
                return  # no such channel (gone already): nothing left to do
            except Exception as exc:
                log.debug("hangup not applied", channel=hang_up.channel_id, error=str(exc))

    def _connected(self, call_id: str, agent_id: str, waited_s: float) -> None:
        self._track(CallerConnectedToAgent(agent_id, call_id))
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
            if event.success:
                self._track(OriginateAnswered(event.action_id, event.uniqueid))
            else:
                self._track(OriginateFailed(event.action_id, event.reason))
        elif isinstance(event, ChannelHungUp):
            self._track(ChannelGone(event.channel.uniqueid))
        elif isinstance(event, ResyncFinished):
            self._reconcile_calls(event.server or None)

    def _apply_safely(self, event: Event) -> None:
        try:
            self._apply(event)
        except AcdError as exc:
            log.debug("acd event ignored", event_type=type(event).__name__, reason=str(exc))

    def _reconcile_calls(self, server: str | None) -> None:
        """After a resync of ``server`` (None: of every server), settle what ccd could
        not see there (``Resynced``: missed hangups, lost Originates, agents restored on
        a call), then forget its callers holding an instruction for a session that never
        came back. Other servers' calls and agents are left alone."""
        servers = self._servers
        if servers is None:
            server = None  # one server: its resync is a resync of everything
        if servers is not None and server is not None:
            live = servers.live_channels_on(server)
        elif self._live_channels is not None:
            live = self._live_channels()
        else:
            return
        default = servers.default if servers is not None else None
        on_call: dict[str, str] = {}  # agent -> interface
        for agent_id in self.engine.logged_in():
            agent = self.engine.agent(agent_id)
            state = self.engine.agent_state(agent_id)
            # An outbound call is the dialer's: it says when the call ends.
            if (
                agent is not None
                and state.status is AgentStatus.ON_CALL
                and state.reason != OUTBOUND_REASON
                and (server is None or (agent.server or default) == server)
            ):
                on_call[agent_id] = agent.interface
        self._track(Resynced(live, on_call, server))
        for call_id, caller in list(self._callers.items()):
            if server is not None and caller.server != server:
                continue
            gone = caller.arrival.uniqueid not in live and caller.ticket is None
            if gone and self.engine.position(call_id) is None:
                del self._callers[call_id]

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
        # A caller ccd knows already (AGI back, or the customer of its call back, whom ccd
        # called from the caller's server) keeps its server.
        server = earlier.server if earlier is not None else self._caller_server(arrival)
        caller = _Caller(
            arrival=arrival, queue_id=queue.id, joined_at=joined_at, ticket=ticket, server=server
        )
        self._callers[call_id] = caller
        self._track(CallerWaiting(arrival.uniqueid, call_id, arrival.callback_of, server))
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
            server=server,
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
            server=server,
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
        self._track(CallerOffLine(caller.arrival.uniqueid))
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
            self._track(CallerOffLine(caller.arrival.uniqueid))

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
            server=self._agent_server_name(change.agent_id),
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
        self._warn_unknown_servers(config)
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

    def _warn_unknown_servers(self, config: AcdConfig) -> None:
        """Agents stored with a server this configuration does not have (the server was
        removed or renamed since): they are offered no caller at all, so say so."""
        servers = self._servers
        if servers is None or not servers.names:
            return
        for agent in config.agents.values():
            if agent.server is not None and agent.server not in servers.names:
                log.warning(
                    "agent's asterisk server is not configured; it is offered no callers",
                    agent_id=agent.id,
                    server=agent.server,
                    configured=list(servers.names),
                )

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
            for agent_id in self.engine.queue_members(queue_id)
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
            "server": self._server_name(waiting.server),
        }

    def _server_name(self, server: str | None) -> str:
        """A server as the API names it (None: the default server)."""
        if server is not None:
            return server
        return self._servers.default if self._servers is not None else DEFAULT_SERVER_NAME

    def _agent_server_name(self, agent_id: str) -> str:
        """The server an agent's device is on, as the API names it: its own, else the
        default one. A logged-out agent (no longer in the engine) is read from the
        configuration."""
        agent = self.engine.agent(agent_id) or self._config.agents.get(agent_id)
        return self._server_name(agent.server if agent is not None else None)

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
            "server": self._agent_server_name(agent_id),
        }
        if state.status is AgentStatus.PAUSED:
            reason = self._config.pause_reasons.get(state.reason or "")
            limit = reason.time_limit_s if reason is not None else None
            # Flagged for the supervisor, never ended automatically.
            view["billable"] = reason.billable if reason is not None else False
            view["pause_over_limit"] = limit is not None and in_state_s > limit
        return view

    # ---- agents lent to the dialer (blended: inbound callers first) ------------------

    def reserve_outbound(self, agent_id: str, call_id: str) -> None:
        """Borrow an available agent for the dialer's call ``call_id``. Raises
        ``AgentNotFree`` with the reason (not logged in, paused, on a call, needed by a
        waiting inbound caller...). Release, connected and ended raise ``UnknownAgent``
        or ``NotOutboundCall`` for an agent not logged in or not on that call."""
        self._apply_now(OutboundReserved(agent_id, call_id))

    def release_outbound(self, agent_id: str, call_id: str) -> None:
        """The reserved agent is not needed after all: back to inbound calls (or the
        pause / logout asked meanwhile)."""
        self._apply_now(OutboundReleased(agent_id, call_id))

    def outbound_connected(self, agent_id: str, call_id: str) -> None:
        self._apply_now(OutboundConnected(agent_id, call_id))

    def outbound_ended(self, agent_id: str, call_id: str, wrapup_s: float | None) -> None:
        """``wrapup_s`` of wrap-up; None: until ``wrap_up_done``."""
        self._apply_now(OutboundEnded(agent_id, call_id, wrapup_s))

    def wrap_up_done(self, agent_id: str) -> None:
        """The agent ends its wrap-up (ignored when it is not wrapping up)."""
        self._apply_now(WrapUpDone(agent_id))

    def claimable(self, agent_ids: Iterable[str]) -> list[str]:
        """Those of ``agent_ids`` ``reserve_outbound`` would accept now, longest idle first."""
        return self.engine.claimable(agent_ids, self._now())

    def agent_interface(self, agent_id: str) -> str | None:
        """What to dial for a logged-in agent (None: not logged in)."""
        agent = self.engine.agent(agent_id)
        return agent.interface if agent is not None else None

    def queue_members(self, queue_id: str) -> list[str]:
        """Logged-in agents of a queue, in login order."""
        return self.engine.queue_members(queue_id)

    def agent_status(self, agent_id: str) -> AgentState:
        """The agent's state (LOGGED_OUT when not logged in)."""
        return self.engine.agent_state(agent_id)

    def wants_out(self, agent_id: str) -> bool:
        """A pause or logout the agent asked for waits for its current work to end."""
        return (
            self.engine.logout_pending(agent_id) or self.engine.pending_pause(agent_id) is not None
        )

    def _apply_now(self, event: Event) -> None:
        """Apply the dialer's event at once so a refusal raises to the dialer. Never from
        inside an engine step (while a command executes): the event would only be queued
        and its refusal would abort that step instead. Bus handlers are safe: the bus
        delivers from its own task, after publish() has returned."""
        if self._applying:
            raise RuntimeError(f"{type(event).__name__} applied during an ACD engine step")
        self._apply(event)


def _maybe_written(exc: Exception) -> bool:
    """Could the action have reached Asterisk? Not when the gateway refused it at once
    (not connected, unsafe value); a lost connection or a timeout: it may have."""
    if isinstance(exc, AmiConnectionLost):  # an AmiNotConnected that came after the write
        return True
    return not isinstance(exc, AmiNotConnected | UnsafeAmiValue)
