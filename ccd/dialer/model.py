"""Frozen domain types of the outbound dialer: campaigns, their rules, contacts and call
outcomes. Pure data, shared by the pure cores (pacing, calling windows, retries,
compliance), the store and the API.

Times are float seconds since the Unix epoch, as in the ACD; calling windows are wall-clock
times in the *callee's* time zone (IANA names), decided per call.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time

# US TSR safe harbor (16 CFR 310.4(b)(4)): at most 3 % of live-answered calls abandoned per
# campaign over 30 days; a call is abandoned when no agent is connected within 2 s of the
# greeting; ring at least 15 s. UK Ofcom wants campaigns able to set a lower cap.
LEGAL_ABANDON_CAP_PCT = 3.0
ABANDON_AFTER_S = 2.0
MIN_RING_TIMEOUT_S = 15.0
ROLLING_DAYS = 30


class DialMode(enum.Enum):
    PREVIEW = "preview"  # the agent sees the contact first, then dials or skips
    PROGRESSIVE = "progressive"  # one call per free agent, agent reserved first
    PREDICTIVE = "predictive"  # the pacing core decides how many calls per free agent


class CampaignState(enum.Enum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class Outcome(enum.Enum):
    """How one dial attempt ended (the attempt's CDR disposition uses the same words)."""

    ANSWERED = "answered"  # a person answered and was connected to an agent
    ABANDONED = "abandoned"  # a person answered, no agent within ABANDON_AFTER_S
    MACHINE = "machine"  # answering machine (AMD)
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"  # congestion, unreachable, invalid number


class AmdMode(enum.Enum):
    OFF = "off"  # every answer is a person
    HANG_UP = "hang-up"  # a machine is hung up on
    LEAVE_MESSAGE = "leave-message"  # a machine gets the campaign's message


class Weekday(enum.IntEnum):
    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Calls may start on ``days`` between ``start`` and ``end`` (callee's local time,
    ``start`` inclusive, ``end`` exclusive; ``end`` after ``start``)."""

    days: frozenset[Weekday]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"calling window {self.start}-{self.end}: end must be after start")
        if not self.days:
            raise ValueError("calling window: no days")


# 8:00-21:00 every day: the TSR's calling hours, the default for a campaign.
DEFAULT_WINDOWS = (CallingWindow(frozenset(Weekday), time(8, 0), time(21, 0)),)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """After an attempt ending in ``outcome``: try again ``delay_s`` later, as long as the
    contact had fewer than ``max_attempts`` attempts in all (first call included)."""

    delay_s: float
    max_attempts: int

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise ValueError("retry delay must not be negative")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


DEFAULT_RETRIES: Mapping[Outcome, RetryRule] = {
    Outcome.NO_ANSWER: RetryRule(delay_s=3600.0, max_attempts=3),
    Outcome.BUSY: RetryRule(delay_s=600.0, max_attempts=3),
    Outcome.FAILED: RetryRule(delay_s=3600.0, max_attempts=2),
    Outcome.MACHINE: RetryRule(delay_s=4 * 3600.0, max_attempts=2),
    Outcome.ABANDONED: RetryRule(delay_s=3600.0, max_attempts=3),
}


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    mode: DialMode
    caller_id: str  # the number presented to the called party
    # Who works it: explicit agents and/or the logged-in agents of an ACD queue.
    agent_ids: frozenset[str] = frozenset()
    queue_id: str | None = None
    windows: tuple[CallingWindow, ...] = DEFAULT_WINDOWS
    holidays: frozenset[date] = frozenset()  # no calls on these days (callee's local date)
    ring_timeout_s: float = 25.0
    retries: Mapping[Outcome, RetryRule] = field(default_factory=lambda: dict(DEFAULT_RETRIES))
    abandon_cap_pct: float = LEGAL_ABANDON_CAP_PCT
    # A cap above the legal 3 % only with this set; the compliance report shows it.
    cap_override: bool = False
    amd: AmdMode = AmdMode.OFF
    safe_harbor_prompt: str | None = None  # required for predictive
    machine_message_prompt: str | None = None  # for AmdMode.LEAVE_MESSAGE
    dispositions: tuple[str, ...] = ("sale", "no-sale", "call-back", "do-not-call")
    default_region: str = "US"  # for numbers written without a country code
    state: CampaignState = CampaignState.DRAFT
    # The configured Asterisk server ([[asterisk]] name) every call of the campaign is
    # placed on, its agents' rings included; None: the default (first configured) one.
    server: str | None = None

    def problems(self) -> list[tuple[str, str]]:
        """Every rule the campaign breaks, as (field, reason); empty when it may run."""
        found: list[tuple[str, str]] = []
        if not self.agent_ids and self.queue_id is None:
            found.append(("agent_ids", "name the agents or an ACD queue that work the campaign"))
        if self.ring_timeout_s < MIN_RING_TIMEOUT_S:
            found.append(("ring_timeout_s", f"must be at least {MIN_RING_TIMEOUT_S:g} s"))
        if not 0 < self.abandon_cap_pct <= 100:
            found.append(("abandon_cap_pct", "must be more than 0 and at most 100"))
        elif self.abandon_cap_pct > LEGAL_ABANDON_CAP_PCT and not self.cap_override:
            found.append(
                (
                    "abandon_cap_pct",
                    f"above the legal {LEGAL_ABANDON_CAP_PCT:g} % only with cap_override",
                )
            )
        if self.mode is DialMode.PREDICTIVE and not self.safe_harbor_prompt:
            found.append(("safe_harbor_prompt", "required for a predictive campaign"))
        if self.amd is AmdMode.LEAVE_MESSAGE and not self.machine_message_prompt:
            found.append(("machine_message_prompt", "required when machines get a message"))
        if not self.windows:
            found.append(("windows", "at least one calling window"))
        if "do-not-call" not in self.dispositions:
            found.append(("dispositions", "must include 'do-not-call'"))
        return found


@dataclass(frozen=True, slots=True)
class AbandonTally:
    """A campaign's live-answered calls over a period (a person answered: the abandoned
    ones included) and how many of them were abandoned. The TSR rate is their ratio."""

    answered: int = 0
    abandoned: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.abandoned <= self.answered:
            raise ValueError("abandoned calls are live-answered calls: 0 <= abandoned <= answered")

    @property
    def rate_pct(self) -> float:
        return 100.0 * self.abandoned / self.answered if self.answered else 0.0


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    campaign_id: str
    number: str  # E.164
    # IANA zones the number may be in (a number can map to several: the window must hold
    # in all of them); from the CSV's time zone column, else from the number.
    time_zones: tuple[str, ...]
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)  # free columns, for the agent
