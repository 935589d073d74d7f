"""API tokens: created by an admin with ``ccd token create``, checked on every API request.

A token looks like ``ccd_<id>_<secret>``. The id is public (listings, logs, revocation); only
the sha256 of the secret is stored, so a database leak does not leak usable tokens. Lookup
is by id and the hash comparison is constant-time. Verification results are cached briefly
in-process so the API does not hit the database on every request; revoking through this
store drops the cache entry at once (another process notices within the cache TTL).

A token may carry an expiry; past it, ``verify`` raises ``TokenExpired`` (cached entries
included). Last use (time and source address) is noted in memory on every successful
authentication and written by ``flush``: the service calls it once a minute and at
shutdown, so each token costs at most one UPDATE a minute however busy it is.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.clock import Clock, SystemClock
from ccd.db.models import ApiToken
from ccd.db.stores import StoreUnavailable, failure_reason
from ccd.domain.auth import Principal, Role, TokenExpired
from ccd.errors import UsageError

log = structlog.get_logger("ccd.db.tokens")

TOKEN_PREFIX = "ccd"  # noqa: S105 - the visible prefix, not a secret
_ID_BYTES = 6  # 12 hex chars: short enough to type, plenty against collisions
_SECRET_BYTES = 32
_TOKEN_SHAPE = re.compile(r"ccd_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")
_AGENT_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_MAX_LABEL = 200
_MAX_SOURCE = 64  # the last_used_from column
# How often the service writes noted uses (ccd.app): last use is informational.
LAST_USE_FLUSH_INTERVAL_S = 60.0


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
    expires_at: datetime | None = None
    last_used_from: str | None = None

    @property
    def active(self) -> bool:
        """Not revoked (it may still have expired: see ``status``)."""
        return self.revoked_at is None

    def status(self, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired`` (revocation wins: it was a deliberate act)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


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
        # sha256(token) -> (cache entry valid until, principal or None for a rejected
        # token, the token's own expiry)
        # (OrderedDict: evicting the oldest stays O(1) under a spray of wrong tokens, see
        # bench/auth_failures.py)
        self._cache: OrderedDict[bytes, tuple[float, Principal | None, datetime | None]] = (
            OrderedDict()
        )
        # token id -> (when, from where) of its latest use not yet written
        self._uses: dict[str, tuple[datetime, str]] = {}

    async def create(
        self,
        role: Role | str,
        agent_id: str | None = None,
        label: str = "",
        *,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """Store a new token; returns (token_id, plaintext token). The plaintext cannot be
        recovered later. ``expires_at`` None: the token never expires."""
        parsed_role = validate_token_request(role, agent_id, label)
        if expires_at is not None and expires_at <= self._clock.now():
            raise InvalidTokenRequest("the expiry must be in the future")
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
                            expires_at=expires_at,
                        )
                    )
            except IntegrityError:
                continue  # id collision: astronomically rare, just draw again
            log.info(
                "token.created",
                token_id=token_id,
                role=parsed_role.value,
                agent=agent_id,
                expires_at=expires_at.isoformat() if expires_at else None,
            )
            return token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}"
        raise RuntimeError("could not allocate a unique token id")

    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise. Raises TokenExpired
        for a genuine, unrevoked token past its expiry."""
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        now = self._clock.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            principal, expires_at = cached[1], cached[2]
        else:
            principal, expires_at = await self._lookup(token)
            self._cache.pop(key, None)  # re-inserted as the newest
            if len(self._cache) >= self._cache_max_entries:
                self._cache.popitem(last=False)  # the oldest entry
            self._cache[key] = (now + self._cache_ttl_s, principal, expires_at)
        if principal is not None and expires_at is not None and self._clock.now() >= expires_at:
            raise TokenExpired(principal.token_id)
        return principal

    def record_use(self, token_id: str, source: str) -> None:
        """Note a successful authentication; ``flush`` writes the latest one per token."""
        self._uses[token_id] = (self._clock.now(), source[:_MAX_SOURCE])

    async def flush(self) -> int:
        """Write every noted use (one UPDATE per token used since the last flush); returns
        how many tokens were written. On a database error the uses are kept for next time."""
        if not self._uses:
            return 0
        uses, self._uses = self._uses, {}
        try:
            async with self._engine.begin() as connection:
                for token_id, (when, source) in uses.items():
                    await connection.execute(
                        update(ApiToken)
                        .where(ApiToken.id == token_id)
                        .values(last_used_at=when, last_used_from=source)
                    )
        except Exception:
            for token_id, use in uses.items():
                self._uses.setdefault(token_id, use)  # a newer use noted meanwhile wins
            raise
        return len(uses)

    async def flush_every(self, interval_s: float = LAST_USE_FLUSH_INTERVAL_S) -> None:
        """Flush noted uses every ``interval_s`` until cancelled (the service's background
        task; the last flush at shutdown is the caller's)."""
        while True:
            await self._clock.sleep(interval_s)
            try:
                await self.flush()
            except Exception:
                # Last use is informational: a database hiccup must not end the task.
                log.warning("token last-use write failed; kept for the next flush", exc_info=True)

    async def _lookup(self, token: str) -> tuple[Principal | None, datetime | None]:
        match = _TOKEN_SHAPE.fullmatch(token)
        if match is None:
            return None, None
        token_id, secret = match["id"], match["secret"]
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(select(ApiToken.__table__).where(ApiToken.id == token_id))
            ).first()
        if row is None or not hmac.compare_digest(hash_secret(secret), row.token_hash):
            return None, None
        if row.revoked_at is not None:
            return None, None
        principal = Principal(token_id=token_id, role=Role(row.role), agent_id=row.agent_id)
        return principal, row.expires_at

    async def revoke(self, token_id: str) -> bool:
        """Revoke a token: True if it was active, False if it was already revoked.
        Raises UnknownToken if there is no such token, StoreUnavailable if the database
        failed."""
        try:
            return await self._revoke(token_id)
        except DBAPIError as exc:
            raise StoreUnavailable(failure_reason(exc)) from None

    async def _revoke(self, token_id: str) -> bool:
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
        for key in [k for k, (_, p, _) in self._cache.items() if p and p.token_id == token_id]:
            del self._cache[key]
        log.info("token.revoked", token_id=token_id)
        return True

    async def list(self) -> builtins.list[TokenInfo]:
        """Every token, oldest first, revoked ones included (StoreUnavailable if the
        database failed)."""
        try:
            async with self._engine.connect() as connection:
                rows = (
                    await connection.execute(
                        select(ApiToken.__table__).order_by(ApiToken.created_at, ApiToken.id)
                    )
                ).all()
        except DBAPIError as exc:
            raise StoreUnavailable(failure_reason(exc)) from None
        return [
            TokenInfo(
                token_id=row.id,
                role=Role(row.role),
                agent_id=row.agent_id,
                label=row.label,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
                last_used_at=row.last_used_at,
                expires_at=row.expires_at,
                last_used_from=row.last_used_from,
            )
            for row in rows
        ]
