"""Report figures on hand-made rows: the queue formulas, short abandons, CSAT, QA, dialer
tallies and agents' time by state (with spans cut at bucket edges)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ccd.reports.buckets import BucketIndex, Interval, build_buckets
from ccd.reports.figures import (
    AttemptRow,
    AttemptTally,
    CallRow,
    CallTally,
    RatingTally,
    attempt_figures,
    queue_figures,
    rating_figures,
)
from ccd.reports.presence import PresenceFold, StateChange

T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)


def call(
    disposition: str,
    wait_s: float,
    *,
    agent: str | None = None,
    talk_s: float = 0.0,
    wrapup_s: float | None = None,
    after: timedelta = timedelta(0),
) -> CallRow:
    started = T0 + after
    answered = started + timedelta(seconds=wait_s) if disposition == "answered" else None
    return CallRow(
        linkedid=f"{disposition}-{wait_s}-{after}",
        direction="inbound",
        caller_num="2125550001",
        callee_num="100",
        started_at=started,
        answered_at=answered,
        ended_at=(answered or started) + timedelta(seconds=talk_s),
        talk_s=talk_s,
        hold_s=0.0,
        disposition=disposition,
        queue="sales",
        wait_s=wait_s,
        agent_id=agent,
        wrapup_s=wrapup_s,
        campaign_id=None,
    )


def test_queue_formulas() -> None:
    tally = CallTally()
    for row in [
        call("answered", 15, agent="1001", talk_s=100, wrapup_s=20),  # within 20 s
        call("answered", 20.0, agent="1001", talk_s=50),  # at the target: within
        call("answered", 20.5, agent="1002", talk_s=30, wrapup_s=10),  # not within
        call("abandoned", 4.99),  # short (< 5 s)
        call("abandoned", 5.0),  # not short
        call("timed-out", 300),
        call("callback", 40),
    ]:
        tally.add_queue_call(row, sl_target_s=20.0, short_abandon_s=5.0)
    figures = queue_figures(tally, 20.0)
    # offered 7, short 1: SL = 2 / 6, abandon rate = (2 - 1) / 6, ASA = 55.5 / 3,
    # AHT = (120 + 50 + 40) / 3.
    assert {
        k: figures[k]
        for k in (
            "offered",
            "answered",
            "abandoned",
            "short_abandoned",
            "timed_out",
            "callbacks",
            "answered_within_sl",
            "service_level_pct",
            "abandon_rate_pct",
            "asa_s",
            "aht_s",
        )
    } == {
        "offered": 7,
        "answered": 3,
        "abandoned": 2,
        "short_abandoned": 1,
        "timed_out": 1,
        "callbacks": 1,
        "answered_within_sl": 2,
        "service_level_pct": 33.33,
        "abandon_rate_pct": 16.67,
        "asa_s": 18.5,
        "aht_s": 70.0,
    }


def test_only_short_abandons_leave_the_rates_undefined() -> None:
    tally = CallTally()
    tally.add_queue_call(call("abandoned", 1), sl_target_s=20, short_abandon_s=5)
    figures = queue_figures(tally, 20.0)
    assert (figures["service_level_pct"], figures["abandon_rate_pct"], figures["asa_s"]) == (
        None,
        None,
        None,
    )


def test_an_answered_call_without_an_agent_is_not_handled() -> None:
    tally = CallTally()
    tally.add_queue_call(call("answered", 3), sl_target_s=20, short_abandon_s=5)
    assert (tally.answered, tally.handled) == (1, 0)


def test_csat_and_qa() -> None:
    ratings = RatingTally()
    for score in (5, 4, 3, 1, None):
        ratings.add_survey(score)
    for pct in (70.0, None, 100.0):
        ratings.add_evaluation(pct)
    # 4 answered scores, 2 of them >= 4: 50 %; mean 13 / 4 = 3.25; QA (70 + 100) / 2.
    assert rating_figures(ratings) == {
        "csat_responses": 4,
        "csat_pct": 50.0,
        "csat_mean": 3.25,
        "qa_evaluations": 2,
        "qa_score_pct": 85.0,
    }


def test_dialer_tally() -> None:
    tally = AttemptTally()

    def attempt(outcome: str | None, answered: bool, connected: bool, disp: str | None) -> None:
        tally.add(
            AttemptRow(
                campaign_id="winter",
                started_at=T0,
                answered_at=T0 if answered else None,
                agent_connected_at=T0 if connected else None,
                outcome=outcome,
                disposition=disp,
            )
        )

    attempt("answered", True, True, "sale")
    attempt("answered", True, True, "sale")
    attempt("abandoned", True, False, None)
    attempt("machine", True, False, None)
    attempt("failed", False, False, None)
    figures = attempt_figures(tally)
    # Live answers 3 (the machine apart): abandon rate 1 / 3.
    assert (figures["attempts"], figures["answered"], figures["connected"]) == (5, 3, 2)
    assert (figures["machines"], figures["failed"], figures["abandon_rate_pct"]) == (
        1,
        1,
        33.33,
    )
    assert figures["dispositions"] == {"sale": 2}


def test_agent_time_by_state_across_buckets() -> None:
    utc = ZoneInfo("UTC")
    index = BucketIndex(build_buckets(T0, T0 + timedelta(hours=1), Interval.MIN30, utc, limit=9))
    fold = PresenceFold(index, until=T0 + timedelta(minutes=50))  # "now" is 09:50
    # Logged in before the range; paused (lunch) 09:20-09:40 (10 min in each half hour);
    # on a call 09:40 until "now".
    fold.opening(StateChange("1001", "available", None, T0 - timedelta(hours=1)), T0)
    fold.add(StateChange("1001", "paused", "lunch", T0 + timedelta(minutes=20)))
    fold.add(StateChange("1001", "on_call", None, T0 + timedelta(minutes=40)))
    # A call answered at 09:25 for 10 min (5 min in each half hour), wrap-up 2 min.
    fold.add_handling(
        CallRow(
            linkedid="x",
            direction="inbound",
            caller_num="1",
            callee_num="2",
            started_at=T0 + timedelta(minutes=24),
            answered_at=T0 + timedelta(minutes=25),
            ended_at=T0 + timedelta(minutes=35),
            talk_s=600.0,
            hold_s=0.0,
            disposition="answered",
            queue="sales",
            wait_s=60.0,
            agent_id="1001",
            wrapup_s=120.0,
            campaign_id=None,
        )
    )
    tallies = fold.finish()
    first, second = tallies[("1001", 0)], tallies[("1001", 1)]
    assert (first.logged_in_s, first.paused_s, first.handling_s) == (1800.0, 600.0, 300.0)
    # The second half hour ends at "now" (09:50): 20 min logged in, 10 paused.
    assert (second.logged_in_s, second.paused_s, second.handling_s) == (1200.0, 600.0, 420.0)
    assert second.pause_by_reason == {"lunch": 600.0}
