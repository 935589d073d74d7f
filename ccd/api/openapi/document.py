"""The OpenAPI 3.1 document, built from the routes served and their ``@operation``s.

Pure: it takes the route list (``DocumentedRoute``, made from the aiohttp router by
``ccd.api.openapi.routes``) and the role table, and returns the document as a dict. Every
schema is pydantic's JSON Schema of the models the handlers validate with and answer
from: requests in validation mode, answers in serialization mode, gathered into
``components/schemas`` by ``models_json_schema`` (a model that differs between the two
gets ``-Input`` / ``-Output`` names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from ccd.api.openapi.operation import Content, Operation, Payload, Response
from ccd.api.problems import PROBLEM_CONTENT_TYPE
from ccd.domain.auth import Role

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{model}"
BEARER_SCHEME = "bearer"
# aiohttp path variables: {name} or {name:regex}.
PATH_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^{}]*)?\}")
JSON = "application/json"
# Every authenticated route: no/invalid token, a role not allowed, too many failed
# attempts from the address, the token store unreachable.
AUTHENTICATED_PROBLEMS = (401, 403, 429, 503)
PARAMETER_PROBLEMS = (422,)
# A JSON body: not JSON (400), too large (413), not declared JSON (415), invalid (422).
JSON_BODY_PROBLEMS = (400, 413, 415, 422)
# Headers a problem answer always carries: the auth challenge, the protocol to upgrade
# to, when to try again (whole seconds).
PROBLEM_HEADERS: Mapping[int, Mapping[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The Bearer challenge (RFC 6750).",
            "schema": {"type": "string", "pattern": "^Bearer"},
        }
    },
    426: {
        "Upgrade": {
            "description": "The protocol this operation speaks.",
            "schema": {"type": "string", "const": "websocket"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before authenticating again from this address.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}


class ProblemFieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error answer carries them."""

    # Problem types add members of their own (reasons, retry_after_s…): RFC 9457 §3.2.
    model_config = ConfigDict(extra="allow", title="Problem")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemFieldError] | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentedRoute:
    method: str
    path: str
    name: str
    operation: Operation
    # None: public (no token).
    roles: frozenset[Role] | None


@dataclass(frozen=True, slots=True)
class ApiInfo:
    title: str
    version: str
    description: str


def path_variables(path: str) -> list[str]:
    return PATH_VARIABLE.findall(path)


def openapi_path(path: str) -> str:
    """aiohttp's ``{name:regex}`` as OpenAPI's ``{name}``."""
    return PATH_VARIABLE.sub(lambda m: "{" + m.group(1) + "}", path)


def build_document(
    routes: Sequence[DocumentedRoute], info: ApiInfo, role_order: Sequence[Role]
) -> dict[str, Any]:
    models = _models(routes)
    refs, top = models_json_schema(models, ref_template=SCHEMA_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    builder = _Builder(refs, schemas, role_order)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        item = paths.setdefault(openapi_path(route.path), {})
        item[route.method.lower()] = builder.operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": info.title, "version": info.version, "description": info.description},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`ccd token create --role …`).",
                }
            },
        },
    }


def _models(
    routes: Iterable[DocumentedRoute],
) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "validation"): None}
    for route in routes:
        op = route.operation
        for model in (op.query, op.path):
            if model is not None:
                wanted[(model, "validation")] = None
        if isinstance(op.body, type):
            wanted[(op.body, "validation")] = None
        for response in op.responses.values():
            for form in _forms(response):
                if isinstance(form, type):
                    wanted[(form, "serialization")] = None
    return list(wanted)


