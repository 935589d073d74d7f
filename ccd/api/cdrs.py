"""Stored call detail records over HTTP: a filtered, keyset-paginated list, one call with
its legs, and a CSV export streamed in constant memory.

Routes (roles in ``ccd.api.policy``): ``GET /api/v1/cdrs``, ``GET /api/v1/cdrs/{id}``,
``GET /api/v1/cdrs.csv``. Agents see only calls whose ``agent_id`` is their own: on the
list and the CSV the ``agent`` filter is forced to their id (asking for another agent is
403); another agent's single CDR is 403 (an unknown id is 404).

Query parameters are validated like bodies: unknown or repeated names, CR/LF/NUL, bad
enum values and datetimes without a timezone are 422 problems naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import hashlib
import hmac
import io
import json
import operator
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import structlog
from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ccd.api.context import DEPS, PRINCIPAL
from ccd.api.downloads import start_csv_download, stream_csv_body, wants_body
from ccd.api.handlers import model_json
from ccd.api.models.cdrs import CdrDetailView, CdrPage, CdrView
from ccd.api.openapi.operation import Payload, operation
from ccd.api.policy import require_agent_self
from ccd.api.problems import (
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    forbidden,
    not_found,
    validation_problem,
)
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param, check_path_param, validate_body
from ccd.cdr.queries import (
    CdrDetail,
    CdrFilter,
    CdrPosition,
    CdrReader,
    CdrSort,
    CdrStoreUnavailable,
    StoredCdr,
)
from ccd.domain.auth import Principal, Role
from ccd.domain.cdr import Direction, Disposition, LegRecord
from ccd.domain.servers import SERVER_NAME_PATTERN

log = structlog.get_logger("ccd.api")

CDRS: web.AppKey[CdrReader] = web.AppKey("cdrs")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CSV_PAGE_ROWS = 2000
MAX_CDR_ID_LENGTH = 128
MAX_CURSOR_LENGTH = 512
PREFIX_WILDCARD = "*"
# Cells a spreadsheet would run as a formula (OWASP "CSV Injection"); tab and CR too.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_FIELDS = tuple(f.name for f in dataclasses.fields(StoredCdr))
LEG_FIELDS = tuple(f.name for f in dataclasses.fields(LegRecord))

# The cursor's check value catches edited, truncated or mixed-up cursors. The key is not
# a secret and need not be: every page re-applies the caller's filters and agent scope,
# so a forged cursor can only move within rows the caller may read anyway.
_CURSOR_KEY = b"ccd.cdr.cursor.v1"
_CURSOR_VERSION = 1
_CURSOR_CHECK_BYTES = 12


def _aware_datetime(value: object) -> object:
    """ISO 8601 with a timezone only: no Unix timestamps, no naive local times."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-25T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must include a timezone (Z or an offset such as +01:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is past datetime.max in UTC
        raise ValueError("is out of range") from None


IsoDateTime = Annotated[datetime | None, BeforeValidator(_aware_datetime)]
Text80 = Annotated[str, Field(min_length=1, max_length=80)]
Id64 = Annotated[str, Field(min_length=1, max_length=64)]


class CdrExportQuery(BaseModel):
    """Query parameters of the CSV export, shared with the list (all strings on the
    wire)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_: Annotated[IsoDateTime, Field(alias="from")] = None
    to: IsoDateTime = None
    number: Annotated[str, Field(min_length=1, max_length=81)] | None = None
    direction: Direction | None = None
    disposition: Disposition | None = None
    queue: Text80 | None = None
    agent: Id64 | None = None
    campaign: Id64 | None = None
    server: Annotated[str, Field(pattern=SERVER_NAME_PATTERN)] | None = None
    sort: CdrSort = CdrSort.NEWEST_FIRST


class CdrQuery(CdrExportQuery):
    """Query parameters of the list: the export's, and the page."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_CURSOR_LENGTH,
                description="`next_cursor` of the previous page",
            ),
        ]
        | None
    ) = None


QueryT = TypeVar("QueryT", bound=CdrExportQuery)


