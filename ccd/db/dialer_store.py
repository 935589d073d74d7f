"""The outbound dialer's campaigns, contacts and do-not-call lists in the database.
SQLAlchemy core, the same on PostgreSQL and SQLite.

* Campaigns: every field of ``ccd.dialer.model.Campaign`` (windows, retries, holidays,
  agents and dispositions as JSON), read back equal.
* Contacts: imported in batches, one transaction each, ``INSERT … ON CONFLICT DO
  NOTHING``: a contact's id is derived from (campaign, E.164 number), so importing the same
  file again, or after an interrupted import, inserts only what is missing and changes
  nothing that is there (attempts, status and call backs survive a re-import).
* Do-not-call: a global list (``campaign_id`` NULL) and one list per campaign. A number is
  blocked for a campaign when it is on either. ``due_contacts`` leaves blocked numbers out
  in the query itself, so an entry added after the import still stops the call.
"""

from __future__ import annotations

import builtins
import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import Row, Table, and_, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
from ccd.dialer.contacts import BadRow, ContactRow, DncRow
from ccd.dialer.model import (
    AmdMode,
    CallingWindow,
    Campaign,
    CampaignState,
    Contact,
    DialMode,
    Outcome,
    RetryRule,
    Weekday,
)
from ccd.dialer.retries import DoneReason
from ccd.errors import UsageError

log = structlog.get_logger("ccd.db.dialer")

CAMPAIGNS: Table = metadata.tables["dialer_campaigns"]
CONTACTS: Table = metadata.tables["dialer_contacts"]
ATTEMPTS: Table = metadata.tables["dialer_attempts"]
DNC: Table = metadata.tables["dialer_dnc"]

DEFAULT_BATCH = 500
DEFAULT_DUE_LIMIT = 100
DEFAULT_DNC_LIMIT = 1000
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
ItemT = TypeVar("ItemT")


class DialerStoreUnavailable(StoreUnavailable):
    pass


class DialerNotFound(StoreNotFound):
    pass


class DialerConflict(StoreConflict):
    pass


class ContactStatus(enum.Enum):
    """Where a contact is in its campaign (belongs with the domain model, see the report)."""

    PENDING = "pending"  # to dial at next_attempt_at (a call back: with callback_owner)
    DIALING = "dialing"  # an attempt is in flight
    DONE = "done"  # finished: a final disposition, or no attempts left


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    campaign: Campaign
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredContact:
    contact: Contact
    status: ContactStatus
    attempts: int
    next_attempt_at: datetime | None
    callback_owner: str | None
    created_at: datetime
    updated_at: datetime
    call_back: bool = False  # the next attempt is a call back (agreed with the customer)
    done_reason: DoneReason | None = None  # why a DONE contact is not dialed again
    last_outcome: Outcome | None = None  # how its latest ended attempt ended


@dataclass(frozen=True, slots=True)
class DncEntry:
    number: str
    campaign_id: str | None  # None: the global list
    added_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """Rows read from the file (blank lines aside), rows accepted (valid numbers; ``new``
    of them were not stored yet) and rows rejected."""

    read: int = 0
    accepted: int = 0
    new: int = 0
    rejected: int = 0

    @property
    def already_there(self) -> int:
        return self.accepted - self.new


ImportProgress = Callable[[ImportCounts], None]
"""Called after each batch written, and once at the end."""
BadRowSink = Callable[[BadRow], None]
"""Called with each rejected row as it is read (the caller reports it; nothing is kept)."""


# --- row <-> domain ----------------------------------------------------------------------