class _Builder:
    def __init__(
        self,
        refs: Mapping[tuple[Any, JsonSchemaMode], Any],
        schemas: Mapping[str, Any],
        role_order: Sequence[Role],
    ) -> None:
        self._refs = refs
        self._schemas = schemas
        self._role_order = role_order

    def _ref(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self._refs[(model, mode)])

    def _properties(self, model: type[BaseModel]) -> tuple[dict[str, Any], set[str]]:
        ref = str(self._refs[(model, "validation")]["$ref"])
        schema = self._schemas[ref.rsplit("/", 1)[1]]
        return dict(schema.get("properties", {})), set(schema.get("required", []))

    def operation(self, route: DocumentedRoute) -> dict[str, Any]:
        op = route.operation
        doc: dict[str, Any] = {
            "operationId": route.name,
            "tags": [route.name.split(".", 1)[0]],
            "summary": op.summary,
        }
        description = op.description
        if route.roles is None:
            doc["security"] = []
            description = _join(description, "Public: no token needed.")
        else:
            roles = [role.value for role in self._role_order if role in route.roles]
            doc["security"] = [{BEARER_SCHEME: []}]
            doc["x-ccd-roles"] = roles
            description = _join(description, "Roles: " + ", ".join(roles) + ".")
        doc["description"] = description
        parameters = self._path_parameters(route) + self._query_parameters(op)
        if parameters:
            doc["parameters"] = parameters
        if op.body is not None:
            doc["requestBody"] = self._request_body(op)
        doc["responses"] = self._responses(route, bool(parameters))
        return doc

    def _path_parameters(self, route: DocumentedRoute) -> list[dict[str, Any]]:
        declared, _ = (
            self._properties(route.operation.path) if route.operation.path else ({}, set())
        )
        return [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _without_null(declared.get(name, {"type": "string"})),
            }
            for name in path_variables(route.path)
        ]

    def _query_parameters(self, op: Operation) -> list[dict[str, Any]]:
        if op.query is None:
            return []
        properties, required = self._properties(op.query)
        parameters = []
        for name, schema in properties.items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _without_null(schema),
            }
            if "description" in schema:
                parameter["description"] = schema["description"]
            parameters.append(parameter)
        return parameters

    def _request_body(self, op: Operation) -> dict[str, Any]:
        if isinstance(op.body, Payload):
            return {
                "required": op.body_required,
                "description": op.body.description,
                "content": {op.body.media_type: {"schema": dict(op.body.schema)}},
            }
        assert op.body is not None
        return {
            "required": op.body_required,
            "content": {JSON: {"schema": self._ref(op.body, "validation")}},
        }

    def _responses(self, route: DocumentedRoute, has_parameters: bool) -> dict[str, Any]:
        op = route.operation
        responses: dict[str, Any] = {}
        if op.websocket:
            responses["101"] = {"description": "Switching Protocols: the websocket is open."}
        for status, response in sorted(op.responses.items()):
            responses[str(status)] = self._response(status, response)
        problems = set(op.problems)
        if route.roles is not None:
            problems.update(AUTHENTICATED_PROBLEMS)
        if has_parameters:
            problems.update(PARAMETER_PROBLEMS)
        if op.body is not None:
            problems.update(JSON_BODY_PROBLEMS if isinstance(op.body, type) else (413, 415, 422))
        problem_schema = self._ref(Problem, "validation")
        for status in sorted(problems):
            answer: dict[str, Any] = {
                "description": HTTPStatus(status).phrase,
                "content": {PROBLEM_CONTENT_TYPE: {"schema": problem_schema}},
            }
            if status in PROBLEM_HEADERS:
                answer["headers"] = {
                    name: {**header, "required": True}
                    for name, header in PROBLEM_HEADERS[status].items()
                }
            responses.setdefault(str(status), answer)
        return responses

    def _response(self, status: int, response: Response) -> dict[str, Any]:
        forms = _forms(response)
        if not forms:
            return {"description": HTTPStatus(status).phrase}
        content: dict[str, Any] = {}
        descriptions: list[str] = []
        for form in forms:
            if isinstance(form, Payload):
                content[form.media_type] = {"schema": dict(form.schema)}
                descriptions.append(form.description)
            else:
                content[JSON] = {"schema": self._ref(form, "serialization")}
        return {
            "description": " ".join(descriptions) or HTTPStatus(status).phrase,
            "content": content,
        }


def _forms(response: Response) -> tuple[Content, ...]:
    if response is None:
        return ()
    return response if isinstance(response, tuple) else (response,)


def _without_null(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter is absent or has a value: ``X | None`` in a model is plain ``X`` here."""
    result = dict(schema)
    options = result.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            result.pop("anyOf")
            result.update(kept[0])
        else:
            result["anyOf"] = kept
    if "default" in result and result["default"] is None:
        del result["default"]
    return result


def _join(first: str, second: str) -> str:
    return f"{first}\n\n{second}" if first else second
