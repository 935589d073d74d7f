"""The ACD over HTTP: agents, queues and pause reasons (stored configuration), agent
actions (login, logout, pause, unpause, join/leave a queue) and the agent session log.

Routes and roles are in ``ccd.api.policy``. Configuration writes are the admin's; every
successful write asks the running ACD to reload its configuration. Agent actions go to the
running ACD (``AcdLive``): an agent acts on their own id only, supervisors and admins on
anyone. Views of agents and queues carry ``live`` (what is happening now; null when the ACD
is not running in this process).

Errors: a bad field is a 422 naming it; an unknown id 404; a conflict (id taken, queue still
a destination, action the ACD refuses) 409; the database or the ACD unavailable 503.

Every change is audited (``ccd.api.audit_trail.audited``): configuration writes as
``agent.created`` … ``pause_reason.deleted`` with the object's view before and after,
agent actions as ``agent.logged_in`` … ``agent.left_queue`` with the agent's state before
and after. The
trail is checked before the change (a process without one changes nothing: 503) and
written after it succeeded, so a refused change records nothing and answers as it would
without an audit; a trail that fails at that moment is a 503 saying the change was made
but not recorded (it cannot be undone safely: a reloaded ACD or a paused agent).

Answers are built from the models of ``ccd.api.models.acd`` (the OpenAPI contract).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
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
from ccd.api.audit_trail import audited
from ccd.api.cdrs import IsoDateTime
from ccd.api.context import ACD_LIVE, PRINCIPAL
from ccd.api.handlers import model_json, read_json, read_optional_json, store_problems
from ccd.api.models.acd import (
    AgentAction,
    AgentActionDone,
    AgentList,
    AgentLive,
    AgentPath,
    AgentQueuePath,
    AgentView,
    PauseReasonList,
    PauseReasonPath,
    PauseReasonView,
    QueueList,
    QueueLive,
    QueuePath,
    QueueView,
    SessionLog,
    SessionView,
)
from ccd.api.openapi.operation import operation
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
from ccd.domain.audit import AuditEntry
from ccd.domain.servers import DEFAULT_SERVER_NAME

log = structlog.get_logger("ccd.api")

ACD_STORE: web.AppKey[AcdStore | None] = web.AppKey("acd_store")
# The configured Asterisk servers' names, the first the default: what an agent's
# ``server`` may name.
ACD_SERVERS: web.AppKey[tuple[str, ...]] = web.AppKey("acd_servers")

ACD_REFUSED = "urn:ccd:problem:acd-refused"
DEFAULT_SESSIONS_LIMIT = 1000
MAX_SESSIONS_LIMIT = 10_000
_ID = re.compile(ID_PATTERN)
BodyT = TypeVar("BodyT", bound=BaseModel)
FoundT = TypeVar("FoundT")
ConfigView = AgentView | QueueView | PauseReasonView
ViewT = TypeVar("ViewT", bound=ConfigView | None)
NO_STORE = {"Cache-Control": "no-store"}
# The audit action of each agent action (target: the agent).
_ACTION_AUDITED: dict[AgentAction, str] = {
    "login": "agent.logged_in",
    "logout": "agent.logged_out",
    "pause": "agent.paused",
    "unpause": "agent.unpaused",
    "join": "agent.joined_queue",
    "leave": "agent.left_queue",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginBody(_Body):
    queues: tuple[Id, ...] | None = Field(
        default=None,
        description="queues to take calls from; omitted or null: the agent's configured ones",
    )


class PauseBody(_Body):
    reason: Id = Field(description="a configured pause reason code (GET /api/v1/pause-reasons)")


class SessionsQuery(_Body):
    from_: Annotated[
        IsoDateTime, Field(alias="from", description="inclusive, ISO 8601 with a timezone")
    ] = None
    to: Annotated[IsoDateTime, Field(description="exclusive, ISO 8601 with a timezone")] = None
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


async def _reload(request: web.Request, change: str) -> None:
    """Tell the running ACD about a configuration write. The write is already stored, so a
    failed reload is logged (the next reload or restart picks the change up), not turned
    into an error."""
    live = request.app[ACD_LIVE]
    if live is None:
        return
    try:
        await live.reload_config()
    except Exception:
        log.exception("acd reload after api write failed", change=change)


async def _change_config(
    request: web.Request,
    kind: str,
    key: str,
    verb: str,
    before: ConfigView | None,
    write: Callable[[], Awaitable[ViewT]],
) -> ViewT:
    """A configuration write (``write`` answers the object's view after it, None once
    deleted) in the audited order of ``ccd.api.audit_trail.audited``: logged and the ACD
    reloaded once stored, then recorded as ``<kind>.<verb>`` with its settings before and
    after."""

    async def act() -> ViewT:
        with _store_errors():
            after = await write()
        log.info(f"acd {kind} {verb}", target_id=key, token_id=_by(request))
        await _reload(request, f"{kind} {key} {verb}")
        return after

    def entry(after: ViewT) -> AuditEntry:
        detail = {"before": _audited(before), "after": _audited(after)}
        return AuditEntry(request[PRINCIPAL], f"{kind}.{verb}", kind, key, detail)

    return await audited(request.app, act, entry)


async def _existing(kind: str, key: str, get: Callable[[str], Awaitable[FoundT | None]]) -> FoundT:
    """The stored object ``get(key)`` answers; none is a 404 naming the ``kind``."""
    with _store_errors():
        found = await get(key)
    if found is None:
        raise not_found(f"no {kind} {key!r}")
    return found


def _check_server(request: web.Request, server: str | None) -> None:
    """An agent's ``server`` must name a configured Asterisk server (422 naming it)."""
    servers = request.app[ACD_SERVERS]
    if server is not None and server not in servers:
        raise validation_problem(
            [
                FieldError(
                    "server",
                    f"no Asterisk server named {server!r} (configured: {', '.join(servers)})",
                )
            ]
        )


