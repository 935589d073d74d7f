"""Live monitoring sessions as a pure state machine (h11 style): events in, commands out.

A session: a supervisor's device is rung (``RingSupervisor``) and, once answered, runs
``ChanSpy`` on the agent's channel of a live call in one of three modes (``Mode``). The
mode can be switched while the session runs (``RedirectSupervisor``: the supervisor's
channel moves to the new mode's extension, the call to the supervisor stays up). A session
ends when it is stopped (``HangupSupervisor``), the supervisor hangs up or never answers,
or the monitored call or the agent's channel ends; every end is one ``SessionEnded``.

The supervisor's channel is known before it exists: the Originate's ChannelId and ActionID
are the session's ``channel_id`` (chosen here from the session id).

Several Asterisk servers: ChanSpy hears only channels of its own server, so a session
lives on the agent channel's ``server``: its every command says that server, and a
resync of one server (``Resynced``) settles only that server's sessions.

No IO, no clock: the caller passes ``now`` and executes the commands (``MonitorService``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from ccd.domain.auth import Principal
from ccd.domain.calls import Call, LiveChannel
from ccd.domain.channels import ChannelState
from ccd.domain.contract import SUPERVISOR_CHANNEL_PREFIX


class Mode(enum.StrEnum):
    LISTEN = "listen"  # the supervisor hears agent and customer; nobody hears them
    WHISPER = "whisper"  # ...and the agent hears the supervisor, the customer does not
    BARGE = "barge"  # agent and customer both hear the supervisor (three-way)


class Status(enum.StrEnum):
    RINGING = "ringing"  # the supervisor's device rings
    ACTIVE = "active"  # answered: ChanSpy runs on the agent's channel


class EndReason(enum.StrEnum):
    STOPPED = "stopped"  # DELETE /api/v1/monitors/{id}
    SUPERVISOR_HUNG_UP = "supervisor-hung-up"
    NOT_ANSWERED = "not-answered"  # the supervisor's device did not answer (or failed)
    CALL_ENDED = "call-ended"  # the agent's channel of the monitored call ended
    LOST = "lost"  # the supervisor's channel is gone after an AMI outage


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    call_id: str  # the monitored call's linkedid
    agent_channel: str  # the spied channel's name (ChanSpy's prefix)
    agent_uniqueid: str
    agent_id: str | None
    device: str  # the supervisor's device, as given
    mode: Mode
    dialed_mode: Mode  # the extension the supervisor's channel runs now
    status: Status
    started_by: Principal
    started_at: datetime
    answered_at: datetime | None = None
    server: str = ""  # the Asterisk server of the agent's channel, where it all happens

    @property
    def channel_id(self) -> str:
        return SUPERVISOR_CHANNEL_PREFIX + self.id


# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRequested:
    session_id: str
    call_id: str
    agent_channel: str
    agent_uniqueid: str
    agent_id: str | None
    device: str
    mode: Mode
    started_by: Principal
    server: str = ""  # the agent channel's Asterisk server


@dataclass(frozen=True, slots=True)
class SwitchRequested:
    session_id: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class StopRequested:
    session_id: str


@dataclass(frozen=True, slots=True)
class RingFailed:
    """The Originate of the supervisor could not be written, or Asterisk refused it."""

    session_id: str


@dataclass(frozen=True, slots=True)
class OriginateAnswered:
    """Asterisk's OriginateResponse, success (the ActionID is the session's channel_id)."""

    action_id: str


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    action_id: str


@dataclass(frozen=True, slots=True)
class RedirectFailed:
    """Asterisk did not move the supervisor's channel to ``mode`` (a ``RedirectSupervisor``
    that failed): it still runs ``previous``."""

    channel_id: str
    mode: Mode
    previous: Mode


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """A channel hung up (any channel: the machine picks out what concerns it)."""

    uniqueid: str


@dataclass(frozen=True, slots=True)
class Resynced:
    """After an AMI (re)connect of ``server``: the uniqueids of that server's live
    channels."""

    live_uniqueids: frozenset[str]
    server: str = ""


Event = (
    StartRequested
    | SwitchRequested
    | StopRequested
    | RingFailed
    | OriginateAnswered
    | OriginateFailed
    | RedirectFailed
    | ChannelGone
    | Resynced
)


# ---- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingSupervisor:
    """Originate the supervisor's device into the monitor context at ``mode``'s
    extension, spying on ``target_channel``; ChannelId and ActionID ``channel_id``."""

    session: Session


@dataclass(frozen=True, slots=True)
class RedirectSupervisor:
    """Move the supervisor's channel from ``previous``'s extension to ``mode``'s."""

    channel_id: str
    mode: Mode
    previous: Mode
    server: str = ""


