"""Dialer campaigns over HTTP: create, read, change and delete them, and move them through
their life (draft → running ⇄ paused → stopped). Admins and supervisors (``ccd.api.policy``).

A predictive campaign without a safe-harbor prompt is refused (422, the issue's rule: the
message is what an abandoned person must hear). Otherwise a draft may be incomplete;
``problems`` in every view lists what still stops it from
running (``Campaign.problems``). ``start`` and ``resume`` are refused (409, with the
reasons) while that list is not empty, and a running or paused campaign cannot be changed
into one that breaks a rule (422). The state is stored, so it survives a restart; every
successful write is passed on to the running dialer (``dialer_runtime.follow``). The
single campaign's view carries ``live`` (``ccd.api.campaign_live``); the list does not.

Errors: a bad field is a 422 naming it; an unknown id 404; an illegal move, an id taken, a
campaign with dial attempts deleted: 409; the database unavailable 503.

``server`` names the configured Asterisk server every call of the campaign goes through
(omitted or null: the first configured one); a name that is not configured is a 422 naming
``server``. It changes only while no call can be in flight on the old one: a running
campaign (pause it first) or one with dial attempts still open is a 409 — calls placed
on one server are followed, hung up and settled there.

Every change is written to the audit trail after it is stored (``campaign.created``,
``campaign.updated``, ``campaign.deleted`` with the settings before and after; a move with
the state before and after; ``campaign.contacts_imported`` with the counts); a process
without a trail answers 503 before changing anything.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import date, time
from typing import Annotated, Any, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ccd.acd.seed import ID_PATTERN, Id
from ccd.api.audit_trail import audit_log, record_done
from ccd.api.campaign_live import live_view
from ccd.api.context import PRINCIPAL
from ccd.api.dialer_runtime import attempt_store, follow
from ccd.api.handlers import model_json, read_json, store_problems
from ccd.api.models.campaigns import CampaignDetail, CampaignList, CampaignView
from ccd.api.models.uploads import ImportReport
from ccd.api.openapi.operation import operation
from ccd.api.problems import (
    VALIDATION_ERROR,
    ApiProblem,
    FieldError,
    not_found,
    validation_problem,
)
from ccd.api.serialize import iso
from ccd.api.uploads import CSV_UPLOAD, BadRows, csv_lines, import_report
from ccd.api.validation import check_path_param, query_model
from ccd.db.dialer_store import (
    DialerStore,
    StoredCampaign,
    WriteMode,
    campaign_values,
)
from ccd.dialer.contacts import ColumnMapping, CsvUnusable, check_region, read_contacts
from ccd.dialer.model import (
    DEFAULT_RETRIES,
    AmdMode,
    CallingWindow,
    Campaign,
    CampaignState,
    DialMode,
    Outcome,
    RetryRule,
    Weekday,
)
from ccd.domain.audit import AuditEntry
from ccd.domain.servers import DEFAULT_SERVER_NAME, SERVER_NAME_PATTERN

log = structlog.get_logger("ccd.api")

DIALER_STORE: web.AppKey[DialerStore | None] = web.AppKey("dialer_store")
# The configured Asterisk servers' names, the first the default: what ``server`` may name.
CAMPAIGN_SERVERS: web.AppKey[tuple[str, ...]] = web.AppKey("campaign_servers")
SERVER_IN_FLIGHT = "urn:ccd:problem:campaign-server-in-use"

CAMPAIGN_NOT_READY = "urn:ccd:problem:campaign-not-ready"
ILLEGAL_TRANSITION = "urn:ccd:problem:illegal-transition"
# Contacts per transaction on upload: small, so that parsing a batch (phonenumbers) keeps
# the event loop busy for a few milliseconds only between database writes.
UPLOAD_BATCH = 200
_ID = re.compile(ID_PATTERN)
_DAYS = {day.name.lower(): day for day in Weekday}

# action -> its audit trail action
TRANSITION_ACTIONS = {
    "start": "campaign.started",
    "pause": "campaign.paused",
    "resume": "campaign.resumed",
    "stop": "campaign.stopped",
}
# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[CampaignState], CampaignState]] = {
    "start": (frozenset({CampaignState.DRAFT}), CampaignState.RUNNING),
    "pause": (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    "resume": (frozenset({CampaignState.PAUSED}), CampaignState.RUNNING),
    "stop": (frozenset({CampaignState.RUNNING, CampaignState.PAUSED}), CampaignState.STOPPED),
}

# Printable text without control characters (CR/LF/NUL are also refused body-wide).
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
CallerId = Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$")]
# An Asterisk sound file name without extension: path segments of letters, digits, _ and -.
Prompt = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# ISO 3166 alpha-2, any case (documented; ``check_region`` names an unknown one).
REGION_PATTERN = r"^[A-Za-z]{2}$"
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
OutcomeName = Literal["no-answer", "busy", "failed", "machine", "abandoned"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class WindowBody(_Body):
    days: Annotated[list[DayName], Field(min_length=1, max_length=7)]
    start: ClockTime
    end: ClockTime

    def to_window(self) -> CallingWindow:
        return CallingWindow(
            frozenset(_DAYS[d] for d in self.days),
            time.fromisoformat(self.start),
            time.fromisoformat(self.end),
        )


class RetryBody(_Body):
    delay_s: Annotated[float, Field(ge=0, le=30 * 86400)]
    max_attempts: Annotated[int, Field(ge=1, le=100)]


def _default_windows() -> list[WindowBody]:
    return [
        WindowBody(days=list(_DAYS), start="08:00", end="21:00")  # type: ignore[arg-type]
    ]


class CampaignFields(_Body):
    """A campaign's settings (PUT: all of them; omitted ones take their default)."""

    name: Text | None = None  # default: the id
    mode: Literal["preview", "progressive", "predictive"]
    caller_id: CallerId
    agent_ids: Annotated[list[Id], Field(max_length=1000)] = Field(default_factory=list)
    queue_id: Id | None = None
    windows: Annotated[list[WindowBody], Field(max_length=50)] = Field(
        default_factory=_default_windows
    )
    holidays: Annotated[
        list[Annotated[str, Field(pattern=DATE_PATTERN, json_schema_extra={"format": "date"})]],
        Field(max_length=400),
    ] = Field(default_factory=list)
    ring_timeout_s: Annotated[float, Field(ge=1, le=300)] = 25.0
    # Outcomes not named keep their default rule.
    retries: dict[OutcomeName, RetryBody] = Field(default_factory=dict)
    abandon_cap_pct: Annotated[float, Field(gt=0, le=100)] = 3.0
    cap_override: bool = False
    amd: Literal["off", "hang-up", "leave-message"] = "off"
    # Checked even when left out: a predictive campaign must have one (422, not a draft).
    safe_harbor_prompt: Prompt | None = Field(default=None, validate_default=True)
    machine_message_prompt: Prompt | None = None
    dispositions: Annotated[list[Id], Field(min_length=1, max_length=100)] = Field(
        default_factory=lambda: ["sale", "no-sale", "call-back", "do-not-call"]
    )
    default_region: Annotated[
        str, Field(min_length=2, max_length=2, json_schema_extra={"pattern": REGION_PATTERN})
    ] = "US"
    # A configured [[asterisk]] name (checked by the handler against the configuration).
    server: Annotated[str, Field(pattern=SERVER_NAME_PATTERN)] | None = None

    @field_validator("holidays")
    @classmethod
    def _dates(cls, holidays: list[str]) -> list[str]:
        for day in holidays:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"{day!r} is not a date (YYYY-MM-DD)") from None
            if len(day) != 10:
                raise ValueError(f"{day!r} is not a date (YYYY-MM-DD)")
        return holidays

    @field_validator("windows")
    @classmethod
    def _windows(cls, windows: list[WindowBody]) -> list[WindowBody]:
        for window in windows:
            if not time.fromisoformat(window.start) < time.fromisoformat(window.end):
                raise ValueError(f"window {window.start}-{window.end}: end must be after start")
        return windows

    @field_validator("safe_harbor_prompt")
    @classmethod
    def _safe_harbor(cls, prompt: str | None, info: ValidationInfo) -> str | None:
        if prompt is None and info.data.get("mode") == DialMode.PREDICTIVE.value:
            raise ValueError(
                "required for a predictive campaign (the message an abandoned person hears)"
            )
        return prompt

    @field_validator("default_region")
    @classmethod
    def _region(cls, region: str) -> str:
        return check_region(region)

    def to_campaign(self, campaign_id: str, state: CampaignState) -> Campaign:
        retries = dict(DEFAULT_RETRIES)
        for outcome, rule in self.retries.items():
            retries[Outcome(outcome)] = RetryRule(rule.delay_s, rule.max_attempts)
        return Campaign(
            id=campaign_id,
            name=self.name or campaign_id,
            mode=DialMode(self.mode),
            caller_id=self.caller_id,
            agent_ids=frozenset(self.agent_ids),
            queue_id=self.queue_id,
            windows=tuple(w.to_window() for w in self.windows),
            holidays=frozenset(date.fromisoformat(d) for d in self.holidays),
            ring_timeout_s=self.ring_timeout_s,
            retries=retries,
            abandon_cap_pct=self.abandon_cap_pct,
            cap_override=self.cap_override,
            amd=AmdMode(self.amd),
            safe_harbor_prompt=self.safe_harbor_prompt,
            machine_message_prompt=self.machine_message_prompt,
            dispositions=tuple(dict.fromkeys(self.dispositions)),
            default_region=self.default_region,
            state=state,
            server=self.server,
        )


