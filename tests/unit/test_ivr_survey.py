"""The survey node: the pure IVR machine asking 1..5 questions, and its flow validation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.errors import ConfigError
from ccd.ivr.flows import Flow, SurveyNode, load_flows, parse_flows
from ccd.ivr.machine import IvrSession, Outcome
from ccd.ivr.protocol import (
    TERMINAL_COMMANDS,
    CallerArrived,
    CallerHungUp,
    Collect,
    Command,
    DigitsEntered,
    Hangup,
    Play,
    PromptFailed,
    SurveyAnswered,
)

AT = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
SAMPLES = Path(__file__).resolve().parents[2] / "config" / "ivr"

SURVEY: dict[str, Any] = {
    "kind": "survey",
    "questions": [
        {"key": "agent", "prompts": ["q-agent"]},
        {"key": "resolved", "prompts": ["q-resolved"]},
    ],
    "retries": 1,
    "timeout_s": 4.0,
    "invalid_prompts": ["invalid"],
    "timeout_prompts": ["please-try-again"],
    "thanks_prompts": ["auth-thankyou"],
    "next": "bye",
}
BYE = {"kind": "hangup", "prompts": ["goodbye"]}


def survey_flow(**changes: Any) -> Flow:
    return Flow.model_validate(
        {
            "id": "csat",
            "entry": "survey",
            "default_destination": "bye",
            "nodes": {"survey": {**SURVEY, **changes}, "bye": BYE},
        }
    )


def start(flow: Flow) -> tuple[IvrSession, list[Command]]:
    session = IvrSession()
    return session, session.start(flow, CallerArrived(AT, "0612345678", "", "", "en"))


def key(digits: str, after_s: float = 1.0) -> DigitsEntered:
    return DigitsEntered(AT + timedelta(seconds=after_s), digits)


def ask(*prompts: str) -> Collect:
    return Collect(prompts, "en", 1, 4.0, "")


def test_asks_each_question_reports_each_score_at_once_then_thanks_and_goes_on() -> None:
    session, first = start(survey_flow())
    assert first == [ask("q-agent")]
    assert session.handle(key("4", 3)) == [
        SurveyAnswered("agent", 4, AT + timedelta(seconds=3)),
        ask("q-resolved"),
    ]
    assert session.handle(key("5", 6)) == [
        SurveyAnswered("resolved", 5, AT + timedelta(seconds=6)),
        Play(("auth-thankyou",), "en"),
        Play(("goodbye",), "en"),
        Hangup(16),
    ]
    assert session.finished
    assert session.outcome is Outcome.HUNG_UP
    assert [step.node for step in session.path] == ["survey", "bye"]
    assert session.path[0].digits == "4,5"


@pytest.mark.parametrize("bad", ["0", "6", "9", "*", "#"])
def test_a_key_outside_1_to_5_re_asks_after_the_invalid_prompt(bad: str) -> None:
    session, _ = start(survey_flow())
    assert session.handle(key(bad)) == [ask("invalid", "q-agent")]
    assert session.handle(key("2")) == [
        SurveyAnswered("agent", 2, AT + timedelta(seconds=1)),
        ask("q-resolved"),
    ]


def test_silence_re_asks_after_the_timeout_prompt() -> None:
    session, _ = start(survey_flow())
    assert session.handle(key("")) == [ask("please-try-again", "q-agent")]


def test_after_the_retries_the_question_is_not_answered_and_the_next_one_comes() -> None:
    session, _ = start(survey_flow(retries=2))
    assert session.handle(key("")) == [ask("please-try-again", "q-agent")]
    assert session.handle(key("7")) == [ask("invalid", "q-agent")]
    assert session.handle(key("", 9)) == [
        SurveyAnswered("agent", None, AT + timedelta(seconds=9)),
        ask("q-resolved"),
    ]
    # The retries start again for the next question.
    assert session.handle(key("")) == [ask("please-try-again", "q-resolved")]


def test_no_retries_settles_the_question_at_the_first_bad_key() -> None:
    session, _ = start(survey_flow(retries=0))
    assert session.handle(key("8")) == [
        SurveyAnswered("agent", None, AT + timedelta(seconds=1)),
        ask("q-resolved"),
    ]


def test_only_the_first_key_counts() -> None:
    session, _ = start(survey_flow())
    assert session.handle(key("31"))[0] == SurveyAnswered("agent", 3, AT + timedelta(seconds=1))


def test_hanging_up_mid_survey_keeps_what_was_settled_and_settles_nothing_more() -> None:
    session, _ = start(survey_flow())
    answered = session.handle(key("5"))
    assert answered[0] == SurveyAnswered("agent", 5, AT + timedelta(seconds=1))
    assert session.handle(CallerHungUp(AT + timedelta(seconds=2))) == []
    assert session.finished
    assert session.outcome is Outcome.ABANDONED
    assert session.handle(key("4")) == []


def test_a_missing_question_prompt_is_left_out_of_the_re_ask() -> None:
    session, _ = start(survey_flow())
    assert session.handle(PromptFailed(AT, "q-agent")) == []
    assert session.handle(key("")) == [ask("please-try-again")]


def test_a_survey_after_other_nodes_starts_at_its_first_question() -> None:
    flow = Flow.model_validate(
        {
            "id": "csat",
            "entry": "hello",
            "default_destination": "bye",
            "nodes": {
                "hello": {"kind": "play", "prompts": ["hello"], "next": "survey"},
                "survey": SURVEY,
                "bye": BYE,
            },
        }
    )
    _, first = start(flow)
    assert first == [Play(("hello",), "en"), ask("q-agent")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789*#", max_size=3), max_size=20))
def test_any_keys_settle_every_question_once_in_order(entries: list[str]) -> None:
    session, _ = start(survey_flow(retries=2))
    commands: list[Command] = []
    for digits in [*entries, *[""] * 10]:
        if session.finished:
            break
        reply = session.handle(key(digits))
        assert reply
        assert isinstance(reply[-1], (Collect, *TERMINAL_COMMANDS))
        commands += reply
    answers = [c for c in commands if isinstance(c, SurveyAnswered)]
    assert [a.question for a in answers] == ["agent", "resolved"]
    assert all(a.score is None or 1 <= a.score <= 5 for a in answers)
    assert session.finished


# --- flow validation ---------------------------------------------------------------------


def flow_text(node: Mapping[str, Any]) -> str:
    lines = ['id = "csat"', 'entry = "survey"', 'default_destination = "bye"', ""]
    lines += ["[nodes.bye]", 'kind = "hangup"', "", "[nodes.survey]"]
    for name, value in node.items():
        if name != "questions" or not value:
            lines.append(f"{name} = {_toml(value)}")
    for question in node.get("questions", []):
        lines += ["", "[[nodes.survey.questions]]"]
        lines += [f"{name} = {_toml(value)}" for name, value in question.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def problems_of(node: Mapping[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_flows({"csat.toml": flow_text(node)}, list_prompts=lambda directory: ())
    return list(caught.value.problems)


def test_a_valid_survey_file_loads() -> None:
    flows = parse_flows({"csat.toml": flow_text(SURVEY)}, list_prompts=lambda directory: ())
    node = flows.flows["csat"].nodes["survey"]
    assert isinstance(node, SurveyNode)
    assert [q.key for q in node.questions] == ["agent", "resolved"]


def test_a_question_asked_twice_is_refused() -> None:
    twice = {**SURVEY, "questions": [{"key": "agent", "prompts": ["a"]}] * 2}
    assert problems_of(twice) == [
        "csat.toml: flow 'csat': node 'survey': field 'questions.1.key': "
        "question 'agent' is asked twice (keys name the answers)"
    ]


def test_a_survey_needs_questions_with_prompts_and_safe_keys() -> None:
    assert problems_of({**SURVEY, "questions": []}) == [
        "csat.toml: flow 'csat': node 'survey': field 'questions': "
        "a survey needs at least one question"
    ]
    [bad_key] = problems_of({**SURVEY, "questions": [{"key": "a b", "prompts": ["x"]}]})
    assert "node 'survey': field 'questions.0.key'" in bad_key
    [no_prompts] = problems_of({**SURVEY, "questions": [{"key": "a", "prompts": []}]})
    assert "node 'survey': field 'questions.0.prompts'" in no_prompts


def test_a_survey_leading_nowhere_is_refused() -> None:
    [problem] = problems_of({**SURVEY, "next": "nowhere"})
    assert problem == (
        "csat.toml: flow 'csat': node 'survey': field 'next': unknown target node 'nowhere'"
    )


def test_survey_prompts_are_checked_against_the_prompt_directory() -> None:
    text = 'prompt_dir = "/snd"\n' + flow_text(SURVEY)
    present = ["q-agent.wav", "invalid.wav", "please-try-again.wav", "auth-thankyou.wav"]
    with pytest.raises(ConfigError) as caught:
        parse_flows({"csat.toml": text}, list_prompts=lambda d: present if d == "/snd/en" else ())
    assert caught.value.problems == (
        "csat.toml: flow 'csat': node 'survey': field 'questions.1.prompts': "
        "missing prompt file /snd/en/q-resolved.*",
    )


def test_the_sample_survey_flow_loads_and_asks_two_questions() -> None:
    flows = load_flows(SAMPLES, list_prompts=lambda directory: ())
    node = flows.flows["csat"].nodes["survey"]
    assert isinstance(node, SurveyNode)
    assert [q.key for q in node.questions] == ["agent", "resolved"]
    assert flows.default_flow == "main"
