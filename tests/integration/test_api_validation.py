"""Bad input gets a clear 4xx problem naming what is wrong — never a 500, never an action."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.live.ports import UnknownDestination
from tests.integration.apifakes import Api, make_call, running_api

VALID = {
    "endpoint": "PJSIP/1001",
    "destination": "2000",
    "caller_id": '"Sales" <100>',
    "variables": {"CUSTOMER_ID": "42", "__CAMPAIGN": "spring"},
    "ring_timeout_s": 25,
}
CALL_ID = "1700000000.1"


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    # A placed call is audited: a real trail, or the valid originates would be 503.
    async with running_api(
        max_body_bytes=2048, calls=[make_call(CALL_ID)], audit=AuditStore(engine)
    ) as api:
        yield api


async def post(
    api: Api,
    body: object = None,
    *,
    data: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, object]]:
    all_headers = {**api.auth("admin"), **(headers or {})}
    if data is not None:
        response = await api.client.post("/api/v1/calls", headers=all_headers, data=data)
    else:
        response = await api.client.post("/api/v1/calls", headers=all_headers, json=body)
    if response.status >= 400:
        assert response.content_type == "application/problem+json"
    return response.status, await response.json()


def fields(problem: dict[str, object]) -> set[str]:
    errors = problem.get("errors", [])
    assert isinstance(errors, list)
    return {e["field"] for e in errors}


async def test_valid_originate_reaches_call_control_unchanged(api: Api) -> None:
    status, body = await post(api, VALID)
    assert status == 202
    assert body == {"originate_id": "ccd-orig-1"}
    assert api.control.originates == [
        {
            "endpoint": "PJSIP/1001",
            "destination": "2000",
            "caller_id": '"Sales" <100>',
            "variables": {"CUSTOMER_ID": "42", "__CAMPAIGN": "spring"},
            "ring_timeout_s": 25,
        }
    ]


async def test_defaults_apply(api: Api) -> None:
    status, _ = await post(api, {"endpoint": "Local/1001@agents", "destination": "*97"})
    assert status == 202
    assert api.control.originates[0]["ring_timeout_s"] == 30
    assert api.control.originates[0]["variables"] == {}
    assert api.control.originates[0]["caller_id"] is None


@pytest.mark.parametrize("field", ["endpoint", "destination", "caller_id"])
@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "\r\nAction: Command"])
async def test_cr_lf_nul_in_body_fields_is_422_naming_the_field(
    api: Api, field: str, bad: str
) -> None:
    body = dict(VALID)
    body[field] = f"{body[field]}{bad}"
    status, problem = await post(api, body)
    assert status == 422
    assert fields(problem) == {field}
    assert api.control.originates == []


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
async def test_cr_lf_nul_in_variable_values_is_422(api: Api, bad: str) -> None:
    body = {**VALID, "variables": {"CUSTOMER_ID": f"42{bad}Action: Hangup"}}
    status, problem = await post(api, body)
    assert status == 422
    assert fields(problem) == {"variables.CUSTOMER_ID"}
    assert api.control.originates == []


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
async def test_cr_lf_nul_in_variable_names_is_422(api: Api, bad: str) -> None:
    body = {**VALID, "variables": {f"X{bad}Y": "1"}}
    status, problem = await post(api, body)
    assert status == 422
    assert fields(problem) == {"variables"}
    assert api.control.originates == []


@pytest.mark.parametrize("field", ["endpoint", "destination", "caller_id", "variables.A"])
async def test_lone_surrogates_are_422(api: Api, field: str) -> None:
    # Valid JSON ("\ud800") but not encodable text: it must never reach Asterisk.
    body: dict[str, object] = {**VALID, "variables": {"A": "x"}}
    if field == "variables.A":
        body["variables"] = {"A": "PLACEHOLDER"}
    else:
        body[field] = "PLACEHOLDER"
    raw = json.dumps(body).replace('"PLACEHOLDER"', '"\\ud800"')
    status, problem = await post(
        api, data=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert status == 422
    assert fields(problem) == {field}
    assert api.control.originates == []


async def test_cr_lf_in_unknown_key_is_reported_without_echoing_it(api: Api) -> None:
    status, problem = await post(api, {**VALID, "x\r\nAction: Command": "1"})
    assert status == 422
    assert fields(problem) == {"body"}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("encoded", ["%0D", "%0A", "%00", "%0D%0AAction:%20Command"])
async def test_cr_lf_nul_in_path_id_is_422(api: Api, method: str, encoded: str) -> None:
    response = await api.client.request(
        method, f"/api/v1/calls/{CALL_ID}{encoded}", headers=api.auth("admin")
    )
    assert response.status == 422
    problem = await response.json()
    assert fields(problem) == {"id"}
    assert api.control.hangups == []


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"endpoint": 1001}, "endpoint"),
        ({"endpoint": None}, "endpoint"),
        ({"destination": ["2000"]}, "destination"),
        ({"ring_timeout_s": "30"}, "ring_timeout_s"),
        ({"ring_timeout_s": 30.5}, "ring_timeout_s"),
        ({"ring_timeout_s": True}, "ring_timeout_s"),
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
        ({"ring_timeout_s": 121}, "ring_timeout_s"),
        ({"variables": ["A=1"]}, "variables"),
        ({"variables": {"A": 1}}, "variables.A"),
        ({"caller_id": 5}, "caller_id"),
        ({"caller_id": ""}, "caller_id"),
        ({"caller_id": "x\ty"}, "caller_id"),
    ],
)
async def test_wrong_types_and_ranges_are_422_naming_the_field(
    api: Api, patch: dict[str, object], field: str
) -> None:
    status, problem = await post(api, {**VALID, **patch})
    assert status == 422
    assert fields(problem) == {field}
    assert problem["type"] == "urn:ccd:problem:validation-error"


@pytest.mark.parametrize(
    "endpoint",
    [
        "Console/dsp",  # technology not on the list
        "PJSIP/",
        "PJSIP/1001,foo",
        "PJSIP/1001&PJSIP/1002",  # Dial-style forking
        "Local/s@ctx/n",
        "pjsip/1001",
        "PJSIP/" + "a" * 81,
        "PJSIP/1001 ",
    ],
)
async def test_endpoint_syntax_is_enforced(api: Api, endpoint: str) -> None:
    status, problem = await post(api, {**VALID, "endpoint": endpoint})
    assert status == 422
    assert fields(problem) == {"endpoint"}


@pytest.mark.parametrize("destination", ["", "20 00", "2000;x", "a" * 41, "${EXTEN}", "1@ctx"])
async def test_destination_syntax_is_enforced(api: Api, destination: str) -> None:
    status, problem = await post(api, {**VALID, "destination": destination})
    assert status == 422
    assert fields(problem) == {"destination"}


@pytest.mark.parametrize(
    "name", ["1ABC", "A-B", "FILE(/etc/passwd)", "A B", "", "X" * 65, "CCD_ORIGINATE_ID", "ccd_x"]
)
async def test_variable_names_are_enforced(api: Api, name: str) -> None:
    status, problem = await post(api, {**VALID, "variables": {name: "1"}})
    assert status == 422
    assert fields(problem) == {"variables"}


@pytest.mark.parametrize("field", ["application", "data", "Application", "context", "priority"])
async def test_client_cannot_choose_application_or_data(api: Api, field: str) -> None:
    # CVE-2024-42365: Originate Application/Data must never come from API input.
    status, problem = await post(api, {**VALID, field: "System"})
    assert status == 422
    assert fields(problem) == {field}
    assert api.control.originates == []


async def test_missing_fields_are_each_named(api: Api) -> None:
    status, problem = await post(api, {"caller_id": "x"})
    assert status == 422
    assert fields(problem) == {"endpoint", "destination"}


async def test_several_problems_are_reported_together(api: Api) -> None:
    status, problem = await post(
        api, {"endpoint": "PJSIP/1\n", "destination": 5, "variables": {"A": "\0"}}
    )
    assert status == 422
    assert fields(problem) == {"endpoint", "destination", "variables.A"}


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"endpoint": }', b"nope", b'{"a": NaN}', b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000],
)
async def test_malformed_json_is_400(raw: bytes) -> None:
    async with running_api(max_body_bytes=20_000) as api:
        status, problem = await post(api, data=raw, headers={"Content-Type": "application/json"})
        assert status == 400
        assert "JSON" in str(problem["detail"])
        assert api.control.originates == []


async def test_empty_body_is_400(api: Api) -> None:
    status, problem = await post(api, data=b"", headers={"Content-Type": "application/json"})
    assert status == 400
    assert "empty" in str(problem["detail"])


@pytest.mark.parametrize("raw", [b"[]", b'"PJSIP/1001"', b"42", b"null"])
async def test_json_that_is_not_an_object_is_422(api: Api, raw: bytes) -> None:
    status, problem = await post(api, data=raw, headers={"Content-Type": "application/json"})
    assert status == 422
    assert fields(problem) == {"body"}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_wrong_content_type_is_415(api: Api, content_type: str) -> None:
    status, problem = await post(
        api, data=b'{"endpoint": "PJSIP/1001"}', headers={"Content-Type": content_type}
    )
    assert status == 415
    assert problem["status"] == 415


async def test_json_with_charset_parameter_is_accepted(api: Api) -> None:
    status, _ = await post(
        api,
        data=json.dumps(VALID).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert status == 202


async def test_oversize_body_is_413(api: Api) -> None:
    padding = {"X": "a" * 1024, "Y": "b" * 1024}
    status, problem = await post(api, {**VALID, "variables": padding})
    assert status == 413
    assert "2048" in str(problem["detail"])
    assert api.control.originates == []


async def test_oversize_chunked_body_without_length_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    status, problem = await post(api, data=chunks(), headers={"Content-Type": "application/json"})
    assert status == 413
    assert problem["title"] == "Request Entity Too Large"


async def test_originate_rejected_is_502_with_the_reason(api: Api) -> None:
    api.control.reject_with = "endpoint PJSIP/1001 is not registered"
    status, problem = await post(api, VALID)
    assert status == 502
    assert problem["detail"] == "endpoint PJSIP/1001 is not registered"
    assert problem["type"] == "urn:ccd:problem:originate-rejected"


async def test_originate_to_an_extension_the_context_lacks_is_422_naming_destination(
    api: Api,
) -> None:
    # Asterisk refuses it at once ("Extension does not exist."): the caller's input is
    # wrong, not the gateway (it was a 502 until schemathesis sent destination "Zr").
    api.control.rejection = UnknownDestination("5551234", "ccd-originate")
    status, problem = await post(api, VALID)
    assert status == 422
    assert problem["errors"] == [
        {
            "field": "destination",
            "message": "no extension '5551234' in the originate context 'ccd-originate'",
        }
    ]


async def test_unknown_route_is_404_json(api: Api) -> None:
    for path in ("/", "/api/v2/calls", "/api/v1/calls/x/y", "/api/v1/nothing"):
        response = await api.client.get(path, headers=api.auth("admin"))
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert (await response.json())["instance"] == path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/calls"),
        ("DELETE", "/api/v1/calls"),
        ("PATCH", f"/api/v1/calls/{CALL_ID}"),
        ("POST", "/api/v1/me"),
        ("POST", "/healthz"),
    ],
)
async def test_wrong_method_is_405_json(api: Api, method: str, path: str) -> None:
    response = await api.client.request(method, path, headers=api.auth("admin"))
    assert response.status == 405
    assert response.content_type == "application/problem+json"
    assert "GET" in response.headers["Allow"]
    assert method in (await response.json())["detail"]


async def test_plain_get_on_the_websocket_route_is_426(api: Api) -> None:
    response = await api.client.get("/api/v1/events", headers=api.auth("admin"))
    assert response.status == 426
    assert response.content_type == "application/problem+json"
