"""The dialer's dial attempts in the database: claiming a contact, the attempt's events,
how it ended, the agent's disposition, and the compliance evidence read back.

Times are float epoch seconds at this class's API (as in the dialer's pure cores) and
UTC-aware datetimes in the tables.

* **One attempt at a time per contact.** ``claim`` moves the contact PENDING → DIALING
  with a compare-and-set in the transaction that inserts the attempt, so two dialers (or a
  dialer and its restarted self) never dial one contact at once; the do-not-call lists are
  checked again in that transaction (an entry added since the contact was listed as due
  still stops the call).
* **A fenced leader claims nothing.** With high availability the claim's transaction
  first reads the leadership epoch (``FOR SHARE``) and refuses (``Fenced``) unless it is
  the one this instance holds.
* **Events are idempotent.** ``answered``, ``connected`` and ``safe_harbor`` keep the
  first time recorded; ``finish`` ends an attempt once; ``dispose`` takes one disposition.
  A replayed event changes nothing.
* **A later claim is never undone.** ``finish`` and ``dispose`` write the contact only
  while no later attempt of it exists (``finish``: and while it is still DIALING, so a
  disposition given during the call is not overwritten by the hang-up).
* **Live answers** (``person``): an answered attempt is a person unless it ended as
  MACHINE — or, still in flight, AMD said MACHINE. The daily tallies apply
  ``compliance.verdict`` to the very rows the CSV export streams, so the ledger loaded at
  start, the ledger kept live and the evidence agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Row, and_, case, exists, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.clock import Clock, SystemClock
from ccd.db.dialer_store import (
    ATTEMPTS,
    CONTACTS,
    DNC,
    ContactStatus,
    DialerConflict,
    DialerNotFound,
    dialect_insert,
    dialer_transaction,
    on_dnc,
    stored_contact,
)
from ccd.db.models import LeadershipRow, UtcDateTime
from ccd.dialer import retries
from ccd.dialer.compliance import AnsweredCall, Verdict, verdict
from ccd.dialer.model import AbandonTally, Contact, Outcome
from ccd.domain.contract import AmdStatus

log = structlog.get_logger("ccd.db.dialer")

DEFAULT_STREAM_BATCH = 1000

A = ATTEMPTS.c
# An answered attempt is a person's unless a machine answered (see the module docstring);
# no NULL reaches the comparison, so the expression is never unknown.
LEADERSHIP = LeadershipRow.__table__
IS_MACHINE = (func.coalesce(A.outcome, "") == Outcome.MACHINE.value) | (
    A.outcome.is_(None) & (func.coalesce(A.amd_status, "") == AmdStatus.MACHINE)
)


class ContactBlocked(DialerConflict):
    """The contact's number is on the global or the campaign's do-not-call list."""


@dataclass(frozen=True, slots=True)
class ClaimedAttempt:
    """A contact claimed for dialing: the attempt row is written, the contact DIALING."""

    attempt_id: int
    contact: Contact
    attempt_number: int  # the contact's attempts so far, this one included
    call_back: bool  # a call back the customer agreed to
    call_back_owner: str | None  # the agent it belongs to; None: anyone


@dataclass(frozen=True, slots=True)
class StoredAttempt:
    """Every column of one attempt (times in epoch seconds)."""

    attempt_id: int
    campaign_id: str
    contact_id: str
    number: str
    started_at: float
    answered_at: float | None
    connected_at: float | None  # an agent was connected
    safe_harbor_at: float | None  # the safe-harbor message started
    ended_at: float | None  # None: in flight
    agent_id: str | None
    outcome: Outcome | None  # None: in flight
    amd_status: str | None  # Asterisk's AMDSTATUS
    disposition: str | None
    action_id: str | None  # the AMI ActionID / ChannelId it was placed with
    linkedid: str | None  # its CDR
    call_back: bool
    safe_harbor_played: bool


@dataclass(frozen=True, slots=True)
class AttemptCounts:
    """A campaign's attempts started since some time, for the live view: live answers
    (``answered``, the abandoned ones included), those an agent took, machines, abandoned
    calls and calls not ended yet."""

    dialed: int = 0
    answered: int = 0
    connected: int = 0
    machines: int = 0
    abandoned: int = 0
    in_flight: int = 0


class AttemptStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock | None = None,
        epoch: Callable[[], int | None] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()  # stamps the contacts' updated_at
        self._insert = dialect_insert(engine)
        # High availability (ccd.ha): the leadership epoch this instance holds (None: it
        # holds none). A claim commits only while the database still has that epoch.
        self._epoch = epoch

    # --- placing the call ----------------------------------------------------------------

    async def claim(
        self, contact_id: str, *, channel_id: str, now: float, agent_id: str | None = None
    ) -> ClaimedAttempt:
        """Take a PENDING contact for one dial attempt placed with AMI id ``channel_id``
        (reserved for ``agent_id`` when one is): ContactBlocked when its number is on a
        do-not-call list, DialerConflict when it is not PENDING (another dialer has it, or
        it is done), DialerNotFound when there is no such contact."""
        async with dialer_transaction(self._engine) as connection:
            if self._epoch is not None:
                await _check_epoch(connection, self._epoch())
            row = (
                await connection.execute(select(CONTACTS).where(CONTACTS.c.id == contact_id))
            ).first()
            if row is None:
                raise DialerNotFound("contact", contact_id)
            blocked = or_(on_dnc(row.number, None), on_dnc(row.number, row.campaign_id))
            if await connection.scalar(select(blocked)):
                raise ContactBlocked(f"contact {contact_id!r}: its number is on a do-not-call list")
            taken = await connection.execute(
                update(CONTACTS)
                .where(
                    CONTACTS.c.id == contact_id,
                    CONTACTS.c.status == ContactStatus.PENDING.value,
                )
                .values(
                    status=ContactStatus.DIALING.value,
                    attempts=CONTACTS.c.attempts + 1,
                    updated_at=self._clock.now(),
                )
            )
            if not taken.rowcount:
                raise DialerConflict(f"contact {contact_id!r} is not pending")
            attempt_id = await connection.scalar(
                insert(ATTEMPTS)
                .values(
                    campaign_id=row.campaign_id,
                    contact_id=contact_id,
                    number=row.number,
                    started_at=_utc(now),
                    action_id=channel_id,
                    agent_id=agent_id,
                    call_back=row.call_back,
                    safe_harbor_played=False,
                )
                .returning(A.id)
            )
        assert attempt_id is not None  # RETURNING of the row just inserted
        log.info("dialer.attempt.claimed", attempt=attempt_id, contact=contact_id)
        return ClaimedAttempt(
            attempt_id=attempt_id,
            contact=stored_contact(row).contact,
            attempt_number=row.attempts + 1,
            call_back=row.call_back,
            call_back_owner=row.callback_owner,
        )

    # --- events of the call --------------------------------------------------------------

    async def answered(self, attempt_id: int, *, at: float, amd_status: str | None) -> None:
        """The callee answered at ``at`` (the first time recorded stays); ``amd_status``
        when AMD decided (None leaves what is stored)."""
        values: dict[str, Any] = {"answered_at": _kept(A.answered_at, at)}
        if amd_status is not None:
            values["amd_status"] = amd_status
        await self._update_attempt(attempt_id, values)

    async def connected(self, attempt_id: int, *, agent_id: str, at: float) -> None:
        """An agent was connected at ``at``; the first connection (time and agent) stays."""
        await self._update_attempt(
            attempt_id,
            {
                "agent_id": case((A.agent_connected_at.is_(None), agent_id), else_=A.agent_id),
                "agent_connected_at": _kept(A.agent_connected_at, at),
            },
        )

    async def safe_harbor(self, attempt_id: int, *, at: float) -> None:
        """The safe-harbor message started at ``at`` (the first time recorded stays)."""
        await self._update_attempt(
            attempt_id,
            {
                "safe_harbor_at": _kept(A.safe_harbor_at, at),
                "safe_harbor_played": True,
            },
        )

    async def _update_attempt(self, attempt_id: int, values: dict[str, Any]) -> None:
        async with dialer_transaction(self._engine) as connection:
            result = await connection.execute(
                update(ATTEMPTS).where(A.id == attempt_id).values(values)
            )
            if not result.rowcount:
                raise DialerNotFound("attempt", str(attempt_id))

    # --- the end of the call -------------------------------------------------------------

    async def finish(
        self, attempt_id: int, *, outcome: Outcome, ended_at: float, next: retries.Next
    ) -> bool:
        """End the attempt with ``outcome`` and schedule its contact by ``next``
        (``retries.after_attempt``): Dial → PENDING at ``next.at`` (a call back owned by
        ``next.owner``), Done → DONE with its reason. False, and nothing written, when the
        attempt had already ended (a replayed hang-up). The contact is left alone when a
        later attempt of it exists, and keeps its schedule when it is no longer DIALING (a
        disposition given during the call decided it; ``last_outcome`` is still written).
        Also how a restarted dialer closes the attempts it finds open."""
        async with dialer_transaction(self._engine) as connection:
            ended = await connection.execute(
                update(ATTEMPTS)
                .where(A.id == attempt_id, A.ended_at.is_(None))
                .values(outcome=outcome.value, ended_at=_utc(ended_at))
                .returning(A.contact_id)
            )
            contact_id = ended.scalar()
            if contact_id is None:
                if await _attempt_row(connection, attempt_id) is None:
                    raise DialerNotFound("attempt", str(attempt_id))
                return False
            latest = _latest_attempt_of_contact(contact_id, attempt_id)
            await connection.execute(
                update(CONTACTS).where(latest).values(last_outcome=outcome.value)
            )
            await connection.execute(
                update(CONTACTS)
                .where(latest, CONTACTS.c.status == ContactStatus.DIALING.value)
                .values(self._scheduled(next))
            )
        log.info("dialer.attempt.finished", attempt=attempt_id, outcome=outcome.value)
        return True

    async def dispose(
        self,
        attempt_id: int,
        *,
        disposition: str,
        agent_id: str,
        next: retries.Next,
        now: float,
        do_not_call: bool,
    ) -> StoredAttempt:
        """Record the agent's ``disposition`` of the attempt and decide its contact's final
        state by ``next`` (``retries.after_disposition``: Done → DONE, Dial → PENDING call
        back at ``next.at`` owned by ``next.owner``), unless a later attempt of the contact
        exists. The same disposition again changes nothing; another one is a
        DialerConflict. ``agent_id`` is kept when the attempt names no agent yet.

        ``do_not_call``: the contact is DONE (DO_NOT_CALL, whatever ``next`` says) and its
        number goes on the GLOBAL do-not-call list, source
        ``disposition:<campaign>/<attempt>``, in the same transaction. Global, because a
        customer who asks not to be called means the caller — the seller behind every
        campaign — not one campaign's list; an operator may narrow it by hand."""
        if do_not_call:
            next = retries.Done(retries.DoneReason.DO_NOT_CALL)
        async with dialer_transaction(self._engine) as connection:
            row = await _attempt_row(connection, attempt_id)
            if row is None:
                raise DialerNotFound("attempt", str(attempt_id))
            taken = await connection.execute(
                update(ATTEMPTS)
                .where(A.id == attempt_id, A.disposition.is_(None))
                .values(disposition=disposition, agent_id=func.coalesce(A.agent_id, agent_id))
            )
            if not taken.rowcount:
                stored = await _attempt_row(connection, attempt_id)
                assert stored is not None  # attempts are never deleted
                if stored.disposition != disposition:
                    raise DialerConflict(
                        f"attempt {attempt_id} already has disposition {stored.disposition!r}"
                    )
                return _stored_attempt(stored)
            await connection.execute(
                update(CONTACTS)
                .where(_latest_attempt_of_contact(row.contact_id, attempt_id))
                .values(self._scheduled(next))
            )
            if do_not_call:
                await connection.execute(
                    self._insert(DNC)
                    .values(
                        number=row.number,
                        campaign_id=None,
                        added_at=_utc(now),
                        source=f"disposition:{row.campaign_id}/{attempt_id}",
                    )
                    .on_conflict_do_nothing()
                )
            stored = await _attempt_row(connection, attempt_id)
        assert stored is not None
        log.info(
            "dialer.attempt.disposed",
            attempt=attempt_id,
            disposition=disposition,
            do_not_call=do_not_call,
        )
        return _stored_attempt(stored)

    def _scheduled(self, next: retries.Next) -> dict[str, Any]:
        """The contact's columns for what follows an attempt."""
        if isinstance(next, retries.Dial):
            return {
                "status": ContactStatus.PENDING.value,
                "next_attempt_at": _utc(next.at),
                "callback_owner": next.owner,
                "call_back": next.call_back,
                "done_reason": None,
                "updated_at": self._clock.now(),
            }
        return {
            "status": ContactStatus.DONE.value,
            "next_attempt_at": None,
            "callback_owner": None,
            "call_back": False,
            "done_reason": next.reason.value,
            "updated_at": self._clock.now(),
        }

    # --- reading back --------------------------------------------------------------------

    async def get(self, attempt_id: int) -> StoredAttempt | None:
        async with dialer_transaction(self._engine) as connection:
            row = await _attempt_row(connection, attempt_id)
        return None if row is None else _stored_attempt(row)

    async def history(self, contact_id: str) -> list[retries.Attempt]:
        """The contact's ended attempts as ``retries.after_attempt`` takes them, in time
        order."""
        statement = (
            select(A.ended_at, A.outcome)
            .where(A.contact_id == contact_id, A.ended_at.is_not(None), A.outcome.is_not(None))
            .order_by(A.ended_at, A.id)
        )
        async with dialer_transaction(self._engine) as connection:
            rows = (await connection.execute(statement)).all()
        return [(ended_at.timestamp(), Outcome(outcome)) for ended_at, outcome in rows]

    async def attempts_of(self, contact_id: str) -> list[StoredAttempt]:
        """Every attempt of the contact, oldest first."""
        return await self._attempts(A.contact_id == contact_id)

    async def open_attempts(self, campaign_id: str | None = None) -> list[StoredAttempt]:
        """Attempts not ended yet (of one campaign, or all), oldest first: after a restart
        the dialer reconciles them with Asterisk by ``action_id`` and ``finish``es them."""
        where: Any = A.ended_at.is_(None)
        if campaign_id is not None:
            where = where & (A.campaign_id == campaign_id)
        return await self._attempts(where)

    async def _attempts(self, where: Any) -> list[StoredAttempt]:
        statement = select(ATTEMPTS).where(where).order_by(A.started_at, A.id)
        async with dialer_transaction(self._engine) as connection:
            return [_stored_attempt(row) for row in await connection.execute(statement)]

    # --- compliance and the live view ----------------------------------------------------

    async def answered_calls(
        self,
        campaign_id: str,
        *,
        since: float,
        until: float | None = None,
        batch_size: int = DEFAULT_STREAM_BATCH,
    ) -> AsyncIterator[AnsweredCall]:
        """The campaign's attempts answered in [``since``, ``until``), machines included
        (``person`` False), by answer time: the rows of ``/compliance.csv``.

        Read in batches of ``batch_size``, each its own short transaction, continuing after
        the last (answered_at, id) read: memory holds one batch, and a slow reader (an HTTP
        client) holds no transaction or cursor open between batches."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        where = [A.campaign_id == campaign_id, A.answered_at >= _utc(since)]
        if until is not None:
            where.append(A.answered_at < _utc(until))
        statement = (
            select(
                A.id,
                A.contact_id,
                A.number,
                A.answered_at,
                A.agent_connected_at,
                A.safe_harbor_at,
                (~IS_MACHINE).label("person"),
            )
            .where(*where)
            .order_by(A.answered_at, A.id)
            .limit(batch_size)
        )
        after: tuple[datetime, int] | None = None
        while True:
            page = statement
            if after is not None:
                page = page.where(
                    or_(A.answered_at > after[0], and_(A.answered_at == after[0], A.id > after[1]))
                )
            async with dialer_transaction(self._engine) as connection:
                rows = (await connection.execute(page)).all()
            for row in rows:
                yield AnsweredCall(
                    attempt_id=str(row.id),
                    contact_id=row.contact_id,
                    number=row.number,
                    answered_at=row.answered_at.timestamp(),
                    connected_at=_epoch(row.agent_connected_at),
                    person=bool(row.person),
                    safe_harbor_at=_epoch(row.safe_harbor_at),
                )
            if len(rows) < batch_size:
                return
            after = (rows[-1].answered_at, rows[-1].id)

    async def daily_tallies(
        self, campaign_id: str, *, since: float, report_zone: str
    ) -> dict[date, AbandonTally]:
        """Live answers and abandoned calls per ``report_zone`` day, from the calls
        answered since ``since`` (for ``AbandonLedger.load`` at start-up): each call judged
        by ``compliance.verdict``, as the live ledger and the CSV judge it. Quiet days are
        left out."""
        zone = ZoneInfo(report_zone)
        answered: dict[date, int] = {}
        abandoned: dict[date, int] = {}
        async for call in self.answered_calls(campaign_id, since=since):
            found = verdict(call)
            if found is Verdict.MACHINE:
                continue
            day = datetime.fromtimestamp(call.answered_at, zone).date()
            answered[day] = answered.get(day, 0) + 1
            abandoned[day] = abandoned.get(day, 0) + int(found is Verdict.ABANDONED)
        return {day: AbandonTally(answered[day], abandoned[day]) for day in sorted(answered)}

    async def campaign_counts(self, campaign_id: str, *, since: float) -> AttemptCounts:
        """The campaign's attempts started since ``since`` (local midnight, for "today"),
        counted in one query. ``abandoned`` and ``machines`` are outcomes as the dialer
        recorded them."""
        statement = select(
            func.count(),
            func.count().filter(A.answered_at.is_not(None) & ~IS_MACHINE),
            func.count().filter(A.agent_connected_at.is_not(None)),
            func.count().filter(A.outcome == Outcome.MACHINE.value),
            func.count().filter(A.outcome == Outcome.ABANDONED.value),
            func.count().filter(A.ended_at.is_(None)),
        ).where(A.campaign_id == campaign_id, A.started_at >= _utc(since))
        async with dialer_transaction(self._engine) as connection:
            row = (await connection.execute(statement)).one()
        return AttemptCounts(*(int(count) for count in row))


# --- rows and statements -----------------------------------------------------------------


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _kept(column: Any, at: float) -> Any:
    """``column``, or ``at`` when it is still NULL: the first time recorded stays."""
    return func.coalesce(column, literal(_utc(at), UtcDateTime()))


def _epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


class Fenced(DialerConflict):
    """This instance's leadership epoch is not the database's: a newer leader took over."""


async def _check_epoch(connection: AsyncConnection, epoch: int | None) -> None:
    # FOR SHARE: a new leader's epoch bump waits for this claim's transaction, so a claim
    # never commits under an epoch that is already superseded.
    current = await connection.scalar(
        select(LEADERSHIP.c.epoch).where(LEADERSHIP.c.id == 1).with_for_update(read=True)
    )
    if epoch is None or current != epoch:
        raise Fenced(f"leadership epoch {epoch} is not the current one ({current}): not claimed")


async def _attempt_row(connection: AsyncConnection, attempt_id: int) -> Row[Any] | None:
    return (await connection.execute(select(ATTEMPTS).where(A.id == attempt_id))).first()


def _latest_attempt_of_contact(contact_id: str, attempt_id: int) -> Any:
    """The contact's row, while ``attempt_id`` is its latest attempt (ids only grow)."""
    later = exists().where(A.contact_id == contact_id, A.id > attempt_id)
    return and_(CONTACTS.c.id == contact_id, ~later)


def _stored_attempt(row: Row[Any]) -> StoredAttempt:
    return StoredAttempt(
        attempt_id=row.id,
        campaign_id=row.campaign_id,
        contact_id=row.contact_id,
        number=row.number,
        started_at=row.started_at.timestamp(),
        answered_at=_epoch(row.answered_at),
        connected_at=_epoch(row.agent_connected_at),
        safe_harbor_at=_epoch(row.safe_harbor_at),
        ended_at=_epoch(row.ended_at),
        agent_id=row.agent_id,
        outcome=None if row.outcome is None else Outcome(row.outcome),
        amd_status=row.amd_status,
        disposition=row.disposition,
        action_id=row.action_id,
        linkedid=row.linkedid,
        call_back=row.call_back,
        safe_harbor_played=row.safe_harbor_played,
    )
