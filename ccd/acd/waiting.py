"""A caller waiting in a ccd queue: the FastAGI session that holds them.

The dialplan (``ccd-queue-wait``) runs ``AGI(.../queue,<queue>,<priority>,<skills>,<joined>,
<linkedid>,<callback id>)``. The session reports the arrival to the ACD, plays music on
hold, waits for the call-back key in short slices (so an instruction from the ACD is
never more than one slice late), plays position / hold-time announcements, and leaves
when the ACD says where to (``CCD_QUEUE_ACTION``). When ccd connects an agent, Asterisk's
``Bridge()`` pulls the caller out of this session: that is a normal end, not an abandon —
abandons are seen on AMI (the caller's Hangup), never here.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from ccd.agi.channel import AgiChannel, AgiError, AgiHangup, AgiPromptFailed
from ccd.clock import Clock
from ccd.domain import contract

log = structlog.get_logger("ccd.acd")

SLICE_MS = 1000
"""How long one WAIT FOR DIGIT lasts: the longest an instruction waits to be noticed."""

MAX_PRIORITY = 100


@dataclass(frozen=True, slots=True)
class Arrival:
    """What the dialplan told ccd about a caller entering (or coming back to) a queue."""

    queue_id: str
    priority: int
    skills: Mapping[str, int]
    joined_at: float | None  # epoch seconds of the first join; None: now
    linkedid: str
    callback_of: str | None  # the ACD call id of the original call, on a call back
    channel: str
    uniqueid: str
    caller_num: str
    caller_name: str

    @property
    def call_id(self) -> str:
        return self.callback_of or self.linkedid


@dataclass(frozen=True, slots=True)
class Leave:
    """Where the caller goes when the session ends: ``CCD_QUEUE_ACTION`` and its variables."""

    action: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Ticket:
    """One waiting session, as the ACD service sees it."""

    arrival: Arrival
    leave: asyncio.Future[Leave]
    callback_key: str | None = None
    announce_every_s: float | None = None  # None: no announcements


class QueueRefused(Exception):
    """The caller cannot wait in that queue (unknown queue, ACD not running); ``str()``
    is safe to log."""


class HoldDesk(Protocol):
    """What a waiting session needs from the ACD service."""

    def arrive(self, arrival: Arrival) -> Ticket:
        """Register the caller; raises QueueRefused."""
        ...

    def callback_requested(self, ticket: Ticket) -> None:
        """The caller pressed the call-back key: settle ``ticket.leave``."""
        ...

    def announcement(self, ticket: Ticket) -> list[tuple[str, int | str]]:
        """What to say now: ("file", name) and ("number", n) items; [] for nothing."""
        ...

    def departed(self, ticket: Ticket) -> None:
        """The session is over (whatever the reason)."""
        ...


def parse_arrival(channel: AgiChannel) -> Arrival:
    """The arrival from the AGI arguments; ValueError naming the bad argument."""
    args = [*channel.args, "", "", "", "", "", ""]
    queue_id, priority_text, skills_text, joined_text, linkedid, callback_of = args[:6]
    if not queue_id:
        raise ValueError("no queue (agi_arg_1, CCD_QUEUE) given")
    try:
        priority = int(priority_text) if priority_text else 0
    except ValueError:
        raise ValueError(f"priority (agi_arg_2) {priority_text!r} is not a whole number") from None
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority (agi_arg_2) {priority} outside ±{MAX_PRIORITY}")
    try:
        joined_at = float(joined_text) if joined_text else None
    except ValueError:
        raise ValueError(f"join time (agi_arg_4) {joined_text!r} is not a number") from None
    if joined_at is not None and not math.isfinite(joined_at):
        raise ValueError(f"join time (agi_arg_4) {joined_text!r} is not a number")
    return Arrival(
        queue_id=queue_id,
        priority=priority,
        skills=parse_skills(skills_text),
        joined_at=joined_at,
        linkedid=linkedid or channel.uniqueid,
        callback_of=callback_of or None,
        channel=channel.channel,
        uniqueid=channel.uniqueid,
        caller_num=channel.callerid,
        caller_name=channel.calleridname,
    )


def parse_skills(text: str) -> dict[str, int]:
    """``french:3&billing`` → {"french": 3, "billing": 1}."""
    skills: dict[str, int] = {}
    for item in text.split(contract.SKILLS_SEPARATOR):
        item = item.strip()
        if not item:
            continue
        name, _, level_text = item.partition(":")
        try:
            level = int(level_text) if level_text else 1
        except ValueError:
            raise ValueError(f"skill {item!r} (agi_arg_3): level is not a number") from None
        if not name or not 1 <= level <= 10:
            raise ValueError(f"skill {item!r} (agi_arg_3): want name[:level 1-10]")
        skills[name] = level
    return skills


async def hold(channel: AgiChannel, desk: HoldDesk, clock: Clock) -> None:
    """Run one waiting session to its end."""
    try:
        arrival = parse_arrival(channel)
        ticket = desk.arrive(arrival)
    except (ValueError, QueueRefused) as exc:
        log.warning("queue caller refused", channel=channel.channel, reason=str(exc))
        await _leave(channel, Leave(contract.QueueAction.FALLBACK))
        return
    log_ = log.bind(call_id=arrival.call_id, queue=arrival.queue_id, uniqueid=arrival.uniqueid)
    try:
        await _wait(channel, desk, ticket, clock)
        await _leave(channel, ticket.leave.result())
        log_.info("queue caller left", action=ticket.leave.result().action)
    except AgiHangup:
        # Bridged to an agent or hung up: AMI tells the ACD which.
        log_.debug("queue session ended by asterisk")
    except AgiError as exc:
        log_.warning("queue session failed", error=str(exc))
    finally:
        desk.departed(ticket)


async def _wait(channel: AgiChannel, desk: HoldDesk, ticket: Ticket, clock: Clock) -> None:
    await channel.music_on_hold()
    every = ticket.announce_every_s
    next_announcement = clock.now().timestamp() + every if every else math.inf
    while not ticket.leave.done():
        digit = await channel.wait_for_digit(SLICE_MS)
        if ticket.leave.done():
            break
        if digit and digit == ticket.callback_key:
            desk.callback_requested(ticket)
            continue
        if clock.now().timestamp() >= next_announcement:
            said = await _announce(channel, desk.announcement(ticket))
            if said:
                await channel.music_on_hold()
            next_announcement = clock.now().timestamp() + (every or math.inf)


async def _announce(channel: AgiChannel, items: list[tuple[str, int | str]]) -> bool:
    for kind, value in items:
        try:
            if kind == "number":
                await channel.say_number(int(value))
            else:
                await channel.stream_file(str(value))
        except AgiPromptFailed as exc:
            # A missing sound file costs the caller a sentence, never their place.
            log.warning("queue announcement not played", error=str(exc))
    return bool(items)


async def _leave(channel: AgiChannel, leave: Leave) -> None:
    for name, value in leave.variables.items():
        await channel.set_variable(name, value)
    await channel.set_variable(contract.VAR_QUEUE_ACTION, leave.action)
