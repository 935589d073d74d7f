"""When a contact is dialed next, or why never again (pure: times are passed in).

Rules:

- **After an attempt** the last outcome decides. ``ANSWERED`` (a person talked to an agent)
  ends the contact unless the agent's disposition schedules a call back
  (``after_disposition``). Every other outcome follows the campaign's ``retries`` rule for
  it: dial again ``delay_s`` after the attempt, while the contact has had fewer than
  ``max_attempts`` attempts; an outcome with no rule is not retried.
- **Attempts are counted per series.** A series starts with the first dial or with the
  first attempt after a conversation (ANSWERED): the only way to dial after a conversation
  is a call back the customer agreed to, and unanswered tries at the old series must not
  use up the call back's attempts. Every outcome of the series counts, not only the one
  being retried (``RetryRule``: "attempts in all, first call included").
- **Dispositions** (after ANSWERED): ``do-not-call`` ends the contact — always, whatever
  else was asked (the caller puts the number on the DNC list); a call-back time schedules
  a call back, owned by the agent or by anyone; otherwise the contact is done.
  ``call-back`` without a time is refused (the API answers 422), as is a disposition the
  campaign does not list.
- **Everything is pushed into a calling window** (``windows.next_open``): a retry due at
  21:30 New York time is dialed at 8:00 the next open day; a call back asked for at 22:00
  moves the same way and keeps the time asked for, so the agent's screen can show the move.
  No open instant within the search horizon (no usable time zone, holidays) ends the
  contact with ``NO_WINDOW`` — the store may re-check it when the campaign changes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ccd.dialer.model import Campaign, Contact, Outcome
from ccd.dialer.windows import next_open

# One dial attempt of a contact: when it ended (epoch seconds) and how.
Attempt = tuple[float, Outcome]

DO_NOT_CALL = "do-not-call"
CALL_BACK = "call-back"


class DoneReason(enum.Enum):
    ANSWERED = "answered"  # talked to an agent; nothing more scheduled
    DO_NOT_CALL = "do-not-call"  # the customer asked never to be called again
    MAX_ATTEMPTS = "max-attempts"  # the series used all the attempts its rule allows
    NO_RETRY = "no-retry"  # the campaign has no retry rule for the outcome
    NO_WINDOW = "no-window"  # no callable instant within the search horizon


@dataclass(frozen=True, slots=True)
class Done:
    """The contact is not dialed again (by this campaign)."""

    reason: DoneReason


@dataclass(frozen=True, slots=True)
class Dial:
    """Dial the contact at ``at`` (inside a calling window). ``due`` is when the retry
    rule or the agent wanted it, before it was pushed into a window; ``owner`` is the
    agent a call back belongs to (None: anyone may take it)."""

    at: float
    due: float
    call_back: bool = False
    owner: str | None = None


Next = Dial | Done


def series(history: Sequence[Attempt]) -> list[Attempt]:
    """The attempts of the current series: those after the last conversation, in time
    order (the conversation itself belongs to the series it ended)."""
    ordered = sorted(history, key=lambda attempt: attempt[0])
    for index in range(len(ordered) - 1, -1, -1):
        if ordered[index][1] is Outcome.ANSWERED and index < len(ordered) - 1:
            return ordered[index + 1 :]
    return ordered


def after_attempt(contact: Contact, campaign: Campaign, history: Sequence[Attempt]) -> Next:
    """What follows the latest attempt of ``history`` (which must hold it)."""
    if not history:
        raise ValueError("after_attempt needs the attempt that just ended in the history")
    current = series(history)
    at, outcome = current[-1]
    if outcome is Outcome.ANSWERED:
        return Done(DoneReason.ANSWERED)  # a call back comes from after_disposition
    rule = campaign.retries.get(outcome)
    if rule is None:
        return Done(DoneReason.NO_RETRY)
    if len(current) >= rule.max_attempts:
        return Done(DoneReason.MAX_ATTEMPTS)
    due = at + rule.delay_s
    return _pushed(contact, campaign, due, due, call_back=False, owner=None)


def call_back(
    contact: Contact, campaign: Campaign, at: float, now: float, owner: str | None = None
) -> Next:
    """A call back asked for at ``at`` (by ``owner``, or for anyone when None): never
    before ``now``, and inside a calling window."""
    return _pushed(contact, campaign, at, max(at, now), call_back=True, owner=owner)


def after_disposition(
    contact: Contact,
    campaign: Campaign,
    disposition: str,
    now: float,
    call_back_at: float | None = None,
    agent_id: str | None = None,
) -> Next:
    """What follows an answered call the agent closed with ``disposition``. A call back
    at ``call_back_at`` is owned by ``agent_id`` (None: by anyone)."""
    if disposition not in campaign.dispositions:
        raise ValueError(f"disposition {disposition!r} is not one of the campaign's")
    if disposition == DO_NOT_CALL:
        return Done(DoneReason.DO_NOT_CALL)  # wins over any call back asked with it
    if call_back_at is not None:
        return call_back(contact, campaign, call_back_at, now, agent_id)
    if disposition == CALL_BACK:
        raise ValueError("a call-back disposition needs the time to call back")
    return Done(DoneReason.ANSWERED)


def _pushed(
    contact: Contact,
    campaign: Campaign,
    due: float,
    earliest: float,
    *,
    call_back: bool,
    owner: str | None,
) -> Next:
    at = next_open(contact, campaign, earliest)
    if at is None:
        return Done(DoneReason.NO_WINDOW)
    return Dial(at=at, due=due, call_back=call_back, owner=owner)