def parse_query(query: MultiMapping[str], *, allowed: Iterable[str] | None = None) -> CdrQuery:
    """``CdrQuery`` from a request's query string, or a 422 naming each bad parameter."""
    return parse_query_as(CdrQuery, query, allowed=allowed)


def parse_query_as(
    model: type[QueryT], query: MultiMapping[str], *, allowed: Iterable[str] | None = None
) -> QueryT:
    """``model`` from a request's query string, or a 422 naming each bad parameter."""
    names = list(dict.fromkeys(query.keys()))
    errors: list[FieldError] = []
    data: dict[str, object] = {}
    permitted = set(allowed) if allowed is not None else None
    for name in names:
        values = query.getall(name)
        if permitted is not None and name not in permitted and _is_plain_text(name):
            errors.append(FieldError(name, "is not a parameter of this endpoint"))
        elif len(values) > 1:
            errors.append(FieldError(name, "must be given at most once"))
        else:
            data[name] = values[0]
    if errors:
        raise validation_problem(errors)
    try:
        parsed = validate_body(model, data)
    except ApiProblem as problem:
        # A bad parameter *name* comes back as "body"; here it is the query string.
        raise validation_problem(
            [FieldError("query", e.message) if e.field == "body" else e for e in problem.errors]
        ) from None
    if parsed.from_ is not None and parsed.to is not None and parsed.from_ > parsed.to:
        raise validation_problem([FieldError("from", "must not be later than to")])
    if parsed.number is not None:
        stem = parsed.number.removesuffix(PREFIX_WILDCARD)
        if not stem:
            raise validation_problem([FieldError("number", "a prefix needs digits before *")])
    return parsed


def _is_plain_text(name: str) -> bool:
    try:
        check_path_param("query", name)
    except ApiProblem:
        return False
    return True


def cdr_filter(query: CdrExportQuery, principal: Principal) -> CdrFilter:
    """The filter to run: the query's, with an agent pinned to their own calls."""
    agent_id = query.agent
    if principal.role is Role.AGENT:
        if principal.agent_id is None:
            raise forbidden("this agent token has no agent id, so it has no calls to read")
        if agent_id is not None:
            require_agent_self(principal, agent_id)
        agent_id = principal.agent_id
    number = query.number
    is_prefix = number is not None and number.endswith(PREFIX_WILDCARD)
    return CdrFilter(
        started_from=query.from_,
        started_before=query.to,
        number=number.removesuffix(PREFIX_WILDCARD) if number is not None else None,
        number_is_prefix=is_prefix,
        direction=query.direction.value if query.direction is not None else None,
        disposition=query.disposition.value if query.disposition is not None else None,
        queue=query.queue,
        agent_id=agent_id,
        campaign_id=query.campaign,
        server=query.server,
    )


class CdrPath(BaseModel):
    id: Annotated[str, Field(min_length=1, description="The call's id (linkedid)")]


# --- cursors -----------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _filter_fingerprint(filters: CdrFilter) -> str:
    canonical = json.dumps(
        [
            iso_full(filters.started_from),
            iso_full(filters.started_before),
            filters.number,
            filters.number_is_prefix,
            filters.direction,
            filters.disposition,
            filters.queue,
            filters.agent_id,
            filters.campaign_id,
            *([] if filters.server is None else [filters.server]),
        ],
        separators=(",", ":"),
    )
    return hashlib.blake2b(canonical.encode(), digest_size=6).hexdigest()


def _check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_CURSOR_KEY, digest_size=_CURSOR_CHECK_BYTES).digest()


def encode_cursor(position: CdrPosition, sort: CdrSort, filters: CdrFilter) -> str:
    payload = json.dumps(
        {
            "v": _CURSOR_VERSION,
            "s": sort.value,
            "t": iso_full(position.started_at),
            "id": position.linkedid,
            "f": _filter_fingerprint(filters),
        },
        separators=(",", ":"),
    ).encode()
    return f"{_b64(payload)}.{_b64(_check(payload))}"


