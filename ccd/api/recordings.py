"""Call recordings over HTTP: list, metadata, playback (HTTP Range), PCI pause/resume of a
live call's recording, and the recording policy of queues and campaigns.

Routes (roles in ``ccd.api.policy``; README "Recording"):
- ``GET /api/v1/recordings``: newest first, filtered by ``call``, ``agent``, ``queue``,
  ``campaign``, ``since``, ``until``, ``limit``;
- ``GET /api/v1/recordings/{id}/metadata``: one recording (pauses, size, deletion);
- ``GET /api/v1/recordings/{id}``: the audio (``audio/wav``; ``Range`` gives 206 with
  ``Content-Range``, an unsatisfiable range 416). Every playback is written to the audit
  trail (who, the call, the range asked for) before a byte is sent; an audit trail that
  cannot take it is a 503 and nothing is played. Cache validators (If-None-Match, …) are
  ignored: an audited playback always sends audio. A recording deleted by retention is 410;
- ``POST /api/v1/calls/{id}/recording/pause`` and ``…/resume``: 200 with the recording
  (asking twice changes nothing), 409 when the call has no recording running;
- ``GET``/``PUT /api/v1/queues/{id}/recording`` and ``/api/v1/campaigns/{id}/recording``:
  ``{"mode": "all"|"none"}`` or ``{"mode": "percent", "percent": 0..100}``.

Who sees what: admins, supervisors and QA every recording; an agent only those of their
own calls (another agent's recording is 404, as if it did not exist; filtering the list by
another agent is 403); integrators only when ``recording.integrators_may_play`` is true
(else 403); analysts never. Only the call's own agent, supervisors and admins pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

import structlog
from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict, MultiMapping
from pydantic import BaseModel, ConfigDict, Field

from ccd.api.cdrs import IsoDateTime
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import MAX_CALL_ID_LENGTH, model_json, read_json
from ccd.api.models.recordings import (
    RecordingList,
    RecordingPolicyBody,
    RecordingPolicyView,
    RecordingView,
)
from ccd.api.openapi.operation import Payload, operation
from ccd.api.problems import (
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    forbidden,
    not_found,
    validation_problem,
)
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param, query_model
from ccd.db.stores import StoreUnavailable
from ccd.domain.audit import AuditEntry, AuditLog
from ccd.domain.auth import Principal, Role
from ccd.recording.files import is_recording_id, local_path
from ccd.recording.model import Recording, RecordingFilter
from ccd.recording.places import RecordingPlaces
from ccd.recording.policy import InvalidPolicy, RecordingPolicy, parse_policy
from ccd.recording.service import NoRecording, NotYourCall

log = structlog.get_logger("ccd.api")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ID_LENGTH = 64
AUDIO_TYPE = "audio/wav"
PLAYED = "recording.played"
PAUSED = "recording.paused"
RESUMED = "recording.resumed"
POLICY_SET = "recording_policy.set"
AUDIO_BODY = Payload(
    AUDIO_TYPE,
    "The recording (WAV). PCI pauses are silence.",
    {"type": "string", "format": "binary"},
)


class RecordingControl(Protocol):
    def active(self, linkedid: str) -> Recording | None: ...

    async def pause(self, linkedid: str, *, agent_id: str | None = None) -> Recording: ...

    async def resume(self, linkedid: str, *, agent_id: str | None = None) -> Recording: ...


class RecordingReader(Protocol):
    async def get(self, recording_id: str) -> Recording | None: ...

    async def search(self, where: RecordingFilter) -> Sequence[Recording]: ...

    async def policy(self, kind: str, target_id: str) -> RecordingPolicy | None: ...

    async def set_policy(self, kind: str, target_id: str, policy: RecordingPolicy) -> bool: ...


@dataclass(frozen=True, slots=True)
class RecordingApi:
    store: RecordingReader
    control: RecordingControl | None  # None: this process records nothing (pause: 503)
    audit: AuditLog
    places: RecordingPlaces  # where ccd reads each Asterisk server's files
    integrators_may_play: bool


RECORDINGS: web.AppKey[RecordingApi | None] = web.AppKey("recordings")


class RecordingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    call: Annotated[str, Field(min_length=1, max_length=150)] | None = None
    agent: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    queue: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    campaign: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    since: IsoDateTime = None
    until: IsoDateTime = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT


def _deps(request: web.Request) -> RecordingApi:
    deps = request.app[RECORDINGS]
    if deps is None:
        raise ApiProblem(503, "recording is not configured in this process")
    return deps


def _unavailable(what: str) -> ApiProblem:
    return ApiProblem(503, f"{what} is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE)


def _require_listener(deps: RecordingApi, principal: Principal) -> None:
    if principal.role is Role.INTEGRATOR and not deps.integrators_may_play:
        raise forbidden("integrators may not read recordings here (recording.integrators_may_play)")


def _query(query: MultiMapping[str]) -> RecordingQuery:
    parsed = query_model(RecordingQuery, query)
    if parsed.since is not None and parsed.until is not None and parsed.since > parsed.until:
        raise validation_problem([FieldError("since", "must not be later than until")])
    return parsed


def recording_view(recording: Recording) -> dict[str, Any]:
    return {
        "id": recording.id,
        "call_id": recording.linkedid,
        "agent_id": recording.agent_id,
        "queue": recording.queue_id,
        "campaign_id": recording.campaign_id,
        "started_at": iso(recording.started_at),
        "ended_at": iso(recording.ended_at),
        "duration_s": _duration(recording.started_at, recording.ended_at),
        "pauses": [{"start": iso(p.start), "end": iso(p.end)} for p in recording.pauses.intervals],
        "paused": recording.pauses.paused,
        "size_bytes": recording.size_bytes,
        "deleted_at": iso(recording.deleted_at),
        "format": "wav",
        "server": recording.server,
    }


def _duration(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)


def recording_model(recording: Recording) -> RecordingView:
    return RecordingView.model_validate(recording_view(recording))


async def _audited(deps: RecordingApi, entry: AuditEntry, *, done: str) -> None:
    """Store ``entry``; a trail that cannot take it is a 503 saying what was ``done``."""
    try:
        await deps.audit.record(entry)
    except Exception as exc:
        log.warning("recording change not audited", action=entry.action, error=str(exc))
        raise ApiProblem(
            503,
            f"{done}, but the audit trail is unavailable: it was not recorded; retry",
            type_=UPSTREAM_UNAVAILABLE,
        ) from None


@operation(
    "Recordings, newest first",
    query=RecordingQuery,
    responses={200: RecordingList},
    description=(
        "An agent lists only their own calls' recordings (naming another agent is 403);"
        " integrators only when `recording.integrators_may_play`."
    ),
)
async def list_recordings(request: web.Request) -> web.Response:
    deps = _deps(request)
    principal = request[PRINCIPAL]
    _require_listener(deps, principal)
    query = _query(request.query)
    agent = query.agent
    if principal.role is Role.AGENT:
        if agent is not None and agent != principal.agent_id:
            raise forbidden("agents may only list recordings of their own calls")
        agent = principal.agent_id or ""
    where = RecordingFilter(
        linkedid=query.call,
        agent_id=agent,
        queue_id=query.queue,
        campaign_id=query.campaign,
        since=query.since,
        until=query.until,
        limit=query.limit,
    )
    try:
        found = await deps.store.search(where)
    except StoreUnavailable:
        raise _unavailable("the recordings database") from None
    views = [recording_model(r) for r in found]
    return model_json(RecordingList(recordings=views, count=len(views)))


async def _visible(request: web.Request, deps: RecordingApi) -> Recording:
    principal = request[PRINCIPAL]
    _require_listener(deps, principal)
    recording_id = check_id_param(
        "id", request.match_info["id"], max_length=MAX_ID_LENGTH, missing="no such recording"
    )
    if not is_recording_id(recording_id):
        raise not_found(f"no recording {recording_id!r}")
    try:
        recording = await deps.store.get(recording_id)
    except StoreUnavailable:
        raise _unavailable("the recordings database") from None
    # An agent is not told that another agent's recording exists.
    if recording is None or (
        principal.role is Role.AGENT and recording.agent_id != principal.agent_id
    ):
        raise not_found(f"no recording {recording_id!r}")
    return recording


@operation(
    "One recording's metadata: pauses, size, deletion",
    responses={200: RecordingView},
    problems=(404,),
    description="Another agent's recording is 404 to an agent, as if it did not exist.",
)
async def get_recording(request: web.Request) -> web.Response:
    deps = _deps(request)
    return model_json(recording_model(await _visible(request, deps)))


def _unsatisfiable(request: web.Request, size: int) -> bool:
    """aiohttp's own test of a Range (``FileResponse``), made before the playback is
    audited: a range that selects nothing plays nothing and is a 416 problem."""
    if hdrs.RANGE not in request.headers or hdrs.IF_RANGE in request.headers:
        return False  # with If-Range the range may be ignored: FileResponse decides
    try:
        asked = request.http_range
    except ValueError:
        return True
    start: int | None = asked.start
    if start is None or (start < 0 and asked.stop is None):
        return False  # no range, or a suffix ("the last n bytes")
    return start >= size


# Cache validators. If-Range stays: it only decides whether the Range is honoured.
_CONDITIONALS = frozenset(
    name.lower()
    for name in (
        hdrs.IF_MATCH,
        hdrs.IF_NONE_MATCH,
        hdrs.IF_MODIFIED_SINCE,
        hdrs.IF_UNMODIFIED_SINCE,
    )
)


class _AudioResponse(web.FileResponse):
    """The file (or its Range) whatever validators the request carries: audio is never
    cached (no-store) and every answer is a playback already audited, so aiohttp must not
    turn it into an empty 304 (audited as played, nothing sent) or a bare, non-problem 412."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        kept = CIMultiDict(
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in _CONDITIONALS
        )
        if len(kept) == len(request.headers):
            return await super().prepare(request)
        return await super().prepare(request.clone(headers=kept))


