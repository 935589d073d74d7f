"""The audit trail as ``GET /api/v1/audit`` shows it (``ccd.api.audit.audit_view``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ccd.domain.auth import Role

STRICT = ConfigDict(extra="forbid", frozen=True)


class AuditActor(BaseModel):
    """Who made the change: the API token, its role and (agent tokens) its agent."""

    model_config = STRICT

    token_id: str
    role: Role
    agent_id: str | None


class AuditEventView(BaseModel):
    model_config = STRICT

    id: int
    at: str = Field(description="ISO 8601, UTC: when the change was recorded")
    actor: AuditActor
    action: str = Field(description="`<object>.<verb>`, e.g. `webhook.updated` (README, Audit)")
    target_kind: str
    target_id: str
    detail: dict[str, Any] = Field(
        description="what changed, usually `before` and `after` views; never a secret"
    )


class AuditPage(BaseModel):
    model_config = STRICT

    events: list[AuditEventView] = Field(description="newest first")
    count: int