def decode_cursor(cursor: str, sort: CdrSort, filters: CdrFilter) -> CdrPosition:
    """The position a cursor from ``encode_cursor`` holds, or a 422 naming ``cursor``."""

    def bad(message: str) -> ApiProblem:
        return validation_problem([FieldError("cursor", message)])

    body, dot, check = cursor.partition(".")
    try:
        payload, expected = _unb64(body), _unb64(check)
    except (binascii.Error, ValueError):
        raise bad("is not a cursor returned by this API") from None
    if not dot or not hmac.compare_digest(_check(payload), expected):
        raise bad("is not a cursor returned by this API (damaged or edited)")
    try:
        data = json.loads(payload)
        version, cursor_sort, at, linkedid, fingerprint = (
            data["v"],
            data["s"],
            datetime.fromisoformat(data["t"]),
            data["id"],
            data["f"],
        )
    except (ValueError, KeyError, TypeError):
        raise bad("is not a cursor returned by this API") from None
    if version != _CURSOR_VERSION or not isinstance(linkedid, str) or at.tzinfo is None:
        raise bad("is from an incompatible version of this API; start from the first page")
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        raise bad("is not a cursor returned by this API") from None
    if cursor_sort != sort.value:
        raise bad("was issued for the other sort order; pass the same sort or drop the cursor")
    if fingerprint != _filter_fingerprint(filters):
        raise bad("was issued for different filters; pass the same filters or drop the cursor")
    return CdrPosition(started_at=at, linkedid=linkedid)