@operation(
    "Play a recording (audio/wav); HTTP Range gives 206",
    responses={200: AUDIO_BODY, 206: AUDIO_BODY},
    problems=(404, 410, 416),
    description=(
        "Every playback is audited (`recording.played`, with the Range asked for) before a"
        " byte is sent; 503 and nothing played when the trail cannot take it. 410: deleted"
        " by retention. 416: the Range selects nothing (Content-Range gives the size)."
        " If-None-Match, If-Modified-Since, If-Match and If-Unmodified-Since are ignored:"
        " the audio is never cached, so there is no 304 or 412."
    ),
)
async def play_recording(request: web.Request) -> web.StreamResponse:
    deps = _deps(request)
    recording = await _visible(request, deps)
    if recording.deleted_at is not None:
        raise ApiProblem(410, f"recording {recording.id!r} was deleted (retention)")
    place = deps.places.of(recording.server)
    if place is None:
        raise not_found(
            f"the audio of recording {recording.id!r} is on Asterisk server "
            f"{recording.server!r}, whose recording_dir is not configured"
        )
    path = local_path(place.local_dir, recording.file)
    if not path.is_file():
        raise not_found(f"the audio of recording {recording.id!r} is missing")
    size = path.stat().st_size
    if _unsatisfiable(request, size):
        raise ApiProblem(
            416,
            f"the Range selects no byte of the recording's {size}",
            headers={hdrs.CONTENT_RANGE: f"bytes */{size}"},
        )
    requested = request.headers.get("Range")
    entry = AuditEntry(
        actor=request[PRINCIPAL],
        action=PLAYED,
        target_kind="recording",
        target_id=recording.id,
        detail={"call_id": recording.linkedid, "range": requested},
    )
    try:
        await deps.audit.record(entry)
    except Exception as exc:
        # Not audited, not played.
        log.warning("playback not audited", recording=recording.id, error=str(exc))
        raise _unavailable("the audit trail") from None
    return _AudioResponse(path, headers={"Content-Type": AUDIO_TYPE, "Cache-Control": "no-store"})


