"""Quality evaluation answers: forms, evaluations and average scores, as
``/api/v1/quality/…`` shows them (``ccd.api.quality_forms``, ``quality_evaluations`` and
``quality_averages`` build them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)


class QuestionView(BaseModel):
    model_config = STRICT

    id: str
    text: str
    kind: Literal["yes_no", "scale"]
    weight: float = Field(description="its share of the section's score, relative to the others")
    critical: bool = Field(description="a 'no' (or the scale's lowest point) fails the call")
    allow_na: bool
    scale_max: int | None = Field(description="the scale's highest point; null for yes_no")


class SectionView(BaseModel):
    model_config = STRICT

    title: str
    questions: list[QuestionView]


class FormView(BaseModel):
    """One version of an evaluation form."""

    model_config = STRICT

    id: str
    name: str
    version: int = Field(description="this definition's version (1, 2, …)")
    current_version: int = Field(description="the latest version: new evaluations use it")
    sections: list[SectionView]
    created_at: str = Field(description="the form's first version, ISO 8601 UTC")
    version_created_at: str = Field(description="ISO 8601 UTC")
    version_created_by: str = Field(description="the id of the token that stored this version")


class FormList(BaseModel):
    model_config = STRICT

    forms: list[FormView]


class FormRef(BaseModel):
    model_config = STRICT

    id: str
    version: int = Field(description="the form version the evaluation was scored on")
    name: str | None = Field(description="null if that version is no longer stored")


class AnswerView(BaseModel):
    model_config = STRICT

    question_id: str
    section: str | None = Field(description="the section's title; null without the form")
    text: str | None = Field(description="the question; null without the form")
    answer: int | str = Field(description="yes / no / na, or the scale point")
    score_pct: float | None = Field(description="the question's percentage; null for N/A")
    critical: bool | None = Field(description="null without the form")


class Evaluator(BaseModel):
    model_config = STRICT

    token_id: str
    role: str


class EvaluationView(BaseModel):
    """One stored call scored on one form version."""

    model_config = STRICT

    id: int
    linkedid: str = Field(description="the evaluated call (its CDR id)")
    agent_id: str | None
    queue: str | None
    campaign_id: str | None
    recording_ref: str | None
    form: FormRef
    score_pct: float | None = Field(description="0-100; null when every answer was N/A")
    critical_failed: bool
    answers: list[AnswerView] = Field(description="in the form's order")
    comments: str
    evaluated_at: str = Field(description="ISO 8601 UTC")
    updated_at: str = Field(description="ISO 8601 UTC")
    evaluator: Evaluator
    acknowledged_at: str | None = Field(description="ISO 8601 UTC; null until the agent acks")
    acknowledgement_comment: str | None


class EvaluationPage(BaseModel):
    model_config = STRICT

    evaluations: list[EvaluationView] = Field(description="newest first")
    next_cursor: int | None = Field(
        description="pass as cursor for the next page; null when this page is the last"
    )


class _AverageCounts(BaseModel):
    model_config = STRICT

    evaluations: int
    scored: int = Field(description="evaluations with a score (N/A ones are not)")
    average_pct: float | None = Field(description="mean percentage; null when none scored")


class AgentAverage(_AverageCounts):
    agent_id: str | None = Field(description="null: calls without an agent")


class QueueAverage(_AverageCounts):
    queue: str | None = Field(description="null: calls without a queue")


class QuestionAverage(_AverageCounts):
    form_id: str | None
    question_id: str | None
    text: str | None = Field(description="as the form's latest version words it, if it asks it")


class Averages(BaseModel):
    # "from" is a Python keyword: the field is from_, written as "from".
    model_config = ConfigDict(
        extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True
    )

    by: Literal["agent", "queue", "question"]
    from_: str | None = Field(alias="from", description="ISO 8601 UTC, inclusive")
    to: str | None = Field(description="ISO 8601 UTC, exclusive")
    averages: list[AgentAverage | QueueAverage | QuestionAverage] = Field(
        description="ordered by key; null keys last"
    )
