"""Dialer campaigns as the API answers them: a campaign and its ``live`` view, a contact
with its dial history, a preview offer, a recorded disposition and the abandonment
compliance report. ``ccd.api.campaigns``, ``ccd.api.campaign_live`` and
``ccd.api.dialer_views`` build the views; these models are their contract (the handlers
validate every view into them before answering)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

STRICT = ConfigDict(extra="forbid", frozen=True)

DialModeName = Literal["preview", "progressive", "predictive"]
CampaignStateName = Literal["draft", "running", "paused", "stopped"]
AmdName = Literal["off", "hang-up", "leave-message"]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
OutcomeName = Literal["answered", "abandoned", "machine", "no-answer", "busy", "failed"]
ContactStatusName = Literal["pending", "dialing", "done"]
DoneReasonName = Literal["answered", "do-not-call", "max-attempts", "no-retry", "no-window"]
UTC_TIME = "ISO 8601, UTC"


# --- a campaign --------------------------------------------------------------------------


class WindowView(BaseModel):
    model_config = STRICT

    days: list[DayName]
    start: str = Field(description="local time HH:MM (HH:MM:SS when it has seconds)")
    end: str = Field(description="local time HH:MM (HH:MM:SS when it has seconds); exclusive")


class RetryView(BaseModel):
    model_config = STRICT

    delay_s: float = Field(description="seconds before the next attempt")
    max_attempts: int


class CampaignProblem(BaseModel):
    """A rule the campaign breaks: it cannot start or resume until none is left."""

    model_config = STRICT

    field: str
    message: str


class CampaignView(BaseModel):
    """A campaign's settings and state (as listed: without ``live``)."""

    model_config = STRICT

    id: str
    name: str
    mode: DialModeName
    state: CampaignStateName
    caller_id: str
    agent_ids: list[str] = Field(description="sorted")
    queue_id: str | None
    windows: list[WindowView] = Field(description="when contacts may be called, in their zones")
    holidays: list[str] = Field(description="dates (YYYY-MM-DD) nobody is called, sorted")
    ring_timeout_s: float
    retries: dict[OutcomeName, RetryView] = Field(description="the retry rule per outcome")
    abandon_cap_pct: float = Field(description="percent of live answers")
    cap_override: bool = Field(description="a cap above the legal 3 % was allowed on purpose")
    amd: AmdName
    safe_harbor_prompt: str | None
    machine_message_prompt: str | None
    dispositions: list[str]
    default_region: str = Field(description="ISO 3166 region numbers without + are read in")
    server: str | None = Field(
        description="the configured Asterisk server its calls are placed on; null: the"
        " default (first configured) server"
    )
    problems: list[CampaignProblem] = Field(description="what stops it from running; [] if none")
    created_at: str = Field(description=UTC_TIME)
    updated_at: str = Field(description=UTC_TIME)


class CampaignList(BaseModel):
    model_config = STRICT

    campaigns: list[CampaignView]


class ContactCounts(BaseModel):
    model_config = STRICT

    total: int
    left: int = Field(description="pending: still to dial")
    dialing: int
    done: int


class CallsByStage(BaseModel):
    """The campaign's calls in flight in the running dialer, by stage."""

    model_config = STRICT

    dialing: int = Field(description="ringing the customer")
    waiting: int = Field(description="answered, waiting for an agent")
    connected: int = Field(description="talking to an agent")
    message: int = Field(description="hearing the safe-harbor or machine message")


class PacingView(BaseModel):
    model_config = STRICT

    mode: DialModeName = Field(description="how the last decision was made")
    reason: str
    dial_ratio: float = Field(description="calls placed per free agent")
    answer_rate: float = Field(description="live answers per call, 0..1")


class TallyView(BaseModel):
    """Live answers and abandoned calls against the cap (exact: 3 of 100 is within 3 %)."""

    model_config = STRICT

    answered: int
    abandoned: int
    rate_pct: float = Field(description="abandoned per 100 live answers, 3 decimals")
    within_cap: bool


class AbandonmentView(BaseModel):
    model_config = STRICT

    today: TallyView
    rolling_30_days: TallyView
    cap_pct: float
    source: Literal["dialer", "records"] = Field(
        description="dialer: its live ledger; records: counted from the attempt records"
    )


class TodayView(BaseModel):
    """Today's attempts (the report zone's day) from the attempt records."""

    model_config = STRICT

    since: str = Field(description="the day's start, " + UTC_TIME)
    report_zone: str = Field(description="IANA zone whose midnight starts the day")
    dialed: int
    answered: int
    connected: int
    machines: int
    abandoned: int
    in_flight: int


