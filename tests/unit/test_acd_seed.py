"""Seed file parsing and the shared ACD specs, without IO (texts in, AcdConfig or problems out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ccd.acd.model import Agent, PauseReason, Queue, Strategy
from ccd.acd.seed import AgentSpec, QueueSpec, load_seed, parse_seed, queue_problems
from ccd.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NO_ANSWER = '[[pause_reasons]]\ncode = "no-answer"\n'


def problems_of(text: str, **known: frozenset[str]) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_seed(text, "seed.toml", **known)
    return list(refused.value.problems)


def test_sample_seed_matches_the_sandbox_scenario() -> None:
    config = load_seed(REPO / "config" / "acd-seed.toml")
    sales, support = config.queues["sales"], config.queues["support"]
    assert (sales.strategy, sales.ring_timeout_s, sales.wrapup_s) == (
        Strategy.LONGEST_IDLE,
        15.0,
        5.0,
    )
    assert sales.max_wait_s == 120.0
    assert sales.overflow_target is not None
    assert sales.overflow_target.startswith("voicemail:")
    assert support.strategy is Strategy.SKILLS_BASED
    assert support.required_skills == {"support": 3}
    assert (support.escalate_after_s, support.escalated_skills) == (30.0, {"support": 1})
    assert config.pause_reasons["lunch"] == PauseReason("lunch", "Lunch break", False, 3600.0)
    assert config.pause_reasons["training"].billable is True
    assert "no-answer" in config.pause_reasons
    assert {a.interface for a in config.agents.values()} == {
        "Local/1001@ccd-agents",
        "Local/1002@ccd-agents",
        "Local/1003@ccd-agents",
    }
    assert config.memberships["1001"] == {"sales", "support"}


def test_minimal_seed_fills_model_defaults() -> None:
    config = parse_seed(
        NO_ANSWER + '[[queues]]\nid = "q"\n[[agents]]\nid = "a"\ninterface = "PJSIP/a"\n',
        "seed.toml",
    )
    assert config.queues["q"] == Queue(id="q")
    assert config.agents["a"] == Agent(id="a", interface="PJSIP/a")
    # No "queues" key: the agent's stored memberships are left alone.
    assert config.memberships == {}


def test_every_problem_names_file_table_entry_and_field() -> None:
    problems = problems_of(
        """
[[queues]]
id = "sales"
ring_timeout_s = -1
bogus = 1

