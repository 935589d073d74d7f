"""May this contact be called now, and if not, when (pure: ``now`` is passed in).

Rules, as the TSR puts them (calling hours in the *called party's* local time):

- A contact is callable at ``now`` when, in **every** zone of ``Contact.time_zones``, the
  local date is not one of the campaign's holidays and the local wall time falls inside
  one of the campaign's calling windows for that weekday (``start`` inclusive, ``end``
  exclusive). A number that may be in New York or Chicago is called only while it is
  inside the window in both: a call that is legal in one zone and not in the other is a
  call we cannot prove was legal.
- Local time is what a wall clock shows there, DST included: on a spring-forward day the
  skipped hour never happens, on a fall-back day the repeated hour happens twice, and the
  window test simply reads the clock at each instant (``zoneinfo`` does the conversion).
- **No usable zone → not callable.** A contact with no zone, phonenumbers' ``Etc/Unknown``,
  or a name the tz database does not know is refused with a reason rather than assigned a
  guessed zone: the campaign has no default zone, and guessing wrong is exactly the
  violation the rule forbids. The importer should derive the zones from the number
  (phonenumbers) or report the row, so this is the safety net, not the normal path.

``next_open`` finds the earliest instant ≥ ``after`` when the contact is callable, within a
bounded horizon (retries and call backs are pushed there). The open/closed state can only
change where some zone's wall clock crosses a window edge, a midnight (weekday or holiday
changes) or a DST jump, so only those instants are examined — no minute-by-minute scan.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccd.dialer.model import Campaign, Contact

# How far next_open looks ahead. Two weeks covers any weekly window pattern plus a run of
# holidays (Christmas to New Year); beyond that the contact is parked, not spun on.
SEARCH_HORIZON_S = 14 * 86400.0

# phonenumbers' answer for a number it cannot place: not a real tz database key.
UNKNOWN_ZONE = "Etc/Unknown"

_MIDNIGHT = time(0, 0)
_DAY = timedelta(days=1)


class ClosedReason(enum.Enum):
    NO_TIME_ZONE = "no-time-zone"  # the contact has no zone at all
    UNKNOWN_TIME_ZONE = "unknown-time-zone"  # Etc/Unknown, or not in the tz database
    HOLIDAY = "holiday"  # the callee's local date is a campaign holiday
    OUTSIDE_WINDOW = "outside-window"  # no calling window holds at the callee's wall time


@dataclass(frozen=True, slots=True)
class Closed:
    """Why a contact may not be called: the first zone (in the contact's order) that
    forbids it, and that zone's wall clock at the instant asked about."""

    reason: ClosedReason
    zone: str | None = None
    local: datetime | None = None

    def __str__(self) -> str:
        if self.reason is ClosedReason.NO_TIME_ZONE:
            return "the contact has no time zone: its calling hours cannot be checked"
        if self.reason is ClosedReason.UNKNOWN_TIME_ZONE:
            return f"unknown time zone {self.zone!r}: its calling hours cannot be checked"
        assert self.local is not None  # set for both remaining reasons
        when = self.local.strftime("%a %Y-%m-%d %H:%M")
        if self.reason is ClosedReason.HOLIDAY:
            return f"{self.zone}: {when} is a campaign holiday"
        return f"{self.zone}: {when} is outside the calling windows"


def zones_of(contact: Contact) -> tuple[ZoneInfo, ...] | Closed:
    """The contact's zones, loaded; or why they cannot be used (the first bad one)."""
    if not contact.time_zones:
        return Closed(ClosedReason.NO_TIME_ZONE)
    zones = []
    for name in contact.time_zones:
        if name == UNKNOWN_ZONE:
            return Closed(ClosedReason.UNKNOWN_TIME_ZONE, name)
        try:
            zones.append(ZoneInfo(name))  # cached by zoneinfo after the first load
        except (ValueError, OSError, ZoneInfoNotFoundError):
            # ValueError: empty, absolute or "../" keys and non-TZif files; OSError: a
            # directory such as "America"; ZoneInfoNotFoundError: anything else unknown.
            return Closed(ClosedReason.UNKNOWN_TIME_ZONE, name)
    return tuple(zones)


def _closed_in(zone: ZoneInfo, campaign: Campaign, now: float) -> Closed | None:
    local = datetime.fromtimestamp(now, zone)
    if local.date() in campaign.holidays:
        return Closed(ClosedReason.HOLIDAY, zone.key, local)
    wall = local.time()  # naive wall-clock time: what the callee's clock shows
    weekday = local.weekday()
    if any(
        weekday in window.days and window.start <= wall < window.end for window in campaign.windows
    ):
        return None
    return Closed(ClosedReason.OUTSIDE_WINDOW, zone.key, local)


def _closed_in_all(zones: Iterable[ZoneInfo], campaign: Campaign, now: float) -> Closed | None:
    for zone in zones:
        closed = _closed_in(zone, campaign, now)
        if closed is not None:
            return closed
    return None


def why_closed(contact: Contact, campaign: Campaign, now: float) -> Closed | None:
    """None when ``contact`` may be called at ``now``; else the reason it may not."""
    zones = zones_of(contact)
    if isinstance(zones, Closed):
        return zones
    return _closed_in_all(zones, campaign, now)


def may_call(contact: Contact, campaign: Campaign, now: float) -> bool:
    return why_closed(contact, campaign, now) is None


def next_open(
    contact: Contact, campaign: Campaign, after: float, horizon_s: float = SEARCH_HORIZON_S
) -> float | None:
    """The earliest instant ≥ ``after`` (and ≤ ``after + horizon_s``) at which ``contact``
    may be called; None when there is none: no usable zone, no window, or holidays and
    windows that never overlap across its zones within the horizon."""
    zones = zones_of(contact)
    if isinstance(zones, Closed) or not campaign.windows:
        return None
    until = after + horizon_s
    candidates = {after}
    for zone in zones:
        candidates.update(t for t in _edges(zone, campaign, after, until) if after <= t <= until)
    for t in sorted(candidates):
        if _closed_in_all(zones, campaign, t) is None:
            return t
    return None


def _edges(zone: ZoneInfo, campaign: Campaign, after: float, until: float) -> Iterator[float]:
    """Every instant in [after, until] (give or take a day) where the open/closed state
    of ``zone`` can change: window starts and ends, midnights, and DST jumps. Wall times
    are converted with both folds, so an hour repeated on a fall-back day contributes
    both of its occurrences; a wall time skipped on a spring-forward day is covered by
    the transition instant itself, where the clock jumps over it."""
    walls = {_MIDNIGHT} | {w.start for w in campaign.windows} | {w.end for w in campaign.windows}
    day = datetime.fromtimestamp(after, zone).date() - _DAY
    last = datetime.fromtimestamp(until, zone).date() + _DAY
    while day <= last:
        for wall in walls:
            for fold in (0, 1):
                yield datetime.combine(day, wall, zone).replace(fold=fold).timestamp()
        transition = _transition_on(zone, day)
        if transition is not None:
            yield transition
        day += _DAY


def _transition_on(zone: tzinfo, day: date) -> float | None:
    """The instant of the UTC-offset change during local ``day`` (midnight to midnight),
    if there is one; found by bisection on whole seconds (offsets change on a second)."""
    lo = datetime.combine(day, _MIDNIGHT, zone).timestamp()
    hi = datetime.combine(day + _DAY, _MIDNIGHT, zone).timestamp()
    before, after = _offset(zone, lo), _offset(zone, hi)
    if before == after:
        return None
    # Invariant: the offset at lo is the old one, at hi the new one.
    lo_s, hi_s = int(lo), int(hi)
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset(zone, mid) == before:
            lo_s = mid
        else:
            hi_s = mid
    return float(hi_s)


def _offset(zone: tzinfo, at: float) -> timedelta | None:
    return datetime.fromtimestamp(at, zone).utcoffset()
