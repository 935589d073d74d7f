"""Reports as ``GET /api/v1/reports/{queues,agents,campaigns}`` show them in JSON
(``ccd.reports.service`` builds them; ``ccd.reports.figures`` names the figures). Each has
a row per key and interval, and per key a total over the whole range. A percentage or
mean is null when there is nothing to divide by."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ccd.reports.buckets import Interval

STRICT = ConfigDict(extra="forbid", frozen=True)
LOCAL_TIME = "ISO 8601 with the report zone's offset"


class _Span(BaseModel):
    model_config = STRICT

    start: str = Field(description=LOCAL_TIME)
    end: str = Field(description=LOCAL_TIME + " (exclusive)")


class _CallFigures(_Span):
    """What every report shows about handled calls."""

    handled: int
    talk_s: float
    hold_s: float
    wrapup_s: float
    aht_s: float | None = Field(description="average handling time: (talk + wrap-up) / handled")
    fcr_handled: int = Field(description="handled calls judged for first-call resolution")
    fcr_resolved: int = Field(description="of those, no repeat call within fcr_window_h")
    fcr_pct: float | None


class _RatingFigures(BaseModel):
    csat_responses: int = Field(description="post-call surveys answered")
    csat_pct: float | None = Field(description="% of answered surveys satisfied")
    csat_mean: float | None = Field(description="mean survey score (1..5)")
    qa_evaluations: int
    qa_score_pct: float | None = Field(description="mean QA evaluation score, %")


class QueueRow(_CallFigures, _RatingFigures):
    queue: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int = Field(description="abandoned within short_abandon_s (not counted)")
    overflowed: int
    timed_out: int
    callbacks: int
    answered_within_sl: int
    service_level_target_s: float
    service_level_pct: float | None
    abandon_rate_pct: float | None
    asa_s: float | None = Field(description="average speed of answer, seconds")


class AgentRow(_CallFigures, _RatingFigures):
    agent_id: str
    logged_in_s: float
    paused_s: float
    pause_by_reason: dict[str, float] = Field(description="pause reason → seconds")
    handling_s: float
    occupancy_pct: float | None = Field(description="handling / (logged in - paused)")


class CampaignRow(_CallFigures, _RatingFigures):
    campaign_id: str
    attempts: int
    answered: int
    connected: int
    machines: int
    abandoned: int
    no_answer: int
    busy: int
    failed: int
    in_flight: int
    abandon_rate_pct: float | None = Field(description="abandoned / live answers")
    dispositions: dict[str, int] = Field(description="attempt disposition → count")


class _Report(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True
    )

    from_: str = Field(alias="from", description=LOCAL_TIME)
    to: str = Field(description=LOCAL_TIME + " (exclusive)")
    interval: Interval = Field(description="15, 30, 60 (minutes) or day")
    zone: str = Field(description="IANA time zone the intervals are cut in")
    short_abandon_s: float
    fcr_window_h: float


class QueueReport(_Report):
    rows: list[QueueRow]
    totals: list[QueueRow]


class AgentReport(_Report):
    rows: list[AgentRow]
    totals: list[AgentRow]


class CampaignReport(_Report):
    rows: list[CampaignRow]
    totals: list[CampaignRow]
