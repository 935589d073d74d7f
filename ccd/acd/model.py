"""Frozen domain types of the ACD.

Times are float seconds since the Unix epoch (``clock.now().timestamp()``): the engine
stays free of datetime arithmetic, and the same scale survives a restart (agent states
and callers' join times are rebuilt from the database and from Asterisk).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class AgentStatus(enum.Enum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class AgentState:
    status: AgentStatus
    since: float
    reason: str | None = None
    call_id: str | None = None


class Strategy(enum.Enum):
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    RANDOM = "random"
    LINEAR = "linear"
    RING_ALL = "ring_all"
    SKILLS_BASED = "skills_based"


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    interface: str
    # skill name -> level 1..10
    skills: Mapping[str, int] = field(default_factory=dict)
    name: str = ""
    max_calls: int = 1
    # The configured Asterisk server (``[[asterisk]]`` name) the agent's device is on;
    # None: the default (first configured) server. Queues are per server: an agent is
    # offered only callers waiting on its own server.
    server: str | None = None

    def __post_init__(self) -> None:
        for name, level in self.skills.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {name!r} level {level} outside 1..10")

    def has_skills(self, required: Mapping[str, int]) -> bool:
        return all(self.skills.get(name, 0) >= level for name, level in required.items())


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    # skill name -> minimum level
    required_skills: Mapping[str, int] = field(default_factory=dict)
    ring_timeout_s: float = 15.0
    wrapup_s: float = 0.0
    max_wait_s: float | None = None
    max_len: int | None = None
    # Destination strings (validated by ccd.acd.targets): "queue:<id>" (moves inside ccd),
    # "voicemail:<box>", "transfer:<context>,<exten>", "callback" (offer a call back),
    # "hangup" (with an announcement). None: hang up with an announcement.
    overflow_target: str | None = None
    service_level_s: float = 20.0
    max_no_answer: int = 3
    # After escalate_after_s of waiting, the requirement becomes escalated_skills.
    escalate_after_s: float | None = None
    escalated_skills: Mapping[str, int] = field(default_factory=dict)
    # ...or, when set, the caller moves to this queue at escalate_after_s (keeps its place
    # in time: joined_at is kept, so it is served before later callers of that queue).
    escalate_to_queue: str | None = None
    name: str = ""
    # Where callers go when nobody is logged in (None: overflow_target).
    no_agents_target: str | None = None
    announce_position: bool = False
    announce_hold_time: bool = False
    announce_every_s: float = 30.0
    # DTMF key a waiting caller presses to be called back keeping their place; None: off.
    callback_key: str | None = None
    # The IVR flow (its id) holding the post-call survey callers hear when the agent hangs
    # up first; None: no survey.
    survey_flow: str | None = None


@dataclass(frozen=True, slots=True)
class PauseReason:
    code: str
    label: str = ""
    billable: bool = False
    # Longer pauses are flagged (supervisor view), never ended automatically.
    time_limit_s: float | None = None


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    call_id: str
    channel: str
    queue_id: str
    joined_at: float
    priority: int = 0
    required_skills: Mapping[str, int] = field(default_factory=dict)
    # A number ccd may call back ("" when unknown or unusable): lets a "callback"
    # overflow destination keep the caller's place.
    number: str = ""
    # The configured Asterisk server the caller's channel is on; None: the default
    # (first configured) server. Offered only to agents on the same server.
    server: str | None = None
