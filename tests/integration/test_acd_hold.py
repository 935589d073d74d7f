"""The FastAGI hold session (``ccd.acd.waiting.hold``) over a real socket: ccd's AgiServer
on 127.0.0.1 port 0, and a fake Asterisk that connects, sends the header block and
answers every AGI command the way res_agi does (``200 result=0`` for a WAIT FOR DIGIT
that timed out, the digit's code when one was pressed, ``200 result=-1`` then ``HANGUP``
when Bridge() pulls the caller away or the caller hangs up)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs

from ccd.acd.model import Agent, Queue, Strategy
from ccd.acd.waiting import Arrival, HoldDesk, Leave, QueueRefused, Ticket, hold
from ccd.agi.channel import AgiChannel
from ccd.agi.server import AgiServer
from ccd.ami.actions import RingAgentAction
from ccd.domain import contract
from ccd.domain.events import QueueConnected, QueueExit, QueueLeft
from tests.clock import FakeClock
from tests.integration.acdfakes import make_config, running_acd

MUSIC_ON = 'SET MUSIC "on" "default"'
WAIT = 'WAIT FOR DIGIT "1000"'
BRIDGED = ["200 result=-1", "HANGUP"]


def action_set(action: str) -> str:
    return f'SET VARIABLE "{contract.VAR_QUEUE_ACTION}" "{action}"'


class FakeDesk:
    """The ACD as the hold session sees it; the test settles ``ticket.leave``."""

    def __init__(
        self,
        *,
        callback_key: str | None = None,
        announce_every_s: float | None = None,
        announcement: Sequence[tuple[str, int | str]] = (),
        refuse: str | None = None,
    ) -> None:
        self.callback_key = callback_key
        self.announce_every_s = announce_every_s
        self.items = list(announcement)
        self.refuse = refuse
        self.arrivals: list[Arrival] = []
        self.tickets: list[Ticket] = []
        self.callbacks: list[Ticket] = []
        self.announcements_asked = 0
        self.departures: list[Ticket] = []

    def arrive(self, arrival: Arrival) -> Ticket:
        self.arrivals.append(arrival)
        if self.refuse is not None:
            raise QueueRefused(self.refuse)
        ticket = Ticket(
            arrival=arrival,
            leave=asyncio.get_running_loop().create_future(),
            callback_key=self.callback_key,
            announce_every_s=self.announce_every_s,
        )
        self.tickets.append(ticket)
        return ticket

    def callback_requested(self, ticket: Ticket) -> None:
        self.callbacks.append(ticket)
        ticket.leave.set_result(Leave(contract.QueueAction.CALLBACK))

    def announcement(self, ticket: Ticket) -> list[tuple[str, int | str]]:
        self.announcements_asked += 1
        return list(self.items)

    def departed(self, ticket: Ticket) -> None:
        self.departures.append(ticket)

    def leave(self, leave: Leave) -> None:
        """The ACD decided where the caller goes."""
        self.tickets[-1].leave.set_result(leave)


OnWait = Callable[[int], list[str] | None]


def hang_up_at(desk: FakeDesk, n: int) -> OnWait:
    """The ACD decides "hang up" during the n-th WAIT FOR DIGIT."""
    return lambda i: desk.leave(Leave(contract.QueueAction.HANGUP)) if i == n else None


@dataclass
class FakeAsterisk:
    """One caller's AGI connection. ``on_wait(n)`` runs when the n-th WAIT FOR DIGIT
    arrives and may return the lines to answer with (None: no digit, ``200 result=0``);
    each WAIT FOR DIGIT moves ``clock`` by ``slice_s``."""

    args: Sequence[str]
    clock: FakeClock
    on_wait: OnWait = lambda _n: None
    slice_s: float = 0.0
    uniqueid: str = "1764064000.20"
    channel: str = "PJSIP/trunk-00000002"
    caller_num: str = "5551234"
    commands: list[str] = field(default_factory=list)
    waits: int = 0

    def headers(self) -> bytes:
        lines = [
            "agi_network: yes",
            "agi_network_script: queue",
            "agi_request: agi://127.0.0.1/queue",
            f"agi_channel: {self.channel}",
            "agi_language: en",
            "agi_type: PJSIP",
            f"agi_uniqueid: {self.uniqueid}",
            f"agi_callerid: {self.caller_num}",
            "agi_calleridname: Jane",
            "agi_context: ccd-queue-wait",
            "agi_extension: s",
            "agi_priority: 4",
        ]
        lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(self.args, start=1)]
        return ("\n".join(lines) + "\n\n").encode()

    def reply(self, line: str) -> list[str]:
        if line.startswith("WAIT FOR DIGIT"):
            self.waits += 1
            self.clock.advance(self.slice_s)
            return self.on_wait(self.waits) or ["200 result=0"]
        if line.startswith("SET VARIABLE"):
            return ["200 result=1"]
        if line.startswith("STREAM FILE"):
            return ["200 result=0 endpos=16000"]
        return ["200 result=0"]

    async def call(self, port: int, timeout_s: float = 10.0) -> None:
        """Connect, answer commands until ccd closes the connection (or we hang up)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(self.headers())
            async with asyncio.timeout(timeout_s):
                hung_up = False
                while line := await reader.readline():
                    command = line.decode().rstrip("\n")
                    self.commands.append(command)
                    if hung_up:
                        continue  # recorded: nothing may follow a HANGUP
                    answer = self.reply(command)
                    writer.write("".join(f"{part}\n" for part in answer).encode())
                    await writer.drain()
                    hung_up = "HANGUP" in answer
        finally:
            writer.close()
            await writer.wait_closed()

    def variables_set(self) -> list[str]:
        return [c for c in self.commands if c.startswith("SET VARIABLE")]


