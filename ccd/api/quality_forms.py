"""Evaluation forms over HTTP (``/api/v1/quality/forms``).

A form is created with ``POST`` (version 1); ``PUT`` on its id stores the next version
and makes it the one new evaluations use. A version is never changed, so an evaluation
made on version 1 keeps scoring against version 1's questions and weights. ``GET`` shows
the latest version; ``…/versions/{n}`` any earlier one.

Bad forms are 422 problems naming the field in the API's dotted form
(``sections.1.questions.0.weight``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.acd.seed import ID_PATTERN
from ccd.api.audit_trail import audited
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import model_json, read_json
from ccd.api.models.quality import FormList, FormView
from ccd.api.openapi.operation import operation
from ccd.api.problems import FieldError, not_found, validation_problem
from ccd.api.quality_common import quality_errors, quality_store
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param, check_path_param
from ccd.domain.audit import AuditEntry
from ccd.quality.forms import (
    MAX_WEIGHT,
    FormDefinition,
    Question,
    QuestionKind,
    Section,
    form_problems,
    sections_to_json,
)
from ccd.quality.records import StoredForm

log = structlog.get_logger("ccd.api.quality")

MAX_SECTIONS = 20
MAX_QUESTIONS = 50  # per section
MAX_VERSION = 1_000_000
FormId = Annotated[str, Field(pattern=ID_PATTERN)]


class QuestionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    text: Annotated[str, Field(min_length=1, max_length=500)]
    kind: Literal["yes_no", "scale"]
    weight: Annotated[float, Field(gt=0, le=MAX_WEIGHT, allow_inf_nan=False)] = 1.0
    critical: bool = False
    allow_na: bool = False
    scale_max: int | None = None


class SectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    title: Annotated[str, Field(min_length=1, max_length=200)]
    questions: Annotated[list[QuestionBody], Field(min_length=1, max_length=MAX_QUESTIONS)]


class FormVersionBody(BaseModel):
    """``PUT``: the next version of a form."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    sections: Annotated[list[SectionBody], Field(min_length=1, max_length=MAX_SECTIONS)]


class NewFormBody(FormVersionBody):
    """``POST``: a new form, with the id it will be known by."""

    id: FormId


def definition_of(body: FormVersionBody) -> FormDefinition:
    """The domain form, or a 422 naming every rule the body breaks."""
    definition = FormDefinition(
        name=body.name,
        sections=tuple(
            Section(
                title=section.title,
                questions=tuple(
                    Question(
                        id=q.id,
                        text=q.text,
                        kind=QuestionKind(q.kind),
                        weight=q.weight,
                        critical=q.critical,
                        allow_na=q.allow_na,
                        scale_max=q.scale_max,
                    )
                    for q in section.questions
                ),
            )
            for section in body.sections
        ),
    )
    problems = form_problems(definition)
    if problems:
        raise validation_problem([FieldError(p.field, p.message) for p in problems])
    return definition


def form_view(form: StoredForm) -> dict[str, Any]:
    return {
        "id": form.id,
        "name": form.definition.name,
        "version": form.version,
        "current_version": form.current_version,
        "sections": sections_to_json(form.definition.sections),
        "created_at": iso(form.created_at),
        "version_created_at": iso(form.version_created_at),
        "version_created_by": form.version_created_by,
    }


def form_id_param(request: web.Request) -> str:
    return check_id_param("id", request.match_info["id"], max_length=64, missing="no such form")


def form_model(form: StoredForm) -> FormView:
    return FormView.model_validate(form_view(form))


@operation("Evaluation forms, each at its latest version", responses={200: FormList})
async def list_forms(request: web.Request) -> web.Response:
    with quality_errors():
        forms = await quality_store(request).list_forms()
    return model_json(FormList(forms=[form_model(form) for form in forms]))


@operation(
    "Create an evaluation form (its version 1)",
    body=NewFormBody,
    responses={201: FormView},
    problems=(409,),
    description="409: a form with this id exists. Audited as `quality_form.created`.",
)
async def create_form(request: web.Request) -> web.Response:
    store = quality_store(request)
    body = await read_json(request, NewFormBody)
    definition = definition_of(body)
    principal = request[PRINCIPAL]

    async def act() -> StoredForm:
        with quality_errors():
            return await store.create_form(body.id, definition, principal.token_id)

    def entry(created: StoredForm) -> AuditEntry:
        detail = {"version": 1, "before": None, "after": form_view(created)}
        return AuditEntry(principal, "quality_form.created", "quality_form", created.id, detail)

    stored = await audited(request.app, act, entry)
    view = form_view(stored)
    log.info("quality form created", form_id=stored.id, token_id=principal.token_id)
    response = model_json(FormView.model_validate(view), status=201)
    response.headers["Location"] = f"/api/v1/quality/forms/{stored.id}"
    return response


@operation("One form at its latest version", responses={200: FormView}, problems=(404,))
async def get_form(request: web.Request) -> web.Response:
    form_id = form_id_param(request)
    with quality_errors():
        stored = await quality_store(request).get_form(form_id)
    if stored is None:
        raise not_found(f"no form {form_id!r}")
    return model_json(form_model(stored))


@operation("One version of a form", responses={200: FormView}, problems=(404,))
async def get_form_version(request: web.Request) -> web.Response:
    form_id = form_id_param(request)
    raw = check_path_param("version", request.match_info["version"])
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_VERSION:
        raise not_found(f"form {form_id!r} has no version {raw[:20]!r}")
    with quality_errors():
        stored = await quality_store(request).get_form(form_id, int(raw))
    if stored is None:
        raise not_found(f"form {form_id!r} has no version {int(raw)}")
    return model_json(form_model(stored))


@operation(
    "Store a form's next version; new evaluations use it",
    body=FormVersionBody,
    responses={200: FormView},
    problems=(404, 409),
    description=(
        "Earlier versions and the evaluations made on them are unchanged. 409: another"
        " version was stored meanwhile. Audited as `quality_form.versioned` (before: the"
        " version it replaces, after: the new one)."
    ),
)
async def add_form_version(request: web.Request) -> web.Response:
    store = quality_store(request)
    form_id = form_id_param(request)
    body = await read_json(request, FormVersionBody)
    definition = definition_of(body)
    principal = request[PRINCIPAL]

    async def act() -> tuple[StoredForm | None, StoredForm]:
        with quality_errors():
            previous = await store.get_form(form_id)
            return previous, await store.add_form_version(form_id, definition, principal.token_id)

    def entry(done: tuple[StoredForm | None, StoredForm]) -> AuditEntry:
        previous, stored = done
        detail = {
            "version": stored.version,
            "before": None if previous is None else form_view(previous),
            "after": form_view(stored),
        }
        return AuditEntry(principal, "quality_form.versioned", "quality_form", stored.id, detail)

    _, stored = await audited(request.app, act, entry)
    view = form_view(stored)
    log.info("quality form versioned", form_id=form_id, version=stored.version)
    return model_json(FormView.model_validate(view))