class CampaignSpec(CampaignFields):
    id: Id


class CampaignPath(BaseModel):
    id: Annotated[str, Field(pattern=ID_PATTERN, description="the campaign's id")]


class ContactUploadQuery(BaseModel):
    """How to read the uploaded file (all optional; empty means the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_column: str | None = Field(default=None, description="the phone column (phone)")
    name_column: str | None = Field(default=None, description="the name column (name)")
    tz_column: str | None = Field(
        default=None, description="a column of IANA time zones (else from the number)"
    )
    region: str | None = Field(
        default=None,
        description="ISO 3166 region numbers without + are read in (the campaign's)",
        # Empty: the campaign's. Checked, not only documented: check_region takes " us".
        pattern="^([A-Za-z]{2})?$",
    )


# --- plumbing ----------------------------------------------------------------------------


def dialer_store(request: web.Request) -> DialerStore:
    store = request.app[DIALER_STORE]
    if store is None:
        raise ApiProblem(503, "the dialer store is not available in this process")
    return store


def dialer_errors() -> AbstractContextManager[None]:
    """The store's refusals as problems: 503, 404, 409."""
    return store_problems("dialer")


def campaign_key(request: web.Request) -> str:
    """The path's campaign id; one that cannot be valid cannot exist either (404)."""
    value = check_path_param("id", request.match_info["id"])
    if not _ID.match(value):
        raise not_found(f"no campaign {value!r}")
    return value


