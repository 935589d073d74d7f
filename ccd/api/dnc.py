"""Do-not-call lists over HTTP: the global list and one per campaign (``?campaign=``).

Admins and supervisors list, add, remove and import; agents (and they) may only ``check``
a number: an agent about to call someone back may ask whether the number is blocked, but
never read or change a list. Numbers are normalised to E.164 with ``phonenumbers``: written
without ``+`` and a country code they are read in ``region`` (the campaign's default
region, else ``US``).

Errors: a bad field or parameter is a 422 naming it; an unknown campaign 404; the database
unavailable 503.

Changes are written to the audit trail after they are stored (admins read it): ``dnc.added``
and ``dnc.removed`` with the number and its list, ``dnc.imported`` with the counts; a
process without a trail answers 503 before changing anything.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.acd.seed import ID_PATTERN, Id
from ccd.api.audit_trail import audit_log, record_done
from ccd.api.campaigns import REGION_PATTERN, dialer_errors, dialer_store
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import model_json, read_json
from ccd.api.models.dnc import DncAdded, DncCheck, DncEntryView, DncPage
from ccd.api.models.uploads import ImportReport
from ccd.api.openapi.operation import operation
from ccd.api.problems import FieldError, not_found, validation_problem
from ccd.api.serialize import iso
from ccd.api.uploads import CSV_UPLOAD, BadRows, csv_lines, import_report
from ccd.api.validation import check_path_param, query_model
from ccd.db.dialer_store import E164, DncEntry
from ccd.dialer.contacts import (
    CsvUnusable,
    NumberProblem,
    check_region,
    normalise_number,
    read_dnc,
)
from ccd.domain.audit import AuditEntry

log = structlog.get_logger("ccd.api")

DEFAULT_REGION = "US"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_ID = re.compile(ID_PATTERN)


CAMPAIGN_DOC = "a campaign's list (404 if there is no such campaign); empty or absent: global"
NUMBER_EXAMPLES = ["+12125550123", "(212) 555-0123"]
REGION_DOC = "ISO 3166 region a number without + is read in (the campaign's, else US)"


class AddBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    number: Annotated[
        str,
        Field(
            min_length=1,
            max_length=40,
            description="E.164, or a national number read in region",
            examples=NUMBER_EXAMPLES,
        ),
    ]
    campaign_id: Id | None = Field(default=None, description="null or absent: the global list")
    region: Annotated[str, Field(min_length=2, max_length=2)] | None = Field(
        default=None, description=REGION_DOC, json_schema_extra={"pattern": REGION_PATTERN}
    )


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign: str | None = Field(default=None, description=CAMPAIGN_DOC)


class ListQuery(_Query):
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = Field(
        default=DEFAULT_LIMIT, description="entries per page"
    )
    cursor: str | None = Field(
        default=None,
        description="the next_cursor of the page before; empty or absent: the first page",
        json_schema_extra={"pattern": f"^({E164.pattern})?$"},
    )


class RegionQuery(_Query):
    # Checked, not only documented: check_region alone would take " us" as US.
    region: str | None = Field(default=None, description=REGION_DOC, pattern=REGION_PATTERN)


class CheckQuery(RegionQuery):
    number: str = Field(
        min_length=1,
        description="the number to check, as dialed or E.164",
        examples=NUMBER_EXAMPLES,
    )


class ImportQuery(RegionQuery):
    phone_column: str | None = Field(default=None, description="the phone column (phone)")


def entry_view(entry: DncEntry) -> dict[str, Any]:
    return {
        "number": entry.number,
        "campaign_id": entry.campaign_id,
        "added_at": iso(entry.added_at),
        "source": entry.source,
    }


async def _campaign_region(request: web.Request, campaign_id: str | None) -> str:
    """The campaign's default region (404 if there is no such campaign), else US."""
    if campaign_id is None:
        return DEFAULT_REGION
    with dialer_errors():
        stored = await dialer_store(request).get_campaign(campaign_id)
    if stored is None:
        raise not_found(f"no campaign {campaign_id!r}")
    return stored.campaign.default_region