def _agent_key(request: web.Request) -> str:
    """The path's agent id, once the caller may see or act on that agent (403)."""
    agent_id = check_path_param("id", request.match_info["id"])
    require_agent_self(request[PRINCIPAL], agent_id)
    return _key(request, "id", "agent")


async def _stored_agent(request: web.Request) -> StoredAgent:
    """The path's agent, once the caller may see or act on it (403) and it exists (404)."""
    return await _existing("agent", _agent_key(request), _store(request).get_agent)


def _created(model: BaseModel, location: str) -> web.Response:
    response = model_json(model, status=201)
    response.headers["Location"] = location
    return response


def _no_content() -> web.Response:
    return web.Response(status=204, headers=NO_STORE)


# --- views -------------------------------------------------------------------------------


def agent_live(live: AcdLive | None, agent_id: str) -> AgentLive | None:
    view = live.agent_live(agent_id) if live is not None else None
    return None if view is None else AgentLive.model_validate(view)


def queue_live(live: AcdLive | None, queue_id: str) -> QueueLive | None:
    view = live.queue_live(queue_id) if live is not None else None
    return None if view is None else QueueLive.model_validate(view)


def agent_view(stored: StoredAgent, live: AcdLive | None) -> AgentView:
    agent = stored.agent
    return AgentView.model_validate(
        {
            "id": agent.id,
            "name": agent.name,
            "interface": agent.interface,
            "skills": dict(agent.skills),
            "max_calls": agent.max_calls,
            "queues": sorted(stored.queues),
            "server": agent.server,
            "created_at": iso(stored.created_at),
            "updated_at": iso(stored.updated_at),
            "live": agent_live(live, agent.id),
        }
    )


def queue_view(stored: StoredQueue, live: AcdLive | None) -> QueueView:
    queue = stored.queue
    # Every settable field, by QueueFields' names: a field added there and not to
    # QueueView fails validation here (extra="forbid") instead of going unanswered.
    fields = {name: getattr(queue, name) for name in QueueFields.model_fields}
    return QueueView.model_validate(
        {
            "id": queue.id,
            **fields,
            "required_skills": dict(queue.required_skills),
            "escalated_skills": dict(queue.escalated_skills),
            "created_at": iso(stored.created_at),
            "updated_at": iso(stored.updated_at),
            "live": queue_live(live, queue.id),
        }
    )


