"""The OpenAPI document is built from every route the API serves and is valid OpenAPI 3.1."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from ccd.api.openapi.document import openapi_path, path_variables
from ccd.api.openapi.routes import (
    UndocumentedRoute,
    document_of,
    ensure_routes_documented,
    undocumented_routes,
)
from ccd.api.policy import PUBLIC_ROUTES, ROUTE_ROLES
from ccd.api.rolematrix import routes_of, served_app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return document_of(served_app())


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for item in document["paths"].values() for op in item.values()}


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_declares_its_operation() -> None:
    assert undocumented_routes(served_app()) == []


def test_every_served_api_route_is_in_the_document(document: dict[str, Any]) -> None:
    served = {
        (route.method.lower(), openapi_path(route.path))
        for route in routes_of(served_app())
        if route.name in ROUTE_ROLES
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served <= documented


def test_operations_carry_the_roles_the_server_enforces(document: dict[str, Any]) -> None:
    for name, op in _operations(document).items():
        if name in PUBLIC_ROUTES:
            assert op["security"] == [], name
            continue
        assert op["security"] == [{"bearer": []}], name
        assert set(op["x-ccd-roles"]) == {role.value for role in ROUTE_ROLES[name]}, name
        assert {"401", "403", "429"} <= set(op["responses"]), name


def test_every_error_answer_is_a_problem(document: dict[str, Any]) -> None:
    for name, op in _operations(document).items():
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (name, status)


def test_path_variables_become_openapi_parameters() -> None:
    assert path_variables("/api/v1/agents/{id}/queues/{queue_id}") == ["id", "queue_id"]
    assert openapi_path("/x/{name:[a-z]+}") == "/x/{name}"


def test_an_undeclared_route_stops_the_api_from_building() -> None:
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/v1/secret", handler, name="secret.get")
    with pytest.raises(UndocumentedRoute, match=r"GET /api/v1/secret \(secret.get\)"):
        ensure_routes_documented(app)


def test_problem_answers_document_the_headers_they_carry(document: dict[str, Any]) -> None:
    ops = _operations(document)
    me = ops["me"]["responses"]
    assert me["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert me["429"]["headers"]["Retry-After"]["schema"] == {
        "type": "string",
        "pattern": "^[0-9]+$",
    }
    assert "headers" not in me["403"]
    upgrade = ops["events.stream"]["responses"]["426"]["headers"]["Upgrade"]
    assert upgrade["schema"] == {"type": "string", "const": "websocket"}


def test_a_report_answers_json_or_csv_as_the_client_asks(document: dict[str, Any]) -> None:
    answer = document["paths"]["/api/v1/reports/queues"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {"application/json", "text/csv"}
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/QueueReport")
