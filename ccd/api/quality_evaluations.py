"""Evaluations over HTTP (``/api/v1/quality/evaluations``): one evaluation scores one
stored call (its CDR, by linkedid) on the latest version of a form.

- Evaluators (qa, supervisor, admin) create and correct evaluations; a correction is
  refused (409) once the agent has acknowledged it, and keeps the form version it was
  made with.
- An agent reads only evaluations of their own calls (another agent's is 403; the list is
  pinned to their id) and acknowledges each once (``POST …/acknowledge``, 409 the second
  time), optionally with a comment.
- Analysts read.

The CDR's agent, queue, campaign and recording reference are copied onto the evaluation;
a call with no CDR is 404. The score is ``ccd.quality.score``'s. Creating, correcting and
acknowledging are written to the audit trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ccd.acd.seed import ID_PATTERN
from ccd.api.audit_trail import audited
from ccd.api.cdrs import CDRS, IsoDateTime
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import model_json, read_json, read_optional_json
from ccd.api.models.quality import EvaluationPage, EvaluationView
from ccd.api.openapi.operation import operation
from ccd.api.policy import require_agent_self
from ccd.api.problems import (
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    forbidden,
    not_found,
    validation_problem,
)
from ccd.api.quality_common import quality_errors, quality_store
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param, query_model
from ccd.cdr.queries import CdrStoreUnavailable
from ccd.db.quality_store import QualityStore
from ccd.domain.audit import AuditEntry
from ccd.domain.auth import Principal, Role
from ccd.quality.answers import read_answers
from ccd.quality.forms import Question
from ccd.quality.records import (
    CallScored,
    EvaluationFilter,
    NewEvaluation,
    StoredEvaluation,
    StoredForm,
)
from ccd.quality.score import score

log = structlog.get_logger("ccd.api.quality")

MAX_ANSWERS = 1000  # MAX_SECTIONS * MAX_QUESTIONS
MAX_EVALUATION_ID = 2**63 - 1
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
Answer = StrictInt | Annotated[str, Field(max_length=8)]


class EvaluationBody(BaseModel):
    """``PUT``: a correction (new answers and comments)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    answers: Annotated[
        dict[Annotated[str, Field(max_length=64)], Answer], Field(max_length=MAX_ANSWERS)
    ]
    comments: Annotated[str, Field(max_length=4000)] = ""


class NewEvaluationBody(EvaluationBody):
    """``POST``: which call, on which form."""

    linkedid: Annotated[str, Field(min_length=1, max_length=64)]
    form_id: Annotated[str, Field(pattern=ID_PATTERN)]


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    comment: Annotated[str, Field(min_length=1, max_length=2000)] | None = None


class EvaluationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    queue: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    linkedid: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    form: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    from_: Annotated[IsoDateTime, Field(alias="from")] = None
    to: IsoDateTime = None
    acknowledged: bool | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    cursor: Annotated[int, Field(ge=1, le=MAX_EVALUATION_ID)] | None = None


# --- views -----------------------------------------------------------------------------------


class _Forms:
    """The form versions a response shows answers against, read once per request."""

    def __init__(self, store: QualityStore) -> None:
        self._store = store
        self._seen: dict[tuple[str, int], StoredForm | None] = {}

    async def version(self, form_id: str, version: int) -> StoredForm | None:
        key = (form_id, version)
        if key not in self._seen:
            self._seen[key] = await self._store.get_form(form_id, version)
        return self._seen[key]


