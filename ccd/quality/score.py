"""The score of an evaluation: a pure function of the form and the answers.

- Each answered question earns a fraction: yes 1, no 0; on a scale 1..N, ``(v - 1) /
  (N - 1)`` (the lowest point 0, the highest 1).
- The score is the weighted mean of those fractions, as a percentage rounded to two
  decimals; N/A answers are left out of the numerator *and* the denominator.
- A critical question failed (``no``, or the lowest point of its scale) makes the score 0,
  whatever else was answered.
- Every answer N/A (and no critical failure): there is no score (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ccd.quality.answers import AnswerValue
from ccd.quality.forms import FormDefinition, Question, QuestionKind

DECIMALS = 2


@dataclass(frozen=True, slots=True)
class QuestionScore:
    question_id: str
    score_pct: float | None  # None: N/A
    critical_failed: bool


@dataclass(frozen=True, slots=True)
class Score:
    score_pct: float | None  # None: every answer N/A
    critical_failed: bool
    questions: tuple[QuestionScore, ...]


def question_fraction(question: Question, value: AnswerValue) -> float | None:
    """What one answer earns, 0..1 (None: N/A). ``value`` must be valid for ``question``
    (``ccd.quality.answers.read_answers``); anything else is a ValueError."""
    if value is None:
        if not question.allow_na:
            raise ValueError(f"question {question.id!r} does not allow N/A")
        return None
    if question.kind is QuestionKind.YES_NO:
        if value not in (0, 1):
            raise ValueError(f"yes/no answer to {question.id!r} must be 0 or 1, not {value}")
        return float(value)
    scale_max = question.scale_max
    if scale_max is None or not 1 <= value <= scale_max:
        raise ValueError(f"scale answer to {question.id!r} out of range: {value}")
    return (value - 1) / (scale_max - 1)


def score(form: FormDefinition, answers: Mapping[str, AnswerValue]) -> Score:
    """The evaluation's score; ``answers`` must answer every question of ``form``."""
    earned = 0.0
    possible = 0.0
    critical_failed = False
    scored: list[QuestionScore] = []
    for question in form.questions():
        if question.id not in answers:
            raise ValueError(f"question {question.id!r} is not answered")
        fraction = question_fraction(question, answers[question.id])
        failed = question.critical and fraction == 0.0
        critical_failed = critical_failed or failed
        if fraction is not None:
            earned += question.weight * fraction
            possible += question.weight
        scored.append(
            QuestionScore(
                question_id=question.id,
                score_pct=None if fraction is None else round(100 * fraction, DECIMALS),
                critical_failed=failed,
            )
        )
    if critical_failed:
        total: float | None = 0.0
    elif possible == 0:
        total = None
    else:
        total = round(100 * earned / possible, DECIMALS)
    return Score(score_pct=total, critical_failed=critical_failed, questions=tuple(scored))
