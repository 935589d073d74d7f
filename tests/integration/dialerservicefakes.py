"""Fakes and a harness for the dialer's runtime (``ccd.dialer.service.DialerService``): a
real ``DialerStore`` and ``AttemptStore`` on a migrated SQLite copy, the ACD's side and
Asterisk's side faked, time on a ``FakeClock`` the test moves.

* ``FakeAgents`` (``DialerAgents``): a few agents and their ACD state, refusing what the
  ACD refuses (``AgentNotFree`` to reserve an agent that is not available,
  ``NotOutboundCall`` for a release / connect / end of a call the agent is not on), and a
  record of every request the dialer made.
* ``FakeAmi`` (``DialerAmi``): records the Originates, channel variables set, redirects and
  hang-ups written (``originate_error``: each Originate is written, then raises it, like
  a connection lost with the action in flight); Asterisk's answers are events the test
  feeds to ``service.handle`` (``DialerHarness``'s helpers build them:
  ``ccd-dialer-connect``'s Dial of an agent is a ``DialStarted`` / ``DialEnded`` pair
  whose caller is the customer leg and whose destination is the agent's Dial leg, of a
  uniqueid of its own: ``agent_leg``).
* Several Asterisk servers: the harness's ``ami`` is the default server's (``default``);
  ``others`` adds further servers by name, each a ``FakeAmi`` of its own, with its
  resync state (``others_resynced``) and live channels (``others_live``). ``FakeAgents``
  puts an agent on a server with ``servers`` (else the default one).
* ``DatabaseSwitch``: while ``down``, every statement on the engine fails the way a lost
  database does (a driver ``OperationalError``: the stores raise ``StoreUnavailable``).
* ``DialerHarness``: the service wired to all of it. ``run_for`` moves the clock tick by
  tick (``TICK_S``) and after each lets the service finish what the tick started (its
  database round trips included): no wall-clock sleeps, nothing left in flight.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.engine import AgentNotFree, NotOutboundCall
from ccd.acd.model import AgentState, AgentStatus
from ccd.ami.actions import (
    HangupAction,
    OriginateAction,
    RedirectAction,
    SetVariableAction,
)
from ccd.db.dialer_attempts import AttemptStore, ClaimedAttempt, StoredAttempt
from ccd.db.dialer_store import DialerStore
from ccd.dialer.service import TICK_S, DialerService
from ccd.domain import contract
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    ChannelCreated,
    ChannelHungUp,
    DialEnded,
    DialStarted,
    OriginateResponded,
    UserEventReceived,
)
from tests.clock import FakeClock, settle

DEFAULT_SERVER = "default"  # the harness's first (default) Asterisk server
# Asterisk's OriginateResponse failure reasons (AST_CONTROL_*).
REASON_NO_ANSWER = 3
REASON_BUSY = 5


# ---- the ACD --------------------------------------------------------------------------


class FakeAgents:
    """The ACD's agents as the dialer sees them. ``calls`` records every request, refused
    ones included: (operation, agent id, call id)."""

    def __init__(
        self,
        agents: Iterable[str],
        *,
        queues: Mapping[str, list[str]] | None = None,
        now: float = 0.0,
        servers: Mapping[str, str] | None = None,
    ) -> None:
        self.states: dict[str, AgentState] = {
            agent_id: AgentState(AgentStatus.AVAILABLE, now) for agent_id in agents
        }
        self.queues = dict(queues or {})
        self.calls: list[tuple[str, str, str]] = []
        self.wrapups: list[tuple[str, str, float | None]] = []  # outbound_ended's wrap-ups
        self.pausing: set[str] = set()  # a pause asked while reserved: applied at the release
        self.servers = dict(servers or {})  # agent id -> its server (else DEFAULT_SERVER)

    # ---- DialerAgents ----

    def claimable(self, agent_ids: Iterable[str]) -> list[str]:
        return [a for a in agent_ids if self.status(a) is AgentStatus.AVAILABLE]

    def reserve_outbound(self, agent_id: str, call_id: str) -> None:
        self.calls.append(("reserve", agent_id, call_id))
        status = self.status(agent_id)
        if status is not AgentStatus.AVAILABLE:
            raise AgentNotFree(agent_id, status.value)
        self.set(agent_id, AgentStatus.RESERVED, call_id)

    def release_outbound(self, agent_id: str, call_id: str) -> None:
        self.calls.append(("release", agent_id, call_id))
        self._expect(agent_id, call_id, AgentStatus.RESERVED)
        if agent_id in self.pausing:
            self.pausing.discard(agent_id)
            self.set(agent_id, AgentStatus.PAUSED)
        else:
            self.set(agent_id, AgentStatus.AVAILABLE)

    def outbound_connected(self, agent_id: str, call_id: str) -> None:
        self.calls.append(("connected", agent_id, call_id))
        self._expect(agent_id, call_id, AgentStatus.RESERVED)
        self.set(agent_id, AgentStatus.ON_CALL, call_id)

    def outbound_ended(self, agent_id: str, call_id: str, wrapup_s: float | None) -> None:
        self.calls.append(("ended", agent_id, call_id))
        self._expect(agent_id, call_id, AgentStatus.ON_CALL)
        self.wrapups.append((agent_id, call_id, wrapup_s))
        self.set(agent_id, AgentStatus.WRAP_UP, call_id)

    def wrap_up_done(self, agent_id: str) -> None:
        self.calls.append(("wrap_up_done", agent_id, ""))
        if self.status(agent_id) is AgentStatus.WRAP_UP:
            self.set(agent_id, AgentStatus.AVAILABLE)

    def agent_interface(self, agent_id: str) -> str | None:
        return f"PJSIP/{agent_id}" if agent_id in self.states else None

    def queue_members(self, queue_id: str) -> list[str]:
        return list(self.queues.get(queue_id, []))

    def agent_status(self, agent_id: str) -> AgentState:
        return self.states.get(agent_id, AgentState(AgentStatus.LOGGED_OUT, 0.0))

    def wants_out(self, agent_id: str) -> bool:
        return agent_id in self.pausing

    def server_of(self, agent_id: str) -> str | None:
        """The server a logged-in agent is on, as the ACD tells the dialer; None when
        the agent is not logged in."""
        if self.status(agent_id) is AgentStatus.LOGGED_OUT:
            return None
        return self.servers.get(agent_id, DEFAULT_SERVER)

    # ---- for the test ----

    def status(self, agent_id: str) -> AgentStatus:
        return self.agent_status(agent_id).status

    def set(self, agent_id: str, status: AgentStatus, call_id: str | None = None) -> None:
        self.states[agent_id] = AgentState(status, 0.0, call_id=call_id)

    def pause(self, agent_id: str) -> None:
        """The agent asks for a pause: at once, or (reserved for outbound) at the release,
        as the ACD defers it."""
        if self.status(agent_id) is AgentStatus.RESERVED:
            self.pausing.add(agent_id)
        else:
            self.set(agent_id, AgentStatus.PAUSED)

    def made(self, operation: str) -> list[tuple[str, str]]:
        """(agent id, call id) of every ``operation`` request, in order."""
        return [(agent, call) for op, agent, call in self.calls if op == operation]

    def reserved(self) -> dict[str, str]:
        """Agent id -> the dialer's call it is reserved for, now."""
        return {
            agent_id: state.call_id or ""
            for agent_id, state in self.states.items()
            if state.status is AgentStatus.RESERVED
        }

    def reserved_for(self, call_id: str) -> str:
        """The agent reserved for the dialer's call ``call_id`` now."""
        [agent_id] = [a for a, call in self.reserved().items() if call == call_id]
        return agent_id

    def _expect(self, agent_id: str, call_id: str, status: AgentStatus) -> None:
        state = self.agent_status(agent_id)
        if state.status is not status or state.call_id != call_id:
            raise NotOutboundCall(agent_id, call_id, status, state)