async def stored_campaign(request: web.Request) -> StoredCampaign:
    campaign_id = campaign_key(request)
    with dialer_errors():
        stored = await dialer_store(request).get_campaign(campaign_id)
    if stored is None:
        raise not_found(f"no campaign {campaign_id!r}")
    return stored


def _by(request: web.Request) -> str:
    return request[PRINCIPAL].token_id


async def _audit(
    request: web.Request, action: str, campaign_id: str, detail: dict[str, Any]
) -> None:
    await record_done(
        request.app, AuditEntry(request[PRINCIPAL], action, "campaign", campaign_id, detail)
    )


# --- views -------------------------------------------------------------------------------


def campaign_view(stored: StoredCampaign) -> dict[str, Any]:
    c = stored.campaign
    values = campaign_values(c)  # the fields stored and shown alike
    return {
        "id": c.id,
        "name": c.name,
        "mode": values["mode"],
        "state": values["state"],
        "caller_id": c.caller_id,
        "agent_ids": values["agent_ids"],
        "queue_id": c.queue_id,
        "windows": [
            {
                "days": [d.name.lower() for d in sorted(w.days)],
                "start": w.start.isoformat(timespec="minutes" if not w.start.second else "auto"),
                "end": w.end.isoformat(timespec="minutes" if not w.end.second else "auto"),
            }
            for w in c.windows
        ],
        "holidays": values["holidays"],
        "ring_timeout_s": c.ring_timeout_s,
        "retries": values["retries"],
        "abandon_cap_pct": c.abandon_cap_pct,
        "cap_override": c.cap_override,
        "amd": values["amd"],
        "safe_harbor_prompt": c.safe_harbor_prompt,
        "machine_message_prompt": c.machine_message_prompt,
        "dispositions": values["dispositions"],
        "default_region": c.default_region,
        "server": c.server,
        "problems": [{"field": f, "message": m} for f, m in c.problems()],
        "created_at": iso(stored.created_at),
        "updated_at": iso(stored.updated_at),
    }


