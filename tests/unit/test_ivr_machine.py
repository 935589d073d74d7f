"""The pure IVR state machine: every node kind and edge, without an event loop."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccd.ivr.flows import Flow, load_flows, parse_flows
from ccd.ivr.machine import IvrSession, Outcome
from ccd.ivr.protocol import (
    TERMINAL_COMMANDS,
    CallerArrived,
    CallerHungUp,
    Collect,
    Command,
    DigitsEntered,
    Event,
    Hangup,
    Lookup,
    LookupAnswered,
    LookupFailed,
    Play,
    PromptFailed,
    SetLanguage,
    SetVariables,
    Transfer,
    Voicemail,
)
from tests.ivrflows import flow_for

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "ivr"
# Wednesday 2026-11-25 11:00 in Paris (open); Sunday is closed.
OPEN_AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CLOSED_AT = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

OPERATOR = {"kind": "transfer", "context": "ccd-operator", "exten": "s"}


def make_flow(nodes: Mapping[str, Mapping[str, Any]], **fields: Any) -> Flow:
    raw: dict[str, Any] = {
        "id": "t",
        "entry": next(iter(nodes)),
        "default_destination": "operator",
        "languages": ["en", "fr"],
        "nodes": {**nodes, "operator": OPERATOR},
    }
    raw.update(fields)
    return Flow.model_validate(raw)


MENU = {
    "kind": "menu",
    "prompts": ["basic-pbx-ivr-main"],
    "options": {"1": "sales", "2": "support"},
    "retries": 2,
    "invalid_prompts": ["pm-invalid-option"],
    "timeout_prompts": ["please-try-again"],
}
SALES = {"kind": "queue", "queue": "sales", "priority": 3, "skills": ["sales", "en"]}
SUPPORT = {"kind": "voicemail", "mailbox": "2000@default"}


def arrived(at: datetime = OPEN_AT, language: str = "en") -> CallerArrived:
    return CallerArrived(at, "0612345678", "Alice", "5000", language, {"origin": "web"})


def started(flow: Flow, at: datetime = OPEN_AT) -> tuple[IvrSession, list[Command]]:
    session = IvrSession()
    return session, session.start(flow, arrived(at))


def digits(text: str, at: datetime = OPEN_AT) -> DigitsEntered:
    return DigitsEntered(at, text)


def test_menu_valid_digit_reaches_the_queue_with_its_variables() -> None:
    session, first = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    assert first == [Collect(("basic-pbx-ivr-main",), "en", 1, 5.0, "")]
    commands = session.handle(digits("1"))
    assert commands == [
        SetVariables({"CCD_QUEUE": "sales", "CCD_PRIORITY": "3", "CCD_SKILLS": "sales&en"}),
        Transfer("ccd-queue-wait", "s"),
    ]
    assert session.finished
    assert session.outcome is Outcome.QUEUED
    assert [step.node for step in session.path] == ["menu", "sales"]
    assert session.path[0].digits == "1"
    assert session.handle(digits("2")) == []


def test_menu_invalid_digit_plays_the_invalid_prompt_and_asks_again() -> None:
    session, _ = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    again = session.handle(digits("7"))
    assert again == [Collect(("pm-invalid-option", "basic-pbx-ivr-main"), "en", 1, 5.0, "")]
    assert session.handle(digits("2")) == [Voicemail("2000@default")]
    assert session.outcome is Outcome.VOICEMAIL
    assert session.path[0].digits == "7,2"


def test_menu_timeout_plays_the_timeout_prompt_and_asks_again() -> None:
    session, _ = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    again = session.handle(digits(""))
    assert again == [Collect(("please-try-again", "basic-pbx-ivr-main"), "en", 1, 5.0, "")]


def test_menu_after_the_last_retry_goes_to_after_retries() -> None:
    menu = {**MENU, "after_retries": "support"}
    session, _ = started(make_flow({"menu": menu, "sales": SALES, "support": SUPPORT}))
    assert isinstance(session.handle(digits("")).pop(), Collect)
    assert isinstance(session.handle(digits("9")).pop(), Collect)
    final = session.handle(digits(""))
    assert final == [Play(("please-try-again",), "en"), Voicemail("2000@default")]
    assert session.path[0].digits == ",9,"


def test_menu_without_after_retries_goes_to_the_default_destination() -> None:
    menu = {**MENU, "retries": 0}
    session, _ = started(make_flow({"menu": menu, "sales": SALES, "support": SUPPORT}))
    assert session.handle(digits("5")) == [
        Play(("pm-invalid-option",), "en"),
        Transfer("ccd-operator", "s"),
    ]
    assert session.outcome is Outcome.TRANSFERRED


def test_menu_digits_typed_ahead_first_digit_decides() -> None:
    session, _ = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    assert session.handle(digits("21")) == [Voicemail("2000@default")]
    assert session.path[0].digits == "21"  # kept for the record, only "2" acted on


def test_play_then_next_and_hangup_with_goodbye() -> None:
    flow = make_flow(
        {
            "hello": {"kind": "play", "prompts": ["hello", "hello-world"], "next": "bye"},
            "bye": {"kind": "hangup", "prompts": ["vm-goodbye"], "cause": 16},
        }
    )
    session, commands = started(flow)
    assert commands == [
        Play(("hello", "hello-world"), "en"),
        Play(("vm-goodbye",), "en"),
        Hangup(16),
    ]
    assert session.finished
    assert session.outcome is Outcome.HUNG_UP


COLLECT = {
    "kind": "collect",
    "prompts": ["vm-enter-num-to-call"],
    "variable": "account",
    "min_len": 4,
    "max_len": 6,
    "pattern": "[0-9]+",
    "retries": 1,
    "invalid_prompts": ["invalid"],
    "next": "done",
    "on_invalid": "fallback",
}
DONE = {"kind": "transfer", "context": "ccd-support", "exten": "100"}
FALLBACK = {"kind": "voicemail", "mailbox": "100"}


def test_collect_stores_a_valid_entry_and_moves_on() -> None:
    session, first = started(make_flow({"ask": COLLECT, "done": DONE, "fallback": FALLBACK}))
    assert first == [Collect(("vm-enter-num-to-call",), "en", 6, 8.0, "#")]
    commands = session.handle(digits("12345#"))
    assert commands == [SetVariables({"account": "12345"}), Transfer("ccd-support", "100")]
    assert session.variables["account"] == "12345"
    assert session.path[0].variables == {"account": "12345"}


def test_collect_rejects_short_or_non_matching_entries_then_gives_up() -> None:
    session, _ = started(make_flow({"ask": COLLECT, "done": DONE, "fallback": FALLBACK}))
    retry = session.handle(digits("12"))  # too short
    assert retry == [Collect(("invalid", "vm-enter-num-to-call"), "en", 6, 8.0, "#")]
    final = session.handle(digits("12*4"))  # pattern mismatch, last retry used
    assert final == [Play(("invalid",), "en"), Voicemail("100")]
    assert "account" not in session.variables


def test_collect_timeout_counts_as_an_invalid_entry() -> None:
    session, _ = started(make_flow({"ask": COLLECT, "done": DONE, "fallback": FALLBACK}))
    assert isinstance(session.handle(digits("")).pop(), Collect)
    assert session.handle(digits("")).pop() == Voicemail("100")


SCHEDULED: Mapping[str, Mapping[str, Any]] = {
    "hours": {
        "kind": "schedule",
        "timezone": "Europe/Paris",
        "hours": ["mon-fri 08:00-18:00"],
        "holidays": ["2026-12-25"],
        "open": "menu",
        "closed": "closed",
    },
    "closed": {"kind": "play", "prompts": ["im-sorry"], "next": "vm"},
    "vm": {"kind": "voicemail", "mailbox": "1000"},
    "menu": MENU,
    "sales": SALES,
    "support": SUPPORT,
}


def test_schedule_open_goes_to_the_menu() -> None:
    session, commands = started(make_flow(SCHEDULED), at=OPEN_AT)
    assert commands == [Collect(("basic-pbx-ivr-main",), "en", 1, 5.0, "")]
    assert [step.node for step in session.path] == ["hours", "menu"]


def test_schedule_closed_on_sunday_and_on_holidays_and_after_hours() -> None:
    for at in (CLOSED_AT, datetime(2026, 12, 25, 10, 0, tzinfo=UTC), OPEN_AT.replace(hour=17)):
        session, commands = started(make_flow(SCHEDULED), at=at)
        assert commands == [Play(("im-sorry",), "en"), Voicemail("1000")], at
        assert [step.node for step in session.path] == ["hours", "closed", "vm"]


LANGUAGE = {
    "kind": "language",
    "prompts": ["hello"],
    "options": {"1": "en", "2": "fr"},
    "next": "menu",
}


def test_language_choice_changes_prompt_resolution_for_later_nodes() -> None:
    flow = make_flow(
        {"lang": LANGUAGE, "menu": MENU, "sales": SALES, "support": SUPPORT}, prompt_dir="/p/"
    )
    session, first = started(flow)
    assert first == [Collect(("/p/en/hello",), "en", 1, 5.0, "")]
    commands = session.handle(digits("2"))
    assert commands == [SetLanguage("fr"), Collect(("/p/fr/basic-pbx-ivr-main",), "fr", 1, 5.0, "")]
    assert session.path[0].variables == {"language": "fr"}
    assert session.handle(digits("")) == [
        Collect(("/p/fr/please-try-again", "/p/fr/basic-pbx-ivr-main"), "fr", 1, 5.0, "")
    ]


def test_language_invalid_choice_or_timeout_keeps_the_language() -> None:
    flow = make_flow({"lang": LANGUAGE, "menu": MENU, "sales": SALES, "support": SUPPORT})
    for entry in ("", "9"):
        session, _ = started(flow)
        assert session.handle(digits(entry)) == [Collect(("basic-pbx-ivr-main",), "en", 1, 5.0, "")]
        assert session.language == "en"


def test_fixed_language_node_and_unknown_caller_language() -> None:
    flow = make_flow(
        {"fr": {"kind": "language", "language": "fr", "next": "bye"}, "bye": {"kind": "hangup"}}
    )
    session = IvrSession()
    commands = session.start(flow, arrived(language="de"))
    # "de" is not offered: the flow's first language, then the node switches to French.
    assert commands == [SetLanguage("en"), SetLanguage("fr"), Hangup(16)]
    assert session.language == "fr"


LOOKUP = {
    "kind": "lookup",
    "url": "http://127.0.0.1:8090/crm",
    "timeout_s": 2,
    "send": ["account", "caller_num", "missing"],
    "assign": {"tier": "customer_tier"},
    "branch_on": "tier",
    "branches": {"vip": "vip"},
    "next": "standard",
    "fallback": "fallback",
}
LOOKUP_NODES: Mapping[str, Mapping[str, Any]] = {
    "ask": {**COLLECT, "next": "crm", "on_invalid": "standard"},
    "crm": LOOKUP,
    "vip": {**SALES, "priority": 10},
    "standard": SALES,
    "fallback": FALLBACK,
}


def lookup_session() -> IvrSession:
    session, _ = started(make_flow(LOOKUP_NODES))
    commands = session.handle(digits("4242"))
    assert commands[-1] == Lookup(
        "http://127.0.0.1:8090/crm",
        {"account": "4242", "caller_num": "0612345678", "missing": ""},
        2.0,
    )
    return session


def test_lookup_answer_sets_variables_and_branches_vip_to_priority_queue() -> None:
    session = lookup_session()
    commands = session.handle(LookupAnswered(OPEN_AT, 200, {"tier": "vip", "name": "Bob"}))
    assert commands[0] == SetVariables({"customer_tier": "vip"})
    assert commands[1] == SetVariables(
        {"CCD_QUEUE": "sales", "CCD_PRIORITY": "10", "CCD_SKILLS": "sales&en"}
    )
    assert session.variables["customer_tier"] == "vip"
    assert [step.node for step in session.path] == ["ask", "crm", "vip"]


def test_lookup_answer_without_a_matching_branch_takes_next() -> None:
    session = lookup_session()
    commands = session.handle(LookupAnswered(OPEN_AT, 200, {"tier": "gold"}))
    assert commands[-2].values["CCD_PRIORITY"] == "3"  # type: ignore[union-attr]
    session = lookup_session()
    assert session.handle(LookupAnswered(OPEN_AT, 200, {}))[-1] == Transfer("ccd-queue-wait", "s")
    assert [step.node for step in session.path][-1] == "standard"


def test_lookup_failure_timeout_or_error_status_take_the_fallback() -> None:
    for event in (
        LookupFailed(OPEN_AT, "timeout"),
        LookupFailed(OPEN_AT, "not JSON"),
        LookupAnswered(OPEN_AT, 500, {"tier": "vip"}),
    ):
        session = lookup_session()
        assert session.handle(event) == [Voicemail("100")], event
        assert "customer_tier" not in session.variables


def test_events_that_answer_nothing_are_ignored() -> None:
    session = lookup_session()
    assert session.handle(digits("1")) == []  # digits while the lookup runs
    assert session.handle(arrived()) == []
    assert session.handle(LookupFailed(OPEN_AT, "timeout")) == [Voicemail("100")]
    assert session.handle(LookupAnswered(OPEN_AT, 200, {"tier": "vip"})) == []  # too late


def test_transfer_to_an_external_number_uses_the_external_context() -> None:
    flow = make_flow({"out": {"kind": "transfer", "number": "+33140000000"}})
    session, commands = started(flow)
    assert commands == [Transfer("ccd-external", "+33140000000")]
    assert session.outcome is Outcome.TRANSFERRED


def test_a_missing_prompt_is_answered_with_nothing_and_left_out_afterwards() -> None:
    flow = make_flow(
        {
            "hi": {"kind": "play", "prompts": ["hello", "gone"], "next": "menu"},
            "menu": {**MENU, "prompts": ["gone", "basic-pbx-ivr-main"]},
            "sales": SALES,
            "support": SUPPORT,
        }
    )
    session, commands = started(flow)
    assert commands == [
        Play(("hello", "gone"), "en"),
        Collect(("gone", "basic-pbx-ivr-main"), "en", 1, 5.0, ""),
    ]
    # The runner goes on as if it played; the menu is still waiting for the caller.
    assert session.handle(PromptFailed(OPEN_AT, "gone")) == []
    assert session.handle(digits("")) == [
        Collect(("please-try-again", "basic-pbx-ivr-main"), "en", 1, 5.0, "")
    ]


def test_every_prompt_of_a_menu_missing_still_waits_for_digits() -> None:
    session, _ = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    for prompt in ("basic-pbx-ivr-main", "please-try-again"):
        assert session.handle(PromptFailed(OPEN_AT, prompt)) == []
    assert session.handle(digits("")) == [Collect((), "en", 1, 5.0, "")]
    assert session.handle(digits("1"))[-1] == Transfer("ccd-queue-wait", "s")


def test_caller_hang_up_mid_menu_finishes_without_commands() -> None:
    session, _ = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    assert session.handle(CallerHungUp(OPEN_AT)) == []
    assert session.finished
    assert session.outcome is Outcome.ABANDONED
    assert session.handle(digits("1")) == []
    assert [step.node for step in session.path] == ["menu"]


def test_step_guard_sends_a_looping_caller_to_the_default_destination() -> None:
    menu = {**MENU, "options": {"9": "again", "1": "sales"}}
    flow = make_flow(
        {
            "menu": menu,
            "again": {"kind": "play", "prompts": ["beep"], "next": "menu"},
            "sales": SALES,
        },
        max_steps=10,
    )
    session, _ = started(flow)
    commands: list[Command] = []
    for _ in range(4):  # each "9" is two node entries
        commands = session.handle(digits("9"))
        assert isinstance(commands[-1], Collect)
    commands = session.handle(digits("9"))
    assert commands[-1] == Transfer("ccd-operator", "s")
    assert session.path[-1].node == "operator"
    assert len(session.path) == 11


def test_handle_before_start_does_nothing() -> None:
    assert IvrSession().handle(digits("1")) == []


def test_path_records_entry_times_from_events() -> None:
    session, _ = started(make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT}))
    later = OPEN_AT + timedelta(seconds=7)
    session.handle(digits("1", at=later))
    assert [step.entered_at for step in session.path] == [OPEN_AT, later]


def test_a_session_keeps_its_flow_across_a_reload() -> None:
    old = make_flow({"menu": MENU, "sales": SALES, "support": SUPPORT})
    session, _ = started(old)
    new_flows = parse_flows(
        {"t.toml": 'id = "t"\nentry = "x"\ndefault_destination = "x"\n[nodes.x]\nkind = "hangup"'},
        list_prompts=lambda directory: (),
    )
    assert flow_for(new_flows, "5000").entry == "x"
    assert session.handle(digits("2")) == [Voicemail("2000@default")]
    assert session.flow is old


def test_sample_flow_vip_customer_path() -> None:
    flow = flow_for(load_flows(SAMPLES, list_prompts=lambda directory: ()), "5000")
    session, commands = started(flow)
    assert commands == [Collect(("hello",), "en", 1, 4.0, "")]
    session.handle(digits("1"))  # English
    assert session.handle(digits("2"))[-1] == Collect(("vm-enter-num-to-call",), "en", 8, 8.0, "#")
    lookup = session.handle(digits("123456"))[-1]
    assert isinstance(lookup, Lookup)
    assert lookup.payload["account"] == "123456"
    commands = session.handle(LookupAnswered(OPEN_AT, 200, {"tier": "vip", "name": "Bob"}))
    assert commands[0] == SetVariables({"customer_tier": "vip", "customer_name": "Bob"})
    assert commands[1] == SetVariables(
        {"CCD_QUEUE": "support", "CCD_PRIORITY": "10", "CCD_SKILLS": "support&vip"}
    )


def test_sample_flow_after_hours_goes_to_voicemail() -> None:
    flow = flow_for(load_flows(SAMPLES, list_prompts=lambda directory: ()), "5000")
    _, commands = started(flow, at=CLOSED_AT)
    assert commands[-1] == Voicemail("1000@default")


# --- property: whatever the caller and the network do, the machine ends cleanly ---------

SAMPLE_FLOW = flow_for(load_flows(SAMPLES, list_prompts=lambda directory: ()), "5000")
LOOP_FLOW = make_flow(
    {
        "lang": LANGUAGE,
        "menu": {**MENU, "options": {"1": "sales", "2": "crm", "9": "again", "#": "menu"}},
        "again": {"kind": "play", "prompts": ["beep"], "next": "menu"},
        "crm": {**LOOKUP, "branches": {"vip": "menu"}, "next": "ask", "fallback": "menu"},
        "ask": {**COLLECT, "next": "lang", "on_invalid": "menu"},
        "sales": SALES,
        "done": DONE,
        "fallback": FALLBACK,
    },
    max_steps=12,
)

caller_events = st.one_of(
    st.builds(
        DigitsEntered,
        st.just(OPEN_AT),
        st.one_of(
            st.sampled_from(["9", "9", "#", "2", "1", "", "1234"]),  # the flows' options
            st.text(alphabet="0123456789*#", max_size=8),
        ),
    ),
    st.builds(PromptFailed, st.just(OPEN_AT), st.sampled_from(["hello", "basic-pbx-ivr-main"])),
    st.builds(
        LookupAnswered,
        st.just(OPEN_AT),
        st.sampled_from([200, 204, 404, 500]),
        st.dictionaries(st.sampled_from(["tier", "name"]), st.sampled_from(["vip", "x", ""])),
    ),
    st.builds(LookupFailed, st.just(OPEN_AT), st.just("timeout")),
    st.builds(CallerHungUp, st.just(OPEN_AT)),
)


def drain(session: IvrSession, events: list[Event]) -> list[list[Command]]:
    replies = [session.handle(event) for event in events]
    # Then the caller stops pressing anything and the network fails every lookup.
    for _ in range(10 * session.flow.max_steps):
        if session.finished:
            break
        replies.append(session.handle(digits("")))
        replies.append(session.handle(LookupFailed(OPEN_AT, "timeout")))
    return replies


@settings(max_examples=300, deadline=None)
@example(flow=LOOP_FLOW, at=OPEN_AT, events=[digits("1")] + [digits("9")] * 40)
@given(
    flow=st.sampled_from([SAMPLE_FLOW, LOOP_FLOW]),
    at=st.sampled_from([OPEN_AT, CLOSED_AT]),
    events=st.lists(caller_events, max_size=60),
)
def test_random_callers_never_break_the_machine(
    flow: Flow, at: datetime, events: list[Event]
) -> None:
    session = IvrSession()
    replies = [session.start(flow, arrived(at))]
    replies += drain(session, events)
    assert session.finished
    assert len(session.path) <= flow.max_steps + 1
    assert {step.node for step in session.path} <= set(flow.nodes)
    for commands in replies:
        if commands:
            last = commands[-1]
            assert isinstance(last, (Collect, Lookup, *TERMINAL_COMMANDS)), commands
            assert not any(isinstance(c, TERMINAL_COMMANDS) for c in commands[:-1]), commands
    terminal_replies = [c for c in replies if c and isinstance(c[-1], TERMINAL_COMMANDS)]
    assert len(terminal_replies) <= 1
    if session.outcome is not Outcome.ABANDONED:
        assert len(terminal_replies) == 1