# ---- Asterisk -------------------------------------------------------------------------


class FakeAmi:
    """Records what the dialer writes to Asterisk, in order (``written``). A Setvar is
    answered after ``set_variable_delay_s`` of ``clock`` time (a slow AMI); at once when 0."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.set_variable_delay_s = 0.0
        self.originate_error: Exception | None = None  # raised after the Originate is written
        self.written: list[OriginateAction | SetVariableAction | RedirectAction | HangupAction] = []

    @property
    def connected(self) -> bool:
        return True

    async def originate(self, action: OriginateAction) -> str:
        self.written.append(action)
        if self.originate_error is not None:
            raise self.originate_error
        return action.action_id or ""

    async def hangup(self, action: HangupAction) -> None:
        self.written.append(action)

    async def redirect(self, action: RedirectAction) -> None:
        self.written.append(action)

    async def set_variable(self, action: SetVariableAction) -> None:
        self.written.append(action)
        if self.set_variable_delay_s > 0:
            assert self.clock is not None
            await self.clock.sleep(self.set_variable_delay_s)

    @property
    def originates(self) -> list[OriginateAction]:
        return [a for a in self.written if isinstance(a, OriginateAction)]

    @property
    def set_variables(self) -> list[SetVariableAction]:
        return [a for a in self.written if isinstance(a, SetVariableAction)]

    def agents_dialed(self) -> list[str]:
        """The interfaces set as ``CCD_DIALER_AGENT`` (an agent to connect), in order."""
        return [v.value for v in self.set_variables if v.name == contract.VAR_DIALER_AGENT]

    @property
    def redirects(self) -> list[RedirectAction]:
        return [a for a in self.written if isinstance(a, RedirectAction)]

    @property
    def hangups(self) -> list[str]:
        return [a.channel for a in self.written if isinstance(a, HangupAction)]

    def numbers(self) -> list[str]:
        """The numbers originated, in order (``Local/<E.164>@ccd-dialer[/n]``)."""
        return [_number(o) for o in self.originates]

    def channel_of(self, number: str) -> str:
        """The channel id the (only) Originate of ``number`` was placed with."""
        found = [o.channel_id for o in self.originates if _number(o) == number]
        assert len(found) == 1, f"{number} originated {len(found)} times"
        assert found[0] is not None
        return found[0]


def _number(originate: OriginateAction) -> str:
    local, _, context = originate.channel.removeprefix("Local/").partition("@")
    assert context.split("/")[0] == contract.DIALER_CONTEXT, originate.channel
    return local


# ---- the database ---------------------------------------------------------------------


class DatabaseSwitch:
    """While ``down``, every statement on ``engine`` fails like a lost database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.down = False
        self.failures = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)

    def _before(self, *_: Any) -> None:
        if self.down:
            self.failures += 1
            raise sqlite3.OperationalError("disk I/O error")


