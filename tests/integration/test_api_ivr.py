"""GET /api/v1/ivr/flows and POST /api/v1/ivr/reload over a real socket, with the real
FlowsHolder on a flows directory the test edits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.ivr.holder import FlowsHolder
from tests.clock import T0, FakeClock
from tests.integration.apifakes import running_api
from tests.ivrflows import flow_for

FLOW = """
id = "{flow_id}"
{extra}
entry = "menu"
default_destination = "op"
languages = ["en", "fr"]

[nodes.menu]
kind = "menu"
prompts = ["hello"]
options = {{ "1" = "op", "2" = "bye" }}

[nodes.op]
kind = "transfer"
context = "ccd-operator"
exten = "s"

[nodes.bye]
kind = "hangup"
"""


def write_flow(directory: Path, flow_id: str, extra: str) -> None:
    (directory / f"{flow_id}.toml").write_text(FLOW.format(flow_id=flow_id, extra=extra))


async def test_flows_are_listed_with_their_dids_nodes_and_file(tmp_path: Path) -> None:
    write_flow(tmp_path, "main", "default = true")
    write_flow(tmp_path, "sales", 'dids = ["7000", "7001"]')
    async with running_api(ivr=FlowsHolder(tmp_path)) as api:
        response = await api.client.get("/api/v1/ivr/flows", headers=api.auth("supervisor"))
        assert response.status == 200
        flows = (await response.json())["flows"]
    assert [flow["id"] for flow in flows] == ["main", "sales"]
    main, sales = flows
    assert main["default"] is True
    assert sales["dids"] == ["7000", "7001"]
    assert sales["nodes"] == {"menu": "menu", "op": "transfer", "bye": "hangup"}
    assert sales["languages"] == ["en", "fr"]
    assert sales["file"] == str(tmp_path / "sales.toml")


async def test_reload_picks_up_new_flows(tmp_path: Path, engine: AsyncEngine) -> None:
    write_flow(tmp_path, "main", "default = true")
    holder = FlowsHolder(tmp_path)
    async with running_api(ivr=holder, audit=AuditStore(engine, FakeClock(T0))) as api:
        write_flow(tmp_path, "sales", 'dids = ["7000"]')
        response = await api.client.post("/api/v1/ivr/reload", headers=api.auth("admin"))
        assert response.status == 200
        assert await response.json() == {"reloaded": True, "flows": 2, "dids": 1}
        listed = await api.client.get("/api/v1/ivr/flows", headers=api.auth("admin"))
        assert [flow["id"] for flow in (await listed.json())["flows"]] == ["main", "sales"]
    assert flow_for(holder.current, "7000").id == "sales"


async def test_a_bad_reload_is_422_with_every_problem_and_the_flows_stay(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    write_flow(tmp_path, "main", "default = true")
    holder = FlowsHolder(tmp_path)
    running = holder.current
    (tmp_path / "main.toml").write_text(
        FLOW.format(flow_id="main", extra="default = true").replace('"2" = "bye"', '"2" = "x"')
    )
    (tmp_path / "broken.toml").write_text("id = = 1\n")
    async with running_api(ivr=holder, audit=AuditStore(engine)) as api:
        response = await api.client.post("/api/v1/ivr/reload", headers=api.auth("admin"))
        assert response.status == 422
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        listed = await api.client.get("/api/v1/ivr/flows", headers=api.auth("admin"))
        flows = (await listed.json())["flows"]
    messages = [error["message"] for error in problem["errors"]]
    assert any("unknown target node 'x'" in message for message in messages)
    assert any("broken.toml" in message for message in messages)
    assert "running flow(s) stay" in problem["detail"]
    assert holder.current is running
    assert [flow["nodes"] for flow in flows] == [
        {"menu": "menu", "op": "transfer", "bye": "hangup"}
    ]


async def test_a_reload_is_audited_with_each_flow_version_before_and_after(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    write_flow(tmp_path, "main", "default = true")
    write_flow(tmp_path, "old", 'dids = ["7100"]')
    write_flow(tmp_path, "sales", 'dids = ["7000"]')
    holder = FlowsHolder(tmp_path)
    before = holder.versions()
    async with running_api(ivr=holder, audit=AuditStore(engine, FakeClock(T0))) as api:
        (tmp_path / "old.toml").unlink()
        write_flow(tmp_path, "sales", 'dids = ["7000", "7001"]')
        write_flow(tmp_path, "support", 'dids = ["7200"]')
        reloaded = await api.client.post("/api/v1/ivr/reload", headers=api.auth("admin"))
        assert reloaded.status == 200
        (tmp_path / "broken.toml").write_text("id = = 1\n")
        refused = await api.client.post("/api/v1/ivr/reload", headers=api.auth("admin"))
        assert refused.status == 422
        trail = await api.client.get("/api/v1/audit", headers=api.auth("admin"))
        events = (await trail.json())["events"]
    after = holder.versions()
    # Only the reload that changed something is on the trail.
    [event] = events
    assert event["action"] == "ivr.reloaded"
    assert (event["target_kind"], event["target_id"]) == ("ivr", "flows")
    assert event["actor"] == {"token_id": "t-admin", "role": "admin", "agent_id": None}
    assert event["detail"] == {
        "before": before,
        "after": after,
        "added": ["support"],
        "removed": ["old"],
        "changed": ["sales"],
    }
    assert set(before) == {"main", "old", "sales"}
    assert before["main"] == after["main"]
    assert before["sales"] != after["sales"]


async def test_without_an_audit_trail_a_reload_is_503_and_the_flows_stay(
    tmp_path: Path,
) -> None:
    write_flow(tmp_path, "main", "default = true")
    holder = FlowsHolder(tmp_path)
    running = holder.current
    async with running_api(ivr=holder) as api:
        write_flow(tmp_path, "sales", 'dids = ["7000"]')
        response = await api.client.post("/api/v1/ivr/reload", headers=api.auth("admin"))
        assert response.status == 503
        assert (await response.json())["detail"] == "the audit trail is unavailable; retry later"
    assert holder.current is running
