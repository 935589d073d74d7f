"""The ACD over HTTP: agents, queues and pause reasons (stored configuration), agent
actions (login, logout, pause, unpause, join/leave a queue) and the agent session log.

Routes and roles are in ``ccd.api.policy``. Configuration writes are the admin's; every
successful write asks the running ACD to reload its configuration. Agent actions go to the
running ACD (``AcdLive``): an agent acts on their own id only, supervisors and admins on
anyone. Views of agents and queues carry ``live`` (what is happening now; null when the ACD
is not running in this process).

Errors: a bad field is a 422 naming it; an unknown id 404; a conflict (id taken, queue still
a destination, action the ACD refuses) 409; the database or the ACD unavailable 503.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.acd.model import PauseReason
from ccd.acd.ports import AcdLive, AcdRefused
from ccd.acd.seed import (
    ID_PATTERN,
    AgentFields,
    AgentSpec,
    Id,
    PauseReasonFields,
    PauseReasonSpec,
    QueueFields,
    QueueSpec,
)
from ccd.api.cdrs import IsoDateTime
from ccd.api.context import ACD_LIVE, PRINCIPAL
from ccd.api.handlers import no_store_json, read_json, read_optional_json, store_problems
from ccd.api.policy import require_agent_self
from ccd.api.problems import (
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    not_found,
    validation_problem,
)
from ccd.api.serialize import iso
from ccd.api.validation import check_path_param, query_model
from ccd.db.acd_store import (
    AcdInvalidReference,
    AcdStore,
    SessionEntry,
    StoredAgent,
    StoredQueue,
    WriteMode,
)

log = structlog.get_logger("ccd.api")

ACD_STORE: web.AppKey[AcdStore | None] = web.AppKey("acd_store")

ACD_REFUSED = "urn:ccd:problem:acd-refused"
DEFAULT_SESSIONS_LIMIT = 1000
MAX_SESSIONS_LIMIT = 10_000
_ID = re.compile(ID_PATTERN)
BodyT = TypeVar("BodyT", bound=BaseModel)
# The log field that names a written row, by kind.
_LOG_KEY = {"agent": "agent", "queue": "queue", "pause reason": "code"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginBody(_Body):
    # None: the agent's configured memberships.
    queues: tuple[Id, ...] | None = None


class PauseBody(_Body):
    reason: Id


class SessionsQuery(_Body):
    from_: Annotated[IsoDateTime, Field(alias="from")] = None
    to: IsoDateTime = None
    limit: Annotated[int, Field(ge=1, le=MAX_SESSIONS_LIMIT)] = DEFAULT_SESSIONS_LIMIT


# --- plumbing ----------------------------------------------------------------------------


def _store(request: web.Request) -> AcdStore:
    store = request.app[ACD_STORE]
    if store is None:
        raise ApiProblem(503, "the ACD configuration store is not available in this process")
    return store


def _live(request: web.Request) -> AcdLive:
    live = request.app[ACD_LIVE]
    if live is None:
        raise ApiProblem(503, "the ACD is not running in this process", type_=UPSTREAM_UNAVAILABLE)
    return live


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        with store_problems("ACD"):
            yield
    except AcdInvalidReference as exc:
        raise validation_problem([FieldError(f, m) for f, m in exc.problems]) from None


@contextmanager
def _acd_errors() -> Iterator[None]:
    try:
        yield
    except AcdRefused as exc:
        raise ApiProblem(409, str(exc) or "the ACD refused", type_=ACD_REFUSED) from None
    except (TimeoutError, ConnectionError):
        raise ApiProblem(
            503, "the ACD cannot reach Asterisk; retry later", type_=UPSTREAM_UNAVAILABLE
        ) from None


def _key(request: web.Request, name: str, kind: str) -> str:
    """A path id; one that cannot be valid cannot exist either, so it is a 404."""
    value = check_path_param(name, request.match_info[name])
    if not _ID.match(value):
        raise not_found(f"no {kind} {value!r}")
    return value


async def _body(request: web.Request, model: type[BodyT], *, optional: bool = False) -> BodyT:
    """The JSON body as ``model``; when ``optional``, no body at all is ``model()``."""
    if optional:
        return await read_optional_json(request, model)
    return await read_json(request, model)


def _by(request: web.Request) -> str:
    return request[PRINCIPAL].token_id


async def _written(request: web.Request, kind: str, key: str, change: str) -> None:
    """Log a configuration write and tell the running ACD; the write is already stored, so
    a failed reload is logged (the next reload or restart picks the change up), not turned
    into an error."""
    log.info(f"acd {kind} {change}", **{_LOG_KEY[kind]: key}, token_id=_by(request))
    live = request.app[ACD_LIVE]
    if live is None:
        return
    try:
        await live.reload_config()
    except Exception:
        log.exception("acd reload after api write failed", change=f"{kind} {key} {change}")


async def _delete(
    request: web.Request,
    kind: str,
    param: str,
    remove: Callable[[AcdStore, str], Awaitable[bool]],
) -> web.Response:
    key = _key(request, param, kind)
    with _store_errors():
        deleted = await remove(_store(request), key)
    if not deleted:
        raise not_found(f"no {kind} {key!r}")
    await _written(request, kind, key, "deleted")
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


def _agent_key(request: web.Request) -> str:
    """The path's agent id, once the caller may see or act on that agent (403)."""
    agent_id = check_path_param("id", request.match_info["id"])
    require_agent_self(request[PRINCIPAL], agent_id)
    return _key(request, "id", "agent")


