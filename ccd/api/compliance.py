"""A campaign's abandonment compliance over HTTP: the report (today, the rolling 30 days
and each of those days against the cap, in the report zone's days) and the evidence, one
CSV row per answered call with its 2-second verdict, streamed.

Both read the attempt records (``AttemptStore``), not the running dialer, so they are the
same whether the campaign is running, paused or stopped; the figures are judged by
``ccd.dialer.compliance`` exactly as the dialer's live ledger judges them.

Routes (roles in ``ccd.api.policy``: admins, supervisors and integrators — reporting
systems — as for live calls; agents never, the evidence lists customers' numbers):
``GET /api/v1/campaigns/{id}/compliance`` and ``GET /api/v1/campaigns/{id}/compliance.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime
from typing import Annotated

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.api.campaign_live import load_ledger
from ccd.api.campaigns import CampaignPath, dialer_errors, stored_campaign
from ccd.api.cdrs import IsoDateTime, csv_cell
from ccd.api.context import DEPS
from ccd.api.dialer_runtime import REPORT_ZONE, attempt_store, today_of, window_start
from ccd.api.dialer_views import tally_view
from ccd.api.downloads import start_csv_download, stream_csv_body, wants_body
from ccd.api.handlers import model_json
from ccd.api.models.campaigns import ComplianceReport
from ccd.api.openapi.operation import Payload, operation
from ccd.api.problems import FieldError, validation_problem
from ccd.api.serialize import iso
from ccd.api.validation import query_model
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.stores import StoreUnavailable
from ccd.dialer.compliance import CSV_FIELDS, AnsweredCall, ComplianceRow, compliance_rows
from ccd.dialer.model import LEGAL_ABANDON_CAP_PCT

log = structlog.get_logger("ccd.api")

CSV_BATCH = 500  # calls turned into rows and written at a time


class CsvQuery(BaseModel):
    """The answer times [from, to) of the calls listed (default: the rolling 30 days)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_: Annotated[
        IsoDateTime,
        Field(alias="from", description="ISO 8601 date-time with an offset, inclusive"),
    ] = None
    to: Annotated[
        IsoDateTime, Field(description="ISO 8601 date-time with an offset, exclusive")
    ] = None


COMPLIANCE_CSV = Payload(
    "text/csv",
    "A header row (" + ", ".join(CSV_FIELDS) + ") and one row per answered call, by answer"
    " time. A body cut short (unterminated chunked encoding) means the export failed.",
)


# --- the report --------------------------------------------------------------------------


@operation(
    "The campaign's abandonment rate against its cap: today, the rolling 30 days, each day",
    path=CampaignPath,
    responses={200: ComplianceReport},
    problems=(404, 503),
    description="Days are the report zone's. 503 without the attempt records.",
)
async def compliance_report(request: web.Request) -> web.Response:
    stored = await stored_campaign(request)
    campaign = stored.campaign
    attempts = attempt_store(request)
    zone = request.app[REPORT_ZONE]
    now = request.app[DEPS].clock.now()
    with dialer_errors():
        ledger = await load_ledger(attempts, campaign.id, now, zone)
    epoch = now.timestamp()
    cap = campaign.abandon_cap_pct
    days = ledger.per_day(epoch)
    return model_json(
        ComplianceReport.model_validate(
            {
                "campaign_id": campaign.id,
                "cap_pct": cap,
                # A cap above the legal 3 % is allowed only with this override; the report says
                # so in as many words.
                "cap_override": campaign.cap_override,
                "legal_cap_pct": LEGAL_ABANDON_CAP_PCT,
                "above_legal_cap": cap > LEGAL_ABANDON_CAP_PCT,
                "report_zone": zone,
                "as_of": iso(now),
                "today": {
                    "day": today_of(now, zone).isoformat(),
                    **tally_view(ledger.today(epoch), cap),
                },
                "rolling_30_days": {
                    "from_day": days[0][0].isoformat(),
                    "to_day": days[-1][0].isoformat(),
                    **tally_view(ledger.rolling(epoch), cap),
                },
                "per_day": [
                    {"day": day.isoformat(), **tally_view(tally, cap)} for day, tally in days
                ],
            }
        )
    )


