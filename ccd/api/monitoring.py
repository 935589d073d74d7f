"""Live monitoring over HTTP: a supervisor listens to, whispers to or barges into an agent's
live call from their own device (``ccd.monitor``). Supervisors only (``ccd.api.policy``).

Routes: ``POST /api/v1/calls/{id}/monitor`` (start), ``GET /api/v1/monitors`` (active
sessions), ``GET /api/v1/monitors/{id}``, ``PATCH /api/v1/monitors/{id}`` (switch mode),
``DELETE /api/v1/monitors/{id}`` (end). A session is changed only with the token that
started it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import structlog
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict

from ccd.acd.seed import Interface
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import model_json, read_json
from ccd.api.models.monitoring import MonitorEnded, MonitorList, MonitorView
from ccd.api.openapi.operation import operation
from ccd.api.problems import (
    ORIGINATE_REJECTED,
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    forbidden,
    not_found,
    validation_problem,
)
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param
from ccd.db.audit_store import AuditUnavailable
from ccd.domain import contract
from ccd.monitor.service import (
    DeviceOnAnotherServer,
    MonitorService,
    NoAgentLeg,
    NoSuchCall,
    NotYourSession,
    RingRefused,
    SwitchRefused,
)
from ccd.monitor.sessions import Mode, MonitorError, Session, UnknownSession

log = structlog.get_logger("ccd.api")

MONITORS: web.AppKey[MonitorService | None] = web.AppKey("monitors")
MAX_ID_LENGTH = 128
# A device that is itself a monitor session would spy on the call from inside ccd's context.
_MONITOR_LOOP = re.compile(rf"@{re.escape(contract.MONITOR_CONTEXT)}(/|$)", re.IGNORECASE)


def _not_a_monitor_context(device: str) -> str:
    if _MONITOR_LOOP.search(device):
        raise ValueError(
            f"must be the supervisor's own device, not ccd's {contract.MONITOR_CONTEXT}"
        )
    return device


SupervisorDevice = Annotated[Interface, AfterValidator(_not_a_monitor_context)]


class MonitorStart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Mode.LISTEN
    device: SupervisorDevice


class MonitorSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode


def monitor_view(session: Session) -> dict[str, object]:
    return {
        "id": session.id,
        "call_id": session.call_id,
        "agent_id": session.agent_id,
        "agent_channel": session.agent_channel,
        "device": session.device,
        "mode": session.mode.value,
        "state": session.status.value,
        "started_at": iso(session.started_at),
        "answered_at": iso(session.answered_at),
        "started_by": session.started_by.token_id,
    }


def _service(request: web.Request) -> MonitorService:
    service = request.app[MONITORS]
    if service is None:
        raise ApiProblem(
            503, "live monitoring is not running in this process", type_=UPSTREAM_UNAVAILABLE
        )
    return service


def _session_id(request: web.Request) -> str:
    return check_id_param(
        "id",
        request.match_info["id"],
        max_length=MAX_ID_LENGTH,
        missing="no active monitor session with this id",
    )


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as problems."""
    try:
        yield
    except (NoSuchCall, UnknownSession) as exc:
        raise not_found(str(exc)) from None
    except NotYourSession as exc:
        raise forbidden(str(exc)) from None
    except (NoAgentLeg, DeviceOnAnotherServer, MonitorError) as exc:
        raise ApiProblem(409, str(exc)) from None
    except RingRefused as exc:
        raise ApiProblem(502, str(exc), type_=ORIGINATE_REJECTED) from None
    except SwitchRefused as exc:
        raise ApiProblem(502, str(exc)) from None
    except ConnectionError:  # nothing was written to Asterisk
        raise ApiProblem(
            503, "Asterisk is not reachable; retry later", type_=UPSTREAM_UNAVAILABLE
        ) from None
    except AuditUnavailable:
        raise ApiProblem(
            503,
            "the audit trail is unavailable, so monitoring is refused; retry later",
            type_=UPSTREAM_UNAVAILABLE,
        ) from None