async def _stored_agent(request: web.Request) -> StoredAgent:
    """The path's agent, once the caller may see or act on it (403) and it exists (404)."""
    agent_id = _agent_key(request)
    with _store_errors():
        stored = await _store(request).get_agent(agent_id)
    if stored is None:
        raise not_found(f"no agent {agent_id!r}")
    return stored


# --- views -------------------------------------------------------------------------------


def agent_view(stored: StoredAgent, live: AcdLive | None) -> dict[str, Any]:
    agent = stored.agent
    return {
        "id": agent.id,
        "name": agent.name,
        "interface": agent.interface,
        "skills": dict(agent.skills),
        "max_calls": agent.max_calls,
        "queues": sorted(stored.queues),
        "created_at": iso(stored.created_at),
        "updated_at": iso(stored.updated_at),
        "live": live.agent_live(agent.id) if live is not None else None,
    }


def queue_view(stored: StoredQueue, live: AcdLive | None) -> dict[str, Any]:
    queue = stored.queue
    fields: dict[str, Any] = {"id": queue.id}
    for name in QueueFields.model_fields:
        value = getattr(queue, name)
        if isinstance(value, Mapping):
            value = dict(value)
        elif name == "strategy":
            value = queue.strategy.value
        fields[name] = value
    return {
        **fields,
        "created_at": iso(stored.created_at),
        "updated_at": iso(stored.updated_at),
        "live": live.queue_live(queue.id) if live is not None else None,
    }


def pause_reason_view(reason: PauseReason) -> dict[str, Any]:
    return {
        "code": reason.code,
        "label": reason.label,
        "billable": reason.billable,
        "time_limit_s": reason.time_limit_s,
    }


def session_view(entry: SessionEntry) -> dict[str, Any]:
    return {
        "status": entry.status,
        "reason": entry.reason,
        "call_id": entry.call_id,
        "queue_ids": list(entry.queue_ids),
        "at": iso(entry.at),
    }


# --- agents ------------------------------------------------------------------------------


async def list_agents(request: web.Request) -> web.Response:
    with _store_errors():
        agents = await _store(request).list_agents()
    live = request.app[ACD_LIVE]
    return no_store_json({"agents": [agent_view(a, live) for a in agents]})


async def create_agent(request: web.Request) -> web.Response:
    spec = await _body(request, AgentSpec)
    with _store_errors():
        stored = await _store(request).upsert_agent(
            spec.to_agent(spec.id), queues=spec.queues or (), mode=WriteMode.CREATE
        )
    await _written(request, "agent", spec.id, "created")
    view = agent_view(stored, request.app[ACD_LIVE])
    response = no_store_json(view, status=201)
    response.headers["Location"] = f"/api/v1/agents/{spec.id}"
    return response


async def get_agent(request: web.Request) -> web.Response:
    return no_store_json(agent_view(await _stored_agent(request), request.app[ACD_LIVE]))


async def update_agent(request: web.Request) -> web.Response:
    agent_id = _key(request, "id", "agent")
    fields = await _body(request, AgentFields)
    with _store_errors():
        stored = await _store(request).upsert_agent(
            fields.to_agent(agent_id), queues=fields.queues, mode=WriteMode.UPDATE
        )
    await _written(request, "agent", agent_id, "updated")
    return no_store_json(agent_view(stored, request.app[ACD_LIVE]))


