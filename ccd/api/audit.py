"""The audit trail over HTTP: ``GET /api/v1/audit`` (admins only, ``ccd.api.policy``).

Handlers write to the trail with ``record_audit`` (``ccd.api.audit_trail``, also importable
from here).

Query parameters are validated like bodies: unknown or repeated names, CR/LF/NUL, values
too long for the column, datetimes without a timezone and ``since`` later than ``until``
are 422 problems naming the parameter.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field

# Re-exported: handler modules import the trail's writer from here.
from ccd.api.audit_trail import audit_log as audit_log
from ccd.api.audit_trail import audit_unavailable
from ccd.api.audit_trail import record_audit as record_audit
from ccd.api.cdrs import IsoDateTime
from ccd.api.handlers import model_json
from ccd.api.models.audit import AuditEventView, AuditPage
from ccd.api.openapi.operation import operation
from ccd.api.problems import FieldError, validation_problem
from ccd.api.serialize import iso
from ccd.api.validation import query_model
from ccd.db.audit_store import AuditUnavailable
from ccd.domain.audit import AuditRecord

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class AuditQuery(BaseModel):
    """``GET /api/v1/audit`` query parameters (all strings on the wire)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Lengths are the columns' (audit_events): a longer value can match nothing.
    action: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    target_kind: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    target_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    since: IsoDateTime = None
    until: IsoDateTime = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT


def parse_audit_query(query: MultiMapping[str]) -> AuditQuery:
    """``AuditQuery`` from a query string, or a 422 naming each bad parameter."""
    parsed = query_model(AuditQuery, query)
    if parsed.since is not None and parsed.until is not None and parsed.since > parsed.until:
        raise validation_problem([FieldError("since", "must not be later than until")])
    return parsed


def audit_view(record: AuditRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "at": iso(record.at),
        "actor": {
            "token_id": record.actor_token_id,
            "role": record.actor_role,
            "agent_id": record.actor_agent_id,
        },
        "action": record.action,
        "target_kind": record.target_kind,
        "target_id": record.target_id,
        "detail": dict(record.detail),
    }


@operation(
    "The audit trail: every change made over the API, newest first",
    query=AuditQuery,
    responses={200: AuditPage},
    problems=(503,),
    description="`since` and `until` are ISO 8601 date-times with a timezone.",
)
async def list_audit(request: web.Request) -> web.Response:
    trail = audit_log(request.app)
    query = parse_audit_query(request.query)
    try:
        records = await trail.search(
            action=query.action,
            target_kind=query.target_kind,
            target_id=query.target_id,
            since=query.since,
            until=query.until,
            limit=query.limit,
        )
    except AuditUnavailable:
        raise audit_unavailable() from None
    events = [AuditEventView.model_validate(audit_view(record)) for record in records]
    return model_json(AuditPage(events=events, count=len(events)))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/audit", list_audit, name="audit.list")