def iso_full(moment: datetime | None) -> str | None:
    """Microsecond precision: a cursor must hold the exact key, not a rounded one."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# --- views -------------------------------------------------------------------------------


def _fields_view(record: object, names: Iterable[str]) -> dict[str, object]:
    view: dict[str, object] = {}
    for name in names:
        value = getattr(record, name)
        view[name] = iso(value) if isinstance(value, datetime) else value
    return view


def cdr_view(cdr: StoredCdr) -> dict[str, object]:
    return {"id": cdr.linkedid, **_fields_view(cdr, CSV_FIELDS)}


def leg_view(leg: LegRecord) -> dict[str, object]:
    return _fields_view(leg, LEG_FIELDS)


def detail_view(detail: CdrDetail) -> dict[str, object]:
    return {**cdr_view(detail.cdr), "legs": [leg_view(leg) for leg in detail.legs]}


def csv_cell(value: object) -> str:
    if isinstance(value, str):
        # A leading apostrophe makes a spreadsheet show the cell as text, not run it.
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, bool | int | float):
        return repr(value)  # our own numbers: never text a spreadsheet could run
    return csv_cell(json.dumps(value, separators=(",", ":")))


_CSV_VALUES = operator.attrgetter(*CSV_FIELDS)


def csv_rows(cdrs: Iterable[StoredCdr]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends and quoting
    writer.writerows(map(csv_cell, _CSV_VALUES(cdr)) for cdr in cdrs)
    return buffer.getvalue()


def csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(CSV_FIELDS)
    return buffer.getvalue()


# --- handlers ----------------------------------------------------------------------------

LIST_PARAMS = frozenset(CdrQuery.model_fields) - {"from_"} | {"from"}
CSV_PARAMS = frozenset(CdrExportQuery.model_fields) - {"from_"} | {"from"}


def _unavailable() -> ApiProblem:
    return ApiProblem(
        503, "the CDR database is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE
    )


def _position_of(cdr: StoredCdr) -> CdrPosition:
    """The keyset position just past ``cdr`` (the next page starts after it)."""
    return CdrPosition(started_at=cdr.started_at, linkedid=cdr.linkedid)


@operation(
    "Stored CDRs, filtered, one page at a time",
    query=CdrQuery,
    responses={200: CdrPage},
    problems=(503,),
    description=(
        "Keyset pagination: pass `next_cursor` back as `cursor` with the same filters and"
        " sort. `number` matches the caller or callee number; a trailing `*` makes it a"
        " prefix. Agents see only their own calls (another agent's `agent` is 403)."
    ),
)
async def list_cdrs(request: web.Request) -> web.Response:
    reader = request.app[CDRS]
    query = parse_query(request.query, allowed=LIST_PARAMS)
    filters = cdr_filter(query, request[PRINCIPAL])
    after = decode_cursor(query.cursor, query.sort, filters) if query.cursor else None
    try:
        rows = await reader.page(filters, sort=query.sort, after=after, limit=query.limit + 1)
    except CdrStoreUnavailable:
        raise _unavailable() from None
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = encode_cursor(_position_of(page[-1]), query.sort, filters)
    return model_json(
        CdrPage(
            cdrs=[CdrView.model_validate(cdr_view(cdr)) for cdr in page], next_cursor=next_cursor
        )
    )


@operation(
    "One stored CDR with its legs (channels)",
    path=CdrPath,
    responses={200: CdrDetailView},
    problems=(404, 503),
    description="Agents may read only their own calls (403 otherwise).",
)
async def get_cdr(request: web.Request) -> web.Response:
    reader = request.app[CDRS]
    principal = request[PRINCIPAL]
    linkedid = check_id_param(
        "id", request.match_info["id"], max_length=MAX_CDR_ID_LENGTH, missing="no CDR with this id"
    )
    try:
        detail = await reader.get(linkedid)
    except CdrStoreUnavailable:
        raise _unavailable() from None
    if detail is None:
        raise not_found(f"no CDR with id {linkedid!r}")
    if principal.role is Role.AGENT and (
        principal.agent_id is None or detail.cdr.agent_id != principal.agent_id
    ):
        raise forbidden("agents may only read CDRs of their own calls")
    return model_json(CdrDetailView.model_validate(detail_view(detail)))


@operation(
    "Stored CDRs as a CSV download (every matching row, streamed)",
    query=CdrExportQuery,
    responses={
        200: Payload(
            "text/csv",
            "RFC 4180 CSV with a header row, one CDR per row; cells a spreadsheet would run"
            " as a formula start with an apostrophe.",
        )
    },
    problems=(503,),
    description="The same filters and agent scope as the list, without paging.",
)
async def export_cdrs_csv(request: web.Request) -> web.StreamResponse:
    reader = request.app[CDRS]
    query = parse_query_as(CdrExportQuery, request.query, allowed=CSV_PARAMS)
    filters = cdr_filter(query, request[PRINCIPAL])
    try:
        # The first page is read before any byte is sent, so a database outage is a 503
        # problem rather than a truncated file.
        rows = await reader.page(filters, sort=query.sort, after=None, limit=CSV_PAGE_ROWS)
    except CdrStoreUnavailable:
        raise _unavailable() from None
    stamp = request.app[DEPS].clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = await start_csv_download(request, f"cdrs-{stamp}.csv")
    if not wants_body(request):
        return response
    await response.write(csv_header().encode())

    async def pages() -> AsyncIterator[tuple[bytes, int]]:
        page = rows
        while page:
            yield csv_rows(page).encode(), len(page)
            if len(page) < CSV_PAGE_ROWS:
                return
            after = _position_of(page[-1])
            page = await reader.page(filters, sort=query.sort, after=after, limit=CSV_PAGE_ROWS)

    written = await stream_csv_body(request, response, pages(), _export_cut_short)
    if written is not None:
        log.info("csv export done", rows=written)
    return response


def _export_cut_short(exc: Exception, written: int) -> None:
    if isinstance(exc, CdrStoreUnavailable):
        log.warning("csv export cut short: database unavailable", rows_written=written)
    else:
        log.exception("csv export failed", rows_written=written)


def add_routes(app: web.Application, reader: CdrReader) -> None:
    app[CDRS] = reader
    router = app.router
    router.add_get("/api/v1/cdrs", list_cdrs, name="cdrs.list")
    router.add_get("/api/v1/cdrs.csv", export_cdrs_csv, name="cdrs.csv")
    router.add_get("/api/v1/cdrs/{id}", get_cdr, name="cdrs.get")
