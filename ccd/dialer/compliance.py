"""The abandonment ledger: the 2-second verdict of each answered call, the rolling 30-day
and daily rates the pacing keeps under the cap, and the rows of ``/compliance.csv``
(pure: times are passed in).

Rules:

- **Live answers only.** A call counts when a person answered it (``person``); answering
  machines are listed in the evidence but are in neither side of the rate (TSR: "calls
  answered by a person").
- **Abandoned** = no agent connected within ``ABANDON_AFTER_S`` (2 s) of the answer — the
  safe-harbor message plays instead. Exactly 2.000 s is in time ("within"), anything later
  is abandoned even if an agent came eventually, and a callee who hangs up before an agent
  is connected is abandoned too (the letter of the rule; the conservative reading). We time
  from the *answer*, which is no later than the end of the greeting the rule speaks of, so
  the verdict can only be stricter than the rule. Delays are compared at microsecond
  precision, the precision of Asterisk's event times, so float noise in epoch seconds
  cannot flip a verdict.
- **Days are the report zone's days.** A campaign spans the callees' zones, but its daily
  rate needs one midnight: the ledger's ``report_zone`` (an IANA name, UTC by default; the
  seller's own zone is the natural choice). "Today" and the 30 days are calendar days there.
- **Rolling 30 days** = today and the 29 days before it, whole local days; a day 30 or
  more days old drops out. The ledger keeps one ``AbandonTally`` per day for those days
  only (bounded memory); the per-call evidence lives in the attempt records the CSV is
  built from.
- **Cap comparisons are exact** (``fractions``): 3 abandoned of 100 is 3 % and within a 3 %
  cap; 4 of 133 (3.0075 %) is over it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import floor
from zoneinfo import ZoneInfo

from ccd.dialer.model import ABANDON_AFTER_S, ROLLING_DAYS, AbandonTally

DEFAULT_REPORT_ZONE = "UTC"


class Verdict(enum.Enum):
    CONNECTED = "connected"  # an agent within ABANDON_AFTER_S of the answer
    ABANDONED = "abandoned"  # no agent in time: the safe-harbor message plays; counted
    MACHINE = "machine"  # an answering machine: not a live answer, not in the rate


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    """One answered attempt as the records hold it."""

    attempt_id: str
    contact_id: str
    number: str
    answered_at: float
    connected_at: float | None  # agent connected; None: never
    person: bool = True  # False: the answering machine detection said machine
    safe_harbor_at: float | None = None  # when the safe-harbor message started, if it did


def connect_delay_s(call: AnsweredCall) -> float | None:
    """Answer → agent connected, rounded to the microsecond; None when never connected."""
    if call.connected_at is None:
        return None
    return round(call.connected_at - call.answered_at, 6)


def verdict(call: AnsweredCall) -> Verdict:
    if not call.person:
        return Verdict.MACHINE
    delay = connect_delay_s(call)
    if delay is not None and delay <= ABANDON_AFTER_S:
        return Verdict.CONNECTED
    return Verdict.ABANDONED


def _tally(tally: AbandonTally, abandoned: bool) -> AbandonTally:
    return AbandonTally(tally.answered + 1, tally.abandoned + int(abandoned))


def _sum(tallies: Iterable[AbandonTally]) -> AbandonTally:
    answered = abandoned = 0
    for tally in tallies:
        answered += tally.answered
        abandoned += tally.abandoned
    return AbandonTally(answered, abandoned)


class AbandonLedger:
    """A campaign's live answers and abandons per report-zone day, for the last
    ``rolling_days`` days."""

    def __init__(
        self, report_zone: str = DEFAULT_REPORT_ZONE, rolling_days: int = ROLLING_DAYS
    ) -> None:
        if rolling_days < 1:
            raise ValueError("rolling_days must be at least 1")
        self.zone = ZoneInfo(report_zone)  # an unknown zone fails here, at set-up
        self.rolling_days = rolling_days
        self._days: dict[date, AbandonTally] = {}
        self._newest: date | None = None

    @property
    def kept_days(self) -> tuple[date, ...]:
        """The days the ledger holds counts for (at most ``rolling_days`` of them)."""
        return tuple(sorted(self._days))

    def day_of(self, at: float) -> date:
        return datetime.fromtimestamp(at, self.zone).date()

    def record(self, call: AnsweredCall) -> Verdict:
        """Count ``call`` on the day it was answered; its verdict either way (a machine,
        or a call older than the window, is judged but not counted)."""
        found = verdict(call)
        if found is not Verdict.MACHINE:
            day = self.day_of(call.answered_at)
            if self._newest is None or day > self._newest:
                self._newest = day
                self._prune(day)
            if day > self._newest - timedelta(days=self.rolling_days):
                tally = self._days.get(day, AbandonTally())
                self._days[day] = _tally(tally, found is Verdict.ABANDONED)
        return found

    def load(self, day: date, tally: AbandonTally) -> None:
        """Add a day's counts kept elsewhere (the attempt records, at start-up)."""
        self._days[day] = _sum((self._days.get(day, AbandonTally()), tally))
        if self._newest is None or day > self._newest:
            self._newest = day
        self._prune(self._newest)

    def today(self, now: float) -> AbandonTally:
        return self._days.get(self.day_of(now), AbandonTally())

    def rolling(self, now: float) -> AbandonTally:
        return _sum(tally for _, tally in self.per_day(now))

    def per_day(self, now: float) -> list[tuple[date, AbandonTally]]:
        """Every day of the rolling window ending today, oldest first, quiet days as
        zeros (a report lists each day, not only the busy ones)."""
        today = self.day_of(now)
        days = (today - timedelta(days=back) for back in range(self.rolling_days - 1, -1, -1))
        return [(day, self._days.get(day, AbandonTally())) for day in days]

    def _prune(self, newest: date) -> None:
        oldest = newest - timedelta(days=self.rolling_days - 1)
        for day in [day for day in self._days if day < oldest]:
            del self._days[day]


