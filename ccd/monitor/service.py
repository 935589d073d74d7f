"""Live monitoring as a running service: the API's requests and the bus's events go through
the pure ``MonitorSessions``; this executes its commands on Asterisk and writes the audit
trail (``monitor.started`` / ``monitor.switched`` / ``monitor.ended``, target the call).

An act the API asks for is audited before it is done (start, switch) or right after (stop),
so the API can answer 503 when the trail cannot take it. Ends nobody asked for (the
supervisor hung up, the call ended) are audited with the session's own supervisor as the
actor, from a task this service owns.

Which channel of a call is the agent's: the ACD's ``AgentRingStarted`` (its agent channel's
uniqueid) and the dialer's ``AgentLegStarted`` (its Dial leg), followed on the bus. A call
whose agent leg ccd did not see start (before a ccd restart) cannot be monitored (409).

Several Asterisk servers: ChanSpy hears only its own server's channels, so the supervisor's
device is rung on the server of the agent's channel (a device that ``MonitorDevices`` puts
on another server only is refused, 409), and the session's switch and hang-up go there.
A resync of one server settles only that server's sessions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

import structlog

from ccd.ami.actions import CallerId, HangupAction, OriginateAction, RedirectAction
from ccd.ami.protocol import AmiConnectionLost, AmiNotConnected, AmiTimeout
from ccd.clock import Clock
from ccd.domain import contract
from ccd.domain.audit import AuditEntry, AuditLog
from ccd.domain.auth import Principal
from ccd.domain.channels import ChannelState
from ccd.domain.events import (
    AgentLegStarted,
    AgentRingStarted,
    ChannelHungUp,
    OriginateResponded,
    ResyncFinished,
)
from ccd.live.ports import CallDirectory
from ccd.monitor.devices import MonitorDevices
from ccd.monitor.sessions import (
    ChannelGone,
    Command,
    Event,
    HangupSupervisor,
    Mode,
    MonitorSessions,
    OriginateAnswered,
    OriginateFailed,
    RedirectFailed,
    RedirectSupervisor,
    Resynced,
    RingFailed,
    RingSupervisor,
    Session,
    SessionEnded,
    StartRequested,
    Status,
    StopRequested,
    SwitchRequested,
    UnknownSession,
    agent_leg,
)

log = structlog.get_logger("ccd.monitor")

AUDIT_TARGET_KIND = "call"
MODE_EXTENS = {
    Mode.LISTEN: contract.MonitorExten.LISTEN,
    Mode.WHISPER: contract.MonitorExten.WHISPER,
    Mode.BARGE: contract.MonitorExten.BARGE,
}


class MonitorAmi(Protocol):
    async def originate(self, action: OriginateAction) -> str: ...

    async def redirect(self, action: RedirectAction) -> None: ...

    async def hangup(self, action: HangupAction) -> None: ...


class MonitorRefused(Exception):
    """The request cannot be done; ``str()`` says why (shown to the caller)."""


class NoSuchCall(MonitorRefused):
    pass


class NoAgentLeg(MonitorRefused):
    pass


class NotYourSession(MonitorRefused):
    pass


class DeviceOnAnotherServer(MonitorRefused):
    """The device is configured on another Asterisk server than the agent's channel."""


class RingRefused(MonitorRefused):
    """Asterisk refused the supervisor's Originate, or may not have placed it."""


class SwitchRefused(MonitorRefused):
    """Asterisk did not move the supervisor's channel to the new mode."""


