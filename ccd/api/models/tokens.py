"""API tokens as ``/api/v1/tokens`` shows them (``ccd.api.tokens.token_view``): never a
secret nor a hash."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ccd.domain.auth import Role

STRICT = ConfigDict(extra="forbid", frozen=True)


class TokenView(BaseModel):
    model_config = STRICT

    id: str
    role: Role
    agent_id: str | None = Field(description="the agent an agent token is pinned to")
    label: str
    status: Literal["active", "expired", "revoked"] = Field(description="as of the request")
    created_at: str = Field(description="ISO 8601, UTC")
    expires_at: str | None = Field(description="ISO 8601, UTC; null: never expires")
    revoked_at: str | None = Field(description="ISO 8601, UTC; null: not revoked")
    last_used_at: str | None = Field(description="ISO 8601, UTC; null: never used")
    last_used_from: str | None = Field(
        description="the client address of the last use; null: never used, or not known"
    )


class TokenList(BaseModel):
    model_config = STRICT

    tokens: list[TokenView]
    count: int


class TokenRevoked(BaseModel):
    model_config = STRICT

    id: str
    revoked: Literal[True]
    already_revoked: bool = Field(description="true: it was revoked before this request")