def _campaign_param(campaign_id: str | None) -> str | None:
    if campaign_id is None or campaign_id == "":
        return None
    if not _ID.match(campaign_id):
        raise not_found(f"no campaign {campaign_id!r}")
    return campaign_id


def _region(value: str | None, field: str, fallback: str) -> str:
    if value is None:
        return fallback
    try:
        return check_region(value)
    except ValueError as exc:
        raise validation_problem([FieldError(field, str(exc))]) from None


def _number(raw: str, region: str, field: str = "number") -> str:
    try:
        return normalise_number(raw, region)
    except NumberProblem as exc:
        raise validation_problem([FieldError(field, str(exc))]) from None


def _by(request: web.Request) -> str:
    return request[PRINCIPAL].token_id


def _list_name(campaign_id: str | None) -> str:
    return "global" if campaign_id is None else campaign_id


async def _audit(
    request: web.Request, action: str, kind: str, target_id: str, detail: dict[str, Any]
) -> None:
    await record_done(request.app, AuditEntry(request[PRINCIPAL], action, kind, target_id, detail))


@operation(
    "A do-not-call list, a page at a time, by number",
    query=ListQuery,
    responses={200: DncPage},
    problems=(404,),
)
async def list_dnc(request: web.Request) -> web.Response:
    query = query_model(ListQuery, request.query)
    campaign_id = _campaign_param(query.campaign)
    limit = query.limit
    cursor = query.cursor or None
    if cursor is not None and not E164.fullmatch(cursor):
        raise validation_problem([FieldError("cursor", "must be a next_cursor from a listing")])
    await _campaign_region(request, campaign_id)  # 404 for an unknown campaign
    with dialer_errors():
        entries = await dialer_store(request).list_dnc(
            campaign_id=campaign_id, after=cursor, limit=limit
        )
    return model_json(
        DncPage(
            campaign_id=campaign_id,
            entries=[DncEntryView.model_validate(entry_view(e)) for e in entries],
            # More may follow: ask again with cursor = next_cursor.
            next_cursor=entries[-1].number if len(entries) == limit else None,
        )
    )


@operation(
    "Put a number on the global list or a campaign's",
    body=AddBody,
    responses={201: DncAdded, 200: DncAdded},
    problems=(404,),
    description="201 when added, 200 when it was there already. Audited as `dnc.added`.",
)
async def add_dnc(request: web.Request) -> web.Response:
    body = await read_json(request, AddBody)
    fallback = await _campaign_region(request, body.campaign_id)
    number = _number(body.number, _region(body.region, "region", fallback))
    audit_log(request.app)  # no trail: 503 before anything is changed
    with dialer_errors():
        added = await dialer_store(request).add_dnc([number], campaign_id=body.campaign_id)
    log.info("dialer dnc add", campaign=body.campaign_id, added=added, token_id=_by(request))
    view = {"number": number, "campaign_id": body.campaign_id, "list": _list_name(body.campaign_id)}
    if added:  # a number already there is no change
        await _audit(request, "dnc.added", "dnc", number, {"before": None, "after": view})
    return model_json(
        DncAdded(number=number, campaign_id=body.campaign_id, added=bool(added)),
        status=201 if added else 200,
    )


@operation(
    "Take a number off the global list or a campaign's",
    query=RegionQuery,
    responses={204: None},
    problems=(404,),
    description=(
        "The path's number is read like the body of an add (E.164, or in `region`);"
        " 404 when it is not on that list. Audited as `dnc.removed`."
    ),
)
async def remove_dnc(request: web.Request) -> web.Response:
    query = query_model(RegionQuery, request.query)
    campaign_id = _campaign_param(query.campaign)
    fallback = await _campaign_region(request, campaign_id)
    region = _region(query.region, "region", fallback)
    number = _number(check_path_param("number", request.match_info["number"]), region)
    audit_log(request.app)  # no trail: 503 before anything is changed
    with dialer_errors():
        removed = await dialer_store(request).remove_dnc(number, campaign_id=campaign_id)
    if not removed:
        where = f"campaign {campaign_id!r}'s list" if campaign_id else "the global list"
        raise not_found(f"{number} is not on {where}")
    log.info("dialer dnc remove", campaign=campaign_id, token_id=_by(request))
    view = {"number": number, "campaign_id": campaign_id, "list": _list_name(campaign_id)}
    await _audit(request, "dnc.removed", "dnc", number, {"before": view, "after": None})
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


