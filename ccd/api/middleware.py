"""Request pipeline, outermost first: access log + request id, problem bodies, auth."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from http import HTTPStatus

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ccd.api.context import DEPS, PRINCIPAL, REQUEST_ID, ApiDeps
from ccd.api.policy import PUBLIC_ROUTES, ROUTE_ROLES, require_role
from ccd.api.problems import PROBLEM_CONTENT_TYPE, ApiProblem, unauthorized
from ccd.domain.auth import TokenExpired
from ccd.domain.client_address import client_address

log = structlog.get_logger("ccd.api")

# A caller-supplied request id is kept (it ties our logs to theirs) only if it is short
# and plain; anything else could smuggle text into log lines.
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_TOKEN_LENGTH = 512
BEARER_SUBPROTOCOL_PREFIX = "bearer."
# Only the websocket route may carry its token in Sec-WebSocket-Protocol: browsers
# cannot set Authorization on a websocket, and the query string ends up in logs.
SUBPROTOCOL_AUTH_ROUTES = frozenset({"events.stream", "wallboard.events"})


def _request_id(request: web.Request) -> str:
    offered = request.headers.get("X-Request-ID", "")
    return offered if CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers["X-Request-ID"] = request_id
            return response
        except asyncio.CancelledError:
            status = 499  # the client went away before we answered
            raise
        finally:
            principal = request.get(PRINCIPAL)
            log.info(
                "http request",
                method=request.method,
                # raw (percent-encoded) path, never the query: tokens must not reach logs
                path=request.rel_url.raw_path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                token_id=principal.token_id if principal is not None else None,
                request_id=request_id,  # also bound, but the access line must carry it
            )


def problem_response(request: web.Request, problem: ApiProblem) -> web.Response:
    response = web.json_response(
        problem.body(instance=request.rel_url.raw_path, request_id=request.get(REQUEST_ID)),
        status=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    response.headers.update(problem.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ApiProblem:
    headers: dict[str, str] = {}
    if exc.status == 404:
        detail = f"no such resource: {request.rel_url.raw_path}"
    elif exc.status == 405:
        allowed = exc.headers.get(hdrs.ALLOW, "")
        headers[hdrs.ALLOW] = allowed
        detail = f"method {request.method} is not allowed here; allowed: {allowed}"
    elif exc.status == 413:
        limit = request.app[DEPS].max_body_bytes
        detail = f"the request body is larger than the limit of {limit} bytes"
    else:
        detail = HTTPStatus(exc.status).description or HTTPStatus(exc.status).phrase
    return ApiProblem(exc.status, detail, headers=headers)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiProblem as problem:
        return problem_response(request, problem)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(request, _from_http_exception(request, exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error in API handler", method=request.method)
        return problem_response(request, ApiProblem(500, "internal error; see the server log"))


def _bearer_token(request: web.Request, route_name: str) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return ""
        return token.strip()
    if route_name in SUBPROTOCOL_AUTH_ROUTES:
        for offered in request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "").split(","):
            offered = offered.strip()
            if offered.startswith(BEARER_SUBPROTOCOL_PREFIX):
                return offered.removeprefix(BEARER_SUBPROTOCOL_PREFIX)
    return None


def _too_many_failures(retry_after: int) -> ApiProblem:
    return ApiProblem(
        429,
        f"too many failed authentication attempts from this address; retry in {retry_after} s",
        headers={hdrs.RETRY_AFTER: str(retry_after)},
        extensions={"retry_after_s": retry_after},
    )


def _failed(deps: ApiDeps, address: str, problem: ApiProblem, reason: str) -> ApiProblem:
    """Count a failed authentication against ``address`` and log it (never the token)."""
    blocked_for = None
    if deps.auth_failures is not None:
        blocked_for = deps.auth_failures.record_failure(address, deps.clock.monotonic())
    log.warning("authentication failed", address=address, reason=reason, blocked_for_s=blocked_for)
    return problem


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    route_name = match_info.route.name
    if match_info.http_exception is not None:
        return await handler(request)  # 404/405: nothing to protect
    if route_name in PUBLIC_ROUTES:
        return await handler(request)
    if route_name is None or route_name not in ROUTE_ROLES:
        # build_api checks every route is in the table; this is the fail-closed backstop.
        log.error("route has no access policy", route=route_name)
        raise ApiProblem(403, "this route has no access policy")

    deps = request.app[DEPS]
    # Every X-Forwarded-For line, in order: a proxy may add its own line after one the
    # client sent, and the client's must not be the one read.
    forwarded_for = ",".join(request.headers.getall("X-Forwarded-For", ())) or None
    address = client_address(request.remote, forwarded_for, deps.trusted_proxies)
    if deps.auth_failures is not None:
        # A blocked address is refused whatever it sends: checking its token would tell a
        # guesser which guess was right and cost a database read per guess.
        retry_after = deps.auth_failures.retry_after(address, deps.clock.monotonic())
        if retry_after is not None:
            raise _too_many_failures(retry_after)
    token = _bearer_token(request, route_name)
    if token is None:
        raise _failed(
            deps, address, unauthorized("a bearer token is required", token_given=False), "missing"
        )
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _failed(
            deps,
            address,
            unauthorized("the bearer token is malformed", token_given=True),
            "malformed",
        )
    try:
        principal = await deps.tokens.verify(token)
    except TokenExpired:
        raise _failed(
            deps, address, unauthorized("the bearer token has expired", token_given=True), "expired"
        ) from None
    except Exception:
        log.exception("token verification failed")
        raise ApiProblem(503, "token verification is unavailable; retry later") from None
    if principal is None:
        raise _failed(
            deps,
            address,
            unauthorized("the bearer token is invalid or revoked", token_given=True),
            "invalid",
        )

    deps.tokens.record_use(principal.token_id, address)
    request[PRINCIPAL] = principal
    require_role(principal, route_name)
    with structlog.contextvars.bound_contextvars(token_id=principal.token_id):
        return await handler(request)
