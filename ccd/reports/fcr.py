"""First-contact resolution (pure).

A handled call is **resolved at first contact** unless

- the same customer (number) contacts the same scope (the queue; for calls without a
  queue, the campaign) again within the window (default 72 h) after it started — any later
  call counts, answered or not; a repeat at exactly ``started + window`` still counts; or
- its disposition is one of the unresolved dispositions (e.g. the agent set ``call-back``).

Anonymous numbers (no digit at all: ``""``, ``anonymous``, ``Restricted``…) never match
another call, so only their disposition can make them unresolved.

``resolve`` takes calls in start order and yields each handled call with its verdict as
soon as it is final — when a later call is seen, or when the window has passed — so memory
holds only the handled calls of the last window, not the whole range.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Contact:
    """One call as FCR sees it."""

    call_id: str
    customer: str  # the customer's number: caller for inbound, callee for outbound
    scope: str | None  # "queue:<id>" or "campaign:<id>"; None: never a repeat
    started_at: datetime
    handled: bool  # answered by an agent
    unresolved_disposition: bool = False
    ref: object = None  # the caller's own tag (e.g. where to count the verdict)


def is_anonymous(number: str) -> bool:
    return not any(ch.isdigit() for ch in number)


class _Pending:
    __slots__ = ("contact", "repeated")

    def __init__(self, contact: Contact) -> None:
        self.contact = contact
        self.repeated = False


class FcrTracker:
    """``resolve`` one call at a time: ``push`` each call in ``started_at`` order and get
    the verdicts that became final; ``finish`` gives the rest."""

    def __init__(self, window: timedelta) -> None:
        if window < timedelta(0):
            raise ValueError("the FCR window must not be negative")
        self._window = window
        self._in_order: deque[_Pending] = deque()
        self._by_key: dict[tuple[str, str], list[_Pending]] = {}
        self._last: datetime | None = None

    def push(self, contact: Contact) -> list[tuple[Contact, bool]]:
        at = contact.started_at
        if self._last is not None and at < self._last:
            raise ValueError("contacts must come in started_at order")
        self._last = at
        final: list[tuple[Contact, bool]] = []
        # Calls whose window has passed are final (a repeat at exactly the edge counts).
        while self._in_order and self._in_order[0].contact.started_at + self._window < at:
            final.append(_verdict(self._in_order.popleft()))
        key = _key(contact)
        if key is not None:
            waiting = self._by_key.get(key)
            if waiting:
                # The same instant is not "again".
                keep = [p for p in waiting if p.contact.started_at >= at]
                for pending in waiting:
                    if pending.contact.started_at < at:
                        pending.repeated = True
                if keep:
                    self._by_key[key] = keep
                else:
                    del self._by_key[key]
        if contact.handled:
            pending = _Pending(contact)
            self._in_order.append(pending)
            if key is not None:
                self._by_key.setdefault(key, []).append(pending)
        _prune(self._by_key, self._in_order)
        return final

    def finish(self) -> list[tuple[Contact, bool]]:
        final = [_verdict(p) for p in self._in_order]
        self._in_order.clear()
        self._by_key.clear()
        return final


def resolve(contacts: Iterable[Contact], window: timedelta) -> Iterator[tuple[Contact, bool]]:
    """(handled call, resolved at first contact) for every handled call in ``contacts``,
    which must come in ``started_at`` order (ValueError otherwise)."""
    tracker = FcrTracker(window)
    for contact in contacts:
        yield from tracker.push(contact)
    yield from tracker.finish()


def _key(contact: Contact) -> tuple[str, str] | None:
    if contact.scope is None or is_anonymous(contact.customer):
        return None
    return contact.customer, contact.scope


def _verdict(pending: _Pending) -> tuple[Contact, bool]:
    contact = pending.contact
    return contact, not (pending.repeated or contact.unresolved_disposition)


def _prune(by_key: dict[tuple[str, str], list[_Pending]], in_order: deque[_Pending]) -> None:
    if len(by_key) <= 2 * len(in_order) + 64:
        return
    live = {id(p) for p in in_order}
    for key in [k for k, items in by_key.items() if not any(id(p) in live for p in items)]:
        del by_key[key]