async def serve(desk: HoldDesk, clock: FakeClock, ended: asyncio.Event) -> AgiServer:
    async def handler(channel: AgiChannel) -> None:
        try:
            await hold(channel, desk, clock)
        finally:
            ended.set()

    server = AgiServer("127.0.0.1", 0, handler)
    await server.start()
    return server


ARGS = ["sales", "5", "french:3&billing", "1764063990.5", "1764064000.10", ""]


async def run(desk: HoldDesk, asterisk: FakeAsterisk) -> AgiServer:
    ended = asyncio.Event()
    server = await serve(desk, asterisk.clock, ended)
    try:
        await asterisk.call(server.port)
        async with asyncio.timeout(3):
            await ended.wait()
        assert server.active_sessions == 0
    finally:
        await server.stop()
    return server


async def test_arguments_reach_the_desk_and_music_starts_first() -> None:
    desk = FakeDesk()
    asterisk = FakeAsterisk(
        ARGS,
        FakeClock(),
        on_wait=hang_up_at(desk, 2),
    )
    await run(desk, asterisk)
    assert desk.arrivals == [
        Arrival(
            queue_id="sales",
            priority=5,
            skills={"french": 3, "billing": 1},
            joined_at=1764063990.5,
            linkedid="1764064000.10",
            callback_of=None,
            channel="PJSIP/trunk-00000002",
            uniqueid="1764064000.20",
            caller_num="5551234",
            caller_name="Jane",
        )
    ]
    assert asterisk.commands == [MUSIC_ON, WAIT, WAIT, action_set("hangup")]
    assert desk.departures == desk.tickets


async def test_a_call_back_passes_its_original_call_and_an_ivr_skill_list() -> None:
    desk = FakeDesk()
    args = ["vip", "", "gold&french:2", "", "", "1764000000.7"]
    asterisk = FakeAsterisk(
        args,
        FakeClock(),
        on_wait=hang_up_at(desk, 1),
    )
    await run(desk, asterisk)
    [arrived] = desk.arrivals
    assert (arrived.queue_id, arrived.priority, arrived.joined_at) == ("vip", 0, None)
    assert arrived.skills == {"gold": 1, "french": 2}
    # No linkedid argument: the channel's own uniqueid; the call id is the original call's.
    assert arrived.linkedid == "1764064000.20"
    assert arrived.call_id == "1764000000.7"


@pytest.mark.parametrize(
    "args",
    [
        ["sales", "high"],
        ["sales", "500"],
        ["sales", "1", "french:11"],
        ["sales", "1", "", "soon"],
        ["sales", "1", "", "nan"],
        [""],
        [],
    ],
    ids=[
        "priority-word",
        "priority-range",
        "skill-level",
        "joined-word",
        "joined-nan",
        "no-queue",
        "no-args",
    ],
)
async def test_bad_arguments_send_the_caller_to_the_fallback(args: list[str]) -> None:
    desk = FakeDesk()
    asterisk = FakeAsterisk(args, FakeClock())
    await run(desk, asterisk)
    assert asterisk.commands == [action_set(contract.QueueAction.FALLBACK)]
    assert desk.arrivals == []


async def test_a_refused_caller_goes_to_the_fallback_without_music() -> None:
    desk = FakeDesk(refuse="unknown queue 'sales'")
    asterisk = FakeAsterisk(ARGS, FakeClock())
    await run(desk, asterisk)
    assert asterisk.commands == [action_set(contract.QueueAction.FALLBACK)]
    assert len(desk.arrivals) == 1