def evaluation_view(evaluation: StoredEvaluation, form: StoredForm | None) -> dict[str, Any]:
    call = evaluation.call
    return {
        "id": evaluation.id,
        "linkedid": call.linkedid,
        "agent_id": call.agent_id,
        "queue": call.queue,
        "campaign_id": call.campaign_id,
        "recording_ref": call.recording_ref,
        "form": {
            "id": evaluation.form_id,
            "version": evaluation.form_version,
            "name": None if form is None else form.definition.name,
        },
        "score_pct": evaluation.score_pct,
        "critical_failed": evaluation.critical_failed,
        "answers": _answers_view(evaluation, form),
        "comments": evaluation.comments,
        "evaluated_at": iso(evaluation.evaluated_at),
        "updated_at": iso(evaluation.updated_at),
        "evaluator": {
            "token_id": evaluation.evaluator_token_id,
            "role": evaluation.evaluator_role,
        },
        "acknowledged_at": iso(evaluation.acknowledged_at),
        "acknowledgement_comment": evaluation.acknowledgement_comment,
    }


def _answers_view(evaluation: StoredEvaluation, form: StoredForm | None) -> list[dict[str, Any]]:
    """In form order, with each question's section and text."""
    ordered: list[tuple[str | None, str, Question | None]]
    if form is None:
        ordered = [(None, qid, None) for qid in sorted(evaluation.answers)]
    else:
        ordered = [
            (section.title, q.id, q)
            for section in form.definition.sections
            for q in section.questions
        ]
    views = []
    for section_title, question_id, question in ordered:
        answer = evaluation.answers.get(question_id)
        if answer is None:
            continue
        views.append(
            {
                "question_id": question_id,
                "section": section_title,
                "text": None if question is None else question.text,
                "answer": int(answer) if answer.isdigit() else answer,
                "score_pct": evaluation.question_scores.get(question_id),
                "critical": None if question is None else question.critical,
            }
        )
    return views


async def _view(store: QualityStore, evaluation: StoredEvaluation) -> dict[str, Any]:
    form = await store.get_form(evaluation.form_id, evaluation.form_version)
    return evaluation_view(evaluation, form)


# --- helpers ---------------------------------------------------------------------------------


def _evaluation_id(request: web.Request) -> int:
    raw = check_id_param(
        "id", request.match_info["id"], max_length=19, missing="no such evaluation"
    )
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_EVALUATION_ID:
        raise not_found(f"no evaluation {raw!r}")
    return int(raw)


def _may_read(principal: Principal, evaluation: StoredEvaluation) -> None:
    if principal.role is Role.AGENT and (
        principal.agent_id is None or evaluation.call.agent_id != principal.agent_id
    ):
        raise forbidden("agents may only read evaluations of their own calls")


async def _existing(store: QualityStore, evaluation_id: int) -> StoredEvaluation:
    with quality_errors():
        evaluation = await store.get_evaluation(evaluation_id)
    if evaluation is None:
        raise not_found(f"no evaluation {evaluation_id}")
    return evaluation


def _scored(
    form: StoredForm,
    body: EvaluationBody,
    call: CallScored,
    principal: Principal,
) -> NewEvaluation:
    """The answers read against ``form`` and scored, or a 422 naming each bad answer."""
    read = read_answers(form.definition, body.answers)
    if read.problems:
        raise validation_problem([FieldError(p.field, p.message) for p in read.problems])
    return NewEvaluation(
        call=call,
        form_id=form.id,
        form_version=form.version,
        form=form.definition,
        answers=read.values,
        score=score(form.definition, read.values),
        comments=body.comments,
        evaluator_token_id=principal.token_id,
        evaluator_role=principal.role.value,
    )


async def _call_scored(request: web.Request, linkedid: str) -> CallScored:
    try:
        detail = await request.app[CDRS].get(linkedid)
    except CdrStoreUnavailable:
        raise ApiProblem(
            503, "the CDR database is unavailable; retry later", type_=UPSTREAM_UNAVAILABLE
        ) from None
    if detail is None:
        raise not_found(f"no CDR with id {linkedid!r}")
    cdr = detail.cdr
    return CallScored(
        linkedid=cdr.linkedid,
        agent_id=cdr.agent_id,
        queue=cdr.queue,
        campaign_id=cdr.campaign_id,
        recording_ref=cdr.recording_ref,
    )


