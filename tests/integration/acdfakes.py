"""Fakes for the ACD runtime (no Asterisk, no database) and a harness that runs a real
``AcdService`` with the real ``AcdEngine`` over them, on a ``FakeClock`` the test moves
(the service's tick and session-log loops and its hangup retries sleep on it).

``FakeAmi`` records the typed operations the ACD asks of the gateway, as the gateway does
against Asterisk: ``ring_agent`` writes before it returns and its task gives the ActionID
once the Originate is queued; ``originate`` returns the ActionID (outcomes arrive later
as an ``OriginateResponded`` the test injects through ``service.handle``); it can be
told to raise ``AmiNotConnected`` as the gateway does while AMI is down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ccd.acd.model import Agent, PauseReason, Queue
from ccd.acd.seed import AcdConfig
from ccd.acd.service import AcdService
from ccd.acd.waiting import Arrival
from ccd.ami.actions import HangupAction, OriginateAction, RingAgentAction
from ccd.ami.protocol import AmiConnectionLost, AmiNotConnected
from ccd.db.acd_store import SessionEntry
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import ChannelHungUp, OriginateResponded
from tests.clock import FakeClock, settle

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)

# Asterisk's OriginateResponse failure reasons (AST_CONTROL_*).
REASON_FAILED = 0
REASON_NO_ANSWER = 3
REASON_BUSY = 5
REASON_CONGESTION = 8


Sent = RingAgentAction | OriginateAction


class FakeAmi:
    """Records every ring, originate and hangup; ``down`` makes them fail the way the
    gateway does when AMI is not connected (nothing written)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []  # rings and call backs, in order
        self.hangup_actions: list[HangupAction] = []
        self.down = False
        # Originates the connection drops while they are in flight: Asterisk may well
        # have received them (they ring) but ccd never hears their OriginateResponse.
        self.lose_in_flight = 0
        self.lost: list[Sent] = []
        self.failing_hangups = 0  # the next hangups fail as if AMI were down
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def rings(self) -> list[RingAgentAction]:
        return [a for a in self.sent if isinstance(a, RingAgentAction)]

    @property
    def callbacks(self) -> list[OriginateAction]:
        return [a for a in self.sent if isinstance(a, OriginateAction)]

    def _record(self, action: Sent) -> str:
        """Written: recorded, or lost with the connection (raises, as the gateway does)."""
        if self.lose_in_flight > 0:
            self.lose_in_flight -= 1
            self.lost.append(action)
            raise AmiConnectionLost("Originate", "connection reset by peer")
        self.sent.append(action)
        self._changed()
        return action.action_id or f"ccd-originate-{len(self.sent)}"

    def ring_agent(self, action: RingAgentAction) -> asyncio.Task[str]:
        # Like the gateway: "not connected" is raised at once, nothing written; otherwise
        # written before this returns, the task resolving once Asterisk queued it.
        if self.down:
            raise AmiNotConnected()
        try:
            action_id = self._record(action)
        except AmiConnectionLost as exc:
            lost = exc

            async def in_flight() -> str:
                raise lost

            return asyncio.ensure_future(in_flight())

        async def queued() -> str:
            return action_id

        return asyncio.ensure_future(queued())

    async def originate(self, action: OriginateAction) -> str:
        if self.down:
            raise AmiNotConnected()
        return self._record(action)

    async def hangup(self, action: HangupAction) -> None:
        if self.down or self.failing_hangups > 0:
            self.failing_hangups = max(0, self.failing_hangups - 1)
            raise AmiNotConnected()
        self.hangup_actions.append(action)
        self._changed()

    def hangups(self) -> list[str]:
        """Channels ccd asked Asterisk to hang up, in order."""
        return [a.channel for a in self.hangup_actions]

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_for(self, condition: Callable[[], bool], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                changed = asyncio.get_running_loop().create_future()
                self._waiters.append(changed)
                await changed

    async def wait_rings(self, count: int, timeout_s: float = 3.0) -> list[RingAgentAction]:
        """Wait until ``count`` agent rings were sent; return them all."""
        await self._wait_for(lambda: len(self.rings) >= count, timeout_s)
        return self.rings

    async def wait_callbacks(self, count: int, timeout_s: float = 3.0) -> list[OriginateAction]:
        """Wait until ``count`` call backs were originated; return them all."""
        await self._wait_for(lambda: len(self.callbacks) >= count, timeout_s)
        return self.callbacks

    async def wait_hangups(self, count: int, timeout_s: float = 3.0) -> list[str]:
        await self._wait_for(lambda: len(self.hangup_actions) >= count, timeout_s)
        return self.hangups()


class FakeStore:
    """The ACD's view of the database: configuration, session log, latest per agent."""

    def __init__(
        self,
        config: AcdConfig,
        latest: Mapping[str, SessionEntry] | None = None,
        failing_appends: int = 0,
        first_append_hangs: bool = False,
    ) -> None:
        self.config = config
        self.latest = dict(latest or {})
        self.rows: list[SessionEntry] = []
        self.failing_appends = failing_appends
        self.append_attempts = 0
        # A database round trip that has not come back (until the writer is cancelled).
        self.first_append_hangs = first_append_hangs
        self.append_started = asyncio.Event()

    async def load(self) -> AcdConfig:
        return self.config

    async def append_sessions(self, rows: Sequence[SessionEntry]) -> None:
        self.append_attempts += 1
        self.append_started.set()
        if self.failing_appends > 0:
            self.failing_appends -= 1
            raise ConnectionRefusedError("database is down")
        if self.first_append_hangs and self.append_attempts == 1:
            await asyncio.Event().wait()  # never answers; cancelled by stop()
        self.rows.extend(rows)

    async def latest_sessions(self) -> dict[str, SessionEntry]:
        return dict(self.latest)


def make_config(
    queues: Sequence[Queue],
    agents: Sequence[Agent],
    memberships: Mapping[str, Sequence[str]] | None = None,
    pause_reasons: Sequence[str] = ("lunch", "training"),
) -> AcdConfig:
    """Every agent joins every queue at login unless ``memberships`` says otherwise."""
    all_queues = [q.id for q in queues]
    chosen = memberships or {}
    return AcdConfig(
        agents={a.id: a for a in agents},
        queues={q.id: q for q in queues},
        pause_reasons={code: PauseReason(code=code, label=code.title()) for code in pause_reasons},
        memberships={a.id: frozenset(chosen.get(a.id, all_queues)) for a in agents},
    )


def arrival(
    n: int = 1,
    *,
    queue_id: str = "sales",
    priority: int = 0,
    joined_at: float | None = None,
    caller_num: str = "5551234",
    caller_name: str = "Jane",
    skills: Mapping[str, int] | None = None,
) -> Arrival:
    """Caller ``n`` as the hold session reports it (channel, uniqueid, linkedid differ per n)."""
    return Arrival(
        queue_id=queue_id,
        priority=priority,
        skills=dict(skills or {}),
        joined_at=joined_at,
        linkedid=f"1764064000.{n}0",
        callback_of=None,
        channel=f"PJSIP/trunk-0000000{n}",
        uniqueid=f"1764064000.{n}0",
        caller_num=caller_num,
        caller_name=caller_name,
    )


@dataclass
class Rig:
    service: AcdService
    ami: FakeAmi
    store: FakeStore
    clock: FakeClock
    published: list[object] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def answered(self, originate: Sent, uniqueid: str | None = None) -> None:
        """Asterisk: the channel of this ring or call back answered (its uniqueid is
        the ChannelId ccd chose, unless ``uniqueid`` says otherwise)."""
        self.service.handle(
            OriginateResponded(
                at=self.clock.now(),
                action_id=_action_id(originate),
                success=True,
                reason=4,
                channel=_channel(originate),
                uniqueid=uniqueid if uniqueid is not None else originate.channel_id or "",
            )
        )

    def failed(self, originate: Sent, reason: int) -> None:
        """Asterisk: the Originate failed (3 no answer, 5 busy, 8 congestion, 0 failed)."""
        self.service.handle(
            OriginateResponded(
                at=self.clock.now(),
                action_id=_action_id(originate),
                success=False,
                reason=reason,
                channel=_channel(originate),
                uniqueid="",
            )
        )

    def hung_up(self, uniqueid: str, name: str = "", cause: int = 16) -> None:
        """Asterisk: a channel hung up (the agent leg by its ChannelId, or a caller)."""
        self.service.handle(
            ChannelHungUp(
                at=self.clock.now(),
                channel=ChannelSnapshot(
                    uniqueid=uniqueid,
                    linkedid=uniqueid,
                    name=name or f"Local/x-{uniqueid}",
                    state=ChannelState.UP,
                ),
                cause=cause,
                cause_text="Normal Clearing",
            )
        )

    def status(self, agent_id: str) -> str | None:
        live = self.service.agent_live(agent_id)
        return None if live is None else str(live["status"])

    def agent_states(self, agent_id: str) -> list[tuple[str, str | None]]:
        """(status, reason) of every ``agent.state`` message sent for this agent."""
        return [
            (m["status"], m["reason"])
            for m in self.messages
            if m["type"] == "agent.state" and m["agent_id"] == agent_id
        ]

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.published if isinstance(event, kind)]