def campaign_values(campaign: Campaign) -> dict[str, Any]:
    """A campaign as column values (JSON columns get plain lists and dicts)."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "mode": campaign.mode.value,
        "caller_id": campaign.caller_id,
        "agent_ids": sorted(campaign.agent_ids),
        "queue_id": campaign.queue_id,
        "windows": [
            {
                "days": sorted(int(day) for day in window.days),
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
            }
            for window in campaign.windows
        ],
        "holidays": sorted(day.isoformat() for day in campaign.holidays),
        "ring_timeout_s": campaign.ring_timeout_s,
        "retries": {
            outcome.value: {"delay_s": rule.delay_s, "max_attempts": rule.max_attempts}
            for outcome, rule in campaign.retries.items()
        },
        "abandon_cap_pct": campaign.abandon_cap_pct,
        "cap_override": campaign.cap_override,
        "amd": campaign.amd.value,
        "safe_harbor_prompt": campaign.safe_harbor_prompt,
        "machine_message_prompt": campaign.machine_message_prompt,
        "dispositions": list(campaign.dispositions),
        "default_region": campaign.default_region,
        "state": campaign.state.value,
        "server": campaign.server,
    }


def campaign_from(row: Row[Any]) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        mode=DialMode(row.mode),
        caller_id=row.caller_id,
        agent_ids=frozenset(row.agent_ids),
        queue_id=row.queue_id,
        windows=tuple(
            CallingWindow(
                days=frozenset(Weekday(day) for day in window["days"]),
                start=time.fromisoformat(window["start"]),
                end=time.fromisoformat(window["end"]),
            )
            for window in row.windows
        ),
        holidays=frozenset(date.fromisoformat(day) for day in row.holidays),
        ring_timeout_s=row.ring_timeout_s,
        retries={
            Outcome(outcome): RetryRule(
                delay_s=float(rule["delay_s"]), max_attempts=int(rule["max_attempts"])
            )
            for outcome, rule in row.retries.items()
        },
        abandon_cap_pct=row.abandon_cap_pct,
        cap_override=row.cap_override,
        amd=AmdMode(row.amd),
        safe_harbor_prompt=row.safe_harbor_prompt,
        machine_message_prompt=row.machine_message_prompt,
        dispositions=tuple(row.dispositions),
        default_region=row.default_region,
        state=CampaignState(row.state),
        server=row.server,
    )


def _stored_campaign(row: Row[Any]) -> StoredCampaign:
    return StoredCampaign(campaign_from(row), row.created_at, row.updated_at)


def _contact_values(contact: Contact, now: datetime) -> dict[str, Any]:
    return {
        "id": contact.id,
        "campaign_id": contact.campaign_id,
        "number": contact.number,
        "name": contact.name,
        "time_zones": list(contact.time_zones),
        "fields": dict(contact.fields),
        "status": ContactStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,  # due at once, in import order
        "callback_owner": None,
        "created_at": now,
        "updated_at": now,
    }


def stored_contact(row: Row[Any]) -> StoredContact:
    contact = Contact(
        id=row.id,
        campaign_id=row.campaign_id,
        number=row.number,
        time_zones=tuple(row.time_zones),
        name=row.name,
        fields=dict(row.fields),
    )
    return StoredContact(
        contact=contact,
        status=ContactStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        callback_owner=row.callback_owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
        call_back=row.call_back,
        done_reason=None if row.done_reason is None else DoneReason(row.done_reason),
        last_outcome=None if row.last_outcome is None else Outcome(row.last_outcome),
    )


def _dnc_from(row: Row[Any]) -> DncEntry:
    return DncEntry(row.number, row.campaign_id, row.added_at, row.source)


def check_e164(number: str) -> str:
    """``number`` if it is written in E.164 (normalise input first with
    ``ccd.dialer.contacts.normalise_number``), else UsageError."""
    if not E164.fullmatch(number):
        raise UsageError(f"{number!r} is not an E.164 number (+<country code><number>)")
    return number


def dialect_insert(engine: AsyncEngine) -> Callable[[Table], Any]:
    """The INSERT construct of ``engine``'s backend (the one with ON CONFLICT)."""
    backend = engine.dialect.name
    if backend not in ("postgresql", "sqlite"):  # settings only allow these two
        raise ValueError(f"dialer store: unsupported database {backend!r}")
    return postgresql.insert if backend == "postgresql" else sqlite.insert