@operation(
    "Whether a number is blocked, and by which lists",
    query=CheckQuery,
    responses={200: DncCheck},
    problems=(404,),
    description="With `campaign`: the global list and that campaign's; else the global one.",
)
async def check_dnc(request: web.Request) -> web.Response:
    query = query_model(CheckQuery, request.query)
    campaign_id = _campaign_param(query.campaign)
    raw = query.number
    if not raw:
        raise validation_problem([FieldError("number", "required")])
    fallback = await _campaign_region(request, campaign_id)
    number = _number(raw, _region(query.region, "region", fallback))
    with dialer_errors():
        entries = await dialer_store(request).dnc_entries(number, campaign_id=campaign_id)
    return model_json(
        DncCheck.model_validate(
            {
                "number": number,
                "campaign_id": campaign_id,
                "blocked": bool(entries),
                "lists": [
                    {
                        "list": "global" if e.campaign_id is None else "campaign",
                        "campaign_id": e.campaign_id,
                        "added_at": iso(e.added_at),
                        "source": e.source,
                    }
                    for e in entries
                ],
            }
        )
    )


@operation(
    "Add the numbers of a CSV file to the global list or a campaign's",
    query=ImportQuery,
    body=CSV_UPLOAD,
    responses={200: ImportReport},
    problems=(404,),
    description=(
        "Streamed in batches; 200 with the counts and the bad rows, 422 when the file is"
        " unusable. Audited as `dnc.imported` (counts, never numbers)."
    ),
)
async def import_dnc(request: web.Request) -> web.Response:
    query = query_model(ImportQuery, request.query)
    campaign_id = _campaign_param(query.campaign)
    fallback = await _campaign_region(request, campaign_id)
    region = _region(query.region, "region", fallback)
    phone_column = query.phone_column or None
    audit_log(request.app)  # no trail: 503 before anything is changed
    bad = BadRows()
    async with csv_lines(request) as lines:
        try:
            rows = read_dnc(lines, default_region=region, phone_column=phone_column)
            with dialer_errors():
                counts = await dialer_store(request).import_dnc(
                    rows, campaign_id=campaign_id, source="api-import", on_bad_row=bad
                )
        except CsvUnusable as exc:
            raise validation_problem([FieldError("body", p) for p in exc.problems]) from None
    log.info(
        "dialer dnc import",
        campaign=campaign_id,
        read=counts.read,
        new=counts.new,
        rejected=counts.rejected,
        token_id=_by(request),
    )
    report = import_report(counts, bad)
    await _audit(
        request,
        "dnc.imported",
        "dnc_list",
        _list_name(campaign_id),
        {
            "campaign_id": campaign_id,
            **{
                key: report[key] for key in ("read", "imported", "new", "already_there", "rejected")
            },
        },
    )
    return model_json(ImportReport.model_validate(report))


def add_routes(app: web.Application) -> None:
    """The store is the campaigns' (``ccd.api.campaigns.add_routes`` sets it)."""
    r = app.router
    r.add_get("/api/v1/dnc", list_dnc, name="dnc.list")
    r.add_post("/api/v1/dnc", add_dnc, name="dnc.add")
    r.add_get("/api/v1/dnc/check", check_dnc, name="dnc.check")
    r.add_post("/api/v1/dnc/import", import_dnc, name="dnc.upload")
    r.add_delete("/api/v1/dnc/{number}", remove_dnc, name="dnc.remove")