def pause_reason_view(reason: PauseReason) -> PauseReasonView:
    return PauseReasonView(
        code=reason.code,
        label=reason.label,
        billable=reason.billable,
        time_limit_s=reason.time_limit_s,
    )


def session_view(entry: SessionEntry) -> SessionView:
    return SessionView.model_validate(
        {
            "status": entry.status,
            "reason": entry.reason,
            "call_id": entry.call_id,
            "queue_ids": list(entry.queue_ids),
            "at": iso(entry.at),
        }
    )


def _audited(view: ConfigView | None) -> dict[str, Any] | None:
    """What the audit trail keeps of a configuration object: its settings, not ``live``
    (None: there is none, before a creation or after a deletion)."""
    return None if view is None else view.model_dump(mode="json", exclude={"live"})


def _agent_state(live: AgentLive | None) -> dict[str, Any] | None:
    """What the audit trail keeps of an agent's state (null: logged out)."""
    if live is None:
        return None
    return {"status": live.status.value, "reason": live.reason, "queues": list(live.queues)}


# --- agents ------------------------------------------------------------------------------


@operation("Agents, with their live state", responses={200: AgentList})
async def list_agents(request: web.Request) -> web.Response:
    with _store_errors():
        agents = await _store(request).list_agents()
    live = request.app[ACD_LIVE]
    return model_json(AgentList(agents=[agent_view(a, live) for a in agents]))


@operation(
    "Create an agent",
    body=AgentSpec,
    responses={201: AgentView},
    problems=(409,),
    description="`Location` names the new agent. 409: the id is taken. Audited as `agent.created`.",
)
async def create_agent(request: web.Request) -> web.Response:
    spec = await _body(request, AgentSpec)
    _check_server(request, spec.server)

    async def create() -> AgentView:
        stored = await _store(request).upsert_agent(
            spec.to_agent(spec.id), queues=spec.queues or (), mode=WriteMode.CREATE
        )
        return agent_view(stored, request.app[ACD_LIVE])

    view = await _change_config(request, "agent", spec.id, "created", None, create)
    return _created(view, f"/api/v1/agents/{spec.id}")


@operation(
    "One agent, with its live state",
    path=AgentPath,
    responses={200: AgentView},
    problems=(404,),
    description="An agent token may read only its own agent (403 otherwise).",
)
async def get_agent(request: web.Request) -> web.Response:
    return model_json(agent_view(await _stored_agent(request), request.app[ACD_LIVE]))


@operation(
    "Replace an agent's settings",
    path=AgentPath,
    body=AgentFields,
    responses={200: AgentView},
    problems=(404,),
    description="`queues` omitted or null keeps the memberships. Audited as"
    " `agent.updated` (before/after).",
)
async def update_agent(request: web.Request) -> web.Response:
    agent_id = _key(request, "id", "agent")
    fields = await _body(request, AgentFields)
    _check_server(request, fields.server)
    store = _store(request)
    before = await _existing("agent", agent_id, store.get_agent)

    async def update() -> AgentView:
        stored = await store.upsert_agent(
            fields.to_agent(agent_id), queues=fields.queues, mode=WriteMode.UPDATE
        )
        return agent_view(stored, request.app[ACD_LIVE])

    before_view = agent_view(before, None)
    view = await _change_config(request, "agent", agent_id, "updated", before_view, update)
    return model_json(view)


@operation(
    "Delete an agent (its session log stays)",
    path=AgentPath,
    responses={204: None},
    problems=(404,),
    description="Audited as `agent.deleted` (the agent as it was).",
)
async def delete_agent(request: web.Request) -> web.Response:
    agent_id = _key(request, "id", "agent")
    store = _store(request)
    before = await _existing("agent", agent_id, store.get_agent)

    async def delete() -> None:
        if not await store.delete_agent(agent_id):
            raise not_found(f"no agent {agent_id!r}")

    await _change_config(request, "agent", agent_id, "deleted", agent_view(before, None), delete)
    return _no_content()