async def _live(request: web.Request, campaign: Campaign) -> dict[str, Any]:
    """``live``: the running dialer's figures and the database's counts
    (``ccd.api.campaign_live``)."""
    with dialer_errors():
        return await live_view(request, campaign, dialer_store(request))


def _check_server(request: web.Request, campaign: Campaign) -> None:
    """``server`` must name a configured Asterisk server (422 naming it)."""
    servers = request.app[CAMPAIGN_SERVERS]
    if campaign.server is not None and campaign.server not in servers:
        raise validation_problem(
            [
                FieldError(
                    "server",
                    f"no Asterisk server named {campaign.server!r}"
                    f" (configured: {', '.join(servers)})",
                )
            ]
        )


def server_of(request: web.Request, campaign: Campaign) -> str:
    """The server the campaign's calls are placed on (None: the first configured)."""
    return campaign.server or request.app[CAMPAIGN_SERVERS][0]


async def _refuse_server_move(request: web.Request, current: Campaign, campaign: Campaign) -> None:
    """A campaign's calls are followed and settled on the server they were placed on: its
    server changes only while none can be in flight (409 otherwise)."""
    if server_of(request, current) == server_of(request, campaign):
        return
    if current.state is CampaignState.RUNNING:
        raise ApiProblem(
            409,
            f"campaign {current.id!r} is running on server {server_of(request, current)!r}:"
            " pause it before moving it to another server",
            type_=SERVER_IN_FLIGHT,
            title="Campaign server in use",
        )
    with dialer_errors():
        in_flight = await attempt_store(request).open_attempts(current.id)
    if in_flight:
        raise ApiProblem(
            409,
            f"campaign {current.id!r} has {len(in_flight)} call(s) still in flight on server"
            f" {server_of(request, current)!r}: move it once they have ended",
            type_=SERVER_IN_FLIGHT,
            title="Campaign server in use",
        )


def _refuse_if_broken(campaign: Campaign) -> None:
    """A running or paused campaign must stay runnable: 422 with every broken rule."""
    if campaign.state in (CampaignState.RUNNING, CampaignState.PAUSED):
        problems = campaign.problems()
        if problems:
            raise validation_problem([FieldError(f, m) for f, m in problems])


# --- handlers ----------------------------------------------------------------------------


async def _detail(request: web.Request, stored: StoredCampaign) -> CampaignDetail:
    return CampaignDetail.model_validate(
        campaign_view(stored) | {"live": await _live(request, stored.campaign)}
    )


@operation("Every campaign (without its live view)", responses={200: CampaignList})
async def list_campaigns(request: web.Request) -> web.Response:
    with dialer_errors():
        campaigns = await dialer_store(request).list_campaigns()
    return model_json(
        CampaignList(campaigns=[CampaignView.model_validate(campaign_view(c)) for c in campaigns])
    )


@operation(
    "Create a campaign (a draft)",
    body=CampaignSpec,
    responses={201: CampaignDetail},
    problems=(409,),
    description=(
        "409 when the id is taken; `server` must name a configured Asterisk server (422)."
        " Audited as `campaign.created`."
    ),
)
async def create_campaign(request: web.Request) -> web.Response:
    spec: CampaignSpec = await read_json(request, CampaignSpec)
    campaign = spec.to_campaign(spec.id, CampaignState.DRAFT)
    _check_server(request, campaign)
    audit_log(request.app)  # no trail: 503 before anything is changed
    with dialer_errors():
        stored = await dialer_store(request).put_campaign(campaign, mode=WriteMode.CREATE)
    log.info("dialer campaign created", campaign=spec.id, token_id=_by(request))
    await follow(request, spec.id)
    await _audit(
        request, "campaign.created", spec.id, {"before": None, "after": campaign_view(stored)}
    )
    response = model_json(await _detail(request, stored), status=201)
    response.headers["Location"] = f"/api/v1/campaigns/{spec.id}"
    return response


@operation(
    "One campaign with its live view",
    path=CampaignPath,
    responses={200: CampaignDetail},
    problems=(404,),
)
async def get_campaign(request: web.Request) -> web.Response:
    stored = await stored_campaign(request)
    return model_json(await _detail(request, stored))


