"""The dialplan in dialplan/ and ccd/domain/contract.py must name the same things.

A context, variable or UserEvent renamed on one side only would make calls fail at
run time without any error in ccd, so this checks both directions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ccd.domain import contract

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "dialplan" / "extensions_ccd.conf"
SIM = REPO / "dialplan" / "extensions_ccd_sim.conf"
SANDBOX_MANAGER = REPO / "docker" / "asterisk" / "manager.conf"

CONTEXT_RE = re.compile(r"^\[([^\]]+)\]")
EXTEN_RE = re.compile(r"^exten\s*=>\s*([^,]+),")
SAME_RE = re.compile(r"^same\s*=>")
CCD_VARIABLE_RE = re.compile(r"\b(CCD_[A-Z0-9_]+)\b")
USER_EVENT_RE = re.compile(r"UserEvent\(([^,)]+)((?:,[^)]*)?)\)")


@dataclass
class Dialplan:
    extens: dict[str, set[str]] = field(default_factory=dict)
    variables: set[str] = field(default_factory=set)
    user_events: dict[str, list[str]] = field(default_factory=dict)


def parse(path: Path) -> Dialplan:
    plan = Dialplan()
    context = None
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if match := CONTEXT_RE.match(line):
            context = match.group(1)
            plan.extens.setdefault(context, set())
            continue
        assert context is not None, f"{path.name}:{lineno}: line outside any context"
        if match := EXTEN_RE.match(line):
            plan.extens[context].add(match.group(1).strip())
        elif not SAME_RE.match(line):
            pytest.fail(f"{path.name}:{lineno}: unexpected line {raw!r}")
        plan.variables.update(CCD_VARIABLE_RE.findall(line))
        for name, args in USER_EVENT_RE.findall(line):
            headers = [arg.split(":", 1)[0].strip() for arg in args.split(",")[1:]]
            plan.user_events[name] = headers
    return plan


@pytest.fixture(scope="module")
def shipped() -> Dialplan:
    return parse(SHIPPED)


@pytest.fixture(scope="module")
def sim() -> Dialplan:
    return parse(SIM)


def test_shipped_dialplan_defines_exactly_the_contract_contexts(shipped: Dialplan) -> None:
    assert set(shipped.extens) == contract.SHIPPED_CONTEXTS


def test_sim_dialplan_defines_exactly_the_sim_contexts(sim: Dialplan) -> None:
    assert set(sim.extens) == contract.SIM_CONTEXTS


def test_every_named_sim_exten_is_in_the_contract_and_back(sim: Dialplan) -> None:
    named = {e for e in sim.extens[contract.SIM_CONTEXT] if not e.startswith("_")}
    assert named == contract.SIM_EXTENS


def test_channel_variables_match_both_ways(shipped: Dialplan, sim: Dialplan) -> None:
    assert shipped.variables | sim.variables == contract.CHANNEL_VARIABLES


def test_user_events_and_their_headers_match(shipped: Dialplan, sim: Dialplan) -> None:
    events = shipped.user_events | sim.user_events
    assert set(events) == contract.USER_EVENTS
    assert events[contract.USER_EVENT_ORIGINATE] == list(contract.USER_EVENT_ORIGINATE_HEADERS)
    assert events[contract.USER_EVENT_DIALER_ANSWERED] == list(
        contract.USER_EVENT_DIALER_ANSWERED_HEADERS
    )
    assert events[contract.USER_EVENT_DIALER_MESSAGE] == list(
        contract.USER_EVENT_DIALER_MESSAGE_HEADERS
    )


def test_dialer_message_extensions_match_the_contract(shipped: Dialplan) -> None:
    # ccd redirects to these by name: one missing would leave the customer in silence.
    assert shipped.extens[contract.DIALER_MESSAGE_CONTEXT] == contract.DIALER_MESSAGE_EXTENS


def test_dialer_context_accepts_numbers_but_not_special_extensions(shipped: Dialplan) -> None:
    assert shipped.extens[contract.DIALER_CONTEXT] == {"_[+0-9]!"}


def test_originate_context_accepts_numbers_but_not_special_extensions(shipped: Dialplan) -> None:
    # A pattern matching "h", "i" or "t" would run the originate logic on hangup.
    patterns = shipped.extens[contract.ORIGINATE_CONTEXT]
    assert patterns == {"_[+0-9]!"}


def test_shipped_dialplan_never_reaches_the_simulation(shipped: Dialplan) -> None:
    assert contract.SIM_CONTEXT not in SHIPPED.read_text()


def test_sandbox_ami_reports_the_request_id_on_every_event() -> None:
    channelvars = [
        line.split("=", 1)[1].strip()
        for line in SANDBOX_MANAGER.read_text().splitlines()
        if line.replace(" ", "").startswith("channelvars=")
    ]
    assert channelvars, "manager.conf has no channelvars line"
    assert contract.VAR_REQUEST_ID in channelvars[0].split(",")


def test_sim_channel_names_a_local_channel_in_the_sim_context() -> None:
    assert contract.sim_channel(contract.SimExten.DIAL_ANSWER) == "Local/dial-answer@ccd-sim"
