"""What the quality routes share: the store on the application, its errors as problems,
and query strings read into pydantic models (422 naming each bad parameter)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel

from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem, FieldError, validation_problem
from ccd.api.validation import validate_body
from ccd.db.quality_store import QualityStore
from ccd.db.stores import StoreConflict, StoreNotFound, StoreUnavailable

ModelT = TypeVar("ModelT", bound=BaseModel)

# None: this process has no quality database (the routes answer 503).
QUALITY: web.AppKey[QualityStore | None] = web.AppKey("quality")


def quality_store(request: web.Request) -> QualityStore:
    store = request.app[QUALITY]
    if store is None:
        raise ApiProblem(
            503, "quality evaluation is not available in this process", type_=UPSTREAM_UNAVAILABLE
        )
    return store


@contextmanager
def quality_errors() -> Iterator[None]:
    """The store's refusals as problems: database down 503, unknown id 404, 409 for an
    acknowledged evaluation or a concurrent edit."""
    try:
        yield
    except StoreUnavailable:
        raise ApiProblem(
            503, "the quality database is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE
        ) from None
    except StoreNotFound as exc:
        raise ApiProblem(404, str(exc)) from None
    except StoreConflict as exc:
        raise ApiProblem(409, str(exc)) from None


def parse_query(model: type[ModelT], query: MultiMapping[str]) -> ModelT:
    """``model`` from a query string: unknown (``extra="forbid"``) or repeated names,
    CR/LF/NUL and bad values are a 422 naming the parameter."""
    errors: list[FieldError] = []
    data: dict[str, object] = {}
    for name in dict.fromkeys(query.keys()):
        values = query.getall(name)
        if len(values) > 1:
            errors.append(FieldError(name, "must be given at most once"))
        else:
            data[name] = values[0]
    if errors:
        raise validation_problem(errors)
    try:
        return validate_body(model, data)
    except ApiProblem as problem:
        # An unsafe parameter *name* comes back as "body"; here it is the query string.
        raise validation_problem(
            [FieldError("query", e.message) if e.field == "body" else e for e in problem.errors]
        ) from None
