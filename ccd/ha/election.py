"""Leader election and lease, as a pure state machine (events in, commands out, no IO).

An instance is ``STANDBY`` until it holds the PostgreSQL advisory lock. Taking the lock
bumps the leadership epoch and writes a lease (``lease_until`` in the database). The
previous leader may still be acting until *its* lease runs out (a leader whose lock
connection dropped does not know it yet), so the new holder waits ``TAKING_OVER`` for
what was left of the previous lease, renewing its own, and only then becomes ``ACTIVE``.

The leader renews its lease every ``renew_interval_s``. Its lease is counted on its own
monotonic clock from the *start* of the last renewal that succeeded, so it always ends
before the lease the database holds (written after that start): when a standby finds the
database lease expired, the old leader has already stopped acting. A leader that cannot
renew for ``lease_s`` — or learns that its lock or epoch is gone — is ``FENCED``: it does
nothing more (``acting`` is False at once, checked before every action) and its runtime
exits the process. A standby that finds the lock held under a lease expired for more
than a renewal interval (a paused or partitioned leader whose connection PostgreSQL
still keeps) terminates that session so the lock is freed.

Times are monotonic seconds (``Clock.monotonic``); the database's own clock only ever
appears as a duration (what is left of a lease).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    STANDBY = "standby"
    TAKING_OVER = "taking_over"
    ACTIVE = "active"
    FENCED = "fenced"


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    lease_s: float = 5.0
    renew_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.renew_interval_s <= 0 or self.lease_s <= 0:
            raise ValueError("lease_s and renew_interval_s must be positive")
        if self.renew_interval_s * 2 > self.lease_s:
            raise ValueError("lease_s must be at least twice renew_interval_s")


@dataclass(frozen=True, slots=True)
class Leader:
    """Who holds the lease, as last read from the database (the standby's API hint)."""

    instance: str | None
    api_url: str | None
    epoch: int


# ---- events ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    now: float


@dataclass(frozen=True, slots=True)
class LockAcquired:
    """The lock is ours; ``epoch`` is the one we wrote, ``previous_lease_left_s`` what
    was left of the previous holder's lease then (0 when it had run out)."""

    now: float
    epoch: int
    previous_lease_left_s: float


@dataclass(frozen=True, slots=True)
class LockBusy:
    """Another session holds the lock. ``lease_left_s`` is what is left of the lease in
    the database (negative: expired); ``holder_pid`` the backend holding the lock."""

    now: float
    leader: Leader
    lease_left_s: float | None
    holder_pid: int | None


@dataclass(frozen=True, slots=True)
class DatabaseUnavailable:
    now: float
    reason: str


@dataclass(frozen=True, slots=True)
class RenewalOk:
    started: float  # monotonic time the renewal was sent


@dataclass(frozen=True, slots=True)
class RenewalFailed:
    """``lost``: the lock or the epoch is certainly not ours any more (the lock's
    connection broke, or a newer epoch is in the database); otherwise it may still be."""

    now: float
    reason: str
    lost: bool


Event = Tick | LockAcquired | LockBusy | DatabaseUnavailable | RenewalOk | RenewalFailed


# ---- commands ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TryLock:
    pass


@dataclass(frozen=True, slots=True)
class Renew:
    epoch: int


@dataclass(frozen=True, slots=True)
class TerminateHolder:
    pid: int


@dataclass(frozen=True, slots=True)
class BecomeActive:
    epoch: int


@dataclass(frozen=True, slots=True)
class Fence:
    reason: str


Command = TryLock | Renew | TerminateHolder | BecomeActive | Fence


@dataclass(slots=True)
class Election:
    timings: LeaseTimings
    role: Role = Role.STANDBY
    epoch: int | None = None
    lease_deadline: float = 0.0  # our lease ends here (monotonic), while we hold the lock
    active_at: float = 0.0  # TAKING_OVER: the previous holder's lease is over then
    leader: Leader | None = None  # the last holder seen while standby
    fence_reason: str | None = None
    history: list[str] = field(default_factory=list)  # role changes, for logs and tests

    def acting(self, now: float) -> bool:
        """May this instance act (offer, dial, claim) at ``now``? Checked before every
        action, so a leader that wakes from a pause past its lease does nothing."""
        return self.role is Role.ACTIVE and now < self.lease_deadline

    def handle(self, event: Event) -> list[Command]:
        if self.role is Role.FENCED:
            return []
        match event:
            case Tick(now=now):
                return self._tick(now)
            case LockAcquired():
                return self._acquired(event)
            case LockBusy():
                return self._busy(event)
            case DatabaseUnavailable():
                return []
            case RenewalOk(started=started):
                if self.role in (Role.TAKING_OVER, Role.ACTIVE):
                    self.lease_deadline = max(self.lease_deadline, started + self.timings.lease_s)
                return []
            case RenewalFailed(now=now, reason=reason, lost=lost):
                if self.role in (Role.TAKING_OVER, Role.ACTIVE) and lost:
                    return self._fence(f"lease lost: {reason}")
                return self._tick(now) if self.role is not Role.STANDBY else []

    def _tick(self, now: float) -> list[Command]:
        if self.role is Role.STANDBY:
            return [TryLock()]
        assert self.epoch is not None
        if now >= self.lease_deadline:
            return self._fence(f"lease not renewed for {self.timings.lease_s:g} s")
        if self.role is Role.TAKING_OVER and now >= self.active_at:
            self._become(Role.ACTIVE)
            return [BecomeActive(self.epoch), Renew(self.epoch)]
        return [Renew(self.epoch)]

    def _acquired(self, event: LockAcquired) -> list[Command]:
        if self.role is not Role.STANDBY:
            return []
        self.epoch = event.epoch
        self.leader = None
        self.lease_deadline = event.now + self.timings.lease_s
        self.active_at = event.now + max(0.0, event.previous_lease_left_s)
        self._become(Role.TAKING_OVER)
        if event.now >= self.active_at:
            self._become(Role.ACTIVE)
            return [BecomeActive(event.epoch)]
        return []

    def _busy(self, event: LockBusy) -> list[Command]:
        if self.role is not Role.STANDBY:
            return []
        self.leader = event.leader
        # Expired by more than a renewal interval: not a holder that took the lock a
        # moment ago and has not written its lease yet.
        left = event.lease_left_s
        stale = left is not None and left < -self.timings.renew_interval_s
        if stale and event.holder_pid is not None:
            return [TerminateHolder(event.holder_pid)]
        return []

    def _fence(self, reason: str) -> list[Command]:
        self.fence_reason = reason
        self._become(Role.FENCED)
        return [Fence(reason)]

    def _become(self, role: Role) -> None:
        self.role = role
        self.history.append(role.value)
