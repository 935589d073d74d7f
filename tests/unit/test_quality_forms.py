"""Form rules and answer reading (ccd.quality.forms, ccd.quality.answers)."""

from __future__ import annotations

from ccd.quality.answers import answer_json, answer_text, read_answers
from ccd.quality.forms import (
    FormDefinition,
    FormProblem,
    Question,
    QuestionKind,
    Section,
    form_problems,
    sections_from_json,
    sections_to_json,
)

GREETING = Question("greeting", "Greeted?", QuestionKind.YES_NO, 1.0)
EMPATHY = Question("empathy", "Empathy", QuestionKind.SCALE, 2.0, allow_na=True, scale_max=5)
FORM = FormDefinition("f", (Section("Opening", (GREETING,)), Section("Care", (EMPATHY,))))


def test_a_good_form_has_no_problems_and_survives_json() -> None:
    assert form_problems(FORM) == []
    assert sections_from_json(sections_to_json(FORM.sections)) == FORM.sections


def test_problems_name_the_section_and_question() -> None:
    bad = FormDefinition(
        "f",
        (
            Section("one", (GREETING,)),
            Section(
                "two",
                (
                    Question("x", "x", QuestionKind.SCALE, 0.0),
                    Question("greeting", "again", QuestionKind.YES_NO, 101.0, scale_max=5),
                    Question("y", "y", QuestionKind.SCALE, 1.0, scale_max=11),
                ),
            ),
            Section("empty", ()),
        ),
    )
    assert form_problems(bad) == [
        FormProblem("sections.1.questions.0.weight", "must be greater than 0 and at most 100"),
        FormProblem("sections.1.questions.0.scale_max", "is required for a scale question"),
        FormProblem("sections.1.questions.1.weight", "must be greater than 0 and at most 100"),
        FormProblem("sections.1.questions.1.scale_max", "is only for scale questions"),
        FormProblem("sections.1.questions.1.id", "repeats the id of sections.0.questions.0"),
        FormProblem("sections.1.questions.2.scale_max", "must be from 2 to 10"),
        FormProblem("sections.2.questions", "a section needs at least one question"),
    ]


def test_a_form_without_sections_is_refused() -> None:
    assert form_problems(FormDefinition("f", ())) == [
        FormProblem("sections", "a form needs at least one section")
    ]


def test_answers_are_read_as_domain_values() -> None:
    read = read_answers(FORM, {"greeting": "no", "empathy": 4})
    assert read.problems == ()
    assert read.values == {"greeting": 0, "empathy": 4}
    assert read_answers(FORM, {"greeting": "yes", "empathy": "na"}).values == {
        "greeting": 1,
        "empathy": None,
    }


def test_each_bad_answer_is_named() -> None:
    read = read_answers(FORM, {"greeting": "na", "empathy": 6, "bogus": "yes"})
    assert read.problems == (
        FormProblem("answers.greeting", "this question does not allow N/A"),
        FormProblem("answers.empathy", 'must be an integer from 1 to 5 or "na"'),
        FormProblem("answers.bogus", "is not a question of this form"),
    )


def test_missing_answers_and_wrong_types_are_named() -> None:
    read = read_answers(FORM, {"empathy": True})
    assert read.problems == (
        FormProblem("answers.greeting", "is not answered (every question needs one)"),
        FormProblem("answers.empathy", 'must be an integer from 1 to 5 or "na"'),
    )
    assert read_answers(FORM, {"greeting": 1, "empathy": 2}).problems == (
        FormProblem("answers.greeting", 'must be "yes" or "no"'),
    )


def test_answers_are_shown_as_sent() -> None:
    assert [answer_text(GREETING, 1), answer_text(GREETING, 0)] == ["yes", "no"]
    assert answer_json(EMPATHY, 3) == 3
    assert answer_json(EMPATHY, None) == "na"
    assert answer_text(EMPATHY, 3) == "3"