def _absent_not_null(schema: dict[str, Any]) -> None:
    """The optional parts of ``LiveView`` are left out when absent, never null: document
    them as their own type (``X | None`` only lets the model be built without them)."""
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in _OPTIONAL_PARTS and isinstance(options, list):
            kept = [option for option in options if option != {"type": "null"}]
            if len(kept) == 1:
                del prop["anyOf"]
                prop.update(kept[0])
        if name in _OPTIONAL_PARTS:
            prop.pop("default", None)


_OPTIONAL_PARTS = frozenset(
    {"dialing", "calls", "agents", "pacing", "dial_ratio", "abandonment", "today"}
)


class LiveView(BaseModel):
    """What the running dialer holds merged with what the database counts. Each part is
    present only when its source is: ``dialing``, ``calls`` come with a dialer service,
    ``agents``, ``pacing``, ``dial_ratio`` while it runs the campaign, ``today`` and
    ``abandonment`` with the attempt records. An absent part is left out, never null."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_absent_not_null)

    contacts: ContactCounts
    dialing: bool | None = Field(default=None, description="the dialer is dialing it now")
    calls: CallsByStage | None = None
    agents: dict[str, int] | None = Field(
        default=None, description="the campaign's agents by ACD status (available, on_call…)"
    )
    pacing: PacingView | None = Field(default=None, description="the pacing's last decision")
    dial_ratio: float | None = Field(default=None, description="the pacing's calls per free agent")
    abandonment: AbandonmentView | None = None
    today: TodayView | None = None

    # No return annotation: pydantic would document the annotation instead of this model.
    @model_serializer(mode="wrap")
    def _present(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        assert isinstance(data, dict)
        return {key: value for key, value in data.items() if key in self.model_fields_set}


class CampaignDetail(CampaignView):
    """One campaign with its ``live`` view."""

    live: LiveView


# --- contacts and attempts ---------------------------------------------------------------


class ContactView(BaseModel):
    """A contact: who, where in the campaign, and whose call back it is."""

    model_config = STRICT

    id: str
    campaign_id: str
    number: str = Field(description="E.164")
    name: str = Field(description="empty when the file had none")
    fields: dict[str, str] = Field(description="the file's other columns, for the agent")
    time_zones: list[str] = Field(description="IANA zones the number may be in")
    status: ContactStatusName
    attempts: int
    next_attempt_at: str | None = Field(description=UTC_TIME + "; null when none is due")
    call_back: bool = Field(description="the next attempt is a call back agreed with them")
    call_back_owner: str | None = Field(description="the agent who owns it; null: anyone")
    last_outcome: OutcomeName | None
    done_reason: DoneReasonName | None = Field(description="why a done contact is not dialed")


class AttemptView(BaseModel):
    """One dial attempt; its times are ISO 8601, UTC (null: not reached)."""

    model_config = STRICT

    id: int
    campaign_id: str
    contact_id: str
    number: str
    started_at: str = Field(description=UTC_TIME)
    answered_at: str | None
    agent_connected_at: str | None
    safe_harbor_at: str | None
    ended_at: str | None = Field(description="null while the call is in flight")
    agent_id: str | None
    outcome: OutcomeName | None = Field(description="null while the call is in flight")
    amd_status: str | None = Field(description="Asterisk's AMDSTATUS when AMD ran")
    disposition: str | None
    call_back: bool
    safe_harbor_played: bool


class ContactDetail(ContactView):
    attempt_history: list[AttemptView] = Field(description="oldest first")


class PreviewOffer(BaseModel):
    """The contact offered to the agent: the same one until it is dialed or skipped."""

    model_config = STRICT

    campaign_id: str
    agent_id: str
    contact: ContactView


class PreviewDialing(BaseModel):
    model_config = STRICT

    campaign_id: str
    agent_id: str
    contact_id: str
    status: Literal["dialing"]


# --- compliance --------------------------------------------------------------------------


class DayTally(TallyView):
    day: str = Field(description="YYYY-MM-DD in the report zone")


class RollingTally(TallyView):
    from_day: str = Field(description="YYYY-MM-DD in the report zone")
    to_day: str = Field(description="YYYY-MM-DD in the report zone (today)")


class ComplianceReport(BaseModel):
    model_config = STRICT

    campaign_id: str
    cap_pct: float
    cap_override: bool
    legal_cap_pct: float
    above_legal_cap: bool
    report_zone: str
    as_of: str = Field(description=UTC_TIME)
    today: DayTally
    rolling_30_days: RollingTally
    per_day: list[DayTally] = Field(description="the 30 days, oldest first")