@operation(
    "Listen to, whisper to or barge into an agent's live call from the supervisor's device",
    body=MonitorStart,
    responses={201: MonitorView},
    problems=(404, 409, 502),
    description=(
        "ccd rings `device` (which must match `[monitor] devices`, else 422 naming device)."
        " 404: no live call; 409: the call has no agent leg, the device is busy, or the"
        " device is on another Asterisk server than the agent's channel;"
        " 502: Asterisk refused to ring. Audited as `monitor.started` (503 if it cannot be)."
    ),
)
async def start_monitor(request: web.Request) -> web.Response:
    service = _service(request)
    call_id = check_id_param(
        "id",
        request.match_info["id"],
        max_length=MAX_ID_LENGTH,
        missing="no live call with this id",
    )
    body = await read_json(request, MonitorStart)
    if not service.devices.allows(body.device):
        raise validation_problem([FieldError("device", service.devices.refusal())])
    with _refusals():
        session = await service.start(call_id, body.device, body.mode, request[PRINCIPAL])
    response = model_json(MonitorView.model_validate(monitor_view(session)), status=201)
    response.headers["Location"] = f"/api/v1/monitors/{session.id}"
    return response


@operation("Active monitoring sessions", responses={200: MonitorList})
async def list_monitors(request: web.Request) -> web.Response:
    sessions = [MonitorView.model_validate(monitor_view(s)) for s in _service(request).sessions()]
    return model_json(MonitorList(monitors=sessions, count=len(sessions)))


@operation("One active monitoring session", responses={200: MonitorView}, problems=(404,))
async def get_monitor(request: web.Request) -> web.Response:
    session_id = _session_id(request)
    session = _service(request).session(session_id)
    if session is None:
        raise not_found(f"no active monitor session {session_id!r}")
    return model_json(MonitorView.model_validate(monitor_view(session)))


@operation(
    "Switch a session's mode without hanging up the supervisor",
    body=MonitorSwitch,
    responses={200: MonitorView},
    problems=(404, 409, 502),
    description=(
        "Only with the token that started it (403). 502: Asterisk did not apply it (the"
        " mode is kept). Audited as `monitor.switched` (and `monitor.switch_failed`)."
    ),
)
async def switch_monitor(request: web.Request) -> web.Response:
    service = _service(request)
    session_id = _session_id(request)
    body = await read_json(request, MonitorSwitch)
    with _refusals():
        session = await service.switch(session_id, body.mode, request[PRINCIPAL])
    return model_json(MonitorView.model_validate(monitor_view(session)))


@operation(
    "End a monitoring session (the supervisor's device is hung up)",
    responses={200: MonitorEnded},
    problems=(404, 409, 502),
    description=(
        "Only with the token that started it (403). Audited as `monitor.ended`; a 503 then"
        " says the session ended but could not be recorded."
    ),
)
async def stop_monitor(request: web.Request) -> web.Response:
    service = _service(request)
    session_id = _session_id(request)
    with _refusals():
        try:
            session = await service.stop(session_id, request[PRINCIPAL])
        except AuditUnavailable:
            # Stopping is done before it is recorded (a supervisor must be able to stop
            # listening whatever the database does): a retry would only find no session.
            raise ApiProblem(
                503,
                "the session was ended (the supervisor's device was hung up) but the audit "
                "trail is unavailable: its end was not recorded",
                type_=UPSTREAM_UNAVAILABLE,
            ) from None
    return model_json(
        MonitorEnded.model_validate(
            {**monitor_view(session), "state": "ended", "reason": "stopped"}
        )
    )


def add_routes(app: web.Application, monitors: MonitorService | None) -> None:
    app[MONITORS] = monitors
    router = app.router
    router.add_post("/api/v1/calls/{id}/monitor", start_monitor, name="monitors.start")
    router.add_get("/api/v1/monitors", list_monitors, name="monitors.list")
    router.add_get("/api/v1/monitors/{id}", get_monitor, name="monitors.get")
    router.add_patch("/api/v1/monitors/{id}", switch_monitor, name="monitors.switch")
    router.add_delete("/api/v1/monitors/{id}", stop_monitor, name="monitors.stop")
