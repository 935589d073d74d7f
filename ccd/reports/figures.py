"""What a report counts, per (key, bucket), and the figures derived from it (pure).

Rows in (CDRs, dialer attempts, survey answers, QA evaluations), tallies out; a tally is
a handful of sums, so a report's memory grows with keys x buckets, never with calls. The
definitions are the README's ("Reports"); the formulas are the functions at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

ANSWERED = "answered"
ABANDONED = "abandoned"
OVERFLOWED = "overflowed"
TIMED_OUT = "timed-out"
CALLBACK = "callback"
MACHINE = "machine"
SATISFIED_MIN_SCORE = 4  # CSAT: 4 or 5 out of 5 is a satisfied answer


@dataclass(frozen=True, slots=True)
class CallRow:
    """The CDR columns a report reads."""

    linkedid: str
    direction: str
    caller_num: str
    callee_num: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    talk_s: float
    hold_s: float
    disposition: str
    queue: str | None
    wait_s: float | None
    agent_id: str | None
    wrapup_s: float | None
    campaign_id: str | None
    # The agent's disposition of the dialer attempt that placed the call, if any.
    agent_disposition: str | None = None

    @property
    def handled(self) -> bool:
        """Answered by an agent: an ACD call connected, or a dialer call with its agent."""
        return self.disposition == ANSWERED and self.agent_id is not None

    @property
    def handle_s(self) -> float:
        # talk_s already includes hold (README, "Call detail records").
        return self.talk_s + (self.wrapup_s or 0.0)


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """The dialer_attempts columns a campaign report reads."""

    campaign_id: str
    started_at: datetime
    answered_at: datetime | None
    agent_connected_at: datetime | None
    outcome: str | None
    disposition: str | None


@dataclass(frozen=True, slots=True)
class SurveyRow:
    linkedid: str
    queue: str | None
    agent_id: str | None
    campaign_id: str | None
    score: int | None
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    linkedid: str
    queue: str | None
    agent_id: str | None
    campaign_id: str | None
    score_pct: float | None
    evaluated_at: datetime


@dataclass(slots=True)
class CallTally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    overflowed: int = 0
    timed_out: int = 0
    callbacks: int = 0
    answered_within_sl: int = 0
    wait_answered_s: float = 0.0
    handled: int = 0
    talk_s: float = 0.0
    hold_s: float = 0.0
    wrapup_s: float = 0.0
    fcr_handled: int = 0
    fcr_resolved: int = 0

    def add_queue_call(self, call: CallRow, *, sl_target_s: float, short_abandon_s: float) -> None:
        """A call offered to a queue (its CDR names the queue)."""
        self.offered += 1
        wait = call.wait_s if call.wait_s is not None else 0.0
        if call.disposition == ANSWERED:
            self.answered += 1
            self.wait_answered_s += wait
            if wait <= sl_target_s:
                self.answered_within_sl += 1
        elif call.disposition == ABANDONED:
            self.abandoned += 1
            if wait < short_abandon_s:
                self.short_abandoned += 1
        elif call.disposition == OVERFLOWED:
            self.overflowed += 1
        elif call.disposition == TIMED_OUT:
            self.timed_out += 1
        elif call.disposition == CALLBACK:
            self.callbacks += 1
        if call.handled:
            self.add_handled(call)

    def add_handled(self, call: CallRow) -> None:
        self.handled += 1
        self.talk_s += call.talk_s
        self.hold_s += call.hold_s
        self.wrapup_s += call.wrapup_s or 0.0

    def add_fcr(self, resolved: bool) -> None:
        self.fcr_handled += 1
        self.fcr_resolved += int(resolved)


@dataclass(slots=True)
class RatingTally:
    surveys_answered: int = 0
    surveys_satisfied: int = 0
    survey_score_sum: int = 0
    evaluations: int = 0
    evaluation_score_sum: float = 0.0

    def add_survey(self, score: int | None) -> None:
        if score is None:  # asked, not answered: no part in CSAT
            return
        self.surveys_answered += 1
        self.survey_score_sum += score
        if score >= SATISFIED_MIN_SCORE:
            self.surveys_satisfied += 1

    def add_evaluation(self, score_pct: float | None) -> None:
        if score_pct is None:  # an evaluation not finished or not scored
            return
        self.evaluations += 1
        self.evaluation_score_sum += score_pct


@dataclass(slots=True)
class AttemptTally:
    attempts: int = 0
    answered: int = 0  # a person answered (machines apart)
    connected: int = 0  # an agent was connected
    machines: int = 0
    abandoned: int = 0
    no_answer: int = 0
    busy: int = 0
    failed: int = 0
    in_flight: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)

    def add(self, attempt: AttemptRow) -> None:
        self.attempts += 1
        outcome = attempt.outcome
        if outcome is None:
            self.in_flight += 1
        elif outcome == MACHINE:
            self.machines += 1
        elif outcome == "no-answer":
            self.no_answer += 1
        elif outcome == "busy":
            self.busy += 1
        elif outcome == "failed":
            self.failed += 1
        if outcome == ABANDONED:
            self.abandoned += 1
        if attempt.answered_at is not None and outcome != MACHINE:
            self.answered += 1
        if attempt.agent_connected_at is not None:
            self.connected += 1
        if attempt.disposition is not None:
            self.dispositions[attempt.disposition] = (
                self.dispositions.get(attempt.disposition, 0) + 1
            )


@dataclass(slots=True)
class PresenceTally:
    """An agent's time by state in a bucket, from the session log, and the time spent
    handling calls (talk and wrap-up of their CDRs) that fell in it."""

    logged_in_s: float = 0.0
    paused_s: float = 0.0
    pause_by_reason: dict[str, float] = field(default_factory=dict)
    handling_s: float = 0.0

    def add_state(self, status: str, reason: str | None, seconds: float) -> None:
        if status == "logged_out" or seconds <= 0:
            return
        self.logged_in_s += seconds
        if status == "paused":
            self.paused_s += seconds
            key = reason or "unspecified"
            self.pause_by_reason[key] = self.pause_by_reason.get(key, 0.0) + seconds


TallyT = TypeVar("TallyT", CallTally, RatingTally, AttemptTally, PresenceTally)


def merge(tallies: Iterable[TallyT], into: TallyT) -> TallyT:
    """``into`` plus every tally of ``tallies`` (sums; mappings summed per entry): a
    range's figures from its intervals' tallies."""
    for tally in tallies:
        for item in fields(into):
            mine: Any = getattr(into, item.name)
            theirs: Any = getattr(tally, item.name)
            if isinstance(mine, dict):
                for entry, value in theirs.items():
                    mine[entry] = mine.get(entry, 0) + value
            else:
                setattr(into, item.name, mine + theirs)
    return into


# --- the formulas --------------------------------------------------------------------------


def ratio_pct(numerator: float, denominator: float) -> float | None:
    """100 x numerator / denominator, rounded to 0.01; None when nothing to divide by."""
    if denominator <= 0:
        return None
    return round(100.0 * numerator / denominator, 2)


def mean(total: float, count: int) -> float | None:
    return round(total / count, 2) if count > 0 else None


def service_level_pct(t: CallTally) -> float | None:
    return ratio_pct(t.answered_within_sl, t.offered - t.short_abandoned)


def abandon_rate_pct(t: CallTally) -> float | None:
    return ratio_pct(t.abandoned - t.short_abandoned, t.offered - t.short_abandoned)


def asa_s(t: CallTally) -> float | None:
    return mean(t.wait_answered_s, t.answered)


def aht_s(t: CallTally) -> float | None:
    return mean(t.talk_s + t.wrapup_s, t.handled)


def fcr_pct(t: CallTally) -> float | None:
    return ratio_pct(t.fcr_resolved, t.fcr_handled)


def occupancy_pct(p: PresenceTally) -> float | None:
    return ratio_pct(p.handling_s, p.logged_in_s - p.paused_s)


def call_figures(t: CallTally) -> dict[str, object]:
    """What every report shows about handled calls."""
    return {
        "handled": t.handled,
        "talk_s": round(t.talk_s, 3),
        "hold_s": round(t.hold_s, 3),
        "wrapup_s": round(t.wrapup_s, 3),
        "aht_s": aht_s(t),
        "fcr_handled": t.fcr_handled,
        "fcr_resolved": t.fcr_resolved,
        "fcr_pct": fcr_pct(t),
    }


def queue_figures(t: CallTally, sl_target_s: float) -> dict[str, object]:
    return {
        "offered": t.offered,
        "answered": t.answered,
        "abandoned": t.abandoned,
        "short_abandoned": t.short_abandoned,
        "overflowed": t.overflowed,
        "timed_out": t.timed_out,
        "callbacks": t.callbacks,
        "answered_within_sl": t.answered_within_sl,
        "service_level_target_s": sl_target_s,
        "service_level_pct": service_level_pct(t),
        "abandon_rate_pct": abandon_rate_pct(t),
        "asa_s": asa_s(t),
        **call_figures(t),
    }


def rating_figures(r: RatingTally) -> dict[str, object]:
    return {
        "csat_responses": r.surveys_answered,
        "csat_pct": ratio_pct(r.surveys_satisfied, r.surveys_answered),
        "csat_mean": mean(r.survey_score_sum, r.surveys_answered),
        "qa_evaluations": r.evaluations,
        "qa_score_pct": mean(r.evaluation_score_sum, r.evaluations),
    }


def presence_figures(p: PresenceTally) -> dict[str, object]:
    return {
        "logged_in_s": round(p.logged_in_s, 3),
        "paused_s": round(p.paused_s, 3),
        "pause_by_reason": {k: round(v, 3) for k, v in sorted(p.pause_by_reason.items())},
        "handling_s": round(p.handling_s, 3),
        "occupancy_pct": occupancy_pct(p),
    }


def attempt_figures(a: AttemptTally) -> dict[str, object]:
    return {
        "attempts": a.attempts,
        "answered": a.answered,
        "connected": a.connected,
        "machines": a.machines,
        "abandoned": a.abandoned,
        "no_answer": a.no_answer,
        "busy": a.busy,
        "failed": a.failed,
        "in_flight": a.in_flight,
        # Of live answers (machines apart), as the dialer's compliance report counts.
        "abandon_rate_pct": ratio_pct(a.abandoned, a.answered),
        "dispositions": dict(sorted(a.dispositions.items())),
    }
