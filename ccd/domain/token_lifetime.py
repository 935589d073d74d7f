"""Token lifetimes as typed by an admin: ``--expires-in 90d`` or ``--expires-at ISO``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(?P<amount>[1-9][0-9]{0,5})(?P<unit>[smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
# Far enough for any real token, near enough that datetime arithmetic cannot overflow.
MAX_LIFETIME = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``90d``, ``2w`` (one number, one unit); ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: a whole number and a unit s, m, h, d or w (e.g. 90d)"
        )
    duration = timedelta(seconds=int(match["amount"]) * _UNIT_SECONDS[match["unit"]])
    if duration > MAX_LIFETIME:
        raise ValueError(f"{text!r} is longer than the longest lifetime, {MAX_LIFETIME.days}d")
    return duration


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time with an offset (or Z); a naive time is refused, not guessed."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        example = "2027-03-01T00:00Z"
        raise ValueError(f"{text!r} is not an ISO 8601 date-time (e.g. {example})") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +hh:mm)")
    return parsed.astimezone(UTC)


def expiry(
    now: datetime, *, expires_in: str | None = None, expires_at: str | None = None
) -> datetime | None:
    """When a token created at ``now`` expires (None: never). At most one of the two may
    be given, and the result must lie in the future within ``MAX_LIFETIME``."""
    if expires_in is not None and expires_at is not None:
        raise ValueError("give --expires-in or --expires-at, not both")
    if expires_in is not None:
        return now + parse_duration(expires_in)
    if expires_at is None:
        return None
    instant = parse_instant(expires_at)
    if instant <= now:
        raise ValueError(f"--expires-at {expires_at!r} is not in the future")
    if instant - now > MAX_LIFETIME:
        raise ValueError(f"--expires-at {expires_at!r} is more than {MAX_LIFETIME.days}d away")
    return instant