async def delete_agent(request: web.Request) -> web.Response:
    return await _delete(request, "agent", "id", lambda store, key: store.delete_agent(key))


# --- agent actions -----------------------------------------------------------------------


async def _acting_on(request: web.Request) -> str:
    """The path's agent id, once the caller may act on it (403) and it exists (404)."""
    return (await _stored_agent(request)).agent.id


def _action_done(live: AcdLive, agent_id: str, action: str) -> web.Response:
    return no_store_json(
        {"agent_id": agent_id, "action": action, "live": live.agent_live(agent_id)}
    )


async def login(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    body = await _body(request, LoginBody, optional=True)
    live = _live(request)
    with _acd_errors():
        await live.login(agent_id, body.queues)
    log.info("acd agent login via api", agent=agent_id, token_id=_by(request))
    return _action_done(live, agent_id, "login")


async def logout(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    live = _live(request)
    with _acd_errors():
        await live.logout(agent_id)
    log.info("acd agent logout via api", agent=agent_id, token_id=_by(request))
    return _action_done(live, agent_id, "logout")


async def pause(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    body = await _body(request, PauseBody)
    with _store_errors():
        reason = await _store(request).get_pause_reason(body.reason)
    if reason is None:
        raise validation_problem(
            [FieldError("reason", f"unknown pause reason {body.reason!r} (see pause-reasons)")]
        )
    live = _live(request)
    with _acd_errors():
        await live.pause(agent_id, body.reason)
    log.info("acd agent pause via api", agent=agent_id, reason=body.reason, token_id=_by(request))
    return _action_done(live, agent_id, "pause")


async def unpause(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    live = _live(request)
    with _acd_errors():
        await live.unpause(agent_id)
    log.info("acd agent unpause via api", agent=agent_id, token_id=_by(request))
    return _action_done(live, agent_id, "unpause")


async def _queue_action(request: web.Request, action: str) -> web.Response:
    agent_id = await _acting_on(request)
    queue_id = _key(request, "queue_id", "queue")
    with _store_errors():
        queue = await _store(request).get_queue(queue_id)
    if queue is None:
        raise not_found(f"no queue {queue_id!r}")
    live = _live(request)
    with _acd_errors():
        if action == "join":
            await live.join(agent_id, queue_id)
        else:
            await live.leave(agent_id, queue_id)
    log.info(f"acd agent {action} via api", agent=agent_id, queue=queue_id, token_id=_by(request))
    return _action_done(live, agent_id, action)


async def join_queue(request: web.Request) -> web.Response:
    return await _queue_action(request, "join")


async def leave_queue(request: web.Request) -> web.Response:
    return await _queue_action(request, "leave")


def _sessions_query(request: web.Request) -> SessionsQuery:
    query = query_model(SessionsQuery, request.query)
    if query.from_ is not None and query.to is not None and query.from_ > query.to:
        raise validation_problem([FieldError("from", "must not be later than to")])
    return query


async def agent_sessions(request: web.Request) -> web.Response:
    agent_id = _agent_key(request)
    query = _sessions_query(request)
    store = _store(request)
    with _store_errors():
        rows = await store.sessions(agent_id, query.from_, query.to, limit=query.limit)
        # A deleted agent's log is still readable; an id never seen is not found.
        if not rows and await store.get_agent(agent_id) is None:
            raise not_found(f"no agent {agent_id!r}")
    return no_store_json(
        {
            "agent_id": agent_id,
            "sessions": [session_view(row) for row in rows],
            "limit": query.limit,
            # More rows may follow: ask again with from = the last row's at.
            "truncated": len(rows) == query.limit,
        }
    )


# --- queues ------------------------------------------------------------------------------


async def list_queues(request: web.Request) -> web.Response:
    with _store_errors():
        queues = await _store(request).list_queues()
    live = request.app[ACD_LIVE]
    return no_store_json({"queues": [queue_view(q, live) for q in queues]})


async def create_queue(request: web.Request) -> web.Response:
    spec = await _body(request, QueueSpec)
    with _store_errors():
        stored = await _store(request).upsert_queue(spec.to_queue(spec.id), mode=WriteMode.CREATE)
    await _written(request, "queue", spec.id, "created")
    response = no_store_json(queue_view(stored, request.app[ACD_LIVE]), status=201)
    response.headers["Location"] = f"/api/v1/queues/{spec.id}"
    return response


async def get_queue(request: web.Request) -> web.Response:
    queue_id = _key(request, "id", "queue")
    with _store_errors():
        stored = await _store(request).get_queue(queue_id)
    if stored is None:
        raise not_found(f"no queue {queue_id!r}")
    return no_store_json(queue_view(stored, request.app[ACD_LIVE]))


async def update_queue(request: web.Request) -> web.Response:
    queue_id = _key(request, "id", "queue")
    fields = await _body(request, QueueFields)
    with _store_errors():
        stored = await _store(request).upsert_queue(
            fields.to_queue(queue_id), mode=WriteMode.UPDATE
        )
    await _written(request, "queue", queue_id, "updated")
    return no_store_json(queue_view(stored, request.app[ACD_LIVE]))


async def delete_queue(request: web.Request) -> web.Response:
    return await _delete(request, "queue", "id", lambda store, key: store.delete_queue(key))


# --- pause reasons -----------------------------------------------------------------------


async def list_pause_reasons(request: web.Request) -> web.Response:
    with _store_errors():
        reasons = await _store(request).list_pause_reasons()
    return no_store_json({"pause_reasons": [pause_reason_view(r) for r in reasons]})


async def create_pause_reason(request: web.Request) -> web.Response:
    spec = await _body(request, PauseReasonSpec)
    with _store_errors():
        reason = await _store(request).upsert_pause_reason(
            spec.to_pause_reason(spec.code), mode=WriteMode.CREATE
        )
    await _written(request, "pause reason", spec.code, "created")
    return no_store_json(pause_reason_view(reason), status=201)


async def update_pause_reason(request: web.Request) -> web.Response:
    code = _key(request, "code", "pause reason")
    fields = await _body(request, PauseReasonFields)
    with _store_errors():
        reason = await _store(request).upsert_pause_reason(
            fields.to_pause_reason(code), mode=WriteMode.UPDATE
        )
    await _written(request, "pause reason", code, "updated")
    return no_store_json(pause_reason_view(reason))


async def delete_pause_reason(request: web.Request) -> web.Response:
    return await _delete(
        request, "pause reason", "code", lambda store, key: store.delete_pause_reason(key)
    )


def add_routes(app: web.Application, store: AcdStore | None, live: AcdLive | None) -> None:
    app[ACD_STORE] = store
    app[ACD_LIVE] = live
    r = app.router
    r.add_get("/api/v1/agents", list_agents, name="agents.list")
    r.add_post("/api/v1/agents", create_agent, name="agents.create")
    r.add_get("/api/v1/agents/{id}", get_agent, name="agents.get")
    r.add_put("/api/v1/agents/{id}", update_agent, name="agents.update")
    r.add_delete("/api/v1/agents/{id}", delete_agent, name="agents.delete")
    r.add_post("/api/v1/agents/{id}/login", login, name="agents.login")
    r.add_post("/api/v1/agents/{id}/logout", logout, name="agents.logout")
    r.add_post("/api/v1/agents/{id}/pause", pause, name="agents.pause")
    r.add_post("/api/v1/agents/{id}/unpause", unpause, name="agents.unpause")
    r.add_put("/api/v1/agents/{id}/queues/{queue_id}", join_queue, name="agents.join")
    r.add_delete("/api/v1/agents/{id}/queues/{queue_id}", leave_queue, name="agents.leave")
    r.add_get("/api/v1/agents/{id}/sessions", agent_sessions, name="agents.sessions")
    r.add_get("/api/v1/queues", list_queues, name="queues.list")
    r.add_post("/api/v1/queues", create_queue, name="queues.create")
    r.add_get("/api/v1/queues/{id}", get_queue, name="queues.get")
    r.add_put("/api/v1/queues/{id}", update_queue, name="queues.update")
    r.add_delete("/api/v1/queues/{id}", delete_queue, name="queues.delete")
    r.add_get("/api/v1/pause-reasons", list_pause_reasons, name="pause_reasons.list")
    r.add_post("/api/v1/pause-reasons", create_pause_reason, name="pause_reasons.create")
    r.add_put("/api/v1/pause-reasons/{code}", update_pause_reason, name="pause_reasons.update")
    r.add_delete("/api/v1/pause-reasons/{code}", delete_pause_reason, name="pause_reasons.delete")