# --- agent actions -----------------------------------------------------------------------


async def _acting_on(request: web.Request) -> str:
    """The path's agent id, once the caller may act on it (403) and it exists (404)."""
    return (await _stored_agent(request)).agent.id


async def _act(
    request: web.Request,
    agent_id: str,
    action: AgentAction,
    detail: dict[str, Any],
    run: Callable[[AcdLive], Awaitable[None]],
) -> web.Response:
    """Run the agent action ``run`` (a coroutine function of the live ACD) once the trail
    is ready, log and audit it, and answer the agent's state after it."""
    live = _live(request)

    async def act() -> tuple[AgentLive | None, AgentLive | None]:
        before = agent_live(live, agent_id)
        with _acd_errors():
            await run(live)
        log.info(f"acd agent {action} via api", agent=agent_id, token_id=_by(request), **detail)
        return before, agent_live(live, agent_id)

    def entry(states: tuple[AgentLive | None, AgentLive | None]) -> AuditEntry:
        before, after = states
        change = {"before": _agent_state(before), "after": _agent_state(after)}
        action_done = _ACTION_AUDITED[action]
        return AuditEntry(request[PRINCIPAL], action_done, "agent", agent_id, detail | change)

    _, after = await audited(request.app, act, entry)
    return model_json(AgentActionDone(agent_id=agent_id, action=action, live=after))


_ACTION_PROBLEMS = (404, 409, 503)
_ACTION_NOTE = (
    " An agent token may act only on its own agent (403). 409: the ACD refused (the reason"
    " is in `detail`); 503: the ACD is not running here or cannot reach Asterisk."
)