@operation(
    "Replace a campaign's settings",
    path=CampaignPath,
    body=CampaignFields,
    responses={200: CampaignDetail},
    problems=(404, 409),
    description=(
        "Every setting; an omitted one takes its default. A running or paused campaign"
        " cannot be changed into one that breaks a rule (422). `server` must name a"
        " configured Asterisk server (422); it changes only while the campaign is not"
        " running and has no call in flight (409). Audited as `campaign.updated`."
    ),
)
async def update_campaign(request: web.Request) -> web.Response:
    current = await stored_campaign(request)
    fields: CampaignFields = await read_json(request, CampaignFields)
    campaign = fields.to_campaign(current.campaign.id, current.campaign.state)
    _refuse_if_broken(campaign)
    _check_server(request, campaign)
    await _refuse_server_move(request, current.campaign, campaign)
    audit_log(request.app)  # no trail: 503 before anything is changed
    with dialer_errors():
        stored = await dialer_store(request).put_campaign(campaign, mode=WriteMode.UPDATE)
    log.info("dialer campaign updated", campaign=campaign.id, token_id=_by(request))
    await follow(request, campaign.id)
    await _audit(
        request,
        "campaign.updated",
        campaign.id,
        {"before": campaign_view(current), "after": campaign_view(stored)},
    )
    return model_json(await _detail(request, stored))


@operation(
    "Delete a campaign, its contacts and its do-not-call list",
    path=CampaignPath,
    responses={204: None},
    problems=(404, 409),
    description="409 once it has dial attempts. Audited as `campaign.deleted`.",
)
async def delete_campaign(request: web.Request) -> web.Response:
    current = await stored_campaign(request)
    campaign_id = current.campaign.id
    audit_log(request.app)  # no trail: 503 before anything is changed
    with dialer_errors():
        deleted = await dialer_store(request).delete_campaign(campaign_id)
    if not deleted:
        raise not_found(f"no campaign {campaign_id!r}")
    log.info("dialer campaign deleted", campaign=campaign_id, token_id=_by(request))
    await follow(request, campaign_id)
    await _audit(
        request, "campaign.deleted", campaign_id, {"before": campaign_view(current), "after": None}
    )
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


async def _transition(request: web.Request, action: str) -> web.Response:
    stored = await stored_campaign(request)
    campaign = stored.campaign
    sources, target = TRANSITIONS[action]
    if campaign.state not in sources:
        allowed = " or ".join(sorted(s.value for s in sources))
        raise ApiProblem(
            409,
            f"cannot {action} campaign {campaign.id!r}: it is {campaign.state.value} "
            f"({action} needs it {allowed})",
            type_=ILLEGAL_TRANSITION,
            extensions={"state": campaign.state.value},
        )
    if target is CampaignState.RUNNING:
        problems = campaign.problems()
        if problems:
            raise ApiProblem(
                409,
                f"campaign {campaign.id!r} cannot run: "
                + "; ".join(f"{f}: {m}" for f, m in problems),
                type_=CAMPAIGN_NOT_READY,
                errors=[FieldError(f, m) for f, m in problems],
            )
    audit_log(request.app)  # no trail: 503 before anything is changed
    with dialer_errors():
        stored = await dialer_store(request).set_campaign_state(campaign.id, target)
    log.info(
        f"dialer campaign {action}",
        campaign=campaign.id,
        state=target.value,
        token_id=_by(request),
    )
    await follow(request, campaign.id)
    await _audit(
        request,
        TRANSITION_ACTIONS[action],
        campaign.id,
        {"before": {"state": campaign.state.value}, "after": {"state": target.value}},
    )
    return model_json(await _detail(request, stored))


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _transition_operation(action: str, summary: str) -> Callable[[Handler], Handler]:
    sources, target = TRANSITIONS[action]
    return operation(
        summary,
        path=CampaignPath,
        responses={200: CampaignDetail},
        problems=(404, 409),
        description=(
            f"From {' or '.join(sorted(s.value for s in sources))} to {target.value};"
            " any other state is 409 (type illegal-transition)."
            + (
                " 409 (type campaign-not-ready, `errors` naming each field) while"
                " `problems` is not empty."
                if target is CampaignState.RUNNING
                else ""
            )
            + f" Audited as `{TRANSITION_ACTIONS[action]}`."
        ),
    )


@_transition_operation("start", "Start dialing a draft campaign")
async def start(request: web.Request) -> web.Response:
    return await _transition(request, "start")


@_transition_operation("pause", "Pause a running campaign (calls in flight go on)")
async def pause(request: web.Request) -> web.Response:
    return await _transition(request, "pause")


@_transition_operation("resume", "Resume a paused campaign")
async def resume(request: web.Request) -> web.Response:
    return await _transition(request, "resume")