class SlowAttempts(AttemptStore):
    """An AttemptStore whose ``claim`` and ``open_attempts`` answer after ``delays`` (by
    method name) seconds of clock time: a database slow to answer, with time in the
    test's hands."""

    def __init__(
        self, engine: AsyncEngine, *, clock: FakeClock, delays: Mapping[str, float]
    ) -> None:
        super().__init__(engine, clock=clock)
        self._time = clock
        self.delays = dict(delays)

    async def _slow(self, method: str) -> None:
        delay = self.delays.get(method, 0.0)
        if delay > 0:
            await self._time.sleep(delay)

    async def claim(
        self, contact_id: str, *, channel_id: str, now: float, agent_id: str | None = None
    ) -> ClaimedAttempt:
        await self._slow("claim")
        return await super().claim(contact_id, channel_id=channel_id, now=now, agent_id=agent_id)

    async def open_attempts(self, campaign_id: str | None = None) -> list[StoredAttempt]:
        await self._slow("open_attempts")
        return await super().open_attempts(campaign_id)


# ---- the harness ----------------------------------------------------------------------


class TrackingClock(FakeClock):
    """A FakeClock that knows which tasks are waiting on it: those are idle until the
    test moves time, the others are busy (``DialerHarness.drain`` waits for them)."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.sleeping: set[asyncio.Task[Any]] = set()
        self._changed: asyncio.Future[None] | None = None

    async def sleep(self, seconds: float) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.sleeping.add(task)
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        try:
            await super().sleep(seconds)
        finally:
            if task is not None:
                self.sleeping.discard(task)

    def changed(self) -> asyncio.Future[None]:
        """Resolves when a task next starts waiting on the clock."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed


