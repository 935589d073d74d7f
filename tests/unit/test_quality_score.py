"""The evaluation score (ccd.quality.score): weights, N/A, critical questions, all N/A."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.quality.answers import AnswerValue
from ccd.quality.forms import FormDefinition, Question, QuestionKind, Section
from ccd.quality.score import question_fraction, score


def yes_no(qid: str, weight: float = 1.0, *, critical: bool = False, na: bool = False) -> Question:
    return Question(qid, f"{qid}?", QuestionKind.YES_NO, weight, critical=critical, allow_na=na)


def scale(
    qid: str, top: int, weight: float = 1.0, *, critical: bool = False, na: bool = False
) -> Question:
    return Question(
        qid, f"{qid}?", QuestionKind.SCALE, weight, critical=critical, allow_na=na, scale_max=top
    )


def form(*questions: Question) -> FormDefinition:
    return FormDefinition("f", (Section("s", tuple(questions)),))


# The README's worked example.
EXAMPLE = FormDefinition(
    "Inbound basics",
    (
        Section(
            "Opening",
            (yes_no("greeting", 1), yes_no("verified_identity", 2, critical=True)),
        ),
        Section(
            "Handling",
            (scale("empathy", 5, 3), yes_no("upsell", 1, na=True), scale("resolution", 4, 2)),
        ),
    ),
)


def test_readme_worked_example() -> None:
    answers: dict[str, AnswerValue] = {
        "greeting": 1,
        "verified_identity": 1,
        "empathy": 4,
        "upsell": None,
        "resolution": 3,
    }
    result = score(EXAMPLE, answers)
    # (1*1 + 2*1 + 3*0.75 + 2*(2/3)) / (1 + 2 + 3 + 2) = 6.5833 / 8 = 82.29 %
    assert result.score_pct == 82.29
    assert not result.critical_failed
    assert [q.score_pct for q in result.questions] == [100.0, 100.0, 75.0, None, 66.67]


def test_failing_a_critical_question_zeroes_the_score() -> None:
    answers: dict[str, AnswerValue] = {
        "greeting": 1,
        "verified_identity": 0,
        "empathy": 5,
        "upsell": 1,
        "resolution": 4,
    }
    result = score(EXAMPLE, answers)
    assert result.score_pct == 0.0
    assert result.critical_failed
    assert [q.critical_failed for q in result.questions] == [False, True, False, False, False]


def test_the_lowest_point_of_a_critical_scale_is_a_failure_the_next_is_not() -> None:
    f = form(scale("care", 3, critical=True), yes_no("other"))
    assert score(f, {"care": 1, "other": 1}).score_pct == 0.0
    assert score(f, {"care": 2, "other": 1}).score_pct == 75.0


def test_a_critical_question_answered_na_is_not_a_failure() -> None:
    f = form(yes_no("gate", 5, critical=True, na=True), yes_no("other", 1))
    result = score(f, {"gate": None, "other": 1})
    assert result.score_pct == 100.0
    assert not result.critical_failed


def test_na_is_left_out_of_the_denominator() -> None:
    f = form(yes_no("a", 1), yes_no("b", 3, na=True))
    assert score(f, {"a": 1, "b": None}).score_pct == 100.0
    assert score(f, {"a": 1, "b": 0}).score_pct == 25.0


def test_every_answer_na_has_no_score() -> None:
    f = form(yes_no("a", na=True), scale("b", 5, na=True))
    result = score(f, {"a": None, "b": None})
    assert result.score_pct is None
    assert not result.critical_failed


def test_a_critical_failure_scores_zero_even_when_the_rest_is_na() -> None:
    f = form(yes_no("gate", critical=True), yes_no("b", na=True))
    assert score(f, {"gate": 0, "b": None}).score_pct == 0.0


def test_weights_weigh() -> None:
    f = form(yes_no("light", 1), yes_no("heavy", 9))
    assert score(f, {"light": 0, "heavy": 1}).score_pct == 90.0
    assert score(f, {"light": 1, "heavy": 0}).score_pct == 10.0


@pytest.mark.parametrize(("value", "fraction"), [(1, 0.0), (2, 0.25), (3, 0.5), (5, 1.0)])
def test_scale_points_are_spread_from_zero_to_one(value: int, fraction: float) -> None:
    assert question_fraction(scale("q", 5), value) == fraction


@pytest.mark.parametrize(
    ("question", "value"),
    [
        (yes_no("q"), None),  # N/A not allowed
        (yes_no("q"), 2),
        (scale("q", 5), 0),
        (scale("q", 5), 6),
    ],
)
def test_answers_the_form_does_not_allow_are_refused(question: Question, value: int | None) -> None:
    with pytest.raises(ValueError, match=repr(question.id)):
        question_fraction(question, value)


def test_a_question_left_unanswered_is_refused() -> None:
    with pytest.raises(ValueError, match="not answered"):
        score(form(yes_no("a"), yes_no("b")), {"a": 1})


# --- properties ---------------------------------------------------------------------------

questions = st.lists(
    st.tuples(
        st.sampled_from([QuestionKind.YES_NO, QuestionKind.SCALE]),
        st.integers(2, 10),
        st.floats(0.01, 100, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def answered_forms(draw: st.DrawFn) -> tuple[FormDefinition, dict[str, AnswerValue]]:
    specs = draw(questions)
    built: list[Question] = []
    answers: dict[str, AnswerValue] = {}
    for index, (kind, top, weight, critical) in enumerate(specs):
        qid = f"q{index}"
        if kind is QuestionKind.YES_NO:
            built.append(yes_no(qid, weight, critical=critical, na=True))
            answers[qid] = draw(st.sampled_from([0, 1, None]))
        else:
            built.append(scale(qid, top, weight, critical=critical, na=True))
            answers[qid] = draw(st.one_of(st.none(), st.integers(1, top)))
    return form(*built), answers


# No deadline: a loaded 2-core machine must not turn a slow example into a failure.
@settings(deadline=None)
@given(answered_forms())
def test_a_score_is_a_percentage_or_none_only_when_all_na(
    case: tuple[FormDefinition, dict[str, AnswerValue]],
) -> None:
    f, answers = case
    result = score(f, answers)
    if result.critical_failed:
        assert result.score_pct == 0.0
    elif all(value is None for value in answers.values()):
        assert result.score_pct is None
    else:
        assert result.score_pct is not None
        assert 0.0 <= result.score_pct <= 100.0


@settings(deadline=None)
@given(answered_forms())
def test_score_lies_between_the_lowest_and_highest_question_when_nothing_critical_fails(
    case: tuple[FormDefinition, dict[str, AnswerValue]],
) -> None:
    f, answers = case
    result = score(f, answers)
    answered = [q.score_pct for q in result.questions if q.score_pct is not None]
    if result.critical_failed or not answered:
        return
    assert result.score_pct is not None
    assert min(answered) - 0.01 <= result.score_pct <= max(answered) + 0.01


@settings(deadline=None)
@given(answered_forms(), st.floats(0.1, 10, allow_nan=False))
def test_scaling_every_weight_alike_keeps_the_score(
    case: tuple[FormDefinition, dict[str, AnswerValue]], factor: float
) -> None:
    f, answers = case
    scaled = form(
        *(
            Question(q.id, q.text, q.kind, q.weight * factor, q.critical, q.allow_na, q.scale_max)
            for q in f.questions()
        )
    )
    before, after = score(f, answers).score_pct, score(scaled, answers).score_pct
    if before is None or after is None:
        assert before is after
    else:
        assert after == pytest.approx(before, abs=0.011)


@settings(deadline=None)
@given(answered_forms())
def test_an_na_answer_changes_nothing_when_its_question_is_removed(
    case: tuple[FormDefinition, dict[str, AnswerValue]],
) -> None:
    f, answers = case
    kept = [q for q in f.questions() if answers[q.id] is not None]
    if not kept:
        return
    reduced = form(*kept)
    assert (
        score(reduced, {q.id: answers[q.id] for q in kept}).score_pct == score(f, answers).score_pct
    )
