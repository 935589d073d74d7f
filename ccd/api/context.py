"""Typed keys for what the API stores on the application and on each request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ccd.acd.ports import AcdLive
from ccd.api.hub import EventHub
from ccd.clock import Clock
from ccd.domain.audit import AuditLog
from ccd.domain.auth import Principal, TokenVerifier
from ccd.domain.auth_failures import FailedAuthLimiter
from ccd.domain.client_address import Network
from ccd.health import ReadinessCheck
from ccd.live.ports import CallControl, CallDirectory


@dataclass(frozen=True, slots=True)
class ApiDeps:
    tokens: TokenVerifier
    calls: CallDirectory
    control: CallControl
    readiness: ReadinessCheck
    hub: EventHub
    clock: Clock
    max_body_bytes: int
    # Failed authentication per source address (None: not limited, e.g. in tests).
    auth_failures: FailedAuthLimiter | None = None
    # Peers whose X-Forwarded-For is believed (``ccd.domain.client_address``).
    trusted_proxies: tuple[Network, ...] = ()


DEPS = web.AppKey("deps", ApiDeps)
# The running ACD, when this process runs one (None: ACD routes answer 503).
ACD_LIVE: web.AppKey[AcdLive | None] = web.AppKey("acd_live")
# The audit trail every handler records to (``ccd.api.audit.record_audit``); None: 503.
AUDIT_LOG: web.AppKey[AuditLog | None] = web.AppKey("audit_log")
PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
