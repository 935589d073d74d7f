"""API tokens over HTTP (admins only, ``ccd.api.policy``): list them with expiry and last
use, revoke one. Tokens are created with ``ccd token create`` only: the plaintext is shown
once, on the terminal of whoever has the database.

A listing never shows a secret or a hash. A revocation is audited (``token.revoked``); it
is done before it is recorded, so a trail that cannot take the entry answers 503 with
the token already revoked (revoking again is harmless: the answer says it already was).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Annotated, Protocol

from aiohttp import web
from pydantic import BaseModel, Field

from ccd.api.audit_trail import audit_log, record_done
from ccd.api.context import DEPS, PRINCIPAL
from ccd.api.handlers import model_json
from ccd.api.models.tokens import TokenList, TokenRevoked, TokenView
from ccd.api.openapi.operation import operation
from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem, not_found
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param
from ccd.db.stores import StoreUnavailable
from ccd.db.tokens import TokenInfo, UnknownToken
from ccd.domain.audit import AuditEntry

MAX_TOKEN_ID_LENGTH = 32  # the api_tokens.id column


class TokenAdmin(Protocol):
    async def list(self) -> builtins.list[TokenInfo]: ...

    async def revoke(self, token_id: str) -> bool: ...


TOKEN_ADMIN: web.AppKey[TokenAdmin | None] = web.AppKey("token_admin")


def add_routes(app: web.Application, admin: TokenAdmin | None) -> None:
    app[TOKEN_ADMIN] = admin
    app.router.add_get("/api/v1/tokens", list_tokens, name="tokens.list")
    app.router.add_delete("/api/v1/tokens/{id}", revoke_token, name="tokens.revoke")


def token_view(info: TokenInfo, now: datetime) -> dict[str, object]:
    return {
        "id": info.token_id,
        "role": info.role.value,
        "agent_id": info.agent_id,
        "label": info.label,
        "status": info.status(now),
        "created_at": iso(info.created_at),
        "expires_at": iso(info.expires_at),
        "revoked_at": iso(info.revoked_at),
        "last_used_at": iso(info.last_used_at),
        "last_used_from": info.last_used_from,
    }


def _admin(request: web.Request) -> TokenAdmin:
    admin = request.app[TOKEN_ADMIN]
    if admin is None:
        raise ApiProblem(
            503, "tokens are not available in this process", type_=UPSTREAM_UNAVAILABLE
        )
    return admin


def _unavailable(exc: StoreUnavailable) -> ApiProblem:
    return ApiProblem(503, f"the token store is unavailable: {exc}", type_=UPSTREAM_UNAVAILABLE)


@operation(
    "API tokens with their status, expiry and last use (never a secret)",
    responses={200: TokenList},
    problems=(503,),
)
async def list_tokens(request: web.Request) -> web.Response:
    admin = _admin(request)
    try:
        tokens = await admin.list()
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    now = request.app[DEPS].clock.now()
    views = [TokenView.model_validate(token_view(info, now)) for info in tokens]
    return model_json(TokenList(tokens=views, count=len(views)))


class TokenPath(BaseModel):
    id: Annotated[str, Field(min_length=1, description="The token's id (`ccd token list`)")]


@operation(
    "Revoke a token (at once, for every request it would make)",
    path=TokenPath,
    responses={200: TokenRevoked},
    problems=(404, 503),
    description="Revoking a revoked token is harmless: `already_revoked` is true.",
)
async def revoke_token(request: web.Request) -> web.Response:
    admin = _admin(request)
    token_id = check_id_param(
        "id", request.match_info["id"], max_length=MAX_TOKEN_ID_LENGTH, missing="no such token"
    )
    audit_log(request.app)  # no trail: 503 before anything is revoked
    try:
        revoked_now = await admin.revoke(token_id)
    except UnknownToken:
        raise not_found("no such token") from None
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    if revoked_now:
        await record_done(
            request.app,
            AuditEntry(
                actor=request[PRINCIPAL],
                action="token.revoked",
                target_kind="token",
                target_id=token_id,
            ),
        )
    return model_json(TokenRevoked(id=token_id, revoked=True, already_revoked=not revoked_now))
