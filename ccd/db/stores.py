"""What the configuration stores (ACD, dialer) have in common: their errors, how a
database failure is named and turned into them, and how a write treats an id that exists
or does not.

Each store subclasses the errors (``AcdNotFound``, ``DialerConflict``…) so that callers
may catch one store's refusals or, through these bases, any store's.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.db.engine import driver_error
from ccd.errors import DatabaseError, UsageError


class StoreUnavailable(DatabaseError):
    """The database failed (down, timeout, driver error); ``str()`` names the driver error."""


class StoreNotFound(UsageError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no {kind} {key!r}")
        self.kind = kind
        self.key = key


class StoreConflict(UsageError):
    """The write contradicts what is stored (id taken, row still referenced, history that
    must stay)."""


class WriteMode(enum.Enum):
    CREATE = "create"  # the store's Conflict if the id exists
    UPDATE = "update"  # the store's NotFound if it does not
    UPSERT = "upsert"


def failure_reason(exc: BaseException) -> str:
    """The driver error behind a database failure, as ``Name: first line``."""
    name, first_line = driver_error(exc)
    return f"{name}: {first_line}" if first_line else name


@asynccontextmanager
async def transaction(
    engine: AsyncEngine,
    *,
    conflict: type[StoreConflict],
    unavailable: Callable[[BaseException], StoreUnavailable],
) -> AsyncIterator[AsyncConnection]:
    """One transaction; an integrity error (another writer got there between our check and
    our write) is ``conflict``, any other database failure ``unavailable(exc)``."""
    try:
        async with engine.begin() as connection:
            yield connection
    except IntegrityError as exc:
        name, first_line = driver_error(exc)
        raise conflict(f"changed concurrently, retry ({name}: {first_line})") from exc
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise unavailable(exc) from exc
