"""Reports over HTTP: per queue, agent and campaign, by 15/30/60-minute interval or by
day, in JSON or CSV.

Routes (roles in ``ccd.api.policy``): ``GET /api/v1/reports/queues``,
``GET /api/v1/reports/agents``, ``GET /api/v1/reports/campaigns``; ``?format=csv`` gives
the same rows as a CSV download. Agents read only their own agent report: the ``agent``
parameter is set to their id, another agent's is 403.

Query parameters are validated like bodies: unknown or repeated names, CR/LF/NUL, a bad
interval, zone or date, ``from`` not before ``to``, and a range that would make too many
intervals or rows are 422 problems naming the parameter.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ConfigDict, Field

from ccd.api.cdrs import csv_cell
from ccd.api.context import DEPS, PRINCIPAL
from ccd.api.downloads import start_csv_download, wants_body
from ccd.api.handlers import model_json
from ccd.api.models.reports import AgentReport, CampaignReport, QueueReport
from ccd.api.openapi.operation import HandlerT, Payload, operation
from ccd.api.policy import require_agent_self
from ccd.api.problems import (
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    forbidden,
    validation_problem,
)
from ccd.api.validation import check_path_param, validate_body
from ccd.domain.auth import Role
from ccd.reports.buckets import Interval, TooManyBuckets
from ccd.reports.ports import ReportsUnavailable
from ccd.reports.service import ReportRequest, ReportService, TooManyRows

log = structlog.get_logger("ccd.api")

REPORTS: web.AppKey[ReportService | None] = web.AppKey("reports")

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
KEY_PARAM = {"queues": "queue", "agents": "agent", "campaigns": "campaign"}
Text80 = Annotated[str, Field(min_length=1, max_length=80)]


class ReportQuery(BaseModel):
    """What every report takes; each kind adds the key it may be narrowed to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_: Annotated[
        str,
        Field(
            alias="from",
            min_length=1,
            max_length=64,
            description="an ISO 8601 date (local midnight) or date-time (without an offset:"
            " wall time in `zone`)",
        ),
    ]
    to: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=64,
                description="as `from`; a date includes that whole day. Default: now",
            ),
        ]
        | None
    ) = None
    interval: Interval = Interval.MIN60
    zone: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=64,
                description="IANA time zone; default: the `[reports]` zone",
            ),
        ]
        | None
    ) = None
    format: Literal["json", "csv"] = "json"


class QueueReportQuery(ReportQuery):
    queue: Text80 | None = None


class AgentReportQuery(ReportQuery):
    agent: Text80 | None = Field(default=None, description="agents: only their own")


class CampaignReportQuery(ReportQuery):
    campaign: Text80 | None = None


QUERY_MODELS: dict[str, type[ReportQuery]] = {
    "queues": QueueReportQuery,
    "agents": AgentReportQuery,
    "campaigns": CampaignReportQuery,
}
REPORT_MODELS: dict[str, type[QueueReport | AgentReport | CampaignReport]] = {
    "queues": QueueReport,
    "agents": AgentReport,
    "campaigns": CampaignReport,
}


def _parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise validation_problem(
            [FieldError("zone", "must be an IANA time zone name, e.g. Europe/Paris")]
        ) from None


def parse_moment(field: str, text: str, zone: ZoneInfo, *, is_end: bool) -> datetime:
    """An ISO date-time (with an offset; without one it is wall time in ``zone``) or a
    date: local midnight, or for ``to`` the midnight after it (the whole day included).
    Between 1970 and 9999 (a report reads past ``to`` for FCR: no overflow near the end
    of the calendar)."""
    try:
        moment = _moment(field, text, zone, is_end=is_end)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise validation_problem([FieldError(field, "is out of range (1970 to 9999)")])
    return moment