def _audit_detail(
    evaluation: StoredEvaluation, before: StoredEvaluation | None = None
) -> Mapping[str, Any]:
    """The call and score, and for a change what the evaluation was and became."""
    detail: dict[str, Any] = {
        "linkedid": evaluation.call.linkedid,
        "agent_id": evaluation.call.agent_id,
        "score_pct": evaluation.score_pct,
    }
    if before is not None:
        detail["before"] = _audited_state(before)
        detail["after"] = _audited_state(evaluation)
    return detail


def _audited_state(evaluation: StoredEvaluation) -> dict[str, Any]:
    return {
        "form_version": evaluation.form_version,
        "answers": dict(evaluation.answers),
        "score_pct": evaluation.score_pct,
        "critical_failed": evaluation.critical_failed,
        "comments": evaluation.comments,
        "acknowledged_at": iso(evaluation.acknowledged_at),
        "acknowledgement_comment": evaluation.acknowledgement_comment,
    }


# --- handlers --------------------------------------------------------------------------------


@operation(
    "Score a stored call on the latest version of a form",
    body=NewEvaluationBody,
    responses={201: EvaluationView},
    problems=(404,),
    description=(
        "404: no CDR with this linkedid. A form_id that names no form is a 422 naming"
        " form_id. Audited as `evaluation.created`."
    ),
)
async def create_evaluation(request: web.Request) -> web.Response:
    store = quality_store(request)
    principal = request[PRINCIPAL]
    body = await read_json(request, NewEvaluationBody)
    with quality_errors():
        form = await store.get_form(body.form_id)
    if form is None:
        raise validation_problem([FieldError("form_id", f"there is no form {body.form_id!r}")])
    call = await _call_scored(request, body.linkedid)
    new = _scored(form, body, call, principal)

    async def act() -> StoredEvaluation:
        with quality_errors():
            return await store.create_evaluation(new)

    def entry(created: StoredEvaluation) -> AuditEntry:
        detail = _audit_detail(created)
        return AuditEntry(principal, "evaluation.created", "evaluation", str(created.id), detail)

    stored = await audited(request.app, act, entry)
    log.info(
        "evaluation created",
        evaluation_id=stored.id,
        linkedid=call.linkedid,
        agent_id=call.agent_id,
        score_pct=stored.score_pct,
    )
    response = model_json(EvaluationView.model_validate(evaluation_view(stored, form)), status=201)
    response.headers["Location"] = f"/api/v1/quality/evaluations/{stored.id}"
    return response


@operation(
    "Correct an evaluation (new answers and comments, same form version)",
    body=EvaluationBody,
    responses={200: EvaluationView},
    problems=(404, 409),
    description=(
        "409 once the agent has acknowledged it, or when it changed concurrently. Audited"
        " as `evaluation.updated` with before/after."
    ),
)
async def update_evaluation(request: web.Request) -> web.Response:
    store = quality_store(request)
    principal = request[PRINCIPAL]
    evaluation_id = _evaluation_id(request)
    body = await read_json(request, EvaluationBody)
    existing = await _existing(store, evaluation_id)
    if existing.acknowledged_at is not None:
        raise ApiProblem(
            409, f"evaluation {evaluation_id} is acknowledged by its agent and cannot be changed"
        )
    with quality_errors():
        form = await store.get_form(existing.form_id, existing.form_version)
    if form is None:  # versions are never deleted while evaluations name them
        raise not_found(f"evaluation {evaluation_id}'s form version is gone")
    new = _scored(form, body, existing.call, principal)

    async def act() -> StoredEvaluation:
        with quality_errors():
            return await store.update_evaluation(evaluation_id, new)

    def entry(updated: StoredEvaluation) -> AuditEntry:
        detail = _audit_detail(updated, before=existing)
        return AuditEntry(principal, "evaluation.updated", "evaluation", str(updated.id), detail)

    stored = await audited(request.app, act, entry)
    log.info("evaluation updated", evaluation_id=stored.id, score_pct=stored.score_pct)
    return model_json(EvaluationView.model_validate(evaluation_view(stored, form)))