[[agents]]
id = "1001"
interface = "PJSIP/1001"
queues = ["sales", "nowhere"]
"""
    )
    assert problems == [
        "seed.toml: queues[0] 'sales': field 'ring_timeout_s': Input should be greater than 0",
        "seed.toml: queues[0] 'sales': field 'bogus': Extra inputs are not permitted",
        "seed.toml: agents[0] '1001': field 'queues.1': unknown queue 'nowhere'",
        "seed.toml: pause_reasons: a pause reason with code 'no-answer' is required (agents "
        "who miss max_no_answer rings in a row are paused with it)",
    ]


def _agent_entry(agent_id: str, server: str | None = None) -> str:
    entry = f'[[agents]]\nid = "{agent_id}"\ninterface = "PJSIP/{agent_id}"\n'
    return entry + (f'server = "{server}"\n' if server is not None else "")


def test_an_agents_server_must_be_a_configured_servers_name() -> None:
    text = NO_ANSWER + _agent_entry("a", "lyon") + _agent_entry("b", "nice")
    text += _agent_entry("c", "Lyon!") + _agent_entry("d")
    problems = problems_of(text, known_servers=frozenset({"lyon"}))
    assert problems == [
        "seed.toml: agents[2] 'c': field 'server': String should match pattern "
        "'^[a-z0-9][a-z0-9_-]{0,31}$'",
        "seed.toml: agents[1] 'b': field 'server': no Asterisk server named 'nice' "
        "(configured: lyon)",
    ]


def test_an_agents_server_is_kept_and_none_means_the_first_server() -> None:
    text = NO_ANSWER + _agent_entry("a", "lyon") + _agent_entry("d")
    config = parse_seed(text, "seed.toml", known_servers=["paris", "lyon"])
    assert config.agents["a"] == Agent(id="a", interface="PJSIP/a", server="lyon")
    assert config.agents["d"].server is None
    # Without the configuration at hand (known_servers None) only the format is checked.
    unchecked = parse_seed(NO_ANSWER + _agent_entry("b", "nice"), "seed.toml")
    assert unchecked.agents["b"].server == "nice"


def test_entries_without_an_id_and_misplaced_tables() -> None:
    problems = problems_of('queues = "sales"\n' + NO_ANSWER + '[[agents]]\nname = "x"\n[extra]\n')
    assert "seed.toml: unknown table 'extra' (expected pause_reasons, queues, agents)" in problems
    assert "seed.toml: queues: must be an array of tables ([[queues]])" in problems
    assert "seed.toml: agents[0]: field 'id': Field required" in problems


def test_ids_defined_twice() -> None:
    problems = problems_of(NO_ANSWER + NO_ANSWER)
    assert problems == [
        "seed.toml: pause_reasons[1] 'no-answer': field 'code': already defined by pause_reasons[0]"
    ]


def test_not_toml_is_one_problem() -> None:
    [problem] = problems_of("[[queues]\n")
    assert problem.startswith("seed.toml: not valid TOML:")


def test_known_ids_from_the_database_satisfy_references() -> None:
    text = '[[agents]]\nid = "2001"\ninterface = "PJSIP/2001"\nqueues = ["sales"]\n'
    config = parse_seed(
        text,
        "seed.toml",
        known_queues=frozenset({"sales"}),
        known_pause_reasons=frozenset({"no-answer"}),
    )
    assert config.memberships == {"2001": frozenset({"sales"})}


@pytest.mark.parametrize(
    "interface",
    ["PJSIP/1001", "Local/1001@ccd-agents", "SIP/trunk/5551234", "IAX2/peer", "Local/s@a-b.c"],
)
def test_interfaces_accepted(interface: str) -> None:
    assert AgentSpec(id="a", interface=interface).interface == interface


@pytest.mark.parametrize(
    "interface",
    [
        "1001",
        "PJSIP/",
        "/1001",
        "PJSIP/1001,PJSIP/1002",
        "PJSIP/a|b",
        "Local/x&PJSIP/y",
        "PJSIP/a b",
        "PJSIP/a\r\nAction: Originate",
        "PJSIP/a\x00",
        "PJSIP/" + "1" * 200,
    ],
)
def test_interfaces_refused(interface: str) -> None:
    with pytest.raises(ValidationError) as refused:
        AgentSpec(id="a", interface=interface)
    assert [e["loc"] for e in refused.value.errors()] == [("interface",)]


@pytest.mark.parametrize("level", [0, 11, -1, 2.5, True, "5"])
def test_skill_levels_are_integers_1_to_10(level: object) -> None:
    with pytest.raises(ValidationError):
        AgentSpec(id="a", interface="PJSIP/a", skills={"sales": level})  # type: ignore[dict-item]


@pytest.mark.parametrize("bad_id", ["", "a b", "é", "x" * 65, "a/b", "a:b"])
def test_ids_are_plain(bad_id: str) -> None:
    with pytest.raises(ValidationError):
        QueueSpec(id=bad_id)


@pytest.mark.parametrize(
    "target",
    [
        "queue:support",
        "voicemail:1000",
        "voicemail:1000@default",
        "transfer:ccd-operator,s",
        "callback",
        "hangup",
    ],
)
def test_targets_accepted(target: str) -> None:
    assert QueueSpec(id="q", overflow_target=target).overflow_target == target


@pytest.mark.parametrize(
    "target",
    [
        "queue:",
        "queue:a b",
        "voicemail:",
        "transfer:ctx",
        "transfer:ctx,1\r\n",
        "hangup:now",
        "callback:5551234",
        "dial:PJSIP/1",
        "",
    ],
)
def test_targets_refused(target: str) -> None:
    with pytest.raises(ValidationError) as refused:
        QueueSpec(id="q", no_agents_target=target)
    assert [e["loc"] for e in refused.value.errors()] == [("no_agents_target",)]


@pytest.mark.parametrize("key", ["0", "9", "*", "#"])
def test_callback_keys(key: str) -> None:
    assert QueueSpec.model_validate({"id": "q", "callback_key": key}).callback_key == key


@pytest.mark.parametrize("key", ["A", "10", "", " "])
def test_callback_key_must_be_one_dtmf_key(key: str) -> None:
    with pytest.raises(ValidationError):
        QueueSpec.model_validate({"id": "q", "callback_key": key})


def test_queue_cross_field_problems() -> None:
    assert queue_problems(Queue(id="q", escalate_after_s=30.0), {"q"}) == [
        ("escalate_after_s", "set escalated_skills or escalate_to_queue to say what happens")
    ]
    assert queue_problems(Queue(id="q", escalated_skills={"s": 1}), {"q"}) == [
        ("escalated_skills", "needs escalate_after_s (when the escalation happens)")
    ]
    looping = Queue(id="q", overflow_target="queue:q", escalate_after_s=5, escalate_to_queue="x")
    assert queue_problems(looping, {"q"}) == [
        ("overflow_target", "queue 'q' cannot send callers to itself"),
        ("escalate_to_queue", "unknown queue 'x'"),
    ]
    fine = Queue(id="q", no_agents_target="queue:other", escalate_after_s=5, escalate_to_queue="o")
    assert queue_problems(fine, {"q", "other", "o"}) == []


def test_numbers_are_not_taken_from_strings() -> None:
    with pytest.raises(ValidationError) as refused:
        QueueSpec.model_validate({"id": "q", "wrapup_s": "5", "max_len": "3"})
    assert {e["loc"] for e in refused.value.errors()} == {("wrapup_s",), ("max_len",)}