async def test_the_call_back_key_asks_the_desk_and_other_keys_do_nothing() -> None:
    desk = FakeDesk(callback_key="5")
    asterisk = FakeAsterisk(
        ARGS,
        FakeClock(),
        on_wait=lambda n: {2: [f"200 result={ord('1')}"], 4: [f"200 result={ord('5')}"]}.get(n),
    )
    await run(desk, asterisk)
    assert desk.callbacks == desk.tickets
    assert asterisk.waits == 4
    assert asterisk.commands[-1] == action_set(contract.QueueAction.CALLBACK)


async def test_keys_are_ignored_when_the_queue_offers_no_call_back() -> None:
    desk = FakeDesk(callback_key=None)

    def on_wait(n: int) -> list[str] | None:
        if n == 3:
            desk.leave(Leave(contract.QueueAction.HANGUP))
        return [f"200 result={ord('5')}"]

    asterisk = FakeAsterisk(ARGS, FakeClock(), on_wait=on_wait)
    await run(desk, asterisk)
    assert desk.callbacks == []
    assert asterisk.commands[-1] == action_set(contract.QueueAction.HANGUP)


async def test_where_to_go_is_set_before_the_action_and_the_session_ends() -> None:
    desk = FakeDesk()
    leave = Leave(
        contract.QueueAction.TRANSFER,
        {contract.VAR_QUEUE_NEXT_CONTEXT: "reception", contract.VAR_QUEUE_NEXT_EXTEN: "200"},
    )
    asterisk = FakeAsterisk(
        ARGS, FakeClock(), on_wait=lambda n: desk.leave(leave) if n == 3 else None
    )
    await run(desk, asterisk)
    # The decision landed during the third slice: nothing else is waited for.
    assert asterisk.waits == 3
    assert asterisk.commands[-3:] == [
        f'SET VARIABLE "{contract.VAR_QUEUE_NEXT_CONTEXT}" "reception"',
        f'SET VARIABLE "{contract.VAR_QUEUE_NEXT_EXTEN}" "200"',
        action_set(contract.QueueAction.TRANSFER),
    ]
    assert desk.departures == desk.tickets


async def test_bridged_to_an_agent_ends_quietly() -> None:
    desk = FakeDesk()
    asterisk = FakeAsterisk(ARGS, FakeClock(), on_wait=lambda n: BRIDGED if n == 3 else None)
    with capture_logs() as logs:
        await run(desk, asterisk)
    assert asterisk.commands == [MUSIC_ON, WAIT, WAIT, WAIT]
    assert asterisk.variables_set() == []
    assert desk.departures == desk.tickets
    assert not desk.tickets[0].leave.done()
    assert [e for e in logs if e["log_level"] in ("warning", "error", "critical")] == []


async def test_announcements_play_at_the_configured_interval_then_music_again() -> None:
    said: list[tuple[str, int | str]] = [
        ("file", "queue-thereare"),
        ("number", 2),
        ("file", "queue-callswaiting"),
        ("file", "queue-thankyou"),
    ]
    desk = FakeDesk(announce_every_s=30.0, announcement=said)
    asterisk = FakeAsterisk(
        ARGS,
        FakeClock(),
        slice_s=1.0,
        on_wait=hang_up_at(desk, 95),
    )
    await run(desk, asterisk)
    announcement = [
        'STREAM FILE "queue-thereare" ""',
        'SAY NUMBER "2" ""',
        'STREAM FILE "queue-callswaiting" ""',
        'STREAM FILE "queue-thankyou" ""',
        MUSIC_ON,
    ]
    starts = [i for i, c in enumerate(asterisk.commands) if c == announcement[0]]
    # One per 30 s of waiting: after the 30th, 60th and 90th one-second slice.
    assert [asterisk.commands[:i].count(WAIT) for i in starts] == [30, 60, 90]
    for i in starts:
        assert asterisk.commands[i : i + len(announcement)] == announcement
    assert desk.announcements_asked == 3


async def test_nothing_to_announce_keeps_the_music_as_it_is() -> None:
    desk = FakeDesk(announce_every_s=10.0, announcement=[])
    asterisk = FakeAsterisk(
        ARGS,
        FakeClock(),
        slice_s=1.0,
        on_wait=hang_up_at(desk, 25),
    )
    await run(desk, asterisk)
    assert desk.announcements_asked == 2
    assert asterisk.commands.count(MUSIC_ON) == 1


async def test_no_announcements_when_the_queue_has_none() -> None:
    desk = FakeDesk(announce_every_s=None, announcement=[("file", "queue-youarenext")])
    asterisk = FakeAsterisk(
        ARGS,
        FakeClock(),
        slice_s=5.0,
        on_wait=hang_up_at(desk, 30),
    )
    await run(desk, asterisk)
    assert desk.announcements_asked == 0


# ---- the hold session with the real ACD service ----------------------------------

ADA = Agent("1001", "PJSIP/1001")
# As the shipped dialplan sends them for a first arrival with no priority or skills.
PLAIN = ["sales", "", "", "", "1764064000.10", ""]


