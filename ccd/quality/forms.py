"""Evaluation forms: sections of weighted questions, and the rules a form must keep.

Pure. A question is ``yes_no`` or ``scale`` (1..``scale_max``), may allow N/A, carries a
weight (> 0) and may be **critical**: failing it (``no``, or the lowest point of a scale)
zeroes the whole evaluation. ``form_problems`` lists what is wrong with a form as
(field path, message) pairs, the field path in the API's dotted form
(``sections.1.questions.0.scale_max``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class QuestionKind(enum.StrEnum):
    YES_NO = "yes_no"
    SCALE = "scale"


MIN_SCALE = 2
MAX_SCALE = 10
MAX_WEIGHT = 100.0


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    kind: QuestionKind
    weight: float
    critical: bool = False
    allow_na: bool = False
    scale_max: int | None = None  # scale questions only: answers are 1..scale_max


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class FormDefinition:
    name: str
    sections: tuple[Section, ...]

    def questions(self) -> Iterator[Question]:
        for section in self.sections:
            yield from section.questions

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions() if q.id == question_id), None)


@dataclass(frozen=True, slots=True)
class FormProblem:
    field: str
    message: str


def form_problems(form: FormDefinition) -> list[FormProblem]:
    """Everything wrong with ``form``, in form order (empty: the form is usable)."""
    problems: list[FormProblem] = []
    if not form.sections:
        problems.append(FormProblem("sections", "a form needs at least one section"))
    seen: dict[str, str] = {}
    for s, section in enumerate(form.sections):
        if not section.questions:
            problems.append(
                FormProblem(f"sections.{s}.questions", "a section needs at least one question")
            )
        for q, question in enumerate(section.questions):
            path = f"sections.{s}.questions.{q}"
            problems.extend(_question_problems(question, path))
            if question.id in seen:
                problems.append(FormProblem(f"{path}.id", f"repeats the id of {seen[question.id]}"))
            else:
                seen[question.id] = path
    return problems


def _question_problems(question: Question, path: str) -> Iterator[FormProblem]:
    if not 0 < question.weight <= MAX_WEIGHT:
        yield FormProblem(f"{path}.weight", f"must be greater than 0 and at most {MAX_WEIGHT:g}")
    if question.kind is QuestionKind.SCALE:
        if question.scale_max is None:
            yield FormProblem(f"{path}.scale_max", "is required for a scale question")
        elif not MIN_SCALE <= question.scale_max <= MAX_SCALE:
            yield FormProblem(f"{path}.scale_max", f"must be from {MIN_SCALE} to {MAX_SCALE}")
    elif question.scale_max is not None:
        yield FormProblem(f"{path}.scale_max", "is only for scale questions")


# --- JSON (the database's qa_form_versions.sections and the API's views) ---------------


def sections_to_json(sections: Sequence[Section]) -> list[dict[str, Any]]:
    return [
        {
            "title": section.title,
            "questions": [
                {
                    "id": q.id,
                    "text": q.text,
                    "kind": q.kind.value,
                    "weight": q.weight,
                    "critical": q.critical,
                    "allow_na": q.allow_na,
                    "scale_max": q.scale_max,
                }
                for q in section.questions
            ],
        }
        for section in sections
    ]


def sections_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[Section, ...]:
    return tuple(
        Section(
            title=str(section["title"]),
            questions=tuple(
                Question(
                    id=str(q["id"]),
                    text=str(q["text"]),
                    kind=QuestionKind(q["kind"]),
                    weight=float(q["weight"]),
                    critical=bool(q["critical"]),
                    allow_na=bool(q["allow_na"]),
                    scale_max=None if q["scale_max"] is None else int(q["scale_max"]),
                )
                for q in section["questions"]
            ),
        )
        for section in data
    )
