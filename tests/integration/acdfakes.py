"""Fakes for the ACD runtime (no Asterisk, no database) and a harness that runs a real
``AcdService`` with the real ``AcdEngine`` over them.

``FakeAmi`` behaves like ccd's AMI gateway does against Asterisk: ``originate`` returns
the ActionID once the action is queued (the outcome arrives later as an
``OriginateResponded`` the test injects through ``service.handle``); it can be told to
raise ``AmiNotConnected`` as the gateway does while AMI is down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ccd.acd.model import Agent, PauseReason, Queue
from ccd.acd.seed import AcdConfig
from ccd.acd.service import AcdService
from ccd.acd.waiting import Arrival
from ccd.ami.protocol import AmiConnectionLost, AmiNotConnected
from ccd.db.acd_store import SessionEntry
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import ChannelHungUp, OriginateResponded

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)

# Asterisk's OriginateResponse failure reasons (AST_CONTROL_*).
REASON_FAILED = 0
REASON_NO_ANSWER = 3
REASON_BUSY = 5
REASON_CONGESTION = 8


class FakeClock:
    """A clock that only moves when the test says so."""

    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class FakeAmi:
    """Records every Originate and every other action; ``down`` makes them fail the way
    the gateway does when AMI is not connected (nothing written)."""

    def __init__(self) -> None:
        self.originates: list[dict[str, str]] = []
        self.actions: list[dict[str, str]] = []
        self.down = False
        # Originates the connection drops while they are in flight: Asterisk may well
        # have received them (they ring) but ccd never hears their OriginateResponse.
        self.lose_in_flight = 0
        self.lost: list[dict[str, str]] = []
        self._changed = asyncio.Condition()

    async def originate(self, fields: Mapping[str, str]) -> str:
        if self.down:
            raise AmiNotConnected()
        if self.lose_in_flight > 0:
            self.lose_in_flight -= 1
            self.lost.append(dict(fields))
            raise AmiConnectionLost("Originate", "connection reset by peer")
        recorded = dict(fields)
        async with self._changed:
            self.originates.append(recorded)
            self._changed.notify_all()
        return recorded["ActionID"]

    def originate_now(self, fields: Mapping[str, str]) -> asyncio.Task[str]:
        # Like the gateway: "not connected" is raised at once, nothing written.
        if self.down:
            raise AmiNotConnected()
        return asyncio.ensure_future(self.originate(fields))

    async def send_action(
        self, fields: Mapping[str, str], *, as_list: Literal[False], timeout_s: float | None = None
    ) -> dict[str, str]:
        if self.down:
            raise AmiNotConnected()
        async with self._changed:
            self.actions.append(dict(fields))
            self._changed.notify_all()
        return {"Response": "Success", "ActionID": fields.get("ActionID", "")}

    def hangups(self) -> list[str]:
        """Channels ccd asked Asterisk to hang up, in order."""
        return [a["Channel"] for a in self.actions if a.get("Action") == "Hangup"]

    async def wait_originates(self, count: int, timeout_s: float = 3.0) -> list[dict[str, str]]:
        """Wait until ``count`` Originates were sent; return them all."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.originates) >= count)
        return list(self.originates)

    async def wait_hangups(self, count: int, timeout_s: float = 3.0) -> list[str]:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: len(self.hangups()) >= count)
        return self.hangups()


class FakeStore:
    """The ACD's view of the database: configuration, session log, latest per agent."""

    def __init__(
        self,
        config: AcdConfig,
        latest: Mapping[str, SessionEntry] | None = None,
        failing_appends: int = 0,
        append_delay_s: float = 0.0,
    ) -> None:
        self.config = config
        self.append_delay_s = append_delay_s
        self.latest = dict(latest or {})
        self.rows: list[SessionEntry] = []
        self.failing_appends = failing_appends
        self.append_attempts = 0

    async def load(self) -> AcdConfig:
        return self.config

    async def append_sessions(self, rows: Sequence[SessionEntry]) -> None:
        self.append_attempts += 1
        if self.failing_appends > 0:
            self.failing_appends -= 1
            raise ConnectionRefusedError("database is down")
        if self.append_delay_s:
            await asyncio.sleep(self.append_delay_s)  # a slow database round trip
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

    def answered(self, originate: Mapping[str, str], uniqueid: str | None = None) -> None:
        """Asterisk: the channel of this Originate answered (an agent's is its ChannelId;
        a call back, which ccd gives none, says ``uniqueid``)."""
        self.service.handle(
            OriginateResponded(
                at=self.clock.now(),
                action_id=originate["ActionID"],
                success=True,
                reason=4,
                channel=originate["Channel"],
                uniqueid=uniqueid if uniqueid is not None else originate["ChannelId"],
            )
        )

    def failed(self, originate: Mapping[str, str], reason: int) -> None:
        """Asterisk: the Originate failed (3 no answer, 5 busy, 8 congestion, 0 failed)."""
        self.service.handle(
            OriginateResponded(
                at=self.clock.now(),
                action_id=originate["ActionID"],
                success=False,
                reason=reason,
                channel=originate["Channel"],
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


@contextlib.asynccontextmanager
async def running_acd(
    config: AcdConfig,
    *,
    latest: Mapping[str, SessionEntry] | None = None,
    failing_appends: int = 0,
    append_delay_s: float = 0.0,
    interface_busy: Callable[[str], bool] | None = None,
    live_channels: Callable[[], Mapping[str, str]] | None = None,
    login: Sequence[str] = (),
) -> AsyncIterator[Rig]:
    """A started AcdService over fakes; ``login`` agents are logged in (their queues from
    the configuration's memberships); ``live_channels`` is what a resync finds. Stopped
    (tasks awaited) on exit."""
    ami = FakeAmi()
    store = FakeStore(config, latest, failing_appends, append_delay_s)
    clock = FakeClock()
    published: list[object] = []
    messages: list[dict[str, Any]] = []
    service = AcdService(
        ami=ami,
        store=store,
        publish=published.append,
        on_message=messages.append,
        clock=clock,
        live_channels=live_channels,
        **({"interface_busy": interface_busy} if interface_busy is not None else {}),
    )
    rig = Rig(service, ami, store, clock, published, messages)
    await service.start()
    try:
        for agent_id in login:
            await service.login(agent_id, None)
        yield rig
    finally:
        await service.stop()


async def wait_until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Poll ``condition`` (the service's own loops run meanwhile)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (service state has no event to await)
            await asyncio.sleep(0.02)


async def pass_time_until(
    clock: FakeClock, condition: Callable[[], bool], step_s: float = 0.25, timeout_s: float = 5.0
) -> None:
    """Let the fake clock run (``step_s`` per 50 ms of real time) until ``condition``:
    for waits the service times in real seconds and the engine in clock seconds."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            clock.advance(step_s)
            await asyncio.sleep(0.05)
