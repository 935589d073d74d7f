"""JSON views of the dialer's records: a contact with where it stands, one dial attempt,
a day's (or a period's) abandonment tally against the cap. Times are UTC ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ccd.api.serialize import iso
from ccd.db.dialer_attempts import StoredAttempt
from ccd.db.dialer_store import StoredContact
from ccd.dialer.compliance import within_cap
from ccd.dialer.model import AbandonTally


def _at(epoch: float | None) -> str | None:
    return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))


def contact_view(stored: StoredContact) -> dict[str, Any]:
    """A contact as an agent or a supervisor sees it: who, where in the campaign, and
    whose call back it is (``call_back_owner`` None: anyone's)."""
    contact = stored.contact
    return {
        "id": contact.id,
        "campaign_id": contact.campaign_id,
        "number": contact.number,
        "name": contact.name,
        "fields": dict(contact.fields),
        "time_zones": list(contact.time_zones),
        "status": stored.status.value,
        "attempts": stored.attempts,
        "next_attempt_at": iso(stored.next_attempt_at),
        "call_back": stored.call_back,
        "call_back_owner": stored.callback_owner,
        "last_outcome": None if stored.last_outcome is None else stored.last_outcome.value,
        "done_reason": None if stored.done_reason is None else stored.done_reason.value,
    }


def attempt_view(attempt: StoredAttempt) -> dict[str, Any]:
    return {
        "id": attempt.attempt_id,
        "campaign_id": attempt.campaign_id,
        "contact_id": attempt.contact_id,
        "number": attempt.number,
        "started_at": _at(attempt.started_at),
        "answered_at": _at(attempt.answered_at),
        "agent_connected_at": _at(attempt.connected_at),
        "safe_harbor_at": _at(attempt.safe_harbor_at),
        "ended_at": _at(attempt.ended_at),
        "agent_id": attempt.agent_id,
        "outcome": None if attempt.outcome is None else attempt.outcome.value,
        "amd_status": attempt.amd_status,
        "disposition": attempt.disposition,
        "call_back": attempt.call_back,
        "safe_harbor_played": attempt.safe_harbor_played,
    }


def tally_view(tally: AbandonTally, cap_pct: float) -> dict[str, Any]:
    """Live answers, abandoned calls, their rate and whether it is within the cap (exact
    arithmetic: 3 of 100 is within 3 %)."""
    return {
        "answered": tally.answered,
        "abandoned": tally.abandoned,
        "rate_pct": round(tally.rate_pct, 3),
        "within_cap": within_cap(tally, cap_pct),
    }