async def test_a_waiting_caller_is_bridged_to_the_agent_that_answers() -> None:
    config = make_config([Queue("sales", strategy=Strategy.LINEAR)], [ADA])
    async with running_acd(config, login=["1001"]) as rig:
        answered: list[RingAgentAction] = []

        def on_wait(n: int) -> list[str] | None:
            if rig.ami.rings and not answered:
                answered.append(rig.ami.rings[0])
                rig.answered(rig.ami.rings[0])
                return BRIDGED  # Bridge() takes the caller out of the AGI
            return None

        asterisk = FakeAsterisk(PLAIN, rig.clock, on_wait=on_wait)
        await run(rig.service, asterisk)
        [originate] = answered
        assert originate.caller_channel == asterisk.channel
        [connected] = rig.of_type(QueueConnected)
        assert (connected.linkedid, connected.queue, connected.agent_id) == (
            "1764064000.10",
            "sales",
            "1001",
        )
        assert asterisk.variables_set() == []
        assert rig.status("1001") == "on_call"
        # The caller's hangup at the end of the conversation is not an abandon.
        rig.hung_up(asterisk.uniqueid)
        assert not [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]
        assert not rig.of_type(QueueLeft)


async def test_the_call_back_key_with_the_real_acd_calls_the_customer_back() -> None:
    queue = Queue("sales", strategy=Strategy.LINEAR, callback_key="5")
    async with running_acd(make_config([queue], [ADA]), login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        asterisk = FakeAsterisk(
            PLAIN,
            rig.clock,
            on_wait=lambda n: [f"200 result={ord('5')}"] if n == 2 else None,
        )
        await run(rig.service, asterisk)
        assert asterisk.commands[-1] == action_set(contract.QueueAction.CALLBACK)
        [left] = rig.of_type(QueueLeft)
        assert left.reason is QueueExit.CALLBACK
        rig.hung_up(asterisk.uniqueid)  # the dialplan hangs up after the goodbye
        await rig.service.unpause("1001")
        [callback] = await rig.ami.wait_callbacks(1)
        assert callback.channel == f"Local/5551234@{contract.CALLBACK_DIAL_CONTEXT}"
        assert callback.context == contract.QUEUE_CALLBACK_CONTEXT
        assert callback.variables[contract.VAR_ACD_CALLBACK] == "1764064000.10"
        assert not [m for m in rig.messages if m["type"] == "queue.caller_abandoned"]


async def test_max_wait_with_the_real_acd_sets_the_voicemail_box() -> None:
    queue = Queue("sales", max_wait_s=20.0, overflow_target="voicemail:100@default")
    async with running_acd(make_config([queue], [ADA]), login=["1001"]) as rig:
        await rig.service.pause("1001", "lunch")
        asterisk = FakeAsterisk(PLAIN, rig.clock, slice_s=1.0)
        await run(rig.service, asterisk)
        assert asterisk.commands[-2:] == [
            f'SET VARIABLE "{contract.VAR_QUEUE_VOICEMAIL_BOX}" "100@default"',
            action_set(contract.QueueAction.VOICEMAIL),
        ]
        [left] = rig.of_type(QueueLeft)
        assert left.reason is QueueExit.TIMED_OUT


class PromptsMissing(FakeAsterisk):
    """res_agi's answer for a sound file that is not installed: ``result=-1 endpos=0``,
    and the channel is still up."""

    def reply(self, line: str) -> list[str]:
        if line.startswith("STREAM FILE"):
            return ["200 result=-1 endpos=0"]
        return super().reply(line)


async def test_a_missing_announcement_prompt_does_not_end_the_wait() -> None:
    desk = FakeDesk(announce_every_s=10.0, announcement=[("file", "queue-youarenext")])
    asterisk = PromptsMissing(
        ARGS,
        FakeClock(),
        slice_s=1.0,
        on_wait=hang_up_at(desk, 15),
    )
    await run(desk, asterisk)
    assert asterisk.commands[-1] == action_set(contract.QueueAction.HANGUP)


class BridgedDuringAnnouncement(FakeAsterisk):
    def reply(self, line: str) -> list[str]:
        if line.startswith("STREAM FILE"):
            return ["200 result=-1 endpos=3200", "HANGUP"]
        return super().reply(line)


async def test_bridged_during_an_announcement_ends_without_setting_anything() -> None:
    desk = FakeDesk(announce_every_s=10.0, announcement=[("file", "queue-youarenext")])
    asterisk = BridgedDuringAnnouncement(ARGS, FakeClock(), slice_s=1.0)
    await run(desk, asterisk)
    assert 'STREAM FILE "queue-youarenext" ""' in asterisk.commands
    assert asterisk.variables_set() == []
    assert desk.departures == desk.tickets