def _action_id(originate: Sent) -> str:
    assert originate.action_id is not None  # the ACD names every Originate
    return originate.action_id


def _channel(originate: Sent) -> str:
    return originate.interface if isinstance(originate, RingAgentAction) else originate.channel


def _never_busy(_interface: str) -> bool:
    return False


@contextlib.asynccontextmanager
async def running_acd(
    config: AcdConfig,
    *,
    latest: Mapping[str, SessionEntry] | None = None,
    failing_appends: int = 0,
    first_append_hangs: bool = False,
    interface_busy: Callable[[str], bool] | None = None,
    live_channels: Callable[[], Mapping[str, str]] | None = None,
    login: Sequence[str] = (),
) -> AsyncIterator[Rig]:
    """A started AcdService over fakes; ``login`` agents are logged in (their queues from
    the configuration's memberships); ``live_channels`` is what a resync finds. Stopped
    (tasks awaited) on exit."""
    ami = FakeAmi()
    store = FakeStore(config, latest, failing_appends, first_append_hangs)
    clock = FakeClock(T0)
    published: list[object] = []
    messages: list[dict[str, Any]] = []
    service = AcdService(
        ami=ami,
        store=store,
        publish=published.append,
        on_message=messages.append,
        clock=clock,
        live_channels=live_channels,
        interface_busy=interface_busy if interface_busy is not None else _never_busy,
    )
    rig = Rig(service, ami, store, clock, published, messages)
    await service.start()
    await settle()  # its loops are sleeping on the clock: every step from now wakes them
    try:
        for agent_id in login:
            await service.login(agent_id, None)
        yield rig
    finally:
        await service.stop()


async def pass_time_until(
    clock: FakeClock, condition: Callable[[], bool], step_s: float = 0.25, limit_s: float = 600.0
) -> None:
    """Move the fake clock ``step_s`` at a time (every loop sleeping on it runs) until
    ``condition``; fails after ``limit_s`` of clock time."""
    waited = 0.0
    await settle()
    while not condition():
        if waited >= limit_s:
            raise AssertionError(f"not true after {limit_s:g} s of clock time")
        await clock.step(step_s)
        waited += step_s
