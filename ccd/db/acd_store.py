"""The ACD's configuration (agents, queues, pause reasons, memberships) and the agent
session log, in the database. SQLAlchemy core, the same on PostgreSQL and SQLite.

Writes check what the tables cannot: a queue's overflow/escalation targets name existing
queues, a queue still targeted by another cannot be deleted, memberships name existing
queues, and the ``no-answer`` pause reason (used by auto-pause) cannot be deleted. The
session log is append only; ``latest_sessions`` gives each agent's newest row so agent
states can be rebuilt after a restart.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Insert, Row, Table, Update, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.acd.engine import NO_ANSWER_REASON
from ccd.acd.model import Agent, PauseReason, Queue, Strategy
from ccd.acd.seed import AcdConfig, queue_problems, queue_references
from ccd.clock import Clock, SystemClock
from ccd.db.models import metadata
from ccd.db.stores import (
    StoreConflict,
    StoreNotFound,
    StoreUnavailable,
    failure_reason,
    transaction,
)
from ccd.db.stores import (
    WriteMode as WriteMode,  # re-exported: callers name it with the store
)
from ccd.errors import UsageError

log = structlog.get_logger("ccd.db.acd")

AGENTS: Table = metadata.tables["acd_agents"]
QUEUES: Table = metadata.tables["acd_queues"]
PAUSE_REASONS: Table = metadata.tables["acd_pause_reasons"]
MEMBERSHIPS: Table = metadata.tables["acd_memberships"]
SESSIONS: Table = metadata.tables["acd_agent_sessions"]

QUEUE_FIELDS = tuple(f.name for f in dataclasses.fields(Queue))
DEFAULT_SESSION_LIMIT = 1000


class AcdStoreUnavailable(StoreUnavailable):
    pass


class AcdNotFound(StoreNotFound):
    pass


class AcdConflict(StoreConflict):
    pass


class AcdInvalidReference(UsageError):
    """The row names something that does not exist; ``problems`` are (field, message)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.problems))


