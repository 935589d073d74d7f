"""Do-not-call lists over HTTP: the global list and one per campaign (``?campaign=``).

Admins and supervisors list, add, remove and import; agents (and they) may only ``check``
a number: an agent about to call someone back may ask whether the number is blocked, but
never read or change a list. Numbers are normalised to E.164 with ``phonenumbers``: written
without ``+`` and a country code they are read in ``region`` (the campaign's default
region, else ``US``).

Errors: a bad field or parameter is a 422 naming it; an unknown campaign 404; the database
unavailable 503.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.acd.seed import ID_PATTERN, Id
from ccd.api.campaigns import dialer_errors, dialer_store
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import no_store_json, read_json
from ccd.api.problems import FieldError, not_found, validation_problem
from ccd.api.serialize import iso
from ccd.api.uploads import BadRows, csv_lines, import_report, query_param
from ccd.api.validation import check_path_param
from ccd.db.dialer_store import E164, DncEntry
from ccd.dialer.contacts import (
    CsvUnusable,
    NumberProblem,
    check_region,
    normalise_number,
    read_dnc,
)

log = structlog.get_logger("ccd.api")

DEFAULT_REGION = "US"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
_ID = re.compile(ID_PATTERN)


class AddBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    number: Annotated[str, Field(min_length=1, max_length=40)]
    campaign_id: Id | None = None
    region: Annotated[str, Field(min_length=2, max_length=2)] | None = None


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


def _campaign_param(request: web.Request) -> str | None:
    campaign_id = query_param(request, "campaign")
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


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = query_param(request, name)
    if value is None:
        return default
    # ASCII only: str.isdigit() also accepts '²', which int() refuses (a 500).
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise validation_problem([FieldError(name, f"must be an integer from {low} to {high}")])
    return int(value)


def _by(request: web.Request) -> str:
    return request[PRINCIPAL].token_id


async def list_dnc(request: web.Request) -> web.Response:
    campaign_id = _campaign_param(request)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    cursor = query_param(request, "cursor") or None
    if cursor is not None and not E164.fullmatch(cursor):
        raise validation_problem([FieldError("cursor", "must be a next_cursor from a listing")])
    await _campaign_region(request, campaign_id)  # 404 for an unknown campaign
    with dialer_errors():
        entries = await dialer_store(request).list_dnc(
            campaign_id=campaign_id, after=cursor, limit=limit
        )
    return no_store_json(
        {
            "campaign_id": campaign_id,
            "entries": [entry_view(e) for e in entries],
            # More may follow: ask again with cursor = next_cursor.
            "next_cursor": entries[-1].number if len(entries) == limit else None,
        }
    )


async def add_dnc(request: web.Request) -> web.Response:
    body = await read_json(request, AddBody)
    fallback = await _campaign_region(request, body.campaign_id)
    number = _number(body.number, _region(body.region, "region", fallback))
    with dialer_errors():
        added = await dialer_store(request).add_dnc([number], campaign_id=body.campaign_id)
    log.info("dialer dnc add", campaign=body.campaign_id, added=added, token_id=_by(request))
    return no_store_json(
        {"number": number, "campaign_id": body.campaign_id, "added": bool(added)},
        status=201 if added else 200,
    )


async def remove_dnc(request: web.Request) -> web.Response:
    campaign_id = _campaign_param(request)
    fallback = await _campaign_region(request, campaign_id)
    region = _region(query_param(request, "region"), "region", fallback)
    number = _number(check_path_param("number", request.match_info["number"]), region)
    with dialer_errors():
        removed = await dialer_store(request).remove_dnc(number, campaign_id=campaign_id)
    if not removed:
        where = f"campaign {campaign_id!r}'s list" if campaign_id else "the global list"
        raise not_found(f"{number} is not on {where}")
    log.info("dialer dnc remove", campaign=campaign_id, token_id=_by(request))
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


async def check_dnc(request: web.Request) -> web.Response:
    campaign_id = _campaign_param(request)
    raw = query_param(request, "number")
    if not raw:
        raise validation_problem([FieldError("number", "required")])
    fallback = await _campaign_region(request, campaign_id)
    number = _number(raw, _region(query_param(request, "region"), "region", fallback))
    with dialer_errors():
        entries = await dialer_store(request).dnc_entries(number, campaign_id=campaign_id)
    return no_store_json(
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


async def import_dnc(request: web.Request) -> web.Response:
    campaign_id = _campaign_param(request)
    fallback = await _campaign_region(request, campaign_id)
    region = _region(query_param(request, "region"), "region", fallback)
    phone_column = query_param(request, "phone_column") or None
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
    return no_store_json(import_report(counts, bad))


def add_routes(app: web.Application) -> None:
    """The store is the campaigns' (``ccd.api.campaigns.add_routes`` sets it)."""
    r = app.router
    r.add_get("/api/v1/dnc", list_dnc, name="dnc.list")
    r.add_post("/api/v1/dnc", add_dnc, name="dnc.add")
    r.add_get("/api/v1/dnc/check", check_dnc, name="dnc.check")
    r.add_post("/api/v1/dnc/import", import_dnc, name="dnc.upload")
    r.add_delete("/api/v1/dnc/{number}", remove_dnc, name="dnc.remove")