@operation(
    "Log an agent in",
    path=AgentPath,
    body=LoginBody,
    body_required=False,
    responses={200: AgentActionDone},
    problems=_ACTION_PROBLEMS,
    description="No body: the agent's configured queues. Audited as `agent.logged_in`."
    + _ACTION_NOTE,
)
async def login(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    body = await _body(request, LoginBody, optional=True)
    queues = body.queues
    return await _act(
        request,
        agent_id,
        "login",
        {"queues": None if queues is None else list(queues)},
        lambda live: live.login(agent_id, queues),
    )


@operation(
    "Log an agent out (after the current call)",
    path=AgentPath,
    responses={200: AgentActionDone},
    problems=_ACTION_PROBLEMS,
    description="Audited as `agent.logged_out`." + _ACTION_NOTE,
)
async def logout(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    return await _act(request, agent_id, "logout", {}, lambda live: live.logout(agent_id))


@operation(
    "Pause an agent with a reason (after the current call)",
    path=AgentPath,
    body=PauseBody,
    responses={200: AgentActionDone},
    problems=_ACTION_PROBLEMS,
    description="An unknown reason is a 422 naming `reason`. Audited as `agent.paused`"
    " with the reason." + _ACTION_NOTE,
)
async def pause(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    body = await _body(request, PauseBody)
    with _store_errors():
        reason = await _store(request).get_pause_reason(body.reason)
    if reason is None:
        raise validation_problem(
            [FieldError("reason", f"unknown pause reason {body.reason!r} (see pause-reasons)")]
        )
    return await _act(
        request,
        agent_id,
        "pause",
        {"reason": body.reason},
        lambda live: live.pause(agent_id, body.reason),
    )


@operation(
    "End an agent's pause",
    path=AgentPath,
    responses={200: AgentActionDone},
    problems=_ACTION_PROBLEMS,
    description="Audited as `agent.unpaused`." + _ACTION_NOTE,
)
async def unpause(request: web.Request) -> web.Response:
    agent_id = await _acting_on(request)
    return await _act(request, agent_id, "unpause", {}, lambda live: live.unpause(agent_id))


async def _queue_action(request: web.Request, action: AgentAction) -> web.Response:
    agent_id = await _acting_on(request)
    queue_id = _key(request, "queue_id", "queue")
    await _existing("queue", queue_id, _store(request).get_queue)

    async def run(live: AcdLive) -> None:
        if action == "join":
            await live.join(agent_id, queue_id)
        else:
            await live.leave(agent_id, queue_id)

    return await _act(request, agent_id, action, {"queue_id": queue_id}, run)


@operation(
    "A logged-in agent joins a queue",
    path=AgentQueuePath,
    responses={200: AgentActionDone},
    problems=_ACTION_PROBLEMS,
    description="Audited as `agent.joined_queue`." + _ACTION_NOTE,
)
async def join_queue(request: web.Request) -> web.Response:
    return await _queue_action(request, "join")


@operation(
    "A logged-in agent leaves a queue",
    path=AgentQueuePath,
    responses={200: AgentActionDone},
    problems=_ACTION_PROBLEMS,
    description="Audited as `agent.left_queue`." + _ACTION_NOTE,
)
async def leave_queue(request: web.Request) -> web.Response:
    return await _queue_action(request, "leave")


def _sessions_query(request: web.Request) -> SessionsQuery:
    query = query_model(SessionsQuery, request.query)
    if query.from_ is not None and query.to is not None and query.from_ > query.to:
        raise validation_problem([FieldError("from", "must not be later than to")])
    return query


@operation(
    "An agent's session log: every state it entered, oldest first",
    path=AgentPath,
    query=SessionsQuery,
    responses={200: SessionLog},
    problems=(404,),
    description="A deleted agent's log is still readable. `truncated`: more rows may"
    " follow; ask again with `from` = the last row's `at`.",
)
async def agent_sessions(request: web.Request) -> web.Response:
    agent_id = _agent_key(request)
    query = _sessions_query(request)
    store = _store(request)
    with _store_errors():
        rows = await store.sessions(agent_id, query.from_, query.to, limit=query.limit)
        # A deleted agent's log is still readable; an id never seen is not found.
        if not rows and await store.get_agent(agent_id) is None:
            raise not_found(f"no agent {agent_id!r}")
    return model_json(
        SessionLog(
            agent_id=agent_id,
            sessions=[session_view(row) for row in rows],
            limit=query.limit,
            truncated=len(rows) == query.limit,
        )
    )


# --- queues ------------------------------------------------------------------------------


@operation("Queues, with their live state", responses={200: QueueList})
async def list_queues(request: web.Request) -> web.Response:
    with _store_errors():
        queues = await _store(request).list_queues()
    live = request.app[ACD_LIVE]
    return model_json(QueueList(queues=[queue_view(q, live) for q in queues]))


@operation(
    "Create a queue",
    body=QueueSpec,
    responses={201: QueueView},
    problems=(409,),
    description="`Location` names the new queue. 409: the id is taken; a destination"
    " naming an unknown queue is a 422 naming the field. Audited as `queue.created`.",
)
async def create_queue(request: web.Request) -> web.Response:
    spec = await _body(request, QueueSpec)

    async def create() -> QueueView:
        stored = await _store(request).upsert_queue(spec.to_queue(spec.id), mode=WriteMode.CREATE)
        return queue_view(stored, request.app[ACD_LIVE])

    view = await _change_config(request, "queue", spec.id, "created", None, create)
    return _created(view, f"/api/v1/queues/{spec.id}")


@operation(
    "One queue, with its live state", path=QueuePath, responses={200: QueueView}, problems=(404,)
)
async def get_queue(request: web.Request) -> web.Response:
    stored = await _existing("queue", _key(request, "id", "queue"), _store(request).get_queue)
    return model_json(queue_view(stored, request.app[ACD_LIVE]))


@operation(
    "Replace a queue's settings",
    path=QueuePath,
    body=QueueFields,
    responses={200: QueueView},
    problems=(404,),
    description="Audited as `queue.updated` (before/after).",
)
async def update_queue(request: web.Request) -> web.Response:
    queue_id = _key(request, "id", "queue")
    fields = await _body(request, QueueFields)
    store = _store(request)
    before = await _existing("queue", queue_id, store.get_queue)

    async def update() -> QueueView:
        stored = await store.upsert_queue(fields.to_queue(queue_id), mode=WriteMode.UPDATE)
        return queue_view(stored, request.app[ACD_LIVE])

    before_view = queue_view(before, None)
    view = await _change_config(request, "queue", queue_id, "updated", before_view, update)
    return model_json(view)


@operation(
    "Delete a queue",
    path=QueuePath,
    responses={204: None},
    problems=(404, 409),
    description="409: another queue still sends callers to it (the detail names them)."
    " Audited as `queue.deleted` (the queue as it was).",
)
async def delete_queue(request: web.Request) -> web.Response:
    queue_id = _key(request, "id", "queue")
    store = _store(request)
    before = await _existing("queue", queue_id, store.get_queue)

    async def delete() -> None:
        if not await store.delete_queue(queue_id):
            raise not_found(f"no queue {queue_id!r}")

    await _change_config(request, "queue", queue_id, "deleted", queue_view(before, None), delete)
    return _no_content()


# --- pause reasons -----------------------------------------------------------------------


@operation("Pause reasons", responses={200: PauseReasonList})
async def list_pause_reasons(request: web.Request) -> web.Response:
    with _store_errors():
        reasons = await _store(request).list_pause_reasons()
    return model_json(PauseReasonList(pause_reasons=[pause_reason_view(r) for r in reasons]))


@operation(
    "Create a pause reason",
    body=PauseReasonSpec,
    responses={201: PauseReasonView},
    problems=(409,),
    description="409: the code is taken. Audited as `pause_reason.created`.",
)
async def create_pause_reason(request: web.Request) -> web.Response:
    spec = await _body(request, PauseReasonSpec)

    async def create() -> PauseReasonView:
        reason = await _store(request).upsert_pause_reason(
            spec.to_pause_reason(spec.code), mode=WriteMode.CREATE
        )
        return pause_reason_view(reason)

    view = await _change_config(request, "pause_reason", spec.code, "created", None, create)
    return model_json(view, status=201)


@operation(
    "Replace a pause reason's settings",
    path=PauseReasonPath,
    body=PauseReasonFields,
    responses={200: PauseReasonView},
    problems=(404,),
    description="Audited as `pause_reason.updated` (before/after).",
)
async def update_pause_reason(request: web.Request) -> web.Response:
    code = _key(request, "code", "pause reason")
    fields = await _body(request, PauseReasonFields)
    store = _store(request)
    before = await _existing("pause reason", code, store.get_pause_reason)

    async def update() -> PauseReasonView:
        reason = await store.upsert_pause_reason(
            fields.to_pause_reason(code), mode=WriteMode.UPDATE
        )
        return pause_reason_view(reason)

    before_view = pause_reason_view(before)
    view = await _change_config(request, "pause_reason", code, "updated", before_view, update)
    return model_json(view)


@operation(
    "Delete a pause reason (past sessions keep their code)",
    path=PauseReasonPath,
    responses={204: None},
    problems=(404, 409),
    description="409: `no-answer` cannot be deleted (the ACD pauses agents who miss calls"
    " with it). Audited as `pause_reason.deleted` (the reason as it was).",
)
async def delete_pause_reason(request: web.Request) -> web.Response:
    code = _key(request, "code", "pause reason")
    store = _store(request)
    before = await _existing("pause reason", code, store.get_pause_reason)

    async def delete() -> None:
        if not await store.delete_pause_reason(code):
            raise not_found(f"no pause reason {code!r}")

    before_view = pause_reason_view(before)
    await _change_config(request, "pause_reason", code, "deleted", before_view, delete)
    return _no_content()


def add_routes(
    app: web.Application,
    store: AcdStore | None,
    live: AcdLive | None,
    servers: tuple[str, ...] = (DEFAULT_SERVER_NAME,),
) -> None:
    """``servers``: the configured Asterisk servers' names (the first is the default),
    which an agent's ``server`` may name."""
    if not servers:
        raise ValueError("at least one Asterisk server name is needed")
    app[ACD_STORE] = store
    app[ACD_LIVE] = live
    app[ACD_SERVERS] = servers
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
