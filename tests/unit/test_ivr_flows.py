"""IVR flow loading and validation: every mistake is named by file, flow, node and field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.ivr.flows import (
    PromptLister,
    ScheduleNode,
    flow_summary,
    is_open,
    load_flows,
    parse_flows,
    parse_hours,
)
from tests.ivrflows import flow_for

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "ivr"

BASE = """
id = "f1"
entry = "menu"
default_destination = "op"
languages = ["en", "fr"]

[nodes.menu]
kind = "menu"
prompts = ["hello"]
options = { "1" = "op", "2" = "bye" }

[nodes.op]
kind = "transfer"
context = "ccd-operator"
exten = "s"

[nodes.bye]
kind = "hangup"
prompts = ["vm-goodbye"]
"""


def no_files(directory: str) -> Iterable[str]:
    return ()


def problems_of(texts: dict[str, str], lister: PromptLister = no_files) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_flows(texts, list_prompts=lister)
    return list(caught.value.problems)


def only_problem(text: str) -> str:
    problems = problems_of({"flows/f1.toml": text})
    assert len(problems) == 1, problems
    return problems[0]


def test_the_base_flow_is_valid_and_is_the_default_for_every_did() -> None:
    flows = parse_flows({"f1.toml": BASE}, list_prompts=no_files)
    assert flow_for(flows, "anything").id == "f1"
    assert set(flows.flows["f1"].nodes) == {"menu", "op", "bye"}


def test_sample_flows_load_and_route_their_dids() -> None:
    flows = load_flows(SAMPLES, list_prompts=no_files)
    main = flow_for(flows, "5000")
    assert main.id == "main"
    assert flow_for(flows, "+33140000000") is main
    kinds = {node.kind for node in main.nodes.values()}
    assert kinds >= {"menu", "schedule", "language", "collect", "lookup", "queue", "play"}


def test_sample_prompts_all_exist_in_asterisk_core_sounds_layout() -> None:
    # The sounds the samples use, as asterisk-core-sounds-en ships them (one format is enough).
    core = {"hello", "hello-world", "basic-pbx-ivr-main", "pm-invalid-option", "please-try-again"}
    core |= {"vm-enter-num-to-call", "invalid", "im-sorry", "please-try-call-later"}
    listing = {f"/snd/{lang}": [f"{name}.gsm" for name in core] for lang in ("en", "fr")}
    text = 'prompt_dir = "/snd"\n' + (SAMPLES / "main.toml").read_text()
    flows = parse_flows({"main.toml": text}, list_prompts=lambda d: listing.get(d, ()))
    assert flows.flows["main"].prompt_dir == "/snd"


def test_loading_real_files_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(BASE.replace('id = "f1"', 'id = "a"\ndefault = true'))
    (tmp_path / "b.toml").write_text(BASE.replace('id = "f1"', 'id = "b"\ndids = ["7000"]'))
    (tmp_path / "notes.txt").write_text("not a flow")
    flows = load_flows(tmp_path)
    assert flow_for(flows, "7000").id == "b"
    assert flow_for(flows, "1234").id == "a"
    assert flows.sources["b"] == str(tmp_path / "b.toml")


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no IVR flow files"):
        load_flows(tmp_path)


def test_unknown_target_node() -> None:
    problem = only_problem(BASE.replace('"2" = "bye"', '"2" = "bye", "3" = "nowhere"'))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'menu': field 'options.3':")
    assert "unknown target node 'nowhere'" in problem


def test_unreachable_node_is_reported_on_the_node() -> None:
    problem = only_problem(BASE + '\n[nodes.orphan]\nkind = "hangup"\n')
    assert problem == (
        "flows/f1.toml: flow 'f1': node 'orphan': unreachable from the entry node 'menu'"
    )


def test_a_node_that_fails_validation_does_not_hide_the_other_problems() -> None:
    text = (
        BASE.replace('kind = "hangup"', 'kind = "hangup"\ncause = "normal"')
        .replace('"2" = "bye"', '"2" = "bye", "x" = "op", "3" = "gone"')
        .replace("[nodes.op]", '[nodes.orphan]\nkind = "hangup"\n\n[nodes.op]')
    )
    problems = problems_of({"f.toml": text})
    assert problems == [
        "f.toml: flow 'f1': node 'bye': field 'cause': Input should be a valid integer, "
        "unable to parse string as an integer",
        "f.toml: flow 'f1': node 'menu': field 'options.3': unknown target node 'gone'",
        "f.toml: flow 'f1': node 'menu': field 'options.x': bad digit 'x' (one of 0-9 * #)",
        "f.toml: flow 'f1': node 'orphan': unreachable from the entry node 'menu'",
    ]


def test_a_broken_node_still_has_its_targets_and_digits_checked() -> None:
    text = BASE.replace(
        'options = { "1" = "op", "2" = "bye" }',
        'options = { "1" = "op", "2" = "bye", "0" = "nowhere", "11" = "op" }\ntimeout_s = "x"',
    )
    problems = problems_of({"f.toml": text})
    assert problems[0].startswith("f.toml: flow 'f1': node 'menu': field 'timeout_s': ")
    assert problems[1:] == [
        "f.toml: flow 'f1': node 'menu': field 'options.0': unknown target node 'nowhere'",
        "f.toml: flow 'f1': node 'menu': field 'options.11': bad digit '11' (one of 0-9 * #)",
    ]


def test_nodes_behind_a_broken_node_are_not_called_unreachable() -> None:
    # 'bye' is only reachable through the broken menu, and 'op' through its unknown kind.
    text = BASE.replace('"1" = "op", ', "").replace('kind = "menu"', 'kind = "menu"\nretries = -1')
    text = text.replace('default_destination = "op"', 'default_destination = "end"')
    text = text.replace('kind = "hangup"', 'kind = "teleport"\nnext = "op"')
    text += '\n[nodes.end]\nkind = "hangup"\n'
    problems = problems_of({"f.toml": text})
    assert [p.split(": field ")[0] for p in problems] == [
        "f.toml: flow 'f1': node 'menu'",
        "f.toml: flow 'f1': node 'bye'",
    ]


def test_a_flow_level_error_skips_the_graph_checks() -> None:
    # Without a valid entry, reachability would be guesswork: only the field is reported.
    text = BASE.replace('entry = "menu"', "entry = 7") + '\n[nodes.orphan]\nkind = "hangup"\n'
    (problem,) = problems_of({"f.toml": text})
    assert problem.startswith("f.toml: flow 'f1': field 'entry': ")


def test_loop_without_exit() -> None:
    text = BASE.replace('"2" = "bye"', '"2" = "a"') + (
        '\n[nodes.a]\nkind = "play"\nprompts = ["beep"]\nnext = "b"\n'
        '\n[nodes.b]\nkind = "language"\nlanguage = "en"\nnext = "a"\n'
    )
    text = text.replace('\n[nodes.bye]\nkind = "hangup"\nprompts = ["vm-goodbye"]\n', "")
    problem = only_problem(text)
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'a': field 'next':")
    assert "loop without exit: a -> b" in problem


def test_a_loop_through_a_menu_is_fine() -> None:
    # Back to the menu from a play node: the menu waits for the caller, so this is not a trap.
    text = BASE.replace('"2" = "bye"', '"2" = "bye", "9" = "again"') + (
        '\n[nodes.again]\nkind = "play"\nprompts = ["beep"]\nnext = "menu"\n'
    )
    assert parse_flows({"f.toml": text}, list_prompts=no_files).flows["f1"]


def test_a_schedule_loop_with_a_way_out_is_fine() -> None:
    text = BASE.replace('entry = "menu"', 'entry = "s"') + (
        '\n[nodes.s]\nkind = "schedule"\ntimezone = "UTC"\nhours = ["mon-fri 08:00-18:00"]\n'
        'open = "p"\nclosed = "menu"\n'
        '\n[nodes.p]\nkind = "play"\nprompts = ["beep"]\nnext = "s"\n'
    )
    assert parse_flows({"f.toml": text}, list_prompts=no_files).flows["f1"]


def test_missing_prompt_file_is_named_per_language() -> None:
    text = 'prompt_dir = "/p"\n' + BASE
    menu_defaults = ["invalid.wav", "please-try-again.wav"]
    listing = {
        "/p/en": ["hello.wav", "vm-goodbye.gsm", *menu_defaults],
        "/p/fr": ["hello.sln16", "vm-goodbye.txt", "vm-goodbye", *menu_defaults],
    }
    problems = problems_of({"f1.toml": text}, lambda d: listing.get(d, ()))
    assert problems == [
        "f1.toml: flow 'f1': node 'bye': field 'prompts': missing prompt file /p/fr/vm-goodbye.*"
    ]


def test_prompts_in_subdirectories_are_looked_up_there() -> None:
    text = 'prompt_dir = "/p"\nlanguages = ["en"]\n' + BASE.replace(
        'languages = ["en", "fr"]\n', ""
    ).replace('["hello"]', '["digits/1"]')
    listing = {
        "/p/en": ["vm-goodbye.wav", "invalid.wav", "please-try-again.wav"],
        "/p/en/digits": ["1.gsm"],
    }
    assert parse_flows({"f.toml": text}, list_prompts=lambda d: listing.get(d, ()))


def test_bad_digit() -> None:
    problem = only_problem(BASE.replace('"2" = "bye"', '"2" = "bye", "12" = "op"'))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'menu': field 'options.12':")
    assert "bad digit" in problem


def test_bad_regex_is_reported_with_its_field() -> None:
    text = BASE.replace('"1" = "op"', '"1" = "acct"') + (
        '\n[nodes.acct]\nkind = "collect"\nprompts = ["beep"]\nvariable = "account"\n'
        'pattern = "[0-9"\nnext = "op"\n'
    )
    problem = only_problem(text)
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'acct': field 'pattern':")
    assert "bad regex" in problem


SCHEDULE = BASE.replace('entry = "menu"', 'entry = "hours"') + (
    '\n[nodes.hours]\nkind = "schedule"\ntimezone = "TZ"\nhours = ["HOURS"]\n'
    'open = "menu"\nclosed = "bye"\n'
)


def schedule(tz: str, hours: str) -> str:
    return SCHEDULE.replace('"TZ"', f'"{tz}"').replace('"HOURS"', f'"{hours}"')


def test_bad_timezone() -> None:
    problem = only_problem(schedule("Mars/Olympus", "mon-fri 08:00-18:00"))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'hours': field 'timezone':")
    assert "bad timezone 'Mars/Olympus'" in problem


@pytest.mark.parametrize(
    "hours", ["monday 08:00-18:00", "mon-fri 8-18", "mon-fri 18:00-08:00", "mon 25:00-26:00"]
)
def test_bad_hours_syntax(hours: str) -> None:
    problem = only_problem(schedule("Europe/Paris", hours))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'hours': field 'hours.0':")
    assert "bad hours syntax" in problem


def test_pydantic_errors_name_file_flow_node_and_field() -> None:
    problem = only_problem(BASE.replace("options = {", 'colour = "red"\noptions = {'))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'menu': field 'colour':")
    problem = only_problem(BASE.replace('kind = "menu"', 'kind = "menu"\ntimeout_s = -1'))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'menu': field 'timeout_s':")


def test_unknown_node_kind_is_reported_on_the_node() -> None:
    problem = only_problem(BASE.replace('kind = "hangup"', 'kind = "teleport"'))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'bye': field 'kind':")


def test_not_toml_names_the_file() -> None:
    (problem,) = problems_of({"broken.toml": "id = "})
    assert problem.startswith("broken.toml: not valid TOML")


def test_default_destination_must_end_the_call() -> None:
    problem = only_problem(
        BASE.replace('default_destination = "op"', 'default_destination = "menu"')
    )
    assert problem.startswith("flows/f1.toml: flow 'f1': field 'default_destination':")


def test_every_problem_is_reported_at_once() -> None:
    text = BASE.replace('"2" = "bye"', '"2" = "bye", "x" = "op", "3" = "gone"')
    problems = problems_of({"f.toml": text, "g.toml": "id = 3"})
    assert len([p for p in problems if p.startswith("f.toml: flow 'f1': node 'menu'")]) == 2
    assert any("bad digit 'x'" in p for p in problems)
    assert any("unknown target node 'gone'" in p for p in problems)
    assert any(p.startswith("g.toml: flow ?: field 'id'") for p in problems)


def test_a_did_in_two_flows_and_two_defaults_are_rejected() -> None:
    a = BASE.replace('id = "f1"', 'id = "a"\ndefault = true\ndids = ["5000"]')
    b = BASE.replace('id = "f1"', 'id = "b"\ndefault = true\ndids = ["5000"]')
    problems = problems_of({"a.toml": a, "b.toml": b})
    assert any("b.toml: flow 'b': field 'dids': DID '5000'" in p for p in problems)
    assert any("exactly one flow must have default = true" in p for p in problems)


def test_duplicate_flow_ids_are_rejected() -> None:
    problems = problems_of({"a.toml": BASE, "b.toml": BASE})
    assert problems == ["b.toml: flow 'f1': field 'id': already defined in a.toml"]


def test_language_options_must_name_configured_languages() -> None:
    text = BASE.replace('entry = "menu"', 'entry = "lang"') + (
        '\n[nodes.lang]\nkind = "language"\nprompts = ["hello"]\n'
        'options = { "1" = "en", "2" = "de" }\nnext = "menu"\n'
    )
    problem = only_problem(text)
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'lang': field 'options.2':")


def test_transfer_needs_exactly_one_destination() -> None:
    problem = only_problem(BASE.replace('exten = "s"', 'exten = "s"\nnumber = "0033140000000"'))
    assert problem.startswith("flows/f1.toml: flow 'f1': node 'op': field 'exten':")


def test_parse_hours_ranges_and_wrapping_day_lists() -> None:
    (rule,) = parse_hours("fri-mon 09:00-12:30")
    assert rule.weekdays == {4, 5, 6, 0}
    assert (rule.start_min, rule.end_min) == (540, 750)
    rules = parse_hours("mon,wed 08:00-12:00,13:00-24:00")
    assert [(r.start_min, r.end_min) for r in rules] == [(480, 720), (780, 1440)]


def test_schedule_is_evaluated_in_the_flow_time_zone_and_honours_holidays() -> None:
    node = ScheduleNode(
        kind="schedule",
        timezone="Europe/Paris",
        hours=("mon-fri 08:00-18:00",),
        holidays=(date(2026, 12, 25),),
        open="a",
        closed="b",
    )
    # 2026-11-25 is a Wednesday; Paris is UTC+1 in November.
    assert is_open(node, datetime(2026, 11, 25, 7, 0, tzinfo=UTC))  # 08:00 Paris
    assert not is_open(node, datetime(2026, 11, 25, 6, 59, tzinfo=UTC))  # 07:59 Paris
    assert not is_open(node, datetime(2026, 11, 25, 17, 0, tzinfo=UTC))  # 18:00 Paris
    assert not is_open(node, datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # Saturday
    assert not is_open(node, datetime(2026, 12, 25, 10, 0, tzinfo=UTC))  # holiday, a Friday


def test_flow_summary_lists_what_the_api_shows() -> None:
    flows = parse_flows({"f1.toml": BASE.replace('id = "f1"', 'id = "f1"\ndids = ["5000"]')})
    assert flow_summary(flows.flows["f1"]) == {
        "id": "f1",
        "entry": "menu",
        "dids": ["5000"],
        "default": False,
        "languages": ["en", "fr"],
        "nodes": {"menu": "menu", "op": "transfer", "bye": "hangup"},
    }


def test_no_flows_directory_means_no_ivr(tmp_path: Path) -> None:
    flows = load_flows(tmp_path / "missing")
    assert flows.flows == {}
    assert flows.for_did("5000") is None  # the dialplan's default destination takes the call


def test_a_configured_flows_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_flows(tmp_path / "missing", configured_in="/etc/ccd/ccd.toml")
    assert caught.value.problems == (
        f"/etc/ccd/ccd.toml: ivr.flows_dir: no such directory {tmp_path / 'missing'}",
    )
