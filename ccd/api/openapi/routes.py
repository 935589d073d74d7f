"""``GET /api/v1/openapi.json`` and the human docs page ``GET /api/docs``.

Both are public: the document describes the shape of the API, never its data, and an
integrator's tooling (client generators, the docs page itself) fetches it before it has
a token. The page is Swagger UI from the files packaged by swagger-ui-py (no CDN: ccd's
hosts often have no internet), with ccd's own page and start script, under a
Content-Security-Policy that allows only this origin.

The document is built on the first request, when the router is frozen, from every route
the app serves (``documented_routes``); ``build_api`` refuses to start when a route has
no ``@operation`` (``ensure_routes_documented``), so the document cannot miss one.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aiohttp import web

import ccd
from ccd.api.openapi.document import ApiInfo, DocumentedRoute, build_document
from ccd.api.openapi.operation import Operation, Payload, operation, operation_of
from ccd.api.policy import PUBLIC_ROUTES, ROUTE_ROLES
from ccd.api.rolematrix import ROLE_ORDER
from ccd.api.static_assets import StaticAsset, load_files, page_headers, serve

DOCUMENT_PATH = "/api/v1/openapi.json"
DOCS_PATH = "/api/docs"
# Pages for browsers, not API operations.
UNDOCUMENTED_ROUTES = frozenset({"wallboard.page", "wallboard.asset", "docs.page", "docs.asset"})
VIEWER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
PAGE = "index.html"
INFO = ApiInfo(
    title="ccd REST API",
    version=ccd.__version__,
    description=(
        "Control and observe a call center on Asterisk: live calls, CDRs, the IVR, the ACD"
        " (agents, queues), outbound campaigns, recordings, monitoring, quality, reports,"
        " webhooks. Errors are RFC 9457 problem details (`application/problem+json`)."
        " Authenticate with `Authorization: Bearer <token>`; each operation lists the"
        " roles allowed to call it."
    ),
)
# Swagger UI sets inline styles on its elements; scripts, images and requests stay
# on this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = page_headers(CONTENT_SECURITY_POLICY)


class UndocumentedRoute(RuntimeError):
    pass


@dataclass(slots=True)
class _Served:
    assets: dict[str, StaticAsset]
    document: bytes | None = field(default=None)


SERVED = web.AppKey("openapi_served", _Served)


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    path: str
    name: str
    operation: Operation | None


def _routes(app: web.Application) -> list[_Route]:
    found: list[_Route] = []
    seen: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        info = route.resource.get_info()
        path = str(info.get("path") or info.get("formatter") or info.get("prefix") or "")
        if (route.method, path) in seen:
            continue
        seen.add((route.method, path))
        found.append(_Route(route.method, path, route.name or "", operation_of(route.handler)))
    return found


def documented_routes(app: web.Application) -> list[DocumentedRoute]:
    return [
        DocumentedRoute(
            method=route.method,
            path=route.path,
            name=route.name,
            operation=route.operation,
            roles=None if route.name in PUBLIC_ROUTES else ROUTE_ROLES.get(route.name, frozenset()),
        )
        for route in _routes(app)
        if route.operation is not None and route.name not in UNDOCUMENTED_ROUTES
    ]


def undocumented_routes(app: web.Application) -> list[str]:
    """``METHOD path (name)`` of every route that should declare an ``@operation`` and
    does not."""
    return [
        f"{route.method} {route.path} ({route.name})"
        for route in _routes(app)
        if route.operation is None and route.name not in UNDOCUMENTED_ROUTES
    ]


def ensure_routes_documented(app: web.Application) -> None:
    missing = undocumented_routes(app)
    if missing:
        raise UndocumentedRoute("routes without an @operation: " + "; ".join(missing))


def document_of(app: web.Application) -> dict[str, object]:
    return build_document(documented_routes(app), INFO, ROLE_ORDER)


def _viewer_assets() -> dict[str, StaticAsset]:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: /api/docs has no viewer")
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    assets = {
        name: asset for name, asset in load_files(static.iterdir()).items() if name in VIEWER_FILES
    }
    assets.update(load_files(resources.files("ccd.api.openapi").joinpath("viewer").iterdir()))
    missing = (VIEWER_FILES | {PAGE}) - assets.keys()
    if missing:
        raise RuntimeError(f"the API docs viewer lacks {sorted(missing)}")
    return assets


@operation(
    "The OpenAPI 3.1 document of this API",
    responses={200: Payload("application/json", "The document.", {"type": "object"})},
    description="Every route this ccd serves, its parameters, bodies, answers and roles.",
)
async def get_document(request: web.Request) -> web.Response:
    served = request.app[SERVED]
    if served.document is None:
        served.document = json.dumps(document_of(request.app), separators=(",", ":")).encode()
    response = web.Response(body=served.document, content_type="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response


async def docs_page(request: web.Request) -> web.Response:
    return serve(request, request.app[SERVED].assets[PAGE], SECURITY_HEADERS)


async def docs_asset(request: web.Request) -> web.Response:
    found = request.app[SERVED].assets.get(request.match_info["asset"])
    if found is None or found is request.app[SERVED].assets[PAGE]:
        raise web.HTTPNotFound()
    return serve(request, found, SECURITY_HEADERS)


def add_routes(app: web.Application) -> None:
    app[SERVED] = _Served(assets=_viewer_assets())
    router = app.router
    router.add_get(DOCUMENT_PATH, get_document, name="openapi.document")
    router.add_get(DOCS_PATH, docs_page, name="docs.page")
    router.add_get(DOCS_PATH + "/{asset}", docs_asset, name="docs.asset")
