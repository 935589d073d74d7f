"""API tokens: created by an admin with ``ccd token create``, checked on every API request.

A token looks like ``ccd_<id>_<secret>``. The id is public (listings, logs, revocation); only
the sha256 of the secret is stored, so a database leak does not leak usable tokens. Lookup
is by id and the hash comparison is constant-time. Verification results are cached briefly
in-process so the API does not hit the database on every request; revoking through this
store drops the cache entry at once (another process notices within the cache TTL).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.clock import Clock, SystemClock
from ccd.db.models import ApiToken
from ccd.domain.auth import Principal, Role
from ccd.errors import UsageError

log = structlog.get_logger("ccd.db.tokens")

TOKEN_PREFIX = "ccd"  # noqa: S105 - the visible prefix, not a secret
_ID_BYTES = 6  # 12 hex chars: short enough to type, plenty against collisions
_SECRET_BYTES = 32
_TOKEN_SHAPE = re.compile(r"ccd_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")
_AGENT_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_MAX_LABEL = 200
# last_used_at is informational: refresh it at most this often per token.
_TOUCH_INTERVAL = timedelta(seconds=60)


class InvalidTokenRequest(UsageError):
    """A token cannot be created as asked (bad role, agent id or label)."""


class UnknownToken(UsageError):
    def __init__(self, token_id: str) -> None:
        super().__init__(f"no token with id {token_id!r} (see `ccd token list`)")
        self.token_id = token_id


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    role: Role
    agent_id: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def validate_token_request(role: Role | str, agent_id: str | None, label: str) -> Role:
    """The role, if (role, agent_id, label) is a valid combination; InvalidTokenRequest if not."""
    try:
        parsed = Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidTokenRequest(f"unknown role {role!r} (choose one of: {choices})") from None
    if parsed is Role.AGENT and not agent_id:
        raise InvalidTokenRequest("an agent token needs --agent ID (the agent it acts as)")
    if parsed is not Role.AGENT and agent_id is not None:
        raise InvalidTokenRequest(f"--agent is only for agent tokens, not {parsed.value}")
    if agent_id is not None and not _AGENT_ID_SHAPE.fullmatch(agent_id):
        raise InvalidTokenRequest(
            f"invalid agent id {agent_id!r}: 1-64 characters, letters, digits and _ . @ -"
        )
    if len(label) > _MAX_LABEL or not label.isprintable():
        raise InvalidTokenRequest(f"label: at most {_MAX_LABEL} printable characters")
    return parsed


class TokenStore:
    """Implements ``ccd.domain.auth.TokenVerifier``."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock | None = None,
        cache_ttl_s: float = 5.0,
        cache_max_entries: int = 10_000,
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._cache_ttl_s = cache_ttl_s
        self._cache_max_entries = cache_max_entries
        # sha256(token) -> (expires at, principal or None for a rejected token)
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def create(
        self, role: Role | str, agent_id: str | None = None, label: str = ""
    ) -> tuple[str, str]:
        """Store a new token; returns (token_id, plaintext token). The plaintext cannot be
        recovered later."""
        parsed_role = validate_token_request(role, agent_id, label)
        for _attempt in range(3):
            token_id = secrets.token_hex(_ID_BYTES)
            secret = secrets.token_urlsafe(_SECRET_BYTES)
            try:
                async with self._engine.begin() as connection:
                    await connection.execute(
                        insert(ApiToken).values(
                            id=token_id,
                            role=parsed_role.value,
                            agent_id=agent_id,
                            token_hash=hash_secret(secret),
                            label=label,
                            created_at=self._clock.now(),
                        )
                    )
            except IntegrityError:
                continue  # id collision: astronomically rare, just draw again
            log.info("token.created", token_id=token_id, role=parsed_role.value, agent=agent_id)
            return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}"
        raise RuntimeError("could not allocate a unique token id")

    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise."""
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._lookup(token)
        if len(self._cache) >= self._cache_max_entries:
            # Dicts keep insertion order: drop the oldest entry.
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (now + self._cache_ttl_s, principal)
        return principal

    async def _lookup(self, token: str) -> Principal | None:
        match = _TOKEN_SHAPE.fullmatch(token)
        if match is None:
            return None
        token_id, secret = match["id"], match["secret"]
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(select(ApiToken.__table__).where(ApiToken.id == token_id))
            ).first()
        if row is None or not hmac.compare_digest(hash_secret(secret), row.token_hash):
            return None
        if row.revoked_at is not None:
            return None
        await self._touch(token_id, row.last_used_at)
        return Principal(token_id=token_id, role=Role(row.role), agent_id=row.agent_id)

    async def _touch(self, token_id: str, last_used_at: datetime | None) -> None:
        now = self._clock.now()
        if last_used_at is not None and now - last_used_at < _TOUCH_INTERVAL:
            return
        async with self._engine.begin() as connection:
            await connection.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )

    async def revoke(self, token_id: str) -> bool:
        """Revoke a token: True if it was active, False if it was already revoked.
        Raises UnknownToken if there is no such token."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
            if result.rowcount == 0:
                exists = (
                    await connection.execute(select(ApiToken.id).where(ApiToken.id == token_id))
                ).first()
                if exists is None:
                    raise UnknownToken(token_id)
                return False
        for key in [k for k, (_, p) in self._cache.items() if p and p.token_id == token_id]:
            del self._cache[key]
        log.info("token.revoked", token_id=token_id)
        return True

    async def list(self) -> builtins.list[TokenInfo]:
        """Every token, oldest first, revoked ones included."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(ApiToken.__table__).order_by(ApiToken.created_at, ApiToken.id)
                )
            ).all()
        return [
            TokenInfo(
                token_id=row.id,
                role=Role(row.role),
                agent_id=row.agent_id,
                label=row.label,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
                last_used_at=row.last_used_at,
            )
            for row in rows
        ]
