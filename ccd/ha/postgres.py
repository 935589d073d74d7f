"""The leader lock and lease in PostgreSQL (the IO half of ``ccd.ha.election``).

One dedicated connection per instance (its own engine, no pool): the lock is a
session-level advisory lock on it, so it is held exactly as long as that session lives —
PostgreSQL frees it when the process dies or the connection is cut. Taking the lock
bumps ``leadership.epoch`` and writes the lease (``lease_until``) in one transaction on
that connection; renewing moves ``lease_until`` on, only while the epoch is still ours.
Durations come from the database's clock (``now()``), never compared with ours.

A standby that finds the lock held under a lease long expired terminates the holder's
session (``pg_terminate_backend``, allowed between sessions of one role), found in
``pg_locks`` for this database and key.

Each query is bounded by ``query_timeout_s``. A query that fails on the connection means
the session — and the lock with it — is gone (``lost``); one that only times out might
still be ours, and the lease decides.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ccd.clock import Clock
from ccd.ha.election import (
    DatabaseUnavailable,
    Leader,
    LockAcquired,
    LockBusy,
    RenewalFailed,
    RenewalOk,
)

log = structlog.get_logger("ccd.ha")

LOCK_KEY = 0x63636448
"""The advisory lock (``pg_try_advisory_lock(bigint)``): "ccdH". Below 2**31, so
``pg_locks`` shows it as classid 0, objid LOCK_KEY, objsubid 1."""

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_ACQUIRE = text(
    """
    WITH previous AS (SELECT lease_until FROM leadership WHERE id = 1 FOR UPDATE)
    UPDATE leadership
       SET epoch = leadership.epoch + 1, holder = :holder, api_url = :api_url,
           acquired_at = now(), lease_until = now() + make_interval(secs => :lease_s)
      FROM previous
     WHERE leadership.id = 1
    RETURNING leadership.epoch AS epoch,
              GREATEST(COALESCE(EXTRACT(EPOCH FROM previous.lease_until - now()), 0), 0)
                  AS previous_left
    """
)
_RENEW = text(
    """
    UPDATE leadership SET lease_until = now() + make_interval(secs => :lease_s)
     WHERE id = 1 AND epoch = :epoch
    RETURNING epoch
    """
)
_READ_HOLDER = text(
    """
    SELECT l.holder, l.api_url, l.epoch,
           EXTRACT(EPOCH FROM l.lease_until - now()) AS lease_left,
           (SELECT k.pid FROM pg_locks k
             WHERE k.locktype = 'advisory' AND k.granted AND k.classid = 0
               AND k.objid = :key AND k.objsubid = 1
               AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             LIMIT 1) AS holder_pid
      FROM leadership l WHERE l.id = 1
    """
)
_TERMINATE = text("SELECT pg_terminate_backend(:pid)")
_RELEASE = text("UPDATE leadership SET lease_until = now() WHERE id = 1 AND epoch = :epoch")


class PostgresLease:
    def __init__(
        self,
        url: str,
        *,
        instance: str,
        api_url: str | None,
        lease_s: float,
        query_timeout_s: float,
        clock: Clock,
    ) -> None:
        self._engine: AsyncEngine = create_async_engine(
            url,
            poolclass=NullPool,
            connect_args={"server_settings": {"application_name": f"ccd-ha {instance}"[:63]}},
        )
        self._instance = instance
        self._api_url = api_url
        self._lease_s = lease_s
        self._timeout_s = query_timeout_s
        self._clock = clock
        self._connection: AsyncConnection | None = None
        self._epoch: int | None = None  # the epoch taken on this connection

    async def try_lock(self) -> LockAcquired | LockBusy | DatabaseUnavailable:
        now = self._clock.monotonic()
        try:
            async with asyncio.timeout(self._timeout_s):
                connection = await self._connect()
                if await connection.scalar(_TRY_LOCK, {"key": LOCK_KEY}):
                    row = (
                        await connection.execute(
                            _ACQUIRE,
                            {
                                "holder": self._instance,
                                "api_url": self._api_url,
                                "lease_s": self._lease_s,
                            },
                        )
                    ).one()
                    await connection.commit()
                    self._epoch = int(row.epoch)
                    return LockAcquired(
                        now, epoch=int(row.epoch), previous_lease_left_s=float(row.previous_left)
                    )
                holder = (await connection.execute(_READ_HOLDER, {"key": LOCK_KEY})).one()
                await connection.commit()
        except (TimeoutError, OSError, SQLAlchemyError) as exc:
            # Whatever this session held (a lock taken without its epoch) goes with it.
            await self._drop()
            return DatabaseUnavailable(now, _reason(exc))
        return LockBusy(
            now,
            leader=Leader(instance=holder.holder, api_url=holder.api_url, epoch=int(holder.epoch)),
            lease_left_s=None if holder.lease_left is None else float(holder.lease_left),
            holder_pid=holder.holder_pid,
        )

    async def renew(self, epoch: int) -> RenewalOk | RenewalFailed:
        started = self._clock.monotonic()
        connection = self._connection
        if connection is None:
            return RenewalFailed(started, "no lock connection", lost=True)
        try:
            async with asyncio.timeout(self._timeout_s):
                renewed = await connection.scalar(
                    _RENEW, {"epoch": epoch, "lease_s": self._lease_s}
                )
                await connection.commit()
        except TimeoutError:
            return RenewalFailed(
                self._clock.monotonic(), f"no answer within {self._timeout_s:g} s", lost=False
            )
        except (OSError, SQLAlchemyError) as exc:
            await self._drop()
            return RenewalFailed(self._clock.monotonic(), _reason(exc), lost=True)
        if renewed is None:
            return RenewalFailed(
                self._clock.monotonic(), f"epoch {epoch} superseded by a newer leader", lost=True
            )
        return RenewalOk(started)

    async def terminate(self, pid: int) -> bool:
        """End the session holding the lock under an expired lease; False if it could not."""
        connection = self._connection
        if connection is None:
            return False
        try:
            async with asyncio.timeout(self._timeout_s):
                done = bool(await connection.scalar(_TERMINATE, {"pid": pid}))
                await connection.commit()
        except (TimeoutError, OSError, SQLAlchemyError) as exc:
            log.warning("ha stale leader not terminated", pid=pid, error=_reason(exc))
            await self._drop()
            return False
        return done

    async def close(self) -> None:
        """Let the lock go (the session ends) and close the engine. A holder ends its
        lease first, so a standby need not wait it out (a graceful stop or restart)."""
        connection, epoch = self._connection, self._epoch
        if connection is not None and epoch is not None:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await connection.execute(_RELEASE, {"epoch": epoch})
                    await connection.commit()
            except (TimeoutError, OSError, SQLAlchemyError) as exc:
                log.warning("ha lease not released; a standby waits it out", error=_reason(exc))
        await self._drop()
        await self._engine.dispose()

    async def _connect(self) -> AsyncConnection:
        if self._connection is None or self._connection.closed:
            self._connection = await self._engine.connect()
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._epoch = None  # the lock, and the epoch with it, end with the session
        if connection is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                await connection.close()
        except (TimeoutError, OSError, SQLAlchemyError):
            # A broken connection cannot be closed politely; invalidate it instead.
            await _invalidate(connection)


async def _invalidate(connection: AsyncConnection) -> None:
    try:
        await connection.invalidate()
    except (OSError, SQLAlchemyError) as exc:
        log.debug("ha lock connection invalidated uncleanly", error=_reason(exc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).splitlines()[0][:200]}"
    first: Any = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