@operation(
    "One evaluation",
    responses={200: EvaluationView},
    problems=(404,),
    description="An agent reads only evaluations of their own calls (403 otherwise).",
)
async def get_evaluation(request: web.Request) -> web.Response:
    store = quality_store(request)
    evaluation = await _existing(store, _evaluation_id(request))
    _may_read(request[PRINCIPAL], evaluation)
    with quality_errors():
        view = await _view(store, evaluation)
    return model_json(EvaluationView.model_validate(view))


@operation(
    "Evaluations, newest first, a page at a time",
    query=EvaluationQuery,
    responses={200: EvaluationPage},
    description=(
        "An agent's list is pinned to their own calls (naming another agent is 403)."
        " `from` inclusive, `to` exclusive, on evaluated_at."
    ),
)
async def list_evaluations(request: web.Request) -> web.Response:
    store = quality_store(request)
    query = query_model(EvaluationQuery, request.query)
    if query.from_ is not None and query.to is not None and query.from_ > query.to:
        raise validation_problem([FieldError("from", "must not be later than to")])
    principal = request[PRINCIPAL]
    agent_id = query.agent
    if principal.role is Role.AGENT:
        if principal.agent_id is None:
            raise forbidden("this agent token has no agent id, so it has no evaluations")
        if agent_id is not None:
            require_agent_self(principal, agent_id)
        agent_id = principal.agent_id
    filters = EvaluationFilter(
        agent_id=agent_id,
        queue=query.queue,
        linkedid=query.linkedid,
        form_id=query.form,
        evaluated_from=query.from_,
        evaluated_before=query.to,
        acknowledged=query.acknowledged,
    )
    forms = _Forms(store)
    with quality_errors():
        rows = await store.list_evaluations(filters, before_id=query.cursor, limit=query.limit)
        views = [
            evaluation_view(row, await forms.version(row.form_id, row.form_version)) for row in rows
        ]
    return model_json(
        EvaluationPage(
            evaluations=[EvaluationView.model_validate(view) for view in views],
            # More may follow: ask again with cursor = next_cursor.
            next_cursor=rows[-1].id if len(rows) == query.limit else None,
        )
    )


@operation(
    "The evaluated agent acknowledges an evaluation, optionally with a comment",
    body=AcknowledgeBody,
    body_required=False,
    responses={200: EvaluationView},
    problems=(404, 409),
    description=(
        "Only the evaluated agent (403 for anyone else); once (409 the second time)."
        " Audited as `evaluation.acknowledged` with before/after."
    ),
)
async def acknowledge_evaluation(request: web.Request) -> web.Response:
    store = quality_store(request)
    principal = request[PRINCIPAL]
    evaluation_id = _evaluation_id(request)
    body = await read_optional_json(request, AcknowledgeBody)
    existing = await _existing(store, evaluation_id)
    if principal.role is not Role.AGENT or existing.call.agent_id is None:
        raise forbidden("only the evaluated agent acknowledges an evaluation")
    require_agent_self(principal, existing.call.agent_id)

    async def act() -> StoredEvaluation:
        with quality_errors():
            return await store.acknowledge(evaluation_id, body.comment)

    def entry(acknowledged: StoredEvaluation) -> AuditEntry:
        detail = _audit_detail(acknowledged, before=existing)
        target = str(acknowledged.id)
        return AuditEntry(principal, "evaluation.acknowledged", "evaluation", target, detail)

    stored = await audited(request.app, act, entry)
    log.info("evaluation acknowledged", evaluation_id=stored.id, agent_id=principal.agent_id)
    with quality_errors():
        view = await _view(store, stored)
    return model_json(EvaluationView.model_validate(view))
