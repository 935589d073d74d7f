"""The staffing forecast as ``GET /api/v1/forecast`` shows it (``ccd.forecast.report.
as_data``, plus the moment it was computed)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ccd.forecast.staffing import LimitedBy

STRICT = ConfigDict(extra="forbid", frozen=True)


class ForecastTarget(BaseModel):
    model_config = STRICT

    sl_target_pct: float = Field(description="% of calls to answer within sl_seconds")
    sl_seconds: float = Field(description="the service level's answer threshold, seconds")
    max_occupancy_pct: float = Field(description="% of their time agents may be busy at most")
    shrinkage_pct: float = Field(description="% of paid time agents are not on the phones")


class HistoryDay(BaseModel):
    model_config = STRICT

    date: str = Field(description="YYYY-MM-DD")
    offered: int = Field(description="calls offered that day")
    weight: float = Field(description="its weight in the day's volume")


class HistoryWeek(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True
    )

    from_: str = Field(alias="from", description="YYYY-MM-DD, the week's first day")
    to: str = Field(description="YYYY-MM-DD, its last day")
    offered: int


class ForecastMethod(BaseModel):
    """How the day's volume was forecast from the queue's history."""

    model_config = STRICT

    history_days: list[HistoryDay] = Field(description="the same weekday in past weeks")
    history_weeks: list[HistoryWeek]
    mean_day_volume: float
    trend_pct_per_week: float
    level_factor: float
    day_volume: float = Field(description="calls forecast for the day")
    day_aht_s: float = Field(description="average handling time, seconds")


class ForecastInterval(BaseModel):
    model_config = STRICT

    start: str = Field(description="ISO 8601 with the offset")
    end: str = Field(description="ISO 8601 with the offset")
    local_start: str = Field(description="wall time in the report zone")
    volume: float = Field(description="calls forecast")
    aht_s: float = Field(description="average handling time, seconds")
    traffic_erlangs: float = Field(description="offered load, Erlangs (volume x AHT / interval)")
    agents_for_service_level: int = Field(description="agents Erlang C needs for the target")
    agents: int = Field(description="agents on the phones (occupancy cap applied)")
    scheduled: int = Field(description="agents to schedule (shrinkage applied)")
    limited_by: LimitedBy
    service_level_pct: float | None = Field(
        description="% answered within sl_seconds with these agents;"
        " null when no calls are forecast"
    )
    asa_s: float | None = Field(
        description="average speed of answer, seconds; null when no calls are forecast"
    )
    occupancy_pct: float | None = Field(
        description="% of the agents' time busy; null when no calls are forecast"
    )


class ForecastTotals(BaseModel):
    model_config = STRICT

    volume: float
    aht_s: float = Field(description="volume-weighted, seconds")
    agent_hours: float = Field(description="agent-hours on the phones over the day")
    scheduled_hours: float = Field(description="agent-hours to schedule (shrinkage applied)")
    peak_agents: int = Field(description="the most agents any interval needs on the phones")


class ForecastView(BaseModel):
    model_config = STRICT

    as_of: str = Field(description="ISO 8601, UTC: when it was computed")
    queue: str
    date: str = Field(description="YYYY-MM-DD, a day in the report zone")
    zone: str = Field(description="IANA time zone of the report")
    interval_minutes: int = Field(description="length of each interval, minutes")
    target: ForecastTarget
    method: ForecastMethod
    intervals: list[ForecastInterval]
    totals: ForecastTotals
