"""Reading an evaluation's answers against its form.

Pure. On the wire an answer is ``"yes"`` / ``"no"`` for a yes/no question, an integer
1..``scale_max`` for a scale question, or ``"na"`` where the question allows N/A. Every
question of the form must be answered (N/A included), and only its questions.

In the domain an answer is an ``int | None``: yes 1, no 0, a scale point as given, None
for N/A — what ``ccd.quality.score`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ccd.quality.forms import FormDefinition, FormProblem, Question, QuestionKind

YES = "yes"
NO = "no"
NOT_APPLICABLE = "na"

AnswerValue = int | None  # yes 1, no 0, a scale point, None: N/A


@dataclass(frozen=True, slots=True)
class ReadAnswers:
    values: Mapping[str, AnswerValue]
    problems: tuple[FormProblem, ...]


def read_answers(form: FormDefinition, raw: Mapping[str, object]) -> ReadAnswers:
    """The answers in ``raw`` as domain values, with a problem per bad, missing or unknown
    answer (field ``answers.<question id>``)."""
    values: dict[str, AnswerValue] = {}
    problems: list[FormProblem] = []
    for question in form.questions():
        field = f"answers.{question.id}"
        if question.id not in raw:
            problems.append(FormProblem(field, "is not answered (every question needs one)"))
            continue
        value, message = _read(question, raw[question.id])
        if message is not None:
            problems.append(FormProblem(field, message))
        else:
            values[question.id] = value
    for question_id in raw:
        if form.question(question_id) is None:
            problems.append(FormProblem(f"answers.{question_id}", "is not a question of this form"))
    return ReadAnswers(values=values, problems=tuple(problems))


def _read(question: Question, raw: object) -> tuple[AnswerValue, str | None]:
    if raw == NOT_APPLICABLE:
        if question.allow_na:
            return None, None
        return None, "this question does not allow N/A"
    if question.kind is QuestionKind.YES_NO:
        if raw == YES:
            return 1, None
        if raw == NO:
            return 0, None
        return None, _expected(question)
    # bool is an int in Python; true/false are not scale points.
    if isinstance(raw, int) and not isinstance(raw, bool):
        scale_max = question.scale_max or 0
        if 1 <= raw <= scale_max:
            return raw, None
    return None, _expected(question)


def _expected(question: Question) -> str:
    na = ' or "na"' if question.allow_na else ""
    if question.kind is QuestionKind.YES_NO:
        return f'must be "yes" or "no"{na}'
    return f"must be an integer from 1 to {question.scale_max}{na}"


def answer_text(question: Question, value: AnswerValue) -> str:
    """The wire (and database) form of a domain answer."""
    if value is None:
        return NOT_APPLICABLE
    if question.kind is QuestionKind.YES_NO:
        return YES if value else NO
    return str(value)


def answer_json(question: Question, value: AnswerValue) -> str | int:
    """As sent: a scale point is a number, the rest text."""
    if value is not None and question.kind is QuestionKind.SCALE:
        return value
    return answer_text(question, value)