class MonitorService:
    def __init__(
        self,
        *,
        ami_for_server: Callable[[str], MonitorAmi],
        calls: CallDirectory,
        audit: AuditLog,
        clock: Clock,
        live_uniqueids: Callable[[], Mapping[str, str]],
        ring_timeout_s: float,
        devices: MonitorDevices,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._ami_for_server = ami_for_server  # a server's AMI by name ("": the first)
        self._calls = calls
        self._audit = audit
        self._clock = clock
        self._live_uniqueids = live_uniqueids  # every live channel: uniqueid -> server
        self._ring_timeout_s = ring_timeout_s
        self.devices = devices
        self._new_id = new_id
        self._machine = MonitorSessions()
        self._agent_legs: dict[str, str] = {}  # uniqueid -> agent id
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the API reads ----------------------------------------------------------

    def sessions(self) -> list[Session]:
        return self._machine.sessions()

    def session(self, session_id: str) -> Session | None:
        return self._machine.get(session_id)

    # -- what the API asks ---------------------------------------------------------------

    async def start(self, call_id: str, device: str, mode: Mode, actor: Principal) -> Session:
        """Ring ``device`` to monitor the agent of live call ``call_id``. Raises
        ``NoSuchCall``, ``NoAgentLeg``, ``MonitorError`` (the device is in a session),
        ``AmiNotConnected`` / ``RingRefused`` (nothing rings), or the audit trail's error
        (nothing was done)."""
        call = self._calls.call(call_id)
        if call is None:
            raise NoSuchCall(f"no live call with id {call_id!r}")
        leg = agent_leg(call, self._agent_legs)
        if leg is None:
            raise NoAgentLeg(f"call {call_id!r} has no answered agent leg to monitor yet")
        channel, agent_id = leg
        server = channel.snapshot.server
        if not self.devices.allows_on(device, server):
            raise DeviceOnAnotherServer(self.devices.elsewhere_refusal(device, server))
        event = StartRequested(
            session_id=self._new_id(),
            call_id=call_id,
            agent_channel=channel.snapshot.name,
            agent_uniqueid=channel.snapshot.uniqueid,
            agent_id=agent_id,
            device=device,
            mode=mode,
            started_by=actor,
            server=server,
        )
        # Registered first, so a second start for the same device meanwhile is refused.
        commands = self._machine.handle(event, self._clock.now())
        session = self._machine.get(event.session_id)
        assert session is not None
        try:
            await self._audit.record(
                AuditEntry(
                    actor,
                    "monitor.started",
                    AUDIT_TARGET_KIND,
                    call_id,
                    {
                        "mode": mode.value,
                        "device": device,
                        "agent_id": agent_id,
                        "monitor_id": session.id,
                    },
                )
            )
        except BaseException:
            # Not audited, not done: the session goes without a trace (nothing rang).
            self._machine.handle(RingFailed(session.id), self._clock.now())
            raise
        if self._machine.get(session.id) is None:
            # The call (or the agent's leg) ended while the start was being audited: its
            # end is audited already; ringing now would put the supervisor on nothing.
            raise NoAgentLeg(f"call {call_id!r} ended before the supervisor was rung")
        try:
            for command in commands:
                if isinstance(command, RingSupervisor):
                    await self._ring(command.session)
        except (AmiNotConnected, RingRefused):
            await self._execute(
                self._machine.handle(RingFailed(session.id), self._clock.now()), actor
            )
            raise
        log.info(
            "monitor started",
            monitor_id=session.id,
            linkedid=call_id,
            agent=agent_id,
            mode=mode.value,
            device=device,
            token_id=actor.token_id,
            server=server,
        )
        return session

    async def switch(self, session_id: str, mode: Mode, actor: Principal) -> Session:
        """Switch a session's mode without hanging up the supervisor. Raises
        ``UnknownSession``, ``NotYourSession``, ``AmiNotConnected`` or the audit's error."""
        session = self._own(session_id, actor)
        if mode is session.mode:
            return session
        await self._audit.record(
            AuditEntry(
                actor,
                "monitor.switched",
                AUDIT_TARGET_KIND,
                session.call_id,
                {
                    "mode": mode.value,
                    "previous_mode": session.mode.value,
                    "device": session.device,
                    "monitor_id": session.id,
                },
            )
        )
        try:
            await self._execute(
                self._machine.handle(SwitchRequested(session_id, mode), self._clock.now()),
                actor,
            )
        except (AmiNotConnected, SwitchRefused):
            await self._switch_failed(session, mode, actor)
            raise
        log.info(
            "monitor switched", monitor_id=session_id, linkedid=session.call_id, mode=mode.value
        )
        switched = self._machine.get(session_id)
        return switched if switched is not None else session

    async def _switch_failed(self, session: Session, mode: Mode, actor: Principal) -> None:
        """The trail took the switch before it was tried: it says it did not happen (best
        effort: the caller hears of the failure either way)."""
        kept = self._machine.get(session.id)
        entry = AuditEntry(
            actor,
            "monitor.switch_failed",
            AUDIT_TARGET_KIND,
            session.call_id,
            {
                "mode": mode.value,
                "mode_kept": (kept or session).mode.value,
                "device": session.device,
                "monitor_id": session.id,
            },
        )
        try:
            await self._audit.record(entry)
        except Exception:
            log.error("monitor switch failure not audited", monitor_id=session.id, exc_info=True)

    async def stop(self, session_id: str, actor: Principal) -> Session:
        session = self._own(session_id, actor)
        await self._execute(
            self._machine.handle(StopRequested(session_id), self._clock.now()), actor
        )
        return session

    def _own(self, session_id: str, actor: Principal) -> Session:
        session = self._machine.get(session_id)
        if session is None:
            raise UnknownSession(f"no active monitor session {session_id!r}")
        # Tokens are who ccd knows: another supervisor's session is theirs to change.
        if session.started_by.token_id != actor.token_id:
            raise NotYourSession("only the supervisor who started a monitor session may change it")
        return session

    # -- the bus -------------------------------------------------------------------------

    def handle(self, event: object) -> None:
        """Bus subscriber."""
        if isinstance(event, AgentRingStarted):
            self._agent_legs[event.leg_linkedid] = event.agent_id
        elif isinstance(event, AgentLegStarted):
            self._agent_legs[event.uniqueid] = event.agent_id
        elif isinstance(event, OriginateResponded):
            if event.action_id.startswith(contract.SUPERVISOR_CHANNEL_PREFIX):
                outcome: Event = (
                    OriginateAnswered(event.action_id)
                    if event.success
                    else OriginateFailed(event.action_id)
                )
                self._feed(outcome)
        elif isinstance(event, ChannelHungUp):
            uniqueid = event.channel.uniqueid
            self._feed(ChannelGone(uniqueid))
            self._agent_legs.pop(uniqueid, None)
        elif isinstance(event, ResyncFinished):
            every = self._live_uniqueids()
            live = frozenset(u for u, server in every.items() if server == event.server)
            for channel_id in self._answered_unseen(event.server):
                self._feed(OriginateAnswered(channel_id))
            self._feed(Resynced(live, event.server))
            self._agent_legs = {u: a for u, a in self._agent_legs.items() if u in every}

    def _answered_unseen(self, server: str) -> list[str]:
        """Supervisor channels of ``server``'s ringing sessions that are up now: answered
        while its AMI connection was down (their OriginateResponse is lost; without this
        they stayed "ringing" and a switch was never applied)."""
        answered: list[str] = []
        for session in self._machine.sessions():
            if session.status is not Status.RINGING or session.server != server:
                continue
            # ccd originated the channel with this uniqueid: it is its own call's linkedid.
            call = self._calls.call(session.channel_id)
            channels = call.channels if call is not None else ()
            if any(
                c.snapshot.uniqueid == session.channel_id and c.snapshot.state is ChannelState.UP
                for c in channels
            ):
                answered.append(session.channel_id)
        return answered

    def _feed(self, event: Event) -> None:
        commands = self._machine.handle(event, self._clock.now())
        if commands:
            self._spawn(self._execute(commands, None))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="ccd-monitor")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop_all(self) -> None:
        """On shutdown: let the commands already under way finish (bounded by the AMI's
        action timeout), cancel them if this is cancelled."""
        tasks = list(self._tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for task in tasks:
                task.cancel()

    # -- commands ------------------------------------------------------------------------

    async def _execute(self, commands: list[Command], actor: Principal | None) -> None:
        """Run ``commands`` in order. ``actor``: who asked (None: nobody, the bus)."""
        for command in commands:
            match command:
                case RingSupervisor(session=session):
                    await self._ring(session)
                case RedirectSupervisor():
                    await self._redirect(command, raise_errors=actor is not None)
                case HangupSupervisor(channel_id=channel_id, server=server):
                    await self._hangup(channel_id, server)
                case SessionEnded(session=session, reason=reason):
                    await self._ended(session, reason.value, actor)

    async def _ring(self, session: Session) -> None:
        action = OriginateAction(
            channel=session.device,
            context=contract.MONITOR_CONTEXT,
            exten=MODE_EXTENS[session.dialed_mode],
            timeout_s=self._ring_timeout_s,
            caller_id=CallerId(number=session.agent_id or "", name="ccd monitor"),
            variables={
                contract.VAR_MONITOR_TARGET: session.agent_channel,
                contract.VAR_MONITOR_ID: session.id,
            },
            channel_id=session.channel_id,
            action_id=session.channel_id,
        )
        try:
            await self._ami_for_server(session.server).originate(action)
        except (AmiConnectionLost, AmiTimeout) as exc:
            # Written, answer lost: it may ring; make sure it does not.
            await self._hangup(session.channel_id, session.server)
            raise RingRefused(f"{exc}; the supervisor's device was hung up") from exc
        except AmiNotConnected:
            raise  # nothing was written
        except Exception as exc:
            await self._hangup(session.channel_id, session.server)
            raise RingRefused(str(exc) or type(exc).__name__) from exc

    async def _redirect(self, command: RedirectSupervisor, *, raise_errors: bool) -> None:
        channel_id = command.channel_id
        action = RedirectAction(channel_id, contract.MONITOR_CONTEXT, MODE_EXTENS[command.mode])
        try:
            await self._ami_for_server(command.server).redirect(action)
        except AmiNotConnected:
            log.warning("monitor switch not applied: AMI not connected", channel=channel_id)
            self._redirect_failed(command)
            if raise_errors:
                raise  # nothing was written
            await self._unasked_switch_failed(command)
        except Exception as exc:
            log.warning("monitor switch not applied", channel=channel_id, reason=str(exc))
            # A timeout may hide an applied Redirect; assuming it was not makes a retry
            # redirect again (harmless: ChanSpy restarts in the mode asked).
            self._redirect_failed(command)
            if raise_errors:
                raise SwitchRefused(f"the switch was not applied: {exc}") from exc
            await self._unasked_switch_failed(command)

    async def _unasked_switch_failed(self, command: RedirectSupervisor) -> None:
        """The redirect at the answer (of a switch asked while the device rang) failed."""
        session_id = command.channel_id.removeprefix(contract.SUPERVISOR_CHANNEL_PREFIX)
        session = self._machine.get(session_id)
        if session is not None:
            await self._switch_failed(session, command.mode, session.started_by)

    def _redirect_failed(self, command: RedirectSupervisor) -> None:
        failed = RedirectFailed(command.channel_id, command.mode, command.previous)
        self._machine.handle(failed, self._clock.now())

    async def _hangup(self, channel_id: str, server: str) -> None:
        try:
            await self._ami_for_server(server).hangup(HangupAction(channel_id))
        except Exception as exc:
            # Gone already (it hung up first): not an error.
            log.info("monitor hangup not applied", channel=channel_id, reason=str(exc))

    async def _ended(self, session: Session, reason: str, actor: Principal | None) -> None:
        log.info(
            "monitor ended",
            monitor_id=session.id,
            linkedid=session.call_id,
            reason=reason,
            mode=session.mode.value,
        )
        entry = AuditEntry(
            actor or session.started_by,
            "monitor.ended",
            AUDIT_TARGET_KIND,
            session.call_id,
            {
                "mode": session.mode.value,
                "device": session.device,
                "reason": reason,
                "monitor_id": session.id,
            },
        )
        if actor is not None:
            try:
                await self._audit.record(entry)
            except Exception:
                log.error("monitor end not audited", monitor_id=session.id, exc_info=True)
                raise  # the API says so
            return
        try:
            await self._audit.record(entry)
        except Exception:
            log.exception("monitor end not audited", monitor_id=session.id)