def _moment(field: str, text: str, zone: ZoneInfo, *, is_end: bool) -> datetime:
    try:
        # Any ISO 8601 date: 2026-11-24, and the basic (20261124) and week (2026-W48-2)
        # forms; a date-time is never one.
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        if is_end:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise validation_problem(
            [FieldError(field, "must be an ISO 8601 date (2026-11-25) or date-time")]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_report_query(query: MultiMapping[str], kind: str) -> ReportQuery:
    allowed = {"from", "to", "interval", "zone", "format", KEY_PARAM[kind]}
    errors: list[FieldError] = []
    data: dict[str, object] = {}
    for name in dict.fromkeys(query.keys()):
        values = query.getall(name)
        if name not in allowed:
            try:
                check_path_param("query", name)
            except ApiProblem:
                errors.append(FieldError("query", "a parameter name has CR, LF or NUL"))
                continue
            errors.append(FieldError(name, "is not a parameter of this report"))
        elif len(values) > 1:
            errors.append(FieldError(name, "must be given at most once"))
        else:
            data[name] = values[0]
    if errors:
        raise validation_problem(errors)
    if "from" not in data:
        raise validation_problem([FieldError("from", "is required (a date or date-time)")])
    try:
        return validate_body(QUERY_MODELS[kind], data)
    except ApiProblem as problem:
        raise validation_problem(
            [FieldError("query", e.message) if e.field == "body" else e for e in problem.errors]
        ) from None


def _request(
    query: ReportQuery, service: ReportService, now: datetime, key: str | None
) -> ReportRequest:
    zone = _parse_zone(query.zone or service.rules.zone)
    start = parse_moment("from", query.from_, zone, is_end=False)
    end = parse_moment("to", query.to, zone, is_end=True) if query.to is not None else now
    if start >= end:
        raise validation_problem([FieldError("from", "must be before to")])
    return ReportRequest(start=start, end=end, interval=query.interval, zone=zone, now=now, key=key)


def _service(request: web.Request) -> ReportService:
    service = request.app[REPORTS]
    if service is None:
        raise ApiProblem(503, "reports are not available in this process")
    return service


async def _report(request: web.Request, kind: str) -> web.StreamResponse:
    service = _service(request)
    query = parse_report_query(request.query, kind)
    key: str | None = getattr(query, KEY_PARAM[kind])
    principal = request[PRINCIPAL]
    if principal.role is Role.AGENT:
        # Only the agent report reaches an agent (policy); pin it to their own id.
        if principal.agent_id is None:
            raise forbidden("this agent token has no agent id, so it has no report")
        if key is not None:
            require_agent_self(principal, key)
        key = principal.agent_id
    now = request.app[DEPS].clock.now().astimezone(UTC)
    report_request = _request(query, service, now, key)
    try:
        service.buckets(report_request)
        build = {
            "queues": service.queue_report,
            "agents": service.agent_report,
            "campaigns": service.campaign_report,
        }[kind]
        report = await build(report_request)
    except TooManyBuckets as exc:
        raise validation_problem(
            [
                FieldError(
                    "interval",
                    f"from..to at this interval is {exc.count} intervals or more, at most "
                    f"{exc.limit}: choose a longer interval or a shorter range",
                )
            ]
        ) from None
    except TooManyRows as exc:
        raise validation_problem(
            [
                FieldError(
                    "interval",
                    f"the report would have {exc.rows} rows ({exc.keys} {kind} x "
                    f"{exc.buckets} intervals), at most {exc.limit}: name one with "
                    f"'{KEY_PARAM[kind]}', choose a longer interval or a shorter range",
                )
            ]
        ) from None
    except ReportsUnavailable:
        raise ApiProblem(
            503, "the report database is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE
        ) from None
    if query.format == "csv":
        return await _csv(request, kind, report)
    return model_json(REPORT_MODELS[kind].model_validate(report))


def csv_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every row's columns in first-seen order; a nested mapping (pause time by reason,
    dispositions) becomes one column per entry, ``name:entry``."""
    columns: dict[str, None] = {}
    for row in rows:
        for name, value in row.items():
            if isinstance(value, Mapping):
                for entry in value:
                    columns.setdefault(f"{name}:{entry}", None)
            else:
                columns.setdefault(name, None)
    return list(columns)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, Mapping):
            flat.update({f"{name}:{entry}": v for entry, v in value.items()})
        else:
            flat[name] = value
    return flat


def report_csv(rows: list[dict[str, Any]]) -> str:
    columns = csv_columns(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        flat = _flat(row)
        # A nested entry another row has and this one lacks is a zero, not unknown.
        writer.writerow(csv_cell(flat.get(name, 0 if ":" in name else None)) for name in columns)
    return buffer.getvalue()


async def _csv(request: web.Request, kind: str, report: dict[str, Any]) -> web.StreamResponse:
    stamp = request.app[DEPS].clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = await start_csv_download(request, f"report-{kind}-{stamp}.csv")
    if not wants_body(request):
        return response
    await response.write(report_csv(report["rows"]).encode())
    await response.write_eof()
    return response


CSV_REPORT = Payload("text/csv", "With `format=csv`: the same rows as a CSV download.")


def _report_operation(
    summary: str, query: type[ReportQuery], model: type[BaseModel]
) -> Callable[[HandlerT], HandlerT]:
    return operation(
        summary,
        query=query,
        responses={200: (model, CSV_REPORT)},
        problems=(503,),
        description=(
            "A row per key and interval, and per key a total over the range. `format=csv`"
            " answers the same rows as a CSV download (`text/csv`, a nested figure as one"
            " column per entry, `name:entry`)."
        ),
    )


@_report_operation("Queue report by interval", QueueReportQuery, QueueReport)
async def queue_report(request: web.Request) -> web.StreamResponse:
    return await _report(request, "queues")


@_report_operation("Agent report by interval", AgentReportQuery, AgentReport)
async def agent_report(request: web.Request) -> web.StreamResponse:
    return await _report(request, "agents")


@_report_operation("Campaign report by interval", CampaignReportQuery, CampaignReport)
async def campaign_report(request: web.Request) -> web.StreamResponse:
    return await _report(request, "campaigns")


def add_routes(app: web.Application, service: ReportService | None) -> None:
    app[REPORTS] = service
    router = app.router
    router.add_get("/api/v1/reports/queues", queue_report, name="reports.queues")
    router.add_get("/api/v1/reports/agents", agent_report, name="reports.agents")
    router.add_get("/api/v1/reports/campaigns", campaign_report, name="reports.campaigns")