def _cap(cap_pct: float) -> Fraction:
    if cap_pct < 0:
        raise ValueError("an abandonment cap is not negative")
    # Through repr: the cap the user wrote (0.7), not its binary neighbour (0.6999…).
    return Fraction(repr(cap_pct)) / 100


def within_cap(tally: AbandonTally, cap_pct: float) -> bool:
    """Whether the tally's rate is at most ``cap_pct`` percent (exactly: 3 of 100 is)."""
    return tally.abandoned <= _cap(cap_pct) * tally.answered


def headroom(cap_pct: float, rolling: AbandonTally, today: AbandonTally, answers: int) -> int:
    """How many of ``answers`` more live answers may be abandoned with neither the rolling
    nor today's rate passing ``cap_pct``: the largest k (0 ≤ k ≤ answers) with
    (abandoned + k) / (answered + answers) ≤ cap for both tallies. 0 when a rate is
    already over the cap — the pacing then dials only what agents can take."""
    if answers < 0:
        raise ValueError("answers must not be negative")
    cap = _cap(cap_pct)
    allowed = min(
        floor(cap * (tally.answered + answers)) - tally.abandoned for tally in (rolling, today)
    )
    return max(0, min(answers, allowed))


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    """One line of ``/compliance.csv``: an answered call and its 2-second verdict."""

    attempt_id: str
    contact_id: str
    number: str
    report_day: date  # the day it counts on, in the ledger's report zone
    answered_at: datetime  # UTC
    agent_connected_at: datetime | None  # UTC; empty: no agent
    connect_delay_s: float | None
    safe_harbor_at: datetime | None  # UTC; when the safe-harbor message started
    verdict: str  # Verdict value
    counted: bool  # in the abandonment rate (a live answer)


CSV_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ComplianceRow))


def _utc(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC)


def compliance_row(call: AnsweredCall, report_zone: str = DEFAULT_REPORT_ZONE) -> ComplianceRow:
    found = verdict(call)
    return ComplianceRow(
        attempt_id=call.attempt_id,
        contact_id=call.contact_id,
        number=call.number,
        report_day=datetime.fromtimestamp(call.answered_at, ZoneInfo(report_zone)).date(),
        answered_at=datetime.fromtimestamp(call.answered_at, UTC),
        agent_connected_at=_utc(call.connected_at),
        connect_delay_s=connect_delay_s(call),
        safe_harbor_at=_utc(call.safe_harbor_at),
        verdict=found.value,
        counted=found is not Verdict.MACHINE,
    )


def compliance_rows(
    calls: Iterable[AnsweredCall], report_zone: str = DEFAULT_REPORT_ZONE
) -> Iterator[ComplianceRow]:
    """The CSV's rows, lazily (the export streams them from the attempt records)."""
    for call in calls:
        yield compliance_row(call, report_zone)
