"""What a route accepts and answers, declared beside its handler with ``@operation``.

The OpenAPI document (``ccd.api.openapi.document``) is built from these declarations and
the routes the app really serves, so it cannot list a route that does not exist nor miss
one (``ensure_routes_documented``). The models named here are the ones the handler uses:

- ``body``: the pydantic model ``read_json`` validates the request body with (or a
  ``Payload`` for a non-JSON upload such as CSV);
- ``query`` / ``path``: the models ``query_model`` / the path checks validate with;
- ``responses``: status → the pydantic model the handler builds its JSON answer from
  (``model_json``), a ``Payload`` for another media type (CSV, audio, text), a tuple of
  those when the client chooses the form (JSON or ``format=csv``), or ``None`` for an
  empty answer (204).

Problem answers (RFC 9457) need no model: ``problems`` lists the statuses the handler
itself raises (404, 409, 503…); the document adds the ones every route can give (401,
403 and 429 when authenticated, 422 when it takes parameters or a body, 400/413/415 for
a JSON body).

Pure (no aiohttp).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

OPERATION_ATTRIBUTE = "__ccd_operation__"

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Payload:
    """A body that is not a JSON object: its media type and what it holds."""

    media_type: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


Content = type[BaseModel] | Payload
# One form, several forms the client chooses between, or no body.
Response = Content | tuple[Content, ...] | None


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    responses: Mapping[int, Response]
    description: str = ""
    body: type[BaseModel] | Payload | None = None
    # False: an empty body stands for the model's defaults (``read_optional_json``).
    body_required: bool = True
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    problems: tuple[int, ...] = ()
    # A websocket: documented as the GET that upgrades (101).
    websocket: bool = False


def operation(
    summary: str,
    *,
    responses: Mapping[int, Response],
    description: str = "",
    body: type[BaseModel] | Payload | None = None,
    body_required: bool = True,
    query: type[BaseModel] | None = None,
    path: type[BaseModel] | None = None,
    problems: tuple[int, ...] = (),
    websocket: bool = False,
) -> Callable[[HandlerT], HandlerT]:
    """Attach the handler's ``Operation``; the handler itself is returned unchanged."""
    declared = Operation(
        summary=summary,
        responses=dict(responses),
        description=description,
        body=body,
        body_required=body_required,
        query=query,
        path=path,
        problems=tuple(sorted(set(problems))),
        websocket=websocket,
    )

    def attach(handler: HandlerT) -> HandlerT:
        setattr(handler, OPERATION_ATTRIBUTE, declared)
        return handler

    return attach


def operation_of(handler: object) -> Operation | None:
    declared = getattr(handler, OPERATION_ATTRIBUTE, None)
    return declared if isinstance(declared, Operation) else None
