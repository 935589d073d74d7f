"""A campaign's ``live`` view: what the running dialer holds in memory (calls in flight by
stage, agents by state, the pacing's dial ratio, the abandonment ledger) merged with what
the database counts (contacts by status; today's attempts in the report zone; the
abandonment tallies when the dialer does not hold them, e.g. for a paused campaign).

Each part is there when its source is: without a dialer service or attempt records in
the process, ``live`` is the contact counts alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ccd.api.context import DEPS
from ccd.api.dialer_runtime import ATTEMPTS, DIALER, REPORT_ZONE, day_start, today_of, window_start
from ccd.api.dialer_views import tally_view
from ccd.api.serialize import iso
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import ContactStatus, DialerStore
from ccd.dialer.compliance import AbandonLedger
from ccd.dialer.model import AbandonTally, Campaign


async def load_ledger(
    attempts: AttemptStore, campaign_id: str, now: datetime, zone: str
) -> AbandonLedger:
    """The campaign's abandonment ledger for the 30 days ending today, from the attempt
    records (each call judged as the live ledger and the CSV judge it)."""
    ledger = AbandonLedger(zone)
    tallies = await attempts.daily_tallies(
        campaign_id, since=window_start(now, zone), report_zone=zone
    )
    for day, tally in tallies.items():
        ledger.load(day, tally)
    return ledger


async def live_view(request: web.Request, campaign: Campaign, store: DialerStore) -> dict[str, Any]:
    """The campaign's ``live`` (store errors propagate: the caller maps them)."""
    contacts = await store.contact_counts(campaign.id)
    view: dict[str, Any] = {
        "contacts": {
            "total": sum(contacts.values()),
            "left": contacts[ContactStatus.PENDING],
            "dialing": contacts[ContactStatus.DIALING],
            "done": contacts[ContactStatus.DONE],
        }
    }
    dialer = request.app[DIALER]
    running = dialer.live(campaign.id) if dialer is not None else None
    if running is not None:
        view.update(running)
        held = running.get("abandonment")
        if isinstance(held, dict):
            today, rolling = _tally(held.get("today")), _tally(held.get("rolling_30_days"))
            if today is not None and rolling is not None:
                view["abandonment"] = _abandonment(campaign, today, rolling, source="dialer")
            else:
                del view["abandonment"]  # not in a shape we know: read the records instead
        pacing = running.get("pacing")
        if isinstance(pacing, dict) and "dial_ratio" in pacing:
            view["dial_ratio"] = pacing["dial_ratio"]
    attempts = request.app[ATTEMPTS]
    if attempts is None:
        return view
    zone = request.app[REPORT_ZONE]
    now = request.app[DEPS].clock.now()
    since = day_start(today_of(now, zone), zone)
    counts_today = await attempts.campaign_counts(campaign.id, since=since)
    view["today"] = {
        "since": iso(datetime.fromtimestamp(since, UTC)),
        "report_zone": zone,
        "dialed": counts_today.dialed,
        "answered": counts_today.answered,
        "connected": counts_today.connected,
        "machines": counts_today.machines,
        "abandoned": counts_today.abandoned,
        "in_flight": counts_today.in_flight,
    }
    if "abandonment" not in view:
        ledger = await load_ledger(attempts, campaign.id, now, zone)
        epoch = now.timestamp()
        view["abandonment"] = _abandonment(
            campaign, ledger.today(epoch), ledger.rolling(epoch), source="records"
        )
    return view


def _abandonment(
    campaign: Campaign, today: AbandonTally, rolling: AbandonTally, *, source: str
) -> dict[str, Any]:
    return {
        "today": tally_view(today, campaign.abandon_cap_pct),
        "rolling_30_days": tally_view(rolling, campaign.abandon_cap_pct),
        "cap_pct": campaign.abandon_cap_pct,
        "source": source,  # "dialer": its live ledger; "records": read from the attempts
    }


def _tally(part: object) -> AbandonTally | None:
    if not isinstance(part, dict):
        return None
    answered, abandoned = part.get("answered"), part.get("abandoned")
    if not isinstance(answered, int) or not isinstance(abandoned, int):
        return None
    try:
        return AbandonTally(answered, abandoned)
    except ValueError:
        return None
