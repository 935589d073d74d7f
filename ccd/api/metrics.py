"""``GET /metrics``: the application's Prometheus registry in the text exposition format
(version 0.0.4, which every Prometheus reads). Authenticated like every other route: the
scraper sends a bearer token of a role allowed by ``ccd.api.policy`` (README, "Metrics")."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from ccd.api.openapi.operation import Payload, operation

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

METRICS: web.AppKey[CollectorRegistry] = web.AppKey("metrics")


def add_routes(app: web.Application, registry: CollectorRegistry | None) -> None:
    # Without a registry (an API built without the daemon's components) the page is empty.
    app[METRICS] = registry if registry is not None else CollectorRegistry(auto_describe=False)
    app.router.add_get("/metrics", scrape, name="metrics")


@operation(
    "Prometheus metrics (text exposition format 0.0.4)",
    responses={
        200: Payload(
            "text/plain",
            "Every ccd metric (README, Metrics), in Prometheus' text exposition format"
            " version 0.0.4.",
        )
    },
)
async def scrape(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    # Collecting reads in-memory counters only: cheap enough to run on the event loop,
    # where it sees every component at one instant (no thread beside them).
    body = generate_latest(registry)
    return web.Response(
        body=body,
        headers={"Content-Type": EXPOSITION_CONTENT_TYPE, "Cache-Control": "no-store"},
    )