def _call_id(request: web.Request) -> str:
    return check_id_param(
        "id", request.match_info["id"], max_length=MAX_CALL_ID_LENGTH, missing="no such call"
    )


def _pause_detail(before: Recording | None, after: Recording) -> dict[str, Any]:
    """What the trail keeps of a pause or resume: the call, the recording and its pauses
    before and after (a resume's last interval is the span the audio was silenced)."""
    intervals = [{"start": iso(p.start), "end": iso(p.end)} for p in after.pauses.intervals]
    return {
        "call_id": after.linkedid,
        "recording_id": after.id,
        "interval": intervals[-1] if intervals else None,
        "before": None if before is None else {"paused": before.pauses.paused},
        "after": {"paused": after.pauses.paused, "pauses": intervals},
    }


async def _pause_or_resume(request: web.Request, *, pause: bool) -> web.Response:
    deps = _deps(request)
    control = deps.control
    if control is None:
        raise ApiProblem(503, "recording is not running in this process")
    principal = request[PRINCIPAL]
    call_id = _call_id(request)
    agent = principal.agent_id if principal.role is Role.AGENT else None
    if principal.role is Role.AGENT and not agent:
        raise forbidden("this agent token names no agent")
    before = control.active(call_id)
    try:
        if pause:
            recording = await control.pause(call_id, agent_id=agent)
        else:
            recording = await control.resume(call_id, agent_id=agent)
    except NoRecording:
        raise ApiProblem(409, f"call {call_id!r} has no recording running") from None
    except NotYourCall:
        raise forbidden("agents may only pause the recording of their own call") from None
    except StoreUnavailable:
        raise _unavailable("the recordings database") from None
    except Exception as exc:
        log.warning("recording mute failed", call_id=call_id, error=str(exc))
        raise ApiProblem(
            503, "Asterisk did not apply the change; retry", type_=UPSTREAM_UNAVAILABLE
        ) from None
    await _audited(
        deps,
        AuditEntry(
            actor=principal,
            action=PAUSED if pause else RESUMED,
            target_kind="recording",
            target_id=recording.id,
            detail=_pause_detail(before, recording),
        ),
        done="the recording was " + ("paused" if pause else "resumed"),
    )
    return model_json(recording_model(recording))


