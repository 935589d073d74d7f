"""What the quality store keeps and gives back: forms, evaluations, averages. Pure data."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ccd.quality.answers import AnswerValue
from ccd.quality.forms import FormDefinition
from ccd.quality.score import Score


@dataclass(frozen=True, slots=True)
class StoredForm:
    id: str
    version: int  # this definition's version (1, 2, …)
    current_version: int  # the form's latest version: new evaluations use it
    definition: FormDefinition
    created_at: datetime  # the form's first version
    version_created_at: datetime
    version_created_by: str  # token id


@dataclass(frozen=True, slots=True)
class CallScored:
    """The call an evaluation is about, copied from its CDR when it is made."""

    linkedid: str
    agent_id: str | None
    queue: str | None
    campaign_id: str | None
    recording_ref: str | None


@dataclass(frozen=True, slots=True)
class NewEvaluation:
    call: CallScored
    form_id: str
    form_version: int
    form: FormDefinition  # that version's questions: the answers are stored against them
    answers: Mapping[str, AnswerValue]
    score: Score
    comments: str
    evaluator_token_id: str
    evaluator_role: str


@dataclass(frozen=True, slots=True)
class StoredEvaluation:
    id: int
    call: CallScored
    form_id: str
    form_version: int
    answers: Mapping[str, str]  # question id -> yes / no / na / the scale point as text
    question_scores: Mapping[str, float | None]  # question id -> its percentage
    score_pct: float | None
    critical_failed: bool
    comments: str
    evaluated_at: datetime
    updated_at: datetime
    evaluator_token_id: str
    evaluator_role: str
    acknowledged_at: datetime | None
    acknowledgement_comment: str | None


@dataclass(frozen=True, slots=True)
class EvaluationFilter:
    agent_id: str | None = None
    queue: str | None = None
    linkedid: str | None = None
    form_id: str | None = None
    evaluated_from: datetime | None = None  # inclusive
    evaluated_before: datetime | None = None  # exclusive
    acknowledged: bool | None = None


class AverageBy(enum.StrEnum):
    AGENT = "agent"
    QUEUE = "queue"
    QUESTION = "question"


@dataclass(frozen=True, slots=True)
class Average:
    """One group of an averages report. ``key`` is the agent id, the queue or the question
    id (None: evaluations of calls without an agent / queue); ``form_id`` is set only per
    question. ``scored`` counts what has a score (not N/A); ``average_pct`` is their mean
    (None when nothing was scored)."""

    key: str | None
    form_id: str | None
    evaluations: int
    scored: int
    average_pct: float | None
