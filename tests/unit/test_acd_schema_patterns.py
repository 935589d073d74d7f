"""The regular expressions the OpenAPI document shows for ACD fields (an agent's interface,
a queue's destinations) accept exactly what the validators accept: a client or a fuzzer
that follows the document is not refused, and nothing the document rules out gets in."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.acd.seed import AgentFields, QueueFields
from ccd.acd.targets import TARGET_PATTERN, parse_target

TARGET = re.compile(TARGET_PATTERN)
INTERFACE_SCHEMA = AgentFields.model_json_schema()["properties"]["interface"]
INTERFACE = re.compile(INTERFACE_SCHEMA["pattern"])
# Characters the forms are made of, and the ones they must keep out.
ALPHABET = st.sampled_from("qvtchanguelbimfrs:-_.@,*#+[]!/0129AZ \r\n|&\x00")


def _parses(text: str) -> bool:
    try:
        parse_target(text)
    except ValueError:
        return False
    return True


def _interface_ok(text: str) -> bool:
    try:
        AgentFields.model_validate({"interface": text})
    except ValueError:
        return False
    return True


def test_the_document_shows_the_patterns() -> None:
    properties = QueueFields.model_json_schema()["properties"]
    for name in ("overflow_target", "no_agents_target"):
        [text, _null] = properties[name]["anyOf"]
        assert text["pattern"] == TARGET_PATTERN, name


@pytest.mark.parametrize(
    "text",
    [
        "queue:support-2",
        "voicemail:1001@sales",
        "transfer:from-internal,_X.",
        "callback",
        "hangup",
        "queue:",
        "callback:now",
        "transfer:ctx",
        "voicemail:a b",
        "queue:sales\r\n",
        "sms:1001",
    ],
)
def test_known_targets_agree(text: str) -> None:
    assert bool(TARGET.fullmatch(text)) == _parses(text)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(TARGET, fullmatch=True))
def test_every_target_the_pattern_generates_parses(text: str) -> None:
    assert _parses(text), text


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(ALPHABET, max_size=30),
        st.builds(
            "".join,
            st.tuples(st.sampled_from(["queue:", "voicemail:", "transfer:", ""]), st.text()),
        ),
    )
)
def test_every_target_that_parses_matches_the_pattern(text: str) -> None:
    assert bool(TARGET.fullmatch(text)) == _parses(text), text


@settings(max_examples=300, deadline=None)
@given(st.from_regex(INTERFACE, fullmatch=True).filter(lambda text: len(text) <= 200))
def test_every_interface_the_pattern_generates_is_accepted(text: str) -> None:
    assert _interface_ok(text), text


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("PJSIP/1001", True),
        ("Local/1001@ccd-agents", True),
        ("PJSIP/1001,PJSIP/1002", False),
        ("PJSIP/1001&PJSIP/1002", False),
        ("PJSIP/ 1001", False),
        ("1001", False),
        ("PJSIP/1001\r\nX: y", False),
    ],
)
def test_known_interfaces_agree(text: str, accepted: bool) -> None:
    assert bool(INTERFACE.fullmatch(text)) == _interface_ok(text) == accepted