def snapshot(
    uniqueid: str,
    name: str = "",
    state: ChannelState = ChannelState.UP,
    *,
    linkedid: str = "",
) -> ChannelSnapshot:
    return ChannelSnapshot(
        uniqueid=uniqueid, linkedid=linkedid or uniqueid, name=name or uniqueid, state=state
    )


def connect_actions(
    channel: str, interface: str, ring_s: str = "15"
) -> list[SetVariableAction | RedirectAction]:
    """What the dialer writes to connect an agent to the answered customer leg
    ``channel`` (its name, or its uniqueid): the agent's interface and ring time set on
    it, then a Redirect to ``ccd-dialer-connect``, which Dials the agent."""
    return [
        SetVariableAction(channel, contract.VAR_DIALER_AGENT, interface),
        SetVariableAction(channel, contract.VAR_DIALER_AGENT_RING_S, ring_s),
        RedirectAction(channel, contract.DIALER_CONNECT_CONTEXT, "s"),
    ]


@dataclass
class DialerHarness:
    clock: TrackingClock
    engine: AsyncEngine
    store: DialerStore
    attempts: AttemptStore
    agents: FakeAgents
    ami: FakeAmi = field(default_factory=FakeAmi)
    resynced: bool = False
    live: set[str] = field(default_factory=set)  # uniqueids Asterisk has now
    # Further Asterisk servers by name (after the default one), their resync and channels.
    others: dict[str, FakeAmi] = field(default_factory=dict)
    others_resynced: set[str] = field(default_factory=set)
    others_live: dict[str, set[str]] = field(default_factory=dict)
    published: list[object] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    # Agent legs (``agent_leg``): uniqueid -> (the customer leg, the agent); channel names.
    legs: dict[str, tuple[str, str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    service: DialerService = field(init=False)
    db: DatabaseSwitch = field(init=False)

    def __post_init__(self) -> None:
        self.ami.clock = self.clock
        for other in self.others.values():
            other.clock = self.clock
        self.db = DatabaseSwitch(self.engine)
        self.service = DialerService(
            store=self.store,
            attempts=self.attempts,
            agents=self.agents,
            servers={DEFAULT_SERVER: self.ami, **self.others},
            agent_server=self.agents.server_of,
            publish=self.published.append,
            on_message=self.messages.append,
            clock=self.clock,
            resynced=self._resynced,
            live_uniqueids=self._live,
        )

    def _resynced(self, server: str) -> bool:
        return self.resynced if server == DEFAULT_SERVER else server in self.others_resynced

    def _live(self, server: str) -> set[str]:
        return set(self.live if server == DEFAULT_SERVER else self.others_live.get(server, ()))

    async def start(self) -> None:
        await self.service.start()
        await self.drain()  # the tick loop waits on the clock

    async def stop(self) -> None:
        """Stop the service; what still waits on the clock (a write being retried, a slow
        store) is given the time it waits for, as ``DialerService.stop`` waits for it."""
        stopping = asyncio.ensure_future(self.service.stop())
        while not stopping.done():
            self.clock.advance(1.0)
            await settle()
        await stopping

    def now(self) -> float:
        return self.clock.now().timestamp()

    async def drain(self) -> None:
        """Let the service finish everything it started, its database round trips
        included (no clock time passes: what waits on the clock stays waiting)."""
        async with asyncio.timeout(10):  # a safety net, never reached when all is well
            while True:
                await settle()
                busy = [
                    task
                    for task in asyncio.all_tasks()
                    if task.get_name().startswith("ccd-dialer-")
                    and not task.done()
                    and task not in self.clock.sleeping
                ]
                if not busy:
                    return
                changed = self.clock.changed()
                await asyncio.wait([*busy, changed], return_when=asyncio.FIRST_COMPLETED)

    async def run_for(self, seconds: float) -> None:
        """``seconds`` of clock time, tick by tick."""
        for _ in range(round(seconds / TICK_S)):
            self.clock.advance(TICK_S)
            await self.drain()

    async def feed(self, *events: object) -> None:
        for item in events:
            self.service.handle(item)
        await self.drain()

    # ---- what Asterisk reports ----

    def at(self) -> datetime:
        return self.clock.now()

    def created(self, channel_id: str, name: str) -> ChannelCreated:
        self.names[channel_id] = name
        return ChannelCreated(at=self.at(), channel=snapshot(channel_id, name, ChannelState.DOWN))

    def answered(self, channel_id: str, amd: str = contract.AmdStatus.HUMAN) -> UserEventReceived:
        return UserEventReceived(
            at=self.at(),
            name=contract.USER_EVENT_DIALER_ANSWERED,
            uniqueid=channel_id,
            linkedid=channel_id,
            fields={"Attempt": channel_id, "Amd": amd, "AmdCause": ""},
        )

    def message_started(self, channel_id: str, kind: str) -> UserEventReceived:
        return UserEventReceived(
            at=self.at(),
            name=contract.USER_EVENT_DIALER_MESSAGE,
            uniqueid=channel_id,
            linkedid=channel_id,
            fields={"Attempt": channel_id, "Kind": kind},
        )

    def originate_failed(self, channel_id: str, reason: int) -> OriginateResponded:
        return OriginateResponded(
            at=self.at(),
            action_id=channel_id,
            success=False,
            reason=reason,
            channel="",
            uniqueid="",
        )

    def agent_leg(self, channel_id: str, agent_id: str) -> str:
        """A new uniqueid for the Dial leg ``ccd-dialer-connect`` makes to ``agent_id``
        from the customer leg ``channel_id`` (the leg is a channel of the customer's call)."""
        count = len(self.legs) + 1
        leg = f"1764082800.{100 + count}"  # Asterisk's kind: nothing of the customer's
        self.legs[leg] = (channel_id, agent_id)
        self.names[leg] = f"PJSIP/{agent_id}-{count:08x}"
        return leg

    def dial_started(self, leg: str) -> DialStarted:
        """``ccd-dialer-connect``'s Dial of the agent leg ``leg`` (from ``agent_leg``)."""
        customer, agent_id = self.legs[leg]
        return DialStarted(
            at=self.at(),
            caller=self._customer(customer),
            destination=self._agent(leg, ChannelState.DOWN),
            dial_string=f"PJSIP/{agent_id}",
        )

    def dial_ended(self, leg: str, status: str = contract.DIAL_ANSWERED) -> DialEnded:
        """That Dial's end: ``ANSWER`` (the agent picked up), ``NOANSWER``, ``BUSY``, …"""
        state = ChannelState.UP if status == contract.DIAL_ANSWERED else ChannelState.RINGING
        return DialEnded(
            at=self.at(),
            caller=self._customer(self.legs[leg][0]),
            destination=self._agent(leg, state),
            status=status,
        )

    def hung_up(self, channel_id: str) -> ChannelHungUp:
        """``channel_id`` (a customer leg, or an agent leg from ``agent_leg``) hung up."""
        channel = (
            self._agent(channel_id, ChannelState.UP)
            if channel_id in self.legs
            else self._customer(channel_id)
        )
        return ChannelHungUp(at=self.at(), channel=channel, cause=16, cause_text="Normal Clearing")

    def _customer(self, channel_id: str) -> ChannelSnapshot:
        return snapshot(channel_id, self.names.get(channel_id, ""))

    def _agent(self, leg: str, state: ChannelState) -> ChannelSnapshot:
        return snapshot(leg, self.names[leg], state, linkedid=self.legs[leg][0])
