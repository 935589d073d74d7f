"""What the quality routes share: the store on the application, its errors as problems,
and query strings read into pydantic models (422 naming each bad parameter)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem
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
