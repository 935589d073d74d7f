"""FlowsHolder: a good reload swaps the flows, a bad one is refused with its reasons and the
running flows stay; a call already holding a Flow keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.ivr.flows import FlowSet, parse_flows
from ccd.ivr.holder import FlowsHolder
from tests.ivrflows import flow_for

FLOW = """
id = "{flow_id}"
default = true
dids = ["{did}"]
entry = "menu"
default_destination = "op"

[nodes.menu]
kind = "menu"
prompts = ["hello"]
options = {{ "1" = "op" }}

[nodes.op]
kind = "transfer"
context = "ccd-operator"
exten = "s"
"""


class FakeDirectory:
    """Stands in for the flows directory: the test edits ``texts`` between reloads."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.loaded_from: list[Path] = []

    def load(self, directory: Path) -> FlowSet:
        self.loaded_from.append(directory)
        return parse_flows(self.texts, list_prompts=lambda _d: ())


def test_starts_with_the_flows_of_the_directory() -> None:
    files = FakeDirectory({"a.toml": FLOW.format(flow_id="a", did="5000")})
    holder = FlowsHolder(Path("/etc/ccd/ivr"), loader=files.load)
    assert flow_for(holder.current, "5000").id == "a"
    assert files.loaded_from == [Path("/etc/ccd/ivr")]


def test_invalid_flows_at_start_raise_every_problem() -> None:
    files = FakeDirectory({"a.toml": FLOW.format(flow_id="a", did="5000").replace("op", "x")})
    with pytest.raises(ConfigError) as caught:
        FlowsHolder(Path("ivr"), loader=files.load)
    assert any("a.toml" in problem for problem in caught.value.problems)


def test_a_good_reload_swaps_the_flows_but_a_running_call_keeps_its_flow() -> None:
    files = FakeDirectory({"a.toml": FLOW.format(flow_id="a", did="5000")})
    holder = FlowsHolder(Path("ivr"), loader=files.load)
    in_call = flow_for(holder.current, "5000")
    files.texts = {
        "b.toml": FLOW.format(flow_id="b", did="6000"),
        "c.toml": FLOW.format(flow_id="c", did="7000").replace("default = true", ""),
    }
    result = holder.reload()
    assert result.ok
    assert (result.flows, result.dids, result.problems) == (2, 2, ())
    assert flow_for(holder.current, "7000").id == "c"
    assert "a" not in holder.current.flows
    assert in_call.id == "a"
    assert in_call.nodes["menu"].kind == "menu"


def test_a_bad_reload_is_refused_with_its_problems_and_the_flows_stay() -> None:
    files = FakeDirectory({"a.toml": FLOW.format(flow_id="a", did="5000")})
    holder = FlowsHolder(Path("ivr"), loader=files.load)
    before = holder.current
    files.texts = {
        "a.toml": FLOW.format(flow_id="a", did="5000").replace('"1" = "op"', '"1" = "gone"')
    }
    result = holder.reload()
    assert not result.ok
    assert result.flows == 1
    assert any("unknown target node 'gone'" in problem for problem in result.problems)
    assert holder.current is before
    assert holder.rejected_reloads == 1


def test_reload_from_a_real_directory(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(FLOW.format(flow_id="a", did="5000"))
    holder = FlowsHolder(tmp_path)
    (tmp_path / "a.toml").unlink()
    refused = holder.reload()
    assert not refused.ok
    assert any("no IVR flow files" in problem for problem in refused.problems)
    (tmp_path / "b.toml").write_text(FLOW.format(flow_id="b", did="6000"))
    assert holder.reload().ok
    assert flow_for(holder.current, "6000").id == "b"