def dialer_transaction(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """One transaction of the dialer's stores, failures as their errors."""
    return transaction(engine, conflict=DialerConflict, unavailable=_unavailable)


class DialerStore:
    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._insert = dialect_insert(engine)

    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return dialer_transaction(self._engine)

    # --- campaigns -----------------------------------------------------------------------

    async def list_campaigns(self) -> builtins.list[StoredCampaign]:
        async with self._transaction() as connection:
            rows = await connection.execute(select(CAMPAIGNS).order_by(CAMPAIGNS.c.id))
            return [_stored_campaign(row) for row in rows]

    async def get_campaign(self, campaign_id: str) -> StoredCampaign | None:
        async with self._transaction() as connection:
            row = await _campaign_row(connection, campaign_id)
        return None if row is None else _stored_campaign(row)

    async def put_campaign(
        self, campaign: Campaign, *, mode: WriteMode = WriteMode.UPSERT
    ) -> StoredCampaign:
        """Write every field of ``campaign``, its state included. Whether it may run
        (``Campaign.problems``) is the caller's decision: drafts may be incomplete."""
        now = self._clock.now()
        values = campaign_values(campaign)
        async with self._transaction() as connection:
            found = await _campaign_row(connection, campaign.id) is not None
            if found and mode is WriteMode.CREATE:
                raise DialerConflict(f"campaign {campaign.id!r} already exists")
            if not found and mode is WriteMode.UPDATE:
                raise DialerNotFound("campaign", campaign.id)
            if found:
                await connection.execute(
                    update(CAMPAIGNS)
                    .where(CAMPAIGNS.c.id == campaign.id)
                    .values(**values, updated_at=now)
                )
            else:
                await connection.execute(
                    insert(CAMPAIGNS).values(**values, created_at=now, updated_at=now)
                )
            row = await _campaign_row(connection, campaign.id)
        assert row is not None  # written in this transaction
        log.info("dialer.campaign.written", campaign=campaign.id, mode=mode.value)
        return _stored_campaign(row)

    async def set_campaign_state(self, campaign_id: str, state: CampaignState) -> StoredCampaign:
        async with self._transaction() as connection:
            result = await connection.execute(
                update(CAMPAIGNS)
                .where(CAMPAIGNS.c.id == campaign_id)
                .values(state=state.value, updated_at=self._clock.now())
            )
            if not result.rowcount:
                raise DialerNotFound("campaign", campaign_id)
            row = await _campaign_row(connection, campaign_id)
        assert row is not None
        log.info("dialer.campaign.state", campaign=campaign_id, state=state.value)
        return _stored_campaign(row)

    async def delete_campaign(self, campaign_id: str) -> bool:
        """False if there was no such campaign. Its contacts and its own do-not-call list go
        with it; a campaign that has dialed anyone cannot be deleted (its attempts are the
        compliance evidence): DialerConflict, stop it instead."""
        async with self._transaction() as connection:
            if await _campaign_row(connection, campaign_id) is None:
                return False
            dialed = await connection.scalar(
                select(func.count())
                .select_from(ATTEMPTS)
                .where(ATTEMPTS.c.campaign_id == campaign_id)
            )
            if dialed:
                raise DialerConflict(
                    f"campaign {campaign_id!r} has {dialed} dial attempt(s), kept as "
                    "compliance evidence: stop it instead of deleting it"
                )
            await connection.execute(delete(CONTACTS).where(CONTACTS.c.campaign_id == campaign_id))
            await connection.execute(delete(DNC).where(DNC.c.campaign_id == campaign_id))
            await connection.execute(delete(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id))
        log.info("dialer.campaign.deleted", campaign=campaign_id)
        return True

    # --- contacts ------------------------------------------------------------------------

    async def add_contacts(self, campaign_id: str, contacts: Sequence[Contact]) -> int:
        """Insert ``contacts`` (one transaction); those already in the campaign are left as
        they are. Returns how many were new."""
        if not contacts:
            return 0
        now = self._clock.now()
        for contact in contacts:
            if contact.campaign_id != campaign_id:
                raise ValueError(f"contact {contact.id} belongs to {contact.campaign_id!r}")
            check_e164(contact.number)
        # A microsecond apart, the last one now: contacts due at once are dialed in file
        # order (their ids, derived from the numbers, would shuffle them).
        rows = [
            _contact_values(contact, now - timedelta(microseconds=len(contacts) - index))
            for index, contact in enumerate(contacts)
        ]
        statement = self._insert(CONTACTS).on_conflict_do_nothing().returning(CONTACTS.c.id)
        async with self._transaction() as connection:
            if await _campaign_row(connection, campaign_id) is None:
                raise DialerNotFound("campaign", campaign_id)
            inserted = len((await connection.execute(statement, rows)).all())
        return inserted

    async def import_contacts(
        self,
        campaign_id: str,
        rows: Iterable[ContactRow],
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: ImportProgress | None = None,
        on_bad_row: BadRowSink | None = None,
    ) -> ImportCounts:
        """Read ``rows`` (``ccd.dialer.contacts.read_contacts``) and store the good ones in
        batches of ``batch_size``, one transaction each; bad rows go to ``on_bad_row`` as
        they come. Memory holds one batch. DialerNotFound before reading anything when the
        campaign does not exist."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        if await self.get_campaign(campaign_id) is None:
            raise DialerNotFound("campaign", campaign_id)
        counts = await _import_batches(
            rows,
            lambda row: row.contact,
            lambda batch: self.add_contacts(campaign_id, batch),
            batch_size=batch_size,
            progress=progress,
            on_bad_row=on_bad_row,
        )
        log.info(
            "dialer.contacts.imported",
            campaign=campaign_id,
            read=counts.read,
            new=counts.new,
            already_there=counts.already_there,
            rejected=counts.rejected,
        )
        return counts

    async def get_contact(self, contact_id: str) -> StoredContact | None:
        async with self._transaction() as connection:
            row = (
                await connection.execute(select(CONTACTS).where(CONTACTS.c.id == contact_id))
            ).first()
        return None if row is None else stored_contact(row)

    async def contact_counts(self, campaign_id: str) -> dict[ContactStatus, int]:
        """How many of the campaign's contacts are in each status (every status named)."""
        statement = (
            select(CONTACTS.c.status, func.count())
            .where(CONTACTS.c.campaign_id == campaign_id)
            .group_by(CONTACTS.c.status)
        )
        async with self._transaction() as connection:
            found = {status: count for status, count in await connection.execute(statement)}
        return {status: int(found.get(status.value, 0)) for status in ContactStatus}

    async def reschedule(self, contact_id: str, *, at: datetime | None) -> bool:
        """Move a pending contact to ``at`` (its next calling window, or behind the others
        after a preview skip); with ``at`` None, no window will open for it: done with
        ``no-window``. Only a PENDING contact moves (one being dialed is the dialer's); False
        when nothing was changed."""
        values: dict[str, Any] = (
            {"next_attempt_at": at}
            if at is not None
            else {"status": ContactStatus.DONE.value, "done_reason": DoneReason.NO_WINDOW.value}
        )
        async with self._transaction() as connection:
            result = await connection.execute(
                update(CONTACTS)
                .where(
                    CONTACTS.c.id == contact_id, CONTACTS.c.status == ContactStatus.PENDING.value
                )
                .values(**values, updated_at=self._clock.now())
            )
        return bool(result.rowcount)

    async def due_contacts(
        self, campaign_id: str, *, now: datetime | None = None, limit: int = DEFAULT_DUE_LIMIT
    ) -> builtins.list[StoredContact]:
        """The campaign's pending contacts whose time has come, earliest first, leaving out
        every number on the global or the campaign's do-not-call list (checked in this
        query: an entry added after the import counts). Calling windows are not checked
        here (they depend on each callee's zones: the dialer's job)."""
        if limit < 1:
            raise ValueError("limit must be positive")
        at = self._clock.now() if now is None else now
        c = CONTACTS.c
        statement = (
            select(CONTACTS)
            .where(
                c.campaign_id == campaign_id,
                c.status == ContactStatus.PENDING.value,
                c.next_attempt_at <= at,
                ~on_dnc(c.number, None),
                ~on_dnc(c.number, campaign_id),
            )
            .order_by(c.next_attempt_at, c.id)
            .limit(limit)
        )
        async with self._transaction() as connection:
            return [stored_contact(row) for row in await connection.execute(statement)]

    # --- do-not-call ---------------------------------------------------------------------

    async def add_dnc(
        self, numbers: Iterable[str], *, campaign_id: str | None = None, source: str = "api"
    ) -> int:
        """Put E.164 ``numbers`` on the global list (``campaign_id`` None) or the
        campaign's, in one transaction; those already there stay as they were. Returns how
        many were new."""
        now = self._clock.now()
        rows = [
            {"number": check_e164(n), "campaign_id": campaign_id, "added_at": now, "source": source}
            for n in dict.fromkeys(numbers)
        ]
        if not rows:
            return 0
        statement = self._insert(DNC).on_conflict_do_nothing().returning(DNC.c.id)
        async with self._transaction() as connection:
            if campaign_id is not None and await _campaign_row(connection, campaign_id) is None:
                raise DialerNotFound("campaign", campaign_id)
            added = len((await connection.execute(statement, rows)).all())
        if added:
            log.info("dialer.dnc.added", campaign=campaign_id, added=added, source=source)
        return added

    async def remove_dnc(self, number: str, *, campaign_id: str | None = None) -> bool:
        """Take ``number`` off the global list (``campaign_id`` None) or the campaign's
        only; False if it was not on it."""
        async with self._transaction() as connection:
            result = await connection.execute(
                delete(DNC).where(DNC.c.number == check_e164(number), _list_is(campaign_id))
            )
        removed = bool(result.rowcount)
        if removed:
            log.info("dialer.dnc.removed", campaign=campaign_id)
        return removed

    async def import_dnc(
        self,
        rows: Iterable[DncRow],
        *,
        campaign_id: str | None = None,
        source: str = "import",
        batch_size: int = DEFAULT_BATCH,
        progress: ImportProgress | None = None,
        on_bad_row: BadRowSink | None = None,
    ) -> ImportCounts:
        """Read ``rows`` (``ccd.dialer.contacts.read_dnc``) onto a list in batches, like
        ``import_contacts``."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        if campaign_id is not None and await self.get_campaign(campaign_id) is None:
            raise DialerNotFound("campaign", campaign_id)
        return await _import_batches(
            rows,
            lambda row: row.number,
            lambda batch: self.add_dnc(batch, campaign_id=campaign_id, source=source),
            batch_size=batch_size,
            progress=progress,
            on_bad_row=on_bad_row,
        )

    async def dnc_entries(
        self, number: str, *, campaign_id: str | None = None
    ) -> builtins.list[DncEntry]:
        """The entries that block ``number`` for ``campaign_id``: the global list's, and the
        campaign's (None: the global list only). Empty: the number may be dialed."""
        lists: Any = DNC.c.campaign_id.is_(None)
        if campaign_id is not None:
            lists = lists | (DNC.c.campaign_id == campaign_id)
        statement = (
            select(DNC)
            .where(DNC.c.number == check_e164(number), lists)
            .order_by(DNC.c.campaign_id.is_not(None), DNC.c.id)
        )
        async with self._transaction() as connection:
            return [_dnc_from(row) for row in await connection.execute(statement)]

    async def is_blocked(self, number: str, *, campaign_id: str | None = None) -> bool:
        """Whether ``number`` is on the global list or on ``campaign_id``'s."""
        return bool(await self.dnc_entries(number, campaign_id=campaign_id))

    async def list_dnc(
        self,
        *,
        campaign_id: str | None = None,
        after: str | None = None,
        limit: int = DEFAULT_DNC_LIMIT,
    ) -> builtins.list[DncEntry]:
        """One list (global: ``campaign_id`` None) by number, ``limit`` entries after the
        number ``after`` (paging)."""
        if limit < 1:
            raise ValueError("limit must be positive")
        statement = select(DNC).where(_list_is(campaign_id))
        if after is not None:
            statement = statement.where(DNC.c.number > after)
        statement = statement.order_by(DNC.c.number).limit(limit)
        async with self._transaction() as connection:
            return [_dnc_from(row) for row in await connection.execute(statement)]


# --- statements --------------------------------------------------------------------------


async def _import_batches(
    rows: Iterable[Any],
    item: Callable[[Any], ItemT],
    write: Callable[[builtins.list[ItemT]], Awaitable[int]],
    *,
    batch_size: int,
    progress: ImportProgress | None,
    on_bad_row: BadRowSink | None,
) -> ImportCounts:
    """Count ``rows``, pass the bad ones to ``on_bad_row`` and ``write`` the good ones'
    ``item`` in batches of ``batch_size`` (``write`` returns how many were new); the last,
    possibly empty, batch is written too and ``progress`` told after each."""
    read = accepted = new = rejected = 0
    batch: builtins.list[ItemT] = []

    async def flush() -> ImportCounts:
        nonlocal new, batch
        new += await write(batch)
        batch = []
        counts = ImportCounts(read, accepted, new, rejected)
        if progress is not None:
            progress(counts)
        return counts

    for row in rows:
        read += 1
        if isinstance(row, BadRow):
            rejected += 1
            if on_bad_row is not None:
                on_bad_row(row)
        else:
            accepted += 1
            batch.append(item(row))
        if len(batch) >= batch_size:
            await flush()
    return await flush()


def _unavailable(exc: BaseException) -> DialerStoreUnavailable:
    reason = failure_reason(exc)
    log.warning("dialer store failed", reason=reason)
    return DialerStoreUnavailable(f"the dialer database failed: {reason}")


async def _campaign_row(connection: AsyncConnection, campaign_id: str) -> Row[Any] | None:
    statement = select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)
    return (await connection.execute(statement)).first()


def _list_is(campaign_id: str | None) -> Any:
    if campaign_id is None:
        return DNC.c.campaign_id.is_(None)
    return DNC.c.campaign_id == campaign_id


def on_dnc(number: Any, campaign_id: str | None) -> Any:
    """EXISTS an entry for ``number`` on one list: one per list so that each matches its
    partial unique index exactly."""
    return exists().where(and_(DNC.c.number == number, _list_is(campaign_id)))