@dataclass(frozen=True, slots=True)
class HangupSupervisor:
    channel_id: str
    server: str = ""  # the Asterisk server the supervisor's channel is on


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session: Session
    reason: EndReason


Command = RingSupervisor | RedirectSupervisor | HangupSupervisor | SessionEnded


class MonitorError(Exception):
    """A request the sessions' state refuses; ``str()`` says why (shown to the caller)."""


class UnknownSession(MonitorError):
    pass


# ---- the machine --------------------------------------------------------------------


class MonitorSessions:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def sessions(self) -> list[Session]:
        """Active sessions, oldest first."""
        return sorted(self._sessions.values(), key=lambda s: (s.started_at, s.id))

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Apply ``event``; the commands to execute, in order. Requests about an unknown
        session raise ``UnknownSession``; events about one are ignored."""
        match event:
            case StartRequested():
                return self._start(event, now)
            case SwitchRequested(session_id=session_id, mode=mode):
                return self._switch(self._known(session_id), mode)
            case StopRequested(session_id=session_id):
                session = self._known(session_id)
                return [
                    HangupSupervisor(session.channel_id, session.server),
                    *self._end(session, EndReason.STOPPED),
                ]
            case RingFailed(session_id=session_id):
                return self._not_answered(self._sessions.get(session_id))
            case OriginateAnswered(action_id=action_id):
                return self._answered(action_id, now)
            case OriginateFailed(action_id=action_id):
                return self._not_answered(self._by_channel(action_id))
            case RedirectFailed():
                self._redirect_failed(event)
                return []
            case ChannelGone(uniqueid=uniqueid):
                return self._channel_gone(uniqueid)
            case Resynced(live_uniqueids=live, server=server):
                return self._resynced(live, server)

    def _not_answered(self, session: Session | None) -> list[Command]:
        return [] if session is None else self._end(session, EndReason.NOT_ANSWERED)

    def _known(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(f"no active monitor session {session_id!r}")
        return session

    def _by_channel(self, channel_id: str) -> Session | None:
        if not channel_id.startswith(SUPERVISOR_CHANNEL_PREFIX):
            return None
        return self._sessions.get(channel_id.removeprefix(SUPERVISOR_CHANNEL_PREFIX))

    def _start(self, event: StartRequested, now: datetime) -> list[Command]:
        if event.session_id in self._sessions:
            raise MonitorError(f"monitor session {event.session_id!r} exists already")
        for other in self._sessions.values():
            if other.device == event.device:
                raise MonitorError(
                    f"{event.device} is already in monitor session {other.id!r}; end it first"
                )
        session = Session(
            id=event.session_id,
            call_id=event.call_id,
            agent_channel=event.agent_channel,
            agent_uniqueid=event.agent_uniqueid,
            agent_id=event.agent_id,
            device=event.device,
            mode=event.mode,
            dialed_mode=event.mode,
            status=Status.RINGING,
            started_by=event.started_by,
            started_at=now,
            server=event.server,
        )
        self._sessions[session.id] = session
        return [RingSupervisor(session)]

    def _switch(self, session: Session, mode: Mode) -> list[Command]:
        if session.status is Status.RINGING:
            # The ringing channel runs the dialed mode once answered; the answer redirects.
            self._sessions[session.id] = replace(session, mode=mode)
            return []
        if mode is session.dialed_mode:
            self._sessions[session.id] = replace(session, mode=mode)
            return []
        self._sessions[session.id] = replace(session, mode=mode, dialed_mode=mode)
        return [RedirectSupervisor(session.channel_id, mode, session.dialed_mode, session.server)]

    def _answered(self, action_id: str, now: datetime) -> list[Command]:
        session = self._by_channel(action_id)
        if session is None or session.status is Status.ACTIVE:
            return []
        answered = replace(session, status=Status.ACTIVE, answered_at=now)
        self._sessions[session.id] = answered
        if answered.mode is not answered.dialed_mode:
            self._sessions[session.id] = replace(answered, dialed_mode=answered.mode)
            return [
                RedirectSupervisor(
                    session.channel_id, answered.mode, answered.dialed_mode, session.server
                )
            ]
        return []

    def _redirect_failed(self, event: RedirectFailed) -> None:
        session = self._by_channel(event.channel_id)
        # A later switch (or the session's end) has superseded this redirect: nothing to undo.
        if session is None or session.dialed_mode is not event.mode:
            return
        # The session shows what the supervisor's channel really runs (a barge that failed
        # to become a listen must not be shown as a listen); asking again redirects again.
        self._sessions[session.id] = replace(
            session, mode=event.previous, dialed_mode=event.previous
        )

    def _channel_gone(self, uniqueid: str) -> list[Command]:
        own = self._by_channel(uniqueid)
        if own is not None:
            reason = (
                EndReason.SUPERVISOR_HUNG_UP
                if own.status is Status.ACTIVE
                else EndReason.NOT_ANSWERED
            )
            return self._end(own, reason)
        # The agent's channel is gone: ChanSpy's E option ends an answered session by
        # itself; the hang-up also covers one still ringing.
        commands: list[Command] = []
        for session in [s for s in self.sessions() if s.agent_uniqueid == uniqueid]:
            commands.append(HangupSupervisor(session.channel_id, session.server))
            commands.extend(self._end(session, EndReason.CALL_ENDED))
        return commands

    def _resynced(self, live: frozenset[str], server: str) -> list[Command]:
        commands: list[Command] = self._orphans_hung_up(live, server)
        for session in [s for s in self.sessions() if s.server == server]:
            # A ringing session's channel exists from the Originate's start; one missing
            # now hung up while ccd was not listening.
            if session.channel_id not in live:
                commands.extend(self._end(session, EndReason.LOST))
            elif session.agent_uniqueid not in live:
                commands.append(HangupSupervisor(session.channel_id, server))
                commands.extend(self._end(session, EndReason.CALL_ENDED))
        return commands

    def _orphans_hung_up(self, live: frozenset[str], server: str) -> list[Command]:
        """Supervisor channels no session owns (``live``: ``server``'s channels): left by
        a ccd process that stopped or crashed while a supervisor listened; still spying,
        and nobody could stop them through the API. (A Local device's other half is
        ``<channel_id>;2``.)"""
        owned = {s.channel_id for s in self._sessions.values()}
        ours = {u.removesuffix(";2") for u in live if u.startswith(SUPERVISOR_CHANNEL_PREFIX)}
        return [
            HangupSupervisor(channel_id if channel_id in live else channel_id + ";2", server)
            for channel_id in sorted(ours - owned)
        ]

    def _end(self, session: Session, reason: EndReason) -> list[Command]:
        del self._sessions[session.id]
        return [SessionEnded(session, reason)]


# ---- the agent's leg of a call ------------------------------------------------------


def agent_leg(call: Call, agent_legs: Mapping[str, str]) -> tuple[LiveChannel, str] | None:
    """The channel to spy on: the call's agent leg (uniqueid in ``agent_legs``, uniqueid
    → agent id) that answered and is up, the latest answered if there are several (a
    transfer), with its agent id; None while no agent leg has answered."""
    answered = [
        channel
        for channel in call.channels
        if channel.snapshot.uniqueid in agent_legs
        and channel.answered_at is not None
        and channel.snapshot.state is ChannelState.UP
    ]
    if not answered:
        return None
    latest = max(answered, key=lambda c: c.answered_at or c.created_at)
    return latest, agent_legs[latest.snapshot.uniqueid]