@dataclass(frozen=True, slots=True)
class StoredAgent:
    agent: Agent
    queues: frozenset[str]  # joined at login
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredQueue:
    queue: Queue
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """One row of the agent session log: the agent entered ``status`` at ``at``."""

    agent_id: str
    status: str  # an ccd.acd.model.AgentStatus value
    reason: str | None
    call_id: str | None
    queue_ids: tuple[str, ...]
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("SessionEntry.at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class WriteCounts:
    created: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated


@dataclass(frozen=True, slots=True)
class SeedResult:
    pause_reasons: WriteCounts
    queues: WriteCounts
    agents: WriteCounts


Progress = Callable[[str, int, int], None]
"""Called after each seeded row: (table label, rows done, rows in the table)."""


# --- row <-> domain ----------------------------------------------------------------------


def _values(item: Agent | Queue | PauseReason | SessionEntry) -> dict[str, Any]:
    """A domain record as column values, one per field: enums by value, mappings and
    tuples as the JSON columns take them."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(item):
        value = getattr(item, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        values[f.name] = value
    return values


def _agent_from(row: Row[Any]) -> Agent:
    return Agent(
        id=row.id,
        interface=row.interface,
        skills=dict(row.skills),
        name=row.name,
        max_calls=row.max_calls,
        server=row.server,
    )


def _queue_from(row: Row[Any]) -> Queue:
    values = {name: getattr(row, name) for name in QUEUE_FIELDS}
    values["strategy"] = Strategy(values["strategy"])
    return Queue(**values)


def _reason_from(row: Row[Any]) -> PauseReason:
    return PauseReason(
        code=row.code, label=row.label, billable=row.billable, time_limit_s=row.time_limit_s
    )


def _session_from(row: Row[Any]) -> SessionEntry:
    return SessionEntry(
        agent_id=row.agent_id,
        status=row.status,
        reason=row.reason,
        call_id=row.call_id,
        queue_ids=tuple(row.queue_ids),
        at=row.at,
    )


def queue_referrers(queue_id: str, queues: Mapping[str, Queue]) -> list[str]:
    """``"queue 'x' (field)"`` for each other queue whose targets name ``queue_id``."""
    return [
        f"queue {other.id!r} ({name})"
        for other in queues.values()
        if other.id != queue_id
        for name, referenced in queue_references(other).items()
        if referenced == queue_id
    ]


class AcdStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self._engine, conflict=AcdConflict, unavailable=_unavailable)

    # --- whole configuration -------------------------------------------------------------

    async def load(self) -> AcdConfig:
        async with self._transaction() as connection:
            agents = {a.id: a for a in map(_agent_from, await _all(connection, AGENTS))}
            queues = {q.id: q for q in map(_queue_from, await _all(connection, QUEUES))}
            reasons = {r.code: r for r in map(_reason_from, await _all(connection, PAUSE_REASONS))}
            memberships = await _memberships(connection)
        return AcdConfig(
            agents=agents,
            queues=queues,
            pause_reasons=reasons,
            memberships={agent_id: memberships.get(agent_id, frozenset()) for agent_id in agents},
        )

    async def ids(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """(agent ids, queue ids, pause reason codes) stored now."""
        async with self._transaction() as connection:
            return (
                await _keys(connection, AGENTS.c.id),
                await _keys(connection, QUEUES.c.id),
                await _keys(connection, PAUSE_REASONS.c.code),
            )

    async def apply_seed(self, config: AcdConfig, progress: Progress | None = None) -> SeedResult:
        """Upsert everything in ``config`` in one transaction (all or nothing)."""
        now = self._clock.now()

        def report(label: str, done: int, total: int) -> None:
            if progress is not None:
                progress(label, done, total)

        async with self._transaction() as connection:
            reasons = WriteCounts()
            for done, reason in enumerate(config.pause_reasons.values(), 1):
                created = await _write_reason(connection, reason, WriteMode.UPSERT)
                reasons = _count(reasons, created)
                report("pause reasons", done, len(config.pause_reasons))
            known = await _keys(connection, QUEUES.c.id) | set(config.queues)
            queues = WriteCounts()
            for done, queue in enumerate(config.queues.values(), 1):
                created = await _write_queue(connection, queue, WriteMode.UPSERT, now, known)
                queues = _count(queues, created)
                report("queues", done, len(config.queues))
            agents = WriteCounts()
            for done, agent in enumerate(config.agents.values(), 1):
                memberships = config.memberships.get(agent.id)
                created = await _write_agent(connection, agent, memberships, WriteMode.UPSERT, now)
                agents = _count(agents, created)
                report("agents", done, len(config.agents))
        result = SeedResult(pause_reasons=reasons, queues=queues, agents=agents)
        log.info(
            "acd.seeded",
            pause_reasons=reasons.total,
            queues=queues.total,
            agents=agents.total,
        )
        return result

    # --- agents --------------------------------------------------------------------------

    async def list_agents(self) -> builtins.list[StoredAgent]:
        async with self._transaction() as connection:
            rows = await _all(connection, AGENTS)
            memberships = await _memberships(connection)
        return [_stored_agent(row, memberships.get(row.id, frozenset())) for row in rows]

    async def get_agent(self, agent_id: str) -> StoredAgent | None:
        async with self._transaction() as connection:
            return await _read_agent(connection, agent_id)

    async def upsert_agent(
        self,
        agent: Agent,
        *,
        queues: Collection[str] | None = None,
        mode: WriteMode = WriteMode.UPSERT,
    ) -> StoredAgent:
        """Write ``agent``; ``queues`` (when not None) replaces its memberships."""
        async with self._transaction() as connection:
            await _write_agent(connection, agent, queues, mode, self._clock.now())
            stored = await _read_agent(connection, agent.id)
        assert stored is not None  # written in this transaction
        log.info("acd.agent.written", agent=agent.id, mode=mode.value)
        return stored

    async def delete_agent(self, agent_id: str) -> bool:
        """False if there was no such agent. Its session log stays (reports need it)."""
        async with self._transaction() as connection:
            await connection.execute(delete(MEMBERSHIPS).where(MEMBERSHIPS.c.agent_id == agent_id))
            result = await connection.execute(delete(AGENTS).where(AGENTS.c.id == agent_id))
        deleted = bool(result.rowcount)
        if deleted:
            log.info("acd.agent.deleted", agent=agent_id)
        return deleted

    async def memberships(self, agent_id: str) -> frozenset[str]:
        async with self._transaction() as connection:
            return await _agent_memberships(connection, agent_id)

    async def set_memberships(self, agent_id: str, queue_ids: Collection[str]) -> None:
        """Replace the queues ``agent_id`` joins at login."""
        async with self._transaction() as connection:
            if not await _exists(connection, AGENTS.c.id, agent_id):
                raise AcdNotFound("agent", agent_id)
            await _write_memberships(connection, agent_id, queue_ids)

    # --- queues --------------------------------------------------------------------------

    async def list_queues(self) -> builtins.list[StoredQueue]:
        async with self._transaction() as connection:
            rows = await _all(connection, QUEUES)
        return [StoredQueue(_queue_from(row), row.created_at, row.updated_at) for row in rows]

    async def get_queue(self, queue_id: str) -> StoredQueue | None:
        async with self._transaction() as connection:
            return await _read_queue(connection, queue_id)

    async def upsert_queue(
        self, queue: Queue, *, mode: WriteMode = WriteMode.UPSERT
    ) -> StoredQueue:
        """Write ``queue``; AcdInvalidReference if a target names a queue that does not exist."""
        async with self._transaction() as connection:
            known = await _keys(connection, QUEUES.c.id) | {queue.id}
            await _write_queue(connection, queue, mode, self._clock.now(), known)
            stored = await _read_queue(connection, queue.id)
        assert stored is not None
        log.info("acd.queue.written", queue=queue.id, mode=mode.value)
        return stored

    async def delete_queue(self, queue_id: str) -> bool:
        """False if there was no such queue; AcdConflict naming the queues that still send
        callers to it. Agents' memberships of it go with it."""
        async with self._transaction() as connection:
            queues = {q.id: q for q in map(_queue_from, await _all(connection, QUEUES))}
            if queue_id not in queues:
                return False
            referrers = queue_referrers(queue_id, queues)
            if referrers:
                raise AcdConflict(
                    f"queue {queue_id!r} is still a destination of {', '.join(referrers)}; "
                    "change those first"
                )
            await connection.execute(delete(MEMBERSHIPS).where(MEMBERSHIPS.c.queue_id == queue_id))
            await connection.execute(delete(QUEUES).where(QUEUES.c.id == queue_id))
        log.info("acd.queue.deleted", queue=queue_id)
        return True

    # --- pause reasons -------------------------------------------------------------------

    async def list_pause_reasons(self) -> builtins.list[PauseReason]:
        async with self._transaction() as connection:
            return [_reason_from(row) for row in await _all(connection, PAUSE_REASONS)]

    async def get_pause_reason(self, code: str) -> PauseReason | None:
        async with self._transaction() as connection:
            row = await _row(connection, PAUSE_REASONS.c.code, code)
        return None if row is None else _reason_from(row)

    async def upsert_pause_reason(
        self, reason: PauseReason, *, mode: WriteMode = WriteMode.UPSERT
    ) -> PauseReason:
        async with self._transaction() as connection:
            await _write_reason(connection, reason, mode)
        log.info("acd.pause_reason.written", code=reason.code, mode=mode.value)
        return reason

    async def delete_pause_reason(self, code: str) -> bool:
        """False if there was no such reason. Past sessions keep their reason code."""
        if code == NO_ANSWER_REASON:
            raise AcdConflict(
                f"pause reason {code!r} cannot be deleted: the ACD pauses agents who miss "
                "calls with it"
            )
        async with self._transaction() as connection:
            result = await connection.execute(
                delete(PAUSE_REASONS).where(PAUSE_REASONS.c.code == code)
            )
        deleted = bool(result.rowcount)
        if deleted:
            log.info("acd.pause_reason.deleted", code=code)
        return deleted

    # --- agent session log ---------------------------------------------------------------

    async def append_sessions(self, rows: Sequence[SessionEntry]) -> None:
        """Append rows in one transaction (one batched INSERT)."""
        if not rows:
            return
        async with self._transaction() as connection:
            await connection.execute(insert(SESSIONS), [_values(row) for row in rows])

    async def latest_sessions(self) -> dict[str, SessionEntry]:
        """Each agent's newest session row (by ``at``, then insertion order)."""
        c = SESSIONS.c
        rank = (
            func.row_number()
            .over(partition_by=c.agent_id, order_by=(c.at.desc(), c.id.desc()))
            .label("rank")
        )
        ranked = select(SESSIONS, rank).subquery()
        statement = select(ranked).where(ranked.c.rank == 1)
        async with self._transaction() as connection:
            rows = await connection.execute(statement)
            return {row.agent_id: _session_from(row) for row in rows}

    async def sessions(
        self,
        agent_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_SESSION_LIMIT,
    ) -> builtins.list[SessionEntry]:
        """``agent_id``'s rows with since <= at < until, oldest first, at most ``limit``."""
        if limit < 1:
            raise ValueError("limit must be positive")
        c = SESSIONS.c
        statement = select(SESSIONS).where(c.agent_id == agent_id)
        if since is not None:
            statement = statement.where(c.at >= since)
        if until is not None:
            statement = statement.where(c.at < until)
        statement = statement.order_by(c.at, c.id).limit(limit)
        async with self._transaction() as connection:
            return [_session_from(row) for row in await connection.execute(statement)]


# --- statements shared by single writes and the seed -------------------------------------


def _unavailable(exc: BaseException) -> AcdStoreUnavailable:
    reason = failure_reason(exc)
    log.warning("acd store failed", reason=reason)
    return AcdStoreUnavailable(f"the ACD database failed: {reason}")


def _count(counts: WriteCounts, created: bool) -> WriteCounts:
    if created:
        return WriteCounts(counts.created + 1, counts.updated)
    return WriteCounts(counts.created, counts.updated + 1)


async def _all(connection: AsyncConnection, table: Table) -> Sequence[Row[Any]]:
    key = table.primary_key.columns.values()[0]
    return (await connection.execute(select(table).order_by(key))).all()


async def _keys(connection: AsyncConnection, column: Any) -> frozenset[str]:
    return frozenset(row[0] for row in await connection.execute(select(column)))


async def _exists(connection: AsyncConnection, column: Any, key: str) -> bool:
    return (await connection.execute(select(column).where(column == key))).first() is not None


async def _row(connection: AsyncConnection, key_column: Any, key: str) -> Row[Any] | None:
    statement = select(key_column.table).where(key_column == key)
    return (await connection.execute(statement)).first()


async def _memberships(connection: AsyncConnection) -> dict[str, frozenset[str]]:
    grouped: dict[str, set[str]] = {}
    for row in await connection.execute(select(MEMBERSHIPS)):
        grouped.setdefault(row.agent_id, set()).add(row.queue_id)
    return {agent_id: frozenset(queues) for agent_id, queues in grouped.items()}


async def _agent_memberships(connection: AsyncConnection, agent_id: str) -> frozenset[str]:
    rows = await connection.execute(
        select(MEMBERSHIPS.c.queue_id).where(MEMBERSHIPS.c.agent_id == agent_id)
    )
    return frozenset(row.queue_id for row in rows)


async def _check_mode(
    connection: AsyncConnection, key_column: Any, key: str, mode: WriteMode, kind: str
) -> bool:
    """Whether the row ``key`` exists, once ``mode`` allows writing it."""
    exists = await _exists(connection, key_column, key)
    if exists and mode is WriteMode.CREATE:
        raise AcdConflict(f"{kind} {key!r} already exists")
    if not exists and mode is WriteMode.UPDATE:
        raise AcdNotFound(kind, key)
    return exists


async def _put(
    connection: AsyncConnection,
    key_column: Any,
    values: Mapping[str, Any],
    exists: bool,
    now: datetime | None = None,
) -> None:
    """Update the row ``exists`` says is there, else insert it; ``now`` (tables that keep
    them) stamps updated_at, and created_at on insert."""
    table = key_column.table
    stamps = {} if now is None else {"updated_at": now}
    statement: Update | Insert
    if exists:
        statement = update(table).where(key_column == values[key_column.name])
    else:
        statement = insert(table)
        if now is not None:
            stamps["created_at"] = now
    await connection.execute(statement.values(**values, **stamps))


async def _write_agent(
    connection: AsyncConnection,
    agent: Agent,
    queues: Collection[str] | None,
    mode: WriteMode,
    now: datetime,
) -> bool:
    exists = await _check_mode(connection, AGENTS.c.id, agent.id, mode, "agent")
    await _put(connection, AGENTS.c.id, _values(agent), exists, now)
    if queues is not None:
        await _write_memberships(connection, agent.id, queues)
    return not exists


async def _write_memberships(
    connection: AsyncConnection, agent_id: str, queue_ids: Collection[str]
) -> None:
    wanted = sorted(set(queue_ids))
    known = await _keys(connection, QUEUES.c.id)
    missing = [
        (f"queues.{index}", f"unknown queue {queue_id!r}")
        for index, queue_id in enumerate(queue_ids)
        if queue_id not in known
    ]
    if missing:
        raise AcdInvalidReference(missing)
    await connection.execute(delete(MEMBERSHIPS).where(MEMBERSHIPS.c.agent_id == agent_id))
    if wanted:
        await connection.execute(
            insert(MEMBERSHIPS), [{"agent_id": agent_id, "queue_id": q} for q in wanted]
        )


async def _read_agent(connection: AsyncConnection, agent_id: str) -> StoredAgent | None:
    row = await _row(connection, AGENTS.c.id, agent_id)
    if row is None:
        return None
    return _stored_agent(row, await _agent_memberships(connection, agent_id))


def _stored_agent(row: Row[Any], queues: frozenset[str]) -> StoredAgent:
    return StoredAgent(_agent_from(row), queues, row.created_at, row.updated_at)


async def _write_queue(
    connection: AsyncConnection,
    queue: Queue,
    mode: WriteMode,
    now: datetime,
    known_queues: Collection[str],
) -> bool:
    exists = await _check_mode(connection, QUEUES.c.id, queue.id, mode, "queue")
    problems = queue_problems(queue, known_queues)
    if problems:
        raise AcdInvalidReference(problems)
    await _put(connection, QUEUES.c.id, _values(queue), exists, now)
    return not exists


async def _read_queue(connection: AsyncConnection, queue_id: str) -> StoredQueue | None:
    row = await _row(connection, QUEUES.c.id, queue_id)
    if row is None:
        return None
    return StoredQueue(_queue_from(row), row.created_at, row.updated_at)


async def _write_reason(connection: AsyncConnection, reason: PauseReason, mode: WriteMode) -> bool:
    exists = await _check_mode(connection, PAUSE_REASONS.c.code, reason.code, mode, "pause reason")
    await _put(connection, PAUSE_REASONS.c.code, _values(reason), exists)
    return not exists
