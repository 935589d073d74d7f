"""The abandonment ledger: 2-second verdicts, daily and rolling 30-day tallies, the cap
arithmetic the pacing relies on, and the rows of /compliance.csv."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ccd.dialer.compliance import (
    CSV_FIELDS,
    AbandonLedger,
    AnsweredCall,
    Verdict,
    compliance_row,
    compliance_rows,
    connect_delay_s,
    headroom,
    verdict,
    within_cap,
)
from ccd.dialer.model import AbandonTally
from tests.unit.dialercases import utc

NOON = utc(2024, 6, 12, 12, 0)  # Wed 12 June 2024, 12:00 UTC


def call(
    answered_at: float = NOON,
    after_s: float | None = 1.0,
    *,
    person: bool = True,
    safe_harbor_at: float | None = None,
    attempt_id: str = "a1",
) -> AnsweredCall:
    return AnsweredCall(
        attempt_id=attempt_id,
        contact_id="c1",
        number="+12125550123",
        answered_at=answered_at,
        connected_at=None if after_s is None else answered_at + after_s,
        person=person,
        safe_harbor_at=safe_harbor_at,
    )


@pytest.mark.parametrize(
    ("after_s", "expected"),
    [
        (0.3, Verdict.CONNECTED),
        (2.0, Verdict.CONNECTED),  # "within 2 s": exactly 2 s is in time
        (2.001, Verdict.ABANDONED),
        (5.0, Verdict.ABANDONED),  # an agent came, but too late
        (None, Verdict.ABANDONED),  # never: the safe-harbor message played
    ],
)
def test_the_two_second_rule(after_s: float | None, expected: Verdict) -> None:
    assert verdict(call(after_s=after_s)) is expected


def test_delays_are_judged_to_the_microsecond() -> None:
    # Asterisk's event times have microseconds; anything finer is float noise.
    answered = 1718193600.1
    assert connect_delay_s(call(answered, after_s=2.0000001)) == 2.0
    assert verdict(call(answered, after_s=2.0000001)) is Verdict.CONNECTED
    assert connect_delay_s(call(answered, after_s=2.000001)) == 2.000001
    assert verdict(call(answered, after_s=2.000001)) is Verdict.ABANDONED


def test_a_machine_is_neither_answered_nor_abandoned() -> None:
    ledger = AbandonLedger()
    assert ledger.record(call(after_s=None, person=False)) is Verdict.MACHINE
    assert ledger.today(NOON) == AbandonTally(0, 0)
    assert ledger.kept_days == ()


def test_today_and_rolling_tallies() -> None:
    ledger = AbandonLedger()
    for n in range(97):
        ledger.record(call(NOON + n, after_s=1.0))
    for n in range(3):
        ledger.record(call(NOON + 100 + n, after_s=None))
    ledger.record(call(NOON - 86400, after_s=None))  # yesterday
    assert ledger.today(NOON) == AbandonTally(answered=100, abandoned=3)
    assert ledger.rolling(NOON) == AbandonTally(answered=101, abandoned=4)
    assert ledger.today(NOON + 86400) == AbandonTally(0, 0)  # tomorrow starts empty


def test_today_is_the_report_zones_day() -> None:
    late = utc(2024, 6, 13, 2, 0)  # 13 June in UTC, 22:00 on 12 June in New York
    in_utc, in_new_york = AbandonLedger(), AbandonLedger("America/New_York")
    for ledger in (in_utc, in_new_york):
        ledger.record(call(late, after_s=None))
    assert in_utc.kept_days == (date(2024, 6, 13),)
    assert in_new_york.kept_days == (date(2024, 6, 12),)
    # The next morning in New York (13:00 UTC, 9:00 EDT) it no longer counts as today there.
    assert in_new_york.today(utc(2024, 6, 13, 13, 0)) == AbandonTally(0, 0)
    assert in_utc.today(utc(2024, 6, 13, 13, 0)) == AbandonTally(1, 1)


def test_an_unknown_report_zone_fails_at_set_up() -> None:
    with pytest.raises(KeyError):
        AbandonLedger("Mars/Olympus_Mons")


def test_the_rolling_window_is_today_and_the_29_days_before() -> None:
    ledger = AbandonLedger()
    ledger.record(call(utc(2024, 5, 13, 12), after_s=None))  # 30 days before 12 June
    ledger.record(call(utc(2024, 5, 14, 12), after_s=None))  # 29 days before
    # On 11 June both days are inside: 13 May is that window's oldest day.
    assert ledger.rolling(utc(2024, 6, 11, 12)) == AbandonTally(answered=2, abandoned=2)
    ledger.record(call(NOON, after_s=1.0))
    # On 12 June the 31-day-old day has dropped out; 14 May is the oldest.
    assert ledger.rolling(NOON) == AbandonTally(answered=2, abandoned=1)
    # On the 13th the 14 May day drops out too.
    assert ledger.rolling(utc(2024, 6, 13, 12)) == AbandonTally(answered=1, abandoned=0)
    days = ledger.per_day(NOON)
    assert len(days) == 30
    assert days[0] == (date(2024, 5, 14), AbandonTally(1, 1))
    assert days[-1] == (date(2024, 6, 12), AbandonTally(1, 0))
    assert days[1] == (date(2024, 5, 15), AbandonTally(0, 0))  # quiet days are listed


def test_memory_is_bounded_to_the_window() -> None:
    ledger = AbandonLedger()
    start = utc(2024, 1, 1, 12)
    for day in range(100):
        ledger.record(call(start + day * 86400, after_s=None))
    assert len(ledger.kept_days) == 30
    assert ledger.kept_days[0] == date(2024, 3, 11)  # 1 Jan + 70 days
    # A call from before the window is judged, not counted.
    assert ledger.record(call(start, after_s=None)) is Verdict.ABANDONED
    assert date(2024, 1, 1) not in ledger.kept_days


def test_loading_day_counts_kept_elsewhere() -> None:
    ledger = AbandonLedger()
    ledger.load(date(2024, 6, 11), AbandonTally(500, 10))
    ledger.load(date(2024, 6, 12), AbandonTally(40, 1))
    ledger.record(call(NOON, after_s=None))
    assert ledger.today(NOON) == AbandonTally(41, 2)
    assert ledger.rolling(NOON) == AbandonTally(541, 12)
    ledger.load(date(2024, 4, 1), AbandonTally(9, 9))  # long gone: not kept
    assert ledger.rolling(NOON) == AbandonTally(541, 12)
    assert date(2024, 4, 1) not in ledger.kept_days


@pytest.mark.parametrize(
    ("answered", "abandoned", "cap_pct", "within"),
    [
        (100, 3, 3.0, True),  # exactly 3 %
        (100, 4, 3.0, False),
        (133, 4, 3.0, False),  # 3.0075 %: just over
        (134, 4, 3.0, True),  # 2.985 %
        (99, 3, 3.0, False),  # 3.03 %
        (0, 0, 3.0, True),
        (1000, 7, 0.7, True),  # exactly 0.7 % (not against 0.69999… in binary)
        (1000, 8, 0.7, False),
        (200, 3, 1.5, True),
    ],
)
def test_within_cap_is_exact(answered: int, abandoned: int, cap_pct: float, within: bool) -> None:
    assert within_cap(AbandonTally(answered, abandoned), cap_pct) is within


def test_headroom_hand_computed() -> None:
    # Rolling 100 of 5000 (2 %), today 5 of 300; 100 more answers: rolling allows
    # 3 % of 5100 = 153 - 100 = 53 more, today 3 % of 400 = 12 - 5 = 7: today decides.
    assert headroom(3.0, AbandonTally(5000, 100), AbandonTally(300, 5), 100) == 7
    # Exactly at the cap with no more answers: nothing more.
    assert headroom(3.0, AbandonTally(100, 3), AbandonTally(100, 3), 0) == 0
    # Over the cap: nothing, never negative.
    assert headroom(3.0, AbandonTally(100, 5), AbandonTally(0, 0), 10) == 0
    # Plenty of room: at most every one of the new answers.
    assert headroom(3.0, AbandonTally(1000, 0), AbandonTally(1000, 0), 5) == 5
    # A fresh campaign: 3 % of 10 answers is 0.3, so no abandon is allowed yet.
    assert headroom(3.0, AbandonTally(), AbandonTally(), 10) == 0
    assert headroom(3.0, AbandonTally(), AbandonTally(), 34) == 1


def fits(abandons: int, answers: int, *tallies: AbandonTally) -> bool:
    """Whether ``abandons`` among ``answers`` more live answers keep every tally in cap."""
    return all(
        within_cap(AbandonTally(t.answered + answers, t.abandoned + abandons), 3.0) for t in tallies
    )


def test_headroom_is_the_most_abandons_both_rates_bear() -> None:
    for answered in range(0, 120, 7):
        for abandoned in range(0, min(answered, 6) + 1):
            rolling = AbandonTally(answered + 200, abandoned + 5)
            today = AbandonTally(answered, abandoned)
            for answers in (0, 1, 10, 40):
                k = headroom(3.0, rolling, today, answers)

                assert 0 <= k <= answers
                assert k == 0 or fits(k, answers, rolling, today)
                assert k == answers or not fits(k + 1, answers, rolling, today)


def test_headroom_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="answers"):
        headroom(3.0, AbandonTally(), AbandonTally(), -1)
    with pytest.raises(ValueError, match="cap"):
        headroom(-1.0, AbandonTally(), AbandonTally(), 1)


def test_compliance_rows() -> None:
    answered = utc(2024, 6, 13, 2, 0)  # 22:00 on 12 June in New York
    rows = list(
        compliance_rows(
            [
                call(answered, after_s=1.25, attempt_id="a1"),
                call(answered, after_s=None, safe_harbor_at=answered + 2.0, attempt_id="a2"),
                call(answered, after_s=None, person=False, attempt_id="a3"),
            ],
            "America/New_York",
        )
    )
    connected, abandoned, machine = rows
    when = datetime(2024, 6, 13, 2, 0, tzinfo=UTC)
    assert connected.answered_at == when
    assert connected.report_day == date(2024, 6, 12)
    assert connected.agent_connected_at == datetime(2024, 6, 13, 2, 0, 1, 250000, tzinfo=UTC)
    assert connected.connect_delay_s == 1.25
    assert connected.safe_harbor_at is None
    assert (connected.verdict, connected.counted) == ("connected", True)
    assert abandoned.agent_connected_at is None
    assert abandoned.connect_delay_s is None
    assert abandoned.safe_harbor_at == datetime(2024, 6, 13, 2, 0, 2, tzinfo=UTC)
    assert (abandoned.verdict, abandoned.counted) == ("abandoned", True)
    assert (machine.verdict, machine.counted) == ("machine", False)
    assert compliance_row(call(answered)).report_day == date(2024, 6, 13)  # UTC by default


def test_csv_fields_are_the_row_in_order() -> None:
    assert CSV_FIELDS == (
        "attempt_id",
        "contact_id",
        "number",
        "report_day",
        "answered_at",
        "agent_connected_at",
        "connect_delay_s",
        "safe_harbor_at",
        "verdict",
        "counted",
    )