@_transition_operation("stop", "Stop a campaign for good")
async def stop(request: web.Request) -> web.Response:
    return await _transition(request, "stop")


@operation(
    "Upload contacts (CSV)",
    path=CampaignPath,
    query=ContactUploadQuery,
    body=CSV_UPLOAD,
    responses={200: ImportReport},
    problems=(404, 409),
    description=(
        "A CSV file with a header row, streamed in batches; a number already in the"
        " campaign is kept once. 200 with the counts and the bad rows; 422 (with the same"
        " counts) when the file is unusable or not one row is good; 409 for a stopped"
        " campaign. Audited as `campaign.contacts_imported` (counts, never rows)."
    ),
)
async def upload_contacts(request: web.Request) -> web.Response:
    """A ``text/csv`` body of contacts, streamed into the campaign in batches. 200 with the
    counts and the bad rows; 422 with every problem when the file is unusable (header,
    mapping, region) or not one row in it is good."""
    stored = await stored_campaign(request)
    campaign = stored.campaign
    if campaign.state is CampaignState.STOPPED:
        raise ApiProblem(
            409,
            f"campaign {campaign.id!r} is stopped: it will never dial again",
            type_=ILLEGAL_TRANSITION,
            extensions={"state": campaign.state.value},
        )
    query = query_model(ContactUploadQuery, request.query)
    mapping = ColumnMapping(
        phone=query.phone_column or None,
        name=query.name_column or None,
        time_zone=query.tz_column or None,
    )
    region = query.region or campaign.default_region
    audit_log(request.app)  # no trail: 503 before anything is changed
    bad = BadRows()
    async with csv_lines(request) as lines:
        try:
            rows = read_contacts(
                lines, campaign_id=campaign.id, default_region=region, mapping=mapping
            )
            with dialer_errors():
                counts = await dialer_store(request).import_contacts(
                    campaign.id, rows, batch_size=UPLOAD_BATCH, on_bad_row=bad
                )
        except CsvUnusable as exc:
            raise validation_problem([FieldError("body", p) for p in exc.problems]) from None
    report = import_report(counts, bad)
    log.info(
        "dialer contacts uploaded",
        campaign=campaign.id,
        read=counts.read,
        new=counts.new,
        already_there=counts.already_there,
        rejected=counts.rejected,
        token_id=_by(request),
    )
    if not counts.accepted:
        problems = [
            FieldError(
                "body",
                f"row {b['row']}"
                + (f", column {b['column']!r}" if b["column"] else "")
                + f": {b['reason']}",
            )
            for b in bad.rows
        ] or [FieldError("body", "the file has a header but no contact rows")]
        raise ApiProblem(
            422,
            f"no contact in the file could be imported ({counts.rejected} bad rows)",
            type_=VALIDATION_ERROR,
            title="Validation failed",
            errors=problems,
            extensions=report,
        )
    await _audit(
        request,
        "campaign.contacts_imported",
        campaign.id,
        {key: report[key] for key in ("read", "imported", "new", "already_there", "rejected")},
    )
    return model_json(ImportReport.model_validate(report))


def add_routes(
    app: web.Application,
    store: DialerStore | None,
    servers: tuple[str, ...] = (DEFAULT_SERVER_NAME,),
) -> None:
    if not servers:
        raise ValueError("campaigns need at least one Asterisk server")
    app[DIALER_STORE] = store
    app[CAMPAIGN_SERVERS] = servers
    r = app.router
    r.add_get("/api/v1/campaigns", list_campaigns, name="campaigns.list")
    r.add_post("/api/v1/campaigns", create_campaign, name="campaigns.create")
    r.add_get("/api/v1/campaigns/{id}", get_campaign, name="campaigns.get")
    r.add_put("/api/v1/campaigns/{id}", update_campaign, name="campaigns.update")
    r.add_delete("/api/v1/campaigns/{id}", delete_campaign, name="campaigns.delete")
    r.add_post("/api/v1/campaigns/{id}/start", start, name="campaigns.start")
    r.add_post("/api/v1/campaigns/{id}/pause", pause, name="campaigns.pause")
    r.add_post("/api/v1/campaigns/{id}/resume", resume, name="campaigns.resume")
    r.add_post("/api/v1/campaigns/{id}/stop", stop, name="campaigns.stop")
    r.add_post("/api/v1/campaigns/{id}/contacts", upload_contacts, name="campaigns.contacts")