PAUSE_PROBLEMS = (409,)


@operation(
    "PCI pause: silence a live call's recording until resumed",
    responses={200: RecordingView},
    problems=PAUSE_PROBLEMS,
    description=(
        "Asking again while paused changes nothing. 409: the call has no recording running."
        " An agent pauses only their own call. Audited as `recording.paused`."
    ),
)
async def pause_recording(request: web.Request) -> web.Response:
    return await _pause_or_resume(request, pause=True)


@operation(
    "Resume a paused recording",
    responses={200: RecordingView},
    problems=PAUSE_PROBLEMS,
    description=(
        "Asking again while recording changes nothing. 409: the call has no recording"
        " running. Audited as `recording.resumed` with the paused interval."
    ),
)
async def resume_recording(request: web.Request) -> web.Response:
    return await _pause_or_resume(request, pause=False)


def _policy_target(request: web.Request) -> tuple[str, str]:
    kind = "queue" if request.match_info.route.name in (QUEUE_GET, QUEUE_SET) else "campaign"
    target = check_id_param(
        "id", request.match_info["id"], max_length=MAX_ID_LENGTH, missing=f"no such {kind}"
    )
    return kind, target


@operation(
    "The recording policy: which of its calls are recorded",
    responses={200: RecordingPolicyView},
    problems=(404,),
)
async def get_policy(request: web.Request) -> web.Response:
    deps = _deps(request)
    kind, target = _policy_target(request)
    try:
        policy = await deps.store.policy(kind, target)
    except StoreUnavailable:
        raise _unavailable("the database") from None
    if policy is None:
        raise not_found(f"no {kind} {target!r}")
    return model_json(RecordingPolicyView.model_validate(policy.as_json()))


@operation(
    "Set the recording policy",
    body=RecordingPolicyBody,
    responses={200: RecordingPolicyView},
    problems=(404,),
    description=(
        "Audited as `recording_policy.set` (target kind queue or campaign), before/after."
    ),
)
async def set_policy(request: web.Request) -> web.Response:
    deps = _deps(request)
    kind, target = _policy_target(request)
    body = await read_json(request, RecordingPolicyBody)
    try:
        policy = parse_policy(body.model_dump(exclude_none=True))
    except InvalidPolicy as exc:  # the body model already checks what parse_policy does
        raise validation_problem([FieldError(exc.field, exc.message)]) from None
    try:
        before = await deps.store.policy(kind, target)
        if before is None or not await deps.store.set_policy(kind, target, policy):
            raise not_found(f"no {kind} {target!r}")
    except StoreUnavailable:
        raise _unavailable("the database") from None
    log.info("recording policy changed", **{kind: target}, policy=policy.as_json())
    await _audited(
        deps,
        AuditEntry(
            actor=request[PRINCIPAL],
            action=POLICY_SET,
            target_kind=kind,
            target_id=target,
            detail={"before": before.as_json(), "after": policy.as_json()},
        ),
        done=f"the {kind}'s recording policy was changed",
    )
    return model_json(RecordingPolicyView.model_validate(policy.as_json()))


QUEUE_GET = "queues.recording_get"
QUEUE_SET = "queues.recording_set"


def add_routes(app: web.Application, deps: RecordingApi | None) -> None:
    app[RECORDINGS] = deps
    router = app.router
    router.add_get("/api/v1/recordings", list_recordings, name="recordings.list")
    router.add_get("/api/v1/recordings/{id}", play_recording, name="recordings.play")
    router.add_get("/api/v1/recordings/{id}/metadata", get_recording, name="recordings.get")
    router.add_post("/api/v1/calls/{id}/recording/pause", pause_recording, name="recordings.pause")
    router.add_post(
        "/api/v1/calls/{id}/recording/resume", resume_recording, name="recordings.resume"
    )
    router.add_get("/api/v1/queues/{id}/recording", get_policy, name=QUEUE_GET)
    router.add_put("/api/v1/queues/{id}/recording", set_policy, name=QUEUE_SET)
    router.add_get("/api/v1/campaigns/{id}/recording", get_policy, name="campaigns.recording_get")
    router.add_put("/api/v1/campaigns/{id}/recording", set_policy, name="campaigns.recording_set")
