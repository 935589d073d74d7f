"""The staffing forecast over HTTP: ``GET /api/v1/forecast?queue=&date=&interval=
&sl_target_pct=&sl_seconds=&max_occupancy_pct=&weeks=&shrinkage_pct=`` (roles in
``ccd.api.policy``: admins, supervisors, analysts).

``queue`` and ``date`` (YYYY-MM-DD, a day in the report zone) are required; the others
default to the ``[forecast]`` settings. Unknown, repeated or unsafe (CR/LF/NUL) parameters
and values out of range are 422 problems naming the parameter. The history is read from
the CDR database; the database down is 503.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.api.context import DEPS
from ccd.api.handlers import model_json, store_problems
from ccd.api.models.forecast import ForecastView
from ccd.api.openapi.operation import operation
from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem, FieldError, validation_problem
from ccd.api.serialize import iso
from ccd.api.validation import query_model, validate_body
from ccd.domain.safety import is_ami_safe
from ccd.forecast.parameters import (
    MAX_WEEKS,
    MIN_OCCUPANCY_PCT,
    PARAMETERS,
    ForecastDefaults,
    ForecastParameters,
)
from ccd.forecast.report import as_data
from ccd.forecast.run import HistoryReader, run_forecast

log = structlog.get_logger("ccd.api.forecast")

FORECAST_HISTORY: web.AppKey[HistoryReader | None] = web.AppKey("forecast_history")
FORECAST_DEFAULTS = web.AppKey("forecast_defaults", ForecastDefaults)


Percent = Annotated[float, Field(allow_inf_nan=False)]


class ForecastQuery(BaseModel):
    """The query string: what a request may say; the ``[forecast]`` settings fill in what
    it leaves out before ``ForecastParameters`` checks the whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: Annotated[str, Field(min_length=1, max_length=80, description="The queue's id")]
    date: Annotated[dt.date, Field(description="YYYY-MM-DD, a day in the report zone")]
    interval: Annotated[int, Field(description="minutes: 15, 30 or 60")] | None = None
    weeks: Annotated[int, Field(ge=1, le=MAX_WEEKS, description="weeks of history")] | None = None
    sl_target_pct: Annotated[Percent, Field(gt=0, lt=100)] | None = None
    sl_seconds: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] | None = None
    max_occupancy_pct: Annotated[Percent, Field(ge=MIN_OCCUPANCY_PCT, le=100)] | None = None
    shrinkage_pct: Annotated[Percent, Field(ge=0, le=90)] | None = None


def parse_parameters(request: web.Request, defaults: ForecastDefaults) -> ForecastParameters:
    errors = [
        # A name with CR/LF/NUL is not echoed back as a field.
        FieldError(name if is_ami_safe(name) else "query", "is not a parameter of this endpoint")
        for name in dict.fromkeys(request.query.keys())
        if name not in PARAMETERS
    ]
    if errors:
        raise validation_problem(errors)
    given = query_model(ForecastQuery, request.query).model_dump(exclude_none=True)
    return validate_body(ForecastParameters, defaults.fill(given))


@operation(
    "A day's staffing forecast for a queue, by interval",
    query=ForecastQuery,
    responses={200: ForecastView},
    problems=(503,),
    description=(
        "The day's volume from the same weekday in the last `weeks` weeks (trend and"
        " level applied), spread over the day's intervals; Erlang C staffing for the"
        " service-level target with the occupancy cap and shrinkage. Parameters left out"
        " take the `[forecast]` settings."
    ),
)
async def forecast(request: web.Request) -> web.Response:
    defaults = request.app[FORECAST_DEFAULTS]
    params = parse_parameters(request, defaults)
    reader = request.app[FORECAST_HISTORY]
    if reader is None:
        raise ApiProblem(
            503, "this process has no CDR database to forecast from", type_=UPSTREAM_UNAVAILABLE
        )
    now = request.app[DEPS].clock.now()
    today = now.astimezone(ZoneInfo(defaults.zone)).date()
    with store_problems("CDR"):
        report = await run_forecast(reader, params, defaults.zone, today)
    log.info(
        "forecast computed",
        queue=params.queue,
        date=params.day.isoformat(),
        interval_minutes=params.interval,
        history_days=len(report.day.days_used),
        history_weeks=len(report.day.weeks_used),
        day_volume=round(report.totals.volume, 1),
        peak_agents=report.totals.peak_agents,
    )
    return model_json(ForecastView.model_validate({"as_of": iso(now), **as_data(report)}))


def add_routes(
    app: web.Application, history: HistoryReader | None, defaults: ForecastDefaults | None
) -> None:
    app[FORECAST_HISTORY] = history
    app[FORECAST_DEFAULTS] = defaults if defaults is not None else ForecastDefaults()
    app.router.add_get("/api/v1/forecast", forecast, name="forecast")
