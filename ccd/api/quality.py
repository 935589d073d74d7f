"""Quality evaluation routes (``/api/v1/quality/…``): forms, evaluations, averages.
Roles per route in ``ccd.api.policy``; the handlers in ``quality_forms``,
``quality_evaluations`` and ``quality_averages``."""

from __future__ import annotations

from aiohttp import web

from ccd.api import quality_averages, quality_evaluations, quality_forms
from ccd.api.quality_common import QUALITY
from ccd.db.quality_store import QualityStore

FORMS = "/api/v1/quality/forms"
EVALUATIONS = "/api/v1/quality/evaluations"


def add_routes(app: web.Application, store: QualityStore | None) -> None:
    app[QUALITY] = store
    router = app.router
    router.add_get(FORMS, quality_forms.list_forms, name="quality.forms.list")
    router.add_post(FORMS, quality_forms.create_form, name="quality.forms.create")
    router.add_get(FORMS + "/{id}", quality_forms.get_form, name="quality.forms.get")
    router.add_put(FORMS + "/{id}", quality_forms.add_form_version, name="quality.forms.update")
    router.add_get(
        FORMS + "/{id}/versions/{version}",
        quality_forms.get_form_version,
        name="quality.forms.version",
    )
    router.add_get(
        EVALUATIONS, quality_evaluations.list_evaluations, name="quality.evaluations.list"
    )
    router.add_post(
        EVALUATIONS, quality_evaluations.create_evaluation, name="quality.evaluations.create"
    )
    router.add_get(
        EVALUATIONS + "/{id}",
        quality_evaluations.get_evaluation,
        name="quality.evaluations.get",
    )
    router.add_put(
        EVALUATIONS + "/{id}",
        quality_evaluations.update_evaluation,
        name="quality.evaluations.update",
    )
    router.add_post(
        EVALUATIONS + "/{id}/acknowledge",
        quality_evaluations.acknowledge_evaluation,
        name="quality.evaluations.acknowledge",
    )
    router.add_get("/api/v1/quality/averages", quality_averages.averages, name="quality.averages")
