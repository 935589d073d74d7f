"""The election and lease state machine, stepped by hand (no loop, no database)."""

from __future__ import annotations

import pytest

from ccd.ha.election import (
    BecomeActive,
    DatabaseUnavailable,
    Election,
    Fence,
    Leader,
    LeaseTimings,
    LockAcquired,
    LockBusy,
    Renew,
    RenewalFailed,
    RenewalOk,
    Role,
    TerminateHolder,
    Tick,
    TryLock,
)

TIMINGS = LeaseTimings(lease_s=5.0, renew_interval_s=1.0)
OTHER = Leader(instance="ccd-a", api_url="http://10.0.0.1:8080", epoch=3)


def active(now: float = 100.0, epoch: int = 4) -> Election:
    election = Election(TIMINGS)
    assert election.handle(Tick(now)) == [TryLock()]
    assert election.handle(LockAcquired(now, epoch, previous_lease_left_s=0.0)) == [
        BecomeActive(epoch)
    ]
    return election


def test_a_standby_tries_the_lock_on_every_tick_and_does_not_act() -> None:
    election = Election(TIMINGS)
    assert election.handle(Tick(0.0)) == [TryLock()]
    assert election.handle(LockBusy(0.0, OTHER, lease_left_s=4.0, holder_pid=77)) == []
    assert election.handle(Tick(1.0)) == [TryLock()]
    assert election.role is Role.STANDBY
    assert election.leader == OTHER
    assert not election.acting(1.0)


def test_the_lock_with_no_lease_left_makes_the_instance_active_at_once() -> None:
    election = active(now=100.0, epoch=4)
    assert election.role is Role.ACTIVE
    assert election.epoch == 4
    assert election.acting(100.0)
    assert election.handle(Tick(101.0)) == [Renew(4)]


def test_a_new_holder_waits_until_the_previous_lease_is_over() -> None:
    election = Election(TIMINGS)
    assert election.handle(LockAcquired(10.0, 8, previous_lease_left_s=3.5)) == []
    assert election.role is Role.TAKING_OVER
    assert not election.acting(10.0)
    assert election.handle(Tick(11.0)) == [Renew(8)]
    election.handle(RenewalOk(started=11.0))
    assert election.handle(Tick(13.0)) == [Renew(8)]
    assert not election.acting(13.4)
    assert election.handle(Tick(13.5)) == [BecomeActive(8), Renew(8)]
    assert election.acting(13.5)
    assert election.history == ["taking_over", "active"]


def test_the_lease_runs_from_the_start_of_the_last_good_renewal() -> None:
    election = active(now=100.0)
    election.handle(RenewalOk(started=101.0))
    election.handle(RenewalOk(started=102.0))
    assert election.acting(106.99)
    assert not election.acting(107.0)  # 102 + 5: checked without any tick


def test_an_older_renewal_answered_late_does_not_shorten_the_lease() -> None:
    election = active(now=100.0)
    election.handle(RenewalOk(started=103.0))
    election.handle(RenewalOk(started=101.0))
    assert election.lease_deadline == 108.0


def test_renewals_failing_for_the_whole_lease_fence_the_leader() -> None:
    election = active(now=100.0)
    for now in (101.0, 102.0, 103.0, 104.0):
        assert election.handle(RenewalFailed(now, "timeout", lost=False)) == [Renew(4)]
    assert election.acting(104.9)
    commands = election.handle(Tick(105.0))
    assert commands == [Fence("lease not renewed for 5 s")]
    assert election.role is Role.FENCED
    assert not election.acting(105.0)


def test_a_lost_lock_fences_at_once() -> None:
    election = active(now=100.0)
    assert election.handle(RenewalFailed(100.5, "connection closed", lost=True)) == [
        Fence("lease lost: connection closed")
    ]
    assert not election.acting(100.5)


def test_a_leader_paused_past_its_lease_does_not_act_when_it_wakes() -> None:
    election = active(now=100.0)
    election.handle(RenewalOk(started=101.0))
    # SIGSTOP at 101.5, SIGCONT at 130: before any tick runs, actions are refused.
    assert not election.acting(130.0)
    assert election.handle(Tick(130.0)) == [Fence("lease not renewed for 5 s")]


def test_a_fenced_instance_stays_fenced() -> None:
    election = active(now=100.0)
    election.handle(Tick(200.0))
    assert election.handle(Tick(201.0)) == []
    assert election.handle(LockAcquired(201.0, 9, 0.0)) == []
    assert election.handle(RenewalOk(started=201.0)) == []
    assert not election.acting(201.0)


def test_a_lock_held_under_an_expired_lease_gets_its_holder_terminated() -> None:
    election = Election(TIMINGS)
    assert election.handle(LockBusy(0.0, OTHER, lease_left_s=-1.5, holder_pid=77)) == [
        TerminateHolder(77)
    ]


@pytest.mark.parametrize("left", [None, 2.0, 0.0, -0.5, -1.0])
def test_a_holder_within_its_lease_or_just_taking_over_is_left_alone(left: float | None) -> None:
    election = Election(TIMINGS)
    assert election.handle(LockBusy(0.0, OTHER, lease_left_s=left, holder_pid=77)) == []


def test_an_unreachable_database_keeps_a_standby_trying() -> None:
    election = Election(TIMINGS)
    assert election.handle(DatabaseUnavailable(0.0, "refused")) == []
    assert election.handle(Tick(1.0)) == [TryLock()]
    assert election.role is Role.STANDBY


def test_a_renewal_failure_while_taking_over_fences_when_the_lock_is_lost() -> None:
    election = Election(TIMINGS)
    election.handle(LockAcquired(10.0, 2, previous_lease_left_s=4.0))
    assert election.handle(RenewalFailed(11.0, "connection closed", lost=True)) == [
        Fence("lease lost: connection closed")
    ]
    assert election.history == ["taking_over", "fenced"]


def test_timings_need_a_lease_of_at_least_two_renewals() -> None:
    with pytest.raises(ValueError, match="twice"):
        LeaseTimings(lease_s=1.0, renew_interval_s=0.8)
