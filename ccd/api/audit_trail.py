"""How a handler writes to the audit trail: ``record_audit`` stores the entry before the
handler answers, so an act that could not be audited is a 503 rather than an unrecorded
success. Apart from the trail's route (``ccd.api.audit``) so that every handler module,
the core ones included, can use it without an import cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiohttp import web

from ccd.api.context import AUDIT_LOG
from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem
from ccd.db.audit_store import AuditUnavailable
from ccd.domain.audit import AuditEntry, AuditLog, AuditRecord

log = structlog.get_logger("ccd.api")

DoneT = TypeVar("DoneT")


def audit_unavailable() -> ApiProblem:
    return ApiProblem(
        503, "the audit trail is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE
    )


def audit_log(app: web.Application) -> AuditLog:
    """The trail this process writes to (503 when the API was built without one)."""
    trail = app[AUDIT_LOG]
    if trail is None:
        raise audit_unavailable()
    return trail


async def record_audit(app: web.Application, entry: AuditEntry) -> AuditRecord:
    """Store ``entry`` now; a trail that cannot take it is a 503 problem."""
    try:
        return await audit_log(app).record(entry)
    except AuditUnavailable:
        raise audit_unavailable() from None


async def record_done(app: web.Application, entry: AuditEntry) -> AuditRecord:
    """Record an act already done (the handler checked ``audit_log`` before doing it). A
    trail failing now cannot undo the act: the 503 says it was done and not recorded."""
    try:
        return await audit_log(app).record(entry)
    except AuditUnavailable:
        log.error("api change not audited", action=entry.action, target_id=entry.target_id)
        raise ApiProblem(
            503,
            f"{entry.action} {entry.target_id!r} was done, but the audit trail is unavailable:"
            " it was not recorded",
            type_=UPSTREAM_UNAVAILABLE,
        ) from None


async def audited(
    app: web.Application,
    act: Callable[[], Awaitable[DoneT]],
    entry: Callable[[DoneT], AuditEntry],
) -> DoneT:
    """The one order of an audited change: the trail is checked first (none: 503, ``act``
    is not run), then ``act`` runs (a refusal it raises records nothing), then
    ``entry(done)`` is recorded with ``record_done``. Returns what ``act`` returned."""
    audit_log(app)
    done = await act()
    await record_done(app, entry(done))
    return done
