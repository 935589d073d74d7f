"""Route handlers. Authentication and the role check already ran (``auth_middleware``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from aiohttp import WSCloseCode, hdrs, web
from pydantic import BaseModel

import ccd
from ccd.api.audit_trail import audit_log, record_done
from ccd.api.context import ACD_LIVE, DEPS, PRINCIPAL
from ccd.api.hub import EndReason, Subscription, SubscriptionEnded
from ccd.api.models.calls import (
    CallList,
    CallView,
    HangupAccepted,
    HaState,
    Health,
    Me,
    OriginateAccepted,
    Ready,
)
from ccd.api.openapi.operation import operation
from ccd.api.problems import (
    NOT_READY,
    ORIGINATE_REJECTED,
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    not_found,
    validation_problem,
)
from ccd.api.schemas import OriginateRequest
from ccd.api.serialize import call_view, snapshot_message
from ccd.api.validation import ModelT, check_id_param, parse_json_object, validate_body
from ccd.db.stores import StoreConflict, StoreNotFound, StoreUnavailable
from ccd.domain.audit import AuditEntry
from ccd.ha.api import HA_VIEW
from ccd.live.ports import OriginateRejected, UnknownDestination, UnknownServerName

log = structlog.get_logger("ccd.api")

MAX_CALL_ID_LENGTH = 128
EVENTS_SUBPROTOCOL = "ccd.v1"
WS_HEARTBEAT_S = 30.0
WS_MAX_CLIENT_MESSAGE = 4096  # clients have nothing to say on this stream
# How long an ended stream's client gets to take the close frame before the socket is aborted.
WS_SLOW_CLOSE_GRACE_S = 2.0


def no_store_json(data: object, *, status: int = 200) -> web.Response:
    """A JSON response that no cache may store (it shows changing or private data)."""
    response = web.json_response(data, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def model_json(model: BaseModel, *, status: int = 200, omit_unset: bool = False) -> web.Response:
    """``no_store_json`` of a response model (the one its route's ``@operation`` names);
    ``omit_unset`` leaves out the optional members the handler did not set."""
    response = web.Response(
        text=model.model_dump_json(exclude_unset=omit_unset),
        status=status,
        content_type="application/json",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@operation("Liveness and the running version", responses={200: Health})
async def healthz(request: web.Request) -> web.Response:
    # The version is public (as `ccd --version`): monitoring sees which release runs.
    return model_json(Health(status="ok", version=ccd.__version__))


@operation(
    "Readiness: Asterisk connected and resynced, the database reachable",
    responses={200: Ready},
    problems=(503,),
    description=(
        "503 lists the reasons in `reasons`. With high availability, `ha` says this"
        " instance's role and who leads (in the 503 problem too)."
    ),
)
async def readyz(request: web.Request) -> web.Response:
    ha = request.app.get(HA_VIEW)
    ha_state = None if ha is None else HaState.model_validate(ha.report())
    try:
        reasons = await request.app[DEPS].readiness.not_ready_reasons()
    except Exception:
        log.exception("readiness check failed")
        reasons = ["the readiness check itself failed; see the server log"]
    if reasons:
        raise ApiProblem(
            503,
            "; ".join(reasons),
            type_=NOT_READY,
            title="Not ready",
            extensions={"reasons": list(reasons)}
            | ({} if ha_state is None else {"ha": ha_state.model_dump(mode="json")}),
        )
    if ha_state is None:
        return model_json(Ready(status="ready"), omit_unset=True)  # no "ha" without HA
    return model_json(Ready(status="ready", ha=ha_state))


def _call_id(request: web.Request) -> str:
    return check_id_param(
        "id",
        request.match_info["id"],
        max_length=MAX_CALL_ID_LENGTH,
        missing="no live call with this id",
    )


@operation("Live calls", responses={200: CallList})
async def list_calls(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    now = deps.clock.now()
    calls = [CallView.model_validate(call_view(call, now=now)) for call in deps.calls.calls()]
    return model_json(CallList(calls=calls, count=len(calls)))


@operation("One live call", responses={200: CallView}, problems=(404,))
async def get_call(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    call_id = _call_id(request)
    call = deps.calls.call(call_id)
    if call is None:
        raise not_found(f"no live call with id {call_id!r}")
    return model_json(CallView.model_validate(call_view(call, now=deps.clock.now())))


async def read_body(request: web.Request) -> bytes:
    limit = request.app[DEPS].max_body_bytes
    # Refuse early on a declared length; request.read() enforces client_max_size for
    # chunked bodies.
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    return await request.read()


async def read_json(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON object body as ``model`` (``ccd.api.validation``: 415, 400 or 422)."""
    raw = await read_body(request)
    return validate_body(model, parse_json_object(raw, request.content_type))


async def read_optional_json(request: web.Request, model: type[ModelT]) -> ModelT:
    """As ``read_json``, but no body at all is ``model()`` (every field has a default)."""
    raw = await read_body(request)
    if not raw.strip():
        return model()
    return validate_body(model, parse_json_object(raw, request.content_type))


@contextmanager
def store_problems(database: str) -> Iterator[None]:
    """A configuration store's refusals (``ccd.db.stores``) as problems: the ``database``
    unavailable 503, an unknown id 404, a conflicting write 409."""
    try:
        yield
    except StoreUnavailable:
        raise ApiProblem(
            503, f"the {database} database is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE
        ) from None
    except StoreNotFound as exc:
        raise not_found(str(exc)) from None
    except StoreConflict as exc:
        raise ApiProblem(409, str(exc)) from None


def _asterisk_unreachable() -> ApiProblem:
    return ApiProblem(503, "Asterisk is not reachable; retry later", type_=UPSTREAM_UNAVAILABLE)


@operation(
    "Place a call: ring an endpoint, then send it to a destination in ccd's context",
    body=OriginateRequest,
    responses={202: OriginateAccepted},
    problems=(502, 503),
    description=(
        "Asterisk's answer arrives later as call events; 502 when it refuses, 422 naming"
        " `destination` when the originate context has no such extension, naming `server`"
        " when no Asterisk server has that name (none given: the first server)."
    ),
)
async def originate(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    principal = request[PRINCIPAL]
    body = await read_json(request, OriginateRequest)
    audit_log(request.app)  # no trail: 503 before any call is placed
    try:
        action_id = await deps.control.originate(
            endpoint=body.endpoint,
            destination=body.destination,
            caller_id=body.caller_id,
            variables=dict(body.variables),
            ring_timeout_s=body.ring_timeout_s,
            server=body.server,
        )
    except UnknownServerName as exc:
        log.info("originate rejected", endpoint=body.endpoint, reason=str(exc))
        raise validation_problem([FieldError("server", str(exc))]) from None
    except UnknownDestination as exc:
        log.info("originate rejected", endpoint=body.endpoint, reason=str(exc))
        raise validation_problem([FieldError("destination", str(exc))]) from None
    except OriginateRejected as exc:
        log.info("originate rejected", endpoint=body.endpoint, reason=str(exc))
        raise ApiProblem(
            502, str(exc) or "the originate was rejected", type_=ORIGINATE_REJECTED
        ) from None
    except (TimeoutError, ConnectionError):
        log.warning("originate failed: Asterisk unreachable", endpoint=body.endpoint)
        raise _asterisk_unreachable() from None
    log.info(
        "originate requested",
        originate_id=action_id,
        endpoint=body.endpoint,
        destination=body.destination,
        variable_names=sorted(body.variables),  # values may hold customer data
        token_id=principal.token_id,
    )
    await record_done(
        request.app,
        AuditEntry(
            actor=principal,
            action="call.originated",
            target_kind="originate",
            target_id=action_id,
            # Names only: variable values and the caller id may hold customer data.
            detail={
                "after": {
                    "endpoint": body.endpoint,
                    "destination": body.destination,
                    "variable_names": sorted(body.variables),
                    **({} if body.server is None else {"server": body.server}),
                }
            },
        ),
    )
    return model_json(OriginateAccepted(originate_id=action_id), status=202)


@operation(
    "Hang up every channel of a live call", responses={202: HangupAccepted}, problems=(404, 503)
)
async def hangup(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    call_id = _call_id(request)
    audit_log(request.app)  # no trail: 503 before anything is hung up
    try:
        found = await deps.control.hangup(call_id)
    except (TimeoutError, ConnectionError):
        log.warning("hangup failed: Asterisk unreachable", linkedid=call_id)
        raise _asterisk_unreachable() from None
    if not found:
        raise not_found(f"no live call with id {call_id!r}")
    log.info("hangup requested", linkedid=call_id, token_id=request[PRINCIPAL].token_id)
    await record_done(
        request.app,
        AuditEntry(
            actor=request[PRINCIPAL],
            action="call.hangup_requested",
            target_kind="call",
            target_id=call_id,
        ),
    )
    return model_json(HangupAccepted(id=call_id, status="hangup requested"), status=202)


@operation("Who the token belongs to: its id, role and agent", responses={200: Me})
async def me(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    return model_json(
        Me(token_id=principal.token_id, role=principal.role.value, agent_id=principal.agent_id)
    )


def _subprotocols(request: web.Request) -> tuple[str, ...]:
    """Answer with ``ccd.v1`` when offered. A browser that offered only ``bearer.<token>``
    must get one of its offers back or it fails the handshake, so echo that instead."""
    offered = [p.strip() for p in request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "").split(",")]
    if EVENTS_SUBPROTOCOL in offered:
        return (EVENTS_SUBPROTOCOL,)
    return tuple(p for p in offered if p.startswith("bearer."))[:1]


async def _pump(ws: web.WebSocketResponse, subscription: Subscription, first: str) -> None:
    try:
        await ws.send_str(first)
        while True:
            await ws.send_str(await subscription.get())
    except (SubscriptionEnded, ConnectionError):
        return  # the watchdog closes an ended stream; a vanished client ends the read loop
    except Exception:
        log.exception("event stream failed")
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")


CLOSE_CODES = {
    EndReason.TOO_SLOW: WSCloseCode.POLICY_VIOLATION,
    EndReason.SHUTDOWN: WSCloseCode.GOING_AWAY,
}


async def _close_when_ended(
    request: web.Request, ws: web.WebSocketResponse, subscription: Subscription
) -> None:
    reason = await subscription.wait_ended()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(WS_SLOW_CLOSE_GRACE_S):
            await ws.close(code=CLOSE_CODES[reason], message=reason.value.encode())
    # A client that does not read keeps our close frame stuck in the send buffer;
    # abort so its socket and buffers are released now.
    if request.transport is not None:
        request.transport.abort()


@operation(
    "Live call events (websocket, subprotocol ccd.v1)",
    responses={},
    problems=(426,),
    websocket=True,
    description=(
        "A `snapshot` message (every live call, and the ACD's state), then `call.started`,"
        " `call.updated`, `call.ended`, `agent.*` and `queue.*` messages as they happen."
        " A plain GET without `Upgrade: websocket` is answered 426."
    ),
)
async def events(request: web.Request) -> web.WebSocketResponse:
    deps = request.app[DEPS]
    principal = request[PRINCIPAL]
    ws = web.WebSocketResponse(
        protocols=_subprotocols(request),
        heartbeat=WS_HEARTBEAT_S,
        max_msg_size=WS_MAX_CLIENT_MESSAGE,
    )
    if not ws.can_prepare(request).ok:
        raise ApiProblem(
            426,
            "this endpoint is a websocket; send an Upgrade: websocket request",
            headers={hdrs.UPGRADE: "websocket"},
        )
    await ws.prepare(request)
    # Subscribe and snapshot in one synchronous step: no change can slip between them.
    subscription = deps.hub.subscribe(client=principal.token_id)
    pump: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None
    try:
        message = snapshot_message(deps.calls.calls(), now=deps.clock.now())
        acd = request.app.get(ACD_LIVE)
        if acd is not None:
            message["acd"] = acd.snapshot()
        snapshot = json.dumps(message, separators=(",", ":"))
        pump = asyncio.create_task(_pump(ws, subscription, snapshot))
        watchdog = asyncio.create_task(_close_when_ended(request, ws, subscription))
        # Reading keeps ping/pong and the close handshake going; client text is ignored.
        async for _message in ws:
            continue
    except Exception:
        # The 101 is already sent: a problem body is impossible, so close with 1011.
        log.exception("event stream failed")
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
    finally:
        subscription.close()
        if pump is not None:
            pump.cancel()
        # Let an ended stream's close finish; it is bounded by WS_SLOW_CLOSE_GRACE_S.
        if watchdog is not None and subscription.end_reason is None:
            watchdog.cancel()
        try:
            await asyncio.gather(*(t for t in (pump, watchdog) if t), return_exceptions=True)
        finally:
            # Also reached when aiohttp cancels us after the watchdog aborted the socket.
            log.info(
                "event stream closed",
                close_code=ws.close_code,
                ended_by=subscription.end_reason.value if subscription.end_reason else None,
            )
    return ws
