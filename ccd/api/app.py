"""The REST + websocket API as an aiohttp application, built from ports by injection."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client.registry import CollectorRegistry

from ccd.acd.ports import AcdLive
from ccd.api import acd as acd_routes
from ccd.api import audit as audit_routes
from ccd.api import campaign_contacts as campaign_contact_routes
from ccd.api import campaigns as campaign_routes
from ccd.api import cdrs as cdr_routes
from ccd.api import compliance as compliance_routes
from ccd.api import dialing as dialing_routes
from ccd.api import dnc as dnc_routes
from ccd.api import forecast as forecast_routes
from ccd.api import handlers
from ccd.api import ivr as ivr_routes
from ccd.api import metrics as metrics_routes
from ccd.api import monitoring as monitoring_routes
from ccd.api import quality as quality_routes
from ccd.api import recordings as recording_routes
from ccd.api import reports as report_routes
from ccd.api import tokens as token_routes
from ccd.api import wallboard as wallboard_routes
from ccd.api import webhooks as webhook_routes
from ccd.api.context import AUDIT_LOG, DEPS, ApiDeps
from ccd.api.dialer_runtime import DialerRuntime, install
from ccd.api.hub import EventHub
from ccd.api.middleware import access_log_middleware, auth_middleware, problem_middleware
from ccd.api.openapi import routes as openapi_routes
from ccd.api.policy import PUBLIC_API_ROUTES, PUBLIC_ROUTES, ROUTE_ROLES
from ccd.cdr.queries import CdrReader
from ccd.clock import Clock, SystemClock
from ccd.db.acd_store import AcdStore
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import DialerStore
from ccd.db.quality_store import QualityStore
from ccd.domain.audit import AuditLog
from ccd.domain.auth import TokenVerifier
from ccd.domain.auth_failures import FailedAuthLimiter
from ccd.domain.client_address import Network
from ccd.domain.servers import DEFAULT_SERVER_NAME
from ccd.forecast.parameters import ForecastDefaults
from ccd.forecast.run import HistoryReader
from ccd.ha.api import HA_VIEW, HaView, standby_middleware
from ccd.health import ReadinessCheck
from ccd.ivr.ports import IvrFlows
from ccd.live.ports import CallControl, CallDirectory
from ccd.monitor.service import MonitorService
from ccd.reports.service import ReportService
from ccd.wallboard.view import ServiceLevelTargets

API_PREFIX = "/api/"


def build_api(
    *,
    tokens: TokenVerifier,
    calls: CallDirectory,
    control: CallControl,
    readiness: ReadinessCheck,
    hub: EventHub,
    cdrs: CdrReader,
    max_body_bytes: int,
    clock: Clock | None = None,
    ivr: IvrFlows | None = None,
    acd_live: AcdLive | None = None,
    acd_store: AcdStore | None = None,
    dialer_store: DialerStore | None = None,
    dialer: DialerRuntime | None = None,
    dialer_attempts: AttemptStore | None = None,
    dialer_report_zone: str = "UTC",
    # The configured Asterisk servers' names, the default first (campaigns name theirs).
    asterisk_servers: tuple[str, ...] = (DEFAULT_SERVER_NAME,),
    metrics: CollectorRegistry | None = None,
    audit: AuditLog | None = None,
    quality: QualityStore | None = None,
    forecast_history: HistoryReader | None = None,
    forecast_defaults: ForecastDefaults | None = None,
    reports: ReportService | None = None,
    recordings: recording_routes.RecordingApi | None = None,
    wallboard_targets: ServiceLevelTargets | None = None,
    monitors: MonitorService | None = None,
    webhooks: webhook_routes.WebhookApi | None = None,
    token_admin: token_routes.TokenAdmin | None = None,
    auth_failures: FailedAuthLimiter | None = None,
    trusted_proxies: tuple[Network, ...] = (),
    ha: HaView | None = None,
) -> web.Application:
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    middlewares: list[Middleware] = [access_log_middleware, problem_middleware, auth_middleware]
    if ha is not None:  # high availability: a standby refuses writes (ccd.ha.api)
        middlewares.append(standby_middleware(ha))
    app = web.Application(middlewares=middlewares, client_max_size=max_body_bytes)
    if ha is not None:
        app[HA_VIEW] = ha
    app[DEPS] = ApiDeps(
        tokens=tokens,
        calls=calls,
        control=control,
        readiness=readiness,
        hub=hub,
        clock=clock if clock is not None else SystemClock(),
        max_body_bytes=max_body_bytes,
        auth_failures=auth_failures,
        trusted_proxies=trusted_proxies,
    )
    app[AUDIT_LOG] = audit
    router = app.router
    router.add_get("/healthz", handlers.healthz, name="healthz")
    router.add_get("/readyz", handlers.readyz, name="readyz")
    router.add_get("/api/v1/calls", handlers.list_calls, name="calls.list")
    router.add_post("/api/v1/calls", handlers.originate, name="calls.originate")
    router.add_get("/api/v1/calls/{id}", handlers.get_call, name="calls.get")
    router.add_delete("/api/v1/calls/{id}", handlers.hangup, name="calls.hangup")
    router.add_get("/api/v1/events", handlers.events, name="events.stream")
    router.add_get("/api/v1/me", handlers.me, name="me")
    cdr_routes.add_routes(app, cdrs)
    ivr_routes.add_routes(app, ivr)
    acd_routes.add_routes(app, acd_store, acd_live, asterisk_servers)
    report_routes.add_routes(app, reports)
    wallboard_routes.add_routes(app, wallboard_targets or ServiceLevelTargets())
    install(app, dialer, dialer_attempts, dialer_report_zone)
    campaign_routes.add_routes(app, dialer_store, asterisk_servers)
    campaign_contact_routes.add_routes(app)
    dialing_routes.add_routes(app)
    compliance_routes.add_routes(app)
    dnc_routes.add_routes(app)
    metrics_routes.add_routes(app, metrics)
    forecast_routes.add_routes(app, forecast_history, forecast_defaults)
    recording_routes.add_routes(app, recordings)
    quality_routes.add_routes(app, quality)
    audit_routes.add_routes(app)
    monitoring_routes.add_routes(app, monitors)
    webhook_routes.add_routes(app, webhooks)
    token_routes.add_routes(app, token_admin)
    openapi_routes.add_routes(app)
    ensure_routes_have_policy(app)
    openapi_routes.ensure_routes_documented(app)

    async def close_event_streams(_: web.Application) -> None:
        # Otherwise graceful shutdown waits its whole timeout for open websockets.
        hub.close_all()

    app.on_shutdown.append(close_event_streams)
    return app


def ensure_routes_have_policy(app: web.Application) -> None:
    """Fail fast if an /api/ route is missing from the role table (it would be 403 for all)."""
    for route in app.router.routes():
        name = route.name
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter") or "")
        if name in PUBLIC_ROUTES and (not path.startswith(API_PREFIX) or name in PUBLIC_API_ROUTES):
            continue
        if name is None or name not in ROUTE_ROLES:
            raise RuntimeError(f"route {route.method} {path} has no entry in ROUTE_ROLES")