# --- the evidence ------------------------------------------------------------------------


def _csv_query(request: web.Request) -> CsvQuery:
    query = query_model(CsvQuery, request.query)
    if query.from_ is not None and query.to is not None and query.from_ > query.to:
        raise validation_problem([FieldError("from", "must not be later than to")])
    return query


def _cell(value: object) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return csv_cell(value)  # formula triggers neutralised as in the CDR export


def _csv_text(rows: Iterable[Iterable[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180 quoting
    return buffer.getvalue().encode()


def _cells(rows: Iterable[ComplianceRow]) -> Iterable[list[str]]:
    for row in rows:
        yield [_cell(getattr(row, name)) for name in CSV_FIELDS]


class _Batches:
    """The answered calls in lists of ``CSV_BATCH``, reading ahead one batch at most."""

    def __init__(self, attempts: AttemptStore, campaign_id: str, since: float, until: float | None):
        self._calls = aiter(attempts.answered_calls(campaign_id, since=since, until=until))
        self._done = False

    async def next(self) -> list[AnsweredCall]:
        batch: list[AnsweredCall] = []
        while not self._done and len(batch) < CSV_BATCH:
            try:
                batch.append(await anext(self._calls))
            except StopAsyncIteration:
                self._done = True
        return batch

    async def close(self) -> None:
        closer = getattr(self._calls, "aclose", None)
        if closer is not None:
            await closer()


@operation(
    "The compliance evidence: every answered call with its 2-second verdict (CSV)",
    path=CampaignPath,
    query=CsvQuery,
    responses={200: COMPLIANCE_CSV},
    problems=(404, 503),
    description=(
        "Streamed; `from` later than `to` is 422. 503 without the attempt records or when"
        " the database fails before the first row."
    ),
)
async def compliance_csv(request: web.Request) -> web.StreamResponse:
    """Every answered call of the campaign in [from, to) (default: the rolling 30 days up
    to now), by answer time: a header of ``CSV_FIELDS`` and one row per call, streamed a
    batch at a time (memory does not grow with the rows)."""
    stored = await stored_campaign(request)
    campaign = stored.campaign
    query = _csv_query(request)
    attempts = attempt_store(request)
    zone = request.app[REPORT_ZONE]
    now = request.app[DEPS].clock.now()
    since = query.from_.timestamp() if query.from_ is not None else window_start(now, zone)
    until = query.to.timestamp() if query.to is not None else None
    batches = _Batches(attempts, campaign.id, since, until)
    try:
        # The first batch is read before any byte is sent: a database outage is a 503
        # problem, not a truncated file.
        with dialer_errors():
            batch = await batches.next()
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        response = await start_csv_download(request, f"compliance-{campaign.id}-{stamp}.csv")
        if not wants_body(request):
            return response
        await response.write(_csv_text([CSV_FIELDS]))

        async def chunks() -> AsyncIterator[tuple[bytes, int]]:
            rows = batch
            while rows:
                yield _csv_text(_cells(compliance_rows(rows, zone))), len(rows)
                rows = await batches.next()

        written = await stream_csv_body(request, response, chunks(), _export_cut_short)
        if written is not None:
            log.info("compliance export done", campaign=campaign.id, rows=written)
        return response
    finally:
        await batches.close()


def _export_cut_short(exc: Exception, written: int) -> None:
    if isinstance(exc, StoreUnavailable):
        log.warning("compliance export cut short: database unavailable", rows=written)
    else:
        log.exception("compliance export failed", rows=written)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/campaigns/{id}/compliance", compliance_report, name="campaigns.compliance")
    r.add_get(
        "/api/v1/campaigns/{id}/compliance.csv", compliance_csv, name="campaigns.compliance_csv"
    )
