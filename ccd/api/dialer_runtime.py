"""The running dialer as the HTTP layer sees it: what the API calls on it (``DialerRuntime``,
implemented by ``ccd.dialer.service.DialerService``), the attempt records, the report
zone, and how its refusals become problems.

Both are optional in ``build_api``: without a dialer service the preview and disposition
routes are 503 and campaign views carry only what the database knows; without the attempt
store the compliance and contact-history routes are 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from ccd.api.policy import require_agent_self
from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem, FieldError, validation_problem
from ccd.db.dialer_attempts import AttemptStore
from ccd.dialer.model import ROLLING_DAYS
from ccd.dialer.service import DialerRefused, PreviewOffer
from ccd.domain.auth import Principal, Role

log = structlog.get_logger("ccd.api")

DIALER_REFUSED = "urn:ccd:problem:dialer-refused"


class DialerRuntime(Protocol):
    """What the API uses of the running dialer. Campaign and agent ids are checked by the
    API first (the campaign exists, the caller may act for the agent); the dialer raises
    ``DialerRefused`` for anything it cannot do now (its message is safe to show)."""

    async def preview_next(self, campaign_id: str, agent_id: str) -> PreviewOffer | None:
        """The contact offered to the agent (the same one until dialed or skipped);
        None when none is due."""
        ...

    async def preview_dial(self, campaign_id: str, agent_id: str, contact_id: str) -> None: ...

    async def preview_skip(self, campaign_id: str, agent_id: str, contact_id: str) -> None: ...

    async def dispose(
        self,
        campaign_id: str,
        attempt_id: int,
        *,
        agent_id: str,
        disposition: str,
        call_back_at: float | None = None,
        call_back_anyone: bool = False,
    ) -> None:
        """Record the agent's disposition; ``ValueError`` for one the campaign does not
        list or a call back without a time."""
        ...

    async def reload(self, campaign_id: str) -> None:
        """The campaign changed in the database: follow it (start, stop, new settings)."""
        ...

    def live(self, campaign_id: str) -> dict[str, Any] | None:
        """JSON-ready: ``dialing``, ``calls`` by stage, and for a running campaign
        ``agents`` by state, ``pacing`` and ``abandonment``."""
        ...


DIALER: web.AppKey[DialerRuntime | None] = web.AppKey("dialer")
ATTEMPTS: web.AppKey[AttemptStore | None] = web.AppKey("dialer_attempts")
# The IANA zone whose midnight starts a compliance day (settings ``dialer.report_zone``).
REPORT_ZONE: web.AppKey[str] = web.AppKey("dialer_report_zone")


def install(
    app: web.Application,
    dialer: DialerRuntime | None,
    attempts: AttemptStore | None,
    report_zone: str,
) -> None:
    ZoneInfo(report_zone)  # an unknown zone fails at start-up, not on the first report
    app[DIALER] = dialer
    app[ATTEMPTS] = attempts
    app[REPORT_ZONE] = report_zone


def dialer(request: web.Request) -> DialerRuntime:
    running = request.app[DIALER]
    if running is None:
        raise ApiProblem(
            503, "the dialer is not running in this process", type_=UPSTREAM_UNAVAILABLE
        )
    return running


def attempt_store(request: web.Request) -> AttemptStore:
    store = request.app[ATTEMPTS]
    if store is None:
        raise ApiProblem(503, "the dial attempt records are not available in this process")
    return store


def refused(detail: str) -> ApiProblem:
    """What the dialer cannot do now: 409, the reason as the detail."""
    return ApiProblem(409, detail, type_=DIALER_REFUSED, title="Dialer refused")


@contextmanager
def dialer_refusals() -> Iterator[None]:
    """``DialerRefused`` as a 409 with its message."""
    try:
        yield
    except DialerRefused as exc:
        raise refused(str(exc) or "the dialer refused") from None


async def follow(request: web.Request, campaign_id: str) -> None:
    """After a campaign write: the running dialer reads the campaign again. The write is
    done and stays done if this fails (the dialer also reloads at its next start)."""
    running = request.app[DIALER]
    if running is None:
        return
    try:
        await running.reload(campaign_id)
    except Exception:
        log.exception("dialer did not follow the campaign change", campaign=campaign_id)


def acting_agent(principal: Principal, given: str | None) -> str:
    """The agent a dialer action is for: an agent acts for themself (another agent's id is
    403); a supervisor or an admin names the agent (422 naming ``agent_id`` otherwise)."""
    if principal.role is Role.AGENT:
        if principal.agent_id is None:
            raise ApiProblem(403, "this agent token has no agent id")
        if given is not None:
            require_agent_self(principal, given)
        return principal.agent_id
    if given is None:
        raise validation_problem([FieldError("agent_id", "required: the agent this is done for")])
    return given


def day_start(day: date, zone: str) -> float:
    """Epoch seconds of midnight starting ``day`` in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).timestamp()


def today_of(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def window_start(now: datetime, zone: str) -> float:
    """Midnight starting the rolling 30 days that end today (``zone``'s days)."""
    return day_start(today_of(now, zone) - timedelta(days=ROLLING_DAYS - 1), zone)
