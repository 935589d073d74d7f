"""Stored call detail records as ``GET /api/v1/cdrs`` and ``/api/v1/cdrs/{id}`` show them
(``ccd.api.cdrs`` builds the views from ``ccd.cdr.queries.StoredCdr``; these models are
their contract)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)
UTC_TIME = "ISO 8601, UTC"


class CdrView(BaseModel):
    """One call. ``direction`` and ``disposition`` are the values ccd writes (inbound,
    outbound, internal; answered, no-answer, busy, failed, abandoned, overflowed,
    timed-out, callback, voicemail, machine), kept as text: a row written by a newer ccd
    is shown as it is."""

    model_config = STRICT

    id: str = Field(description="The call's id: Asterisk's linkedid (same as `linkedid`)")
    linkedid: str
    direction: str
    caller_num: str
    caller_name: str
    callee_num: str
    did: str
    started_at: str = Field(description=UTC_TIME)
    answered_at: str | None = Field(description=UTC_TIME + "; null when never answered")
    ended_at: str = Field(description=UTC_TIME)
    ring_s: float = Field(description="seconds from start to answer (or to the end)")
    talk_s: float = Field(description="seconds talked")
    hold_s: float = Field(description="seconds on hold")
    hangup_cause: int | None = Field(description="Q.850 cause code")
    hangup_cause_text: str
    hung_up_by: str | None = Field(description="which side hung up first, when known")
    disposition: str
    ivr_path: list[dict[str, Any]] = Field(description="the IVR nodes the call went through")
    queue: str | None
    wait_s: float | None = Field(description="seconds waited in the queue")
    agent_id: str | None
    wrapup_s: float | None = Field(description="seconds the agent spent in wrap-up")
    campaign_id: str | None
    contact_id: str | None
    recording_ref: str | None
    written_at: str = Field(description=UTC_TIME)
    server: str = Field(
        description="the configured Asterisk server the call was on ('default' with one "
        "[ami] server)"
    )
    survey: dict[str, int | None] = Field(
        description="post-call survey: question → score 1..5, null when asked and not "
        "answered; {} when no survey was taken"
    )


class LegView(BaseModel):
    """One channel of a call."""

    model_config = STRICT

    uniqueid: str
    linkedid: str
    channel: str
    started_at: str = Field(description=UTC_TIME)
    answered_at: str | None = Field(description=UTC_TIME)
    ended_at: str = Field(description=UTC_TIME)
    caller_num: str
    caller_name: str
    connected_num: str
    context: str
    exten: str
    hangup_cause: int | None = Field(description="Q.850 cause code")
    hangup_cause_text: str
    dial_status: str = Field(description="the Dial status when this leg was dialed, else ''")
    agent_id: str | None = Field(description="the ACD agent this leg rang")


class CdrDetailView(CdrView):
    legs: list[LegView] = Field(description="the call's channels, by start time")


class CdrPage(BaseModel):
    model_config = STRICT

    cdrs: list[CdrView]
    next_cursor: str | None = Field(
        description="pass as `cursor` (with the same filters and sort) for the next page; "
        "null on the last page"
    )
