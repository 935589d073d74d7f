"""Typed keys for what the API stores on the application and on each request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ccd.api.hub import EventHub
from ccd.api.ports import CallControl, CallDirectory, ReadinessCheck, TokenVerifier
from ccd.clock import Clock
from ccd.domain.auth import Principal


@dataclass(frozen=True, slots=True)
class ApiDeps:
    tokens: TokenVerifier
    calls: CallDirectory
    control: CallControl
    readiness: ReadinessCheck
    hub: EventHub
    clock: Clock
    max_body_bytes: int


DEPS = web.AppKey("deps", ApiDeps)
PRINCIPAL = web.RequestKey("principal", Principal)
REQUEST_ID = web.RequestKey("request_id", str)
