"""Average evaluation scores over a period: ``GET /api/v1/quality/averages?by=agent|queue|
question&from&to``.

``from``/``to`` bound ``evaluated_at`` (from inclusive, to exclusive; either may be left
out). Per agent and per queue the average is the mean of the evaluations' scores; per
question, the mean of that question's own percentage over the evaluations that answered
it (N/A answers and all-N/A evaluations are counted in ``evaluations`` but not in
``scored`` nor the mean). Rows are ordered by key; calls with no agent or queue come last
(key null).
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.api.cdrs import IsoDateTime
from ccd.api.handlers import model_json
from ccd.api.models.quality import AgentAverage, Averages, QuestionAverage, QueueAverage
from ccd.api.openapi.operation import operation
from ccd.api.problems import FieldError, validation_problem
from ccd.api.quality_common import quality_errors, quality_store
from ccd.api.serialize import iso
from ccd.api.validation import query_model
from ccd.quality.forms import Question
from ccd.quality.records import Average, AverageBy


class AveragesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    by: AverageBy
    from_: Annotated[IsoDateTime, Field(alias="from")] = None
    to: IsoDateTime = None


def _row(
    by: AverageBy, average: Average, question: Question | None
) -> AgentAverage | QueueAverage | QuestionAverage:
    counts = {
        "evaluations": average.evaluations,
        "scored": average.scored,
        "average_pct": average.average_pct,
    }
    if by is AverageBy.AGENT:
        return AgentAverage.model_validate({"agent_id": average.key, **counts})
    if by is AverageBy.QUEUE:
        return QueueAverage.model_validate({"queue": average.key, **counts})
    return QuestionAverage.model_validate(
        {
            "form_id": average.form_id,
            "question_id": average.key,
            "text": None if question is None else question.text,
            **counts,
        }
    )


@operation(
    "Average evaluation scores per agent, queue or question over a period",
    query=AveragesQuery,
    responses={200: Averages},
    description="`from` inclusive, `to` exclusive, on evaluated_at; either may be left out.",
)
async def averages(request: web.Request) -> web.Response:
    store = quality_store(request)
    query = query_model(AveragesQuery, request.query)
    if query.from_ is not None and query.to is not None and query.from_ > query.to:
        raise validation_problem([FieldError("from", "must not be later than to")])
    with quality_errors():
        rows = await store.averages(query.by, evaluated_from=query.from_, evaluated_before=query.to)
        # A question's text as its form's latest version words it (if it still asks it).
        forms = {form.id: form for form in await store.list_forms()}
    views = []
    for average in rows:
        form = forms.get(average.form_id or "")
        question = None if form is None else form.definition.question(average.key or "")
        views.append(_row(query.by, average, question))
    return model_json(
        Averages.model_validate(
            {"by": query.by.value, "from": iso(query.from_), "to": iso(query.to), "averages": views}
        )
    )
