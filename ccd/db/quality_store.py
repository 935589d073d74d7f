"""Evaluation forms and evaluations in the database (``qa_*`` tables, migration 0009).
SQLAlchemy core, the same on PostgreSQL and SQLite.

A form version is written once and never changed: ``add_form_version`` appends the next
one, so an evaluation keeps scoring against the questions it was made with. An evaluation
can be changed until its agent acknowledges it; acknowledging happens once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.clock import Clock, SystemClock
from ccd.db.models import metadata
from ccd.db.stores import (
    StoreConflict,
    StoreNotFound,
    StoreUnavailable,
    failure_reason,
    transaction,
)
from ccd.quality.answers import answer_text
from ccd.quality.forms import FormDefinition, sections_from_json, sections_to_json
from ccd.quality.records import (
    Average,
    AverageBy,
    CallScored,
    EvaluationFilter,
    NewEvaluation,
    StoredEvaluation,
    StoredForm,
)
from ccd.quality.score import DECIMALS

FORMS: Table = metadata.tables["qa_forms"]
VERSIONS: Table = metadata.tables["qa_form_versions"]
EVALUATIONS: Table = metadata.tables["qa_evaluations"]
ANSWERS: Table = metadata.tables["qa_answers"]
F, V, E, A = FORMS.c, VERSIONS.c, EVALUATIONS.c, ANSWERS.c


class QualityUnavailable(StoreUnavailable):
    pass


class QualityNotFound(StoreNotFound):
    pass


class QualityConflict(StoreConflict):
    pass


class QualityStore:
    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    def _transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(
            self._engine,
            conflict=QualityConflict,
            unavailable=lambda exc: QualityUnavailable(
                f"quality database unavailable: {failure_reason(exc)}"
            ),
        )

    # --- forms ---------------------------------------------------------------------------

    async def create_form(self, form_id: str, definition: FormDefinition, by: str) -> StoredForm:
        """Version 1 of a new form; ``QualityConflict`` if the id is taken."""
        now = self._clock.now()
        async with self._transaction() as connection:
            if await _form_row(connection, form_id) is not None:
                raise QualityConflict(f"form {form_id!r} exists; PUT it to add a version")
            await connection.execute(
                insert(FORMS).values(
                    id=form_id,
                    name=definition.name,
                    current_version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            await _insert_version(connection, form_id, 1, definition, by, now)
        return StoredForm(form_id, 1, 1, definition, now, now, by)

    async def add_form_version(
        self, form_id: str, definition: FormDefinition, by: str
    ) -> StoredForm:
        """The form's next version (its latest from now on); ``QualityNotFound`` if none."""
        now = self._clock.now()
        async with self._transaction() as connection:
            row = await _form_row(connection, form_id)
            if row is None:
                raise QualityNotFound("form", form_id)
            version = int(row.current_version) + 1
            # Conditional on the version read: two edits at once cannot both become it.
            result = await connection.execute(
                update(FORMS)
                .where(F.id == form_id, F.current_version == row.current_version)
                .values(name=definition.name, current_version=version, updated_at=now)
            )
            if result.rowcount != 1:
                raise QualityConflict(f"form {form_id!r} changed concurrently, retry")
            await _insert_version(connection, form_id, version, definition, by, now)
        return StoredForm(form_id, version, version, definition, row.created_at, now, by)

    async def get_form(self, form_id: str, version: int | None = None) -> StoredForm | None:
        """The form's latest version, or ``version`` of it; None if either is unknown."""
        query = _forms_query().where(F.id == form_id)
        query = query.where(V.version == (F.current_version if version is None else version))
        async with self._transaction() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _form(row)

    async def list_forms(self) -> list[StoredForm]:
        """Every form at its latest version, by id."""
        query = _forms_query().where(V.version == F.current_version).order_by(F.id)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [_form(row) for row in rows]

    # --- evaluations -----------------------------------------------------------------------

    async def create_evaluation(self, new: NewEvaluation) -> StoredEvaluation:
        now = self._clock.now()
        async with self._transaction() as connection:
            result = await connection.execute(
                insert(EVALUATIONS)
                .values(
                    linkedid=new.call.linkedid,
                    agent_id=new.call.agent_id,
                    queue=new.call.queue,
                    campaign_id=new.call.campaign_id,
                    recording_ref=new.call.recording_ref,
                    form_id=new.form_id,
                    form_version=new.form_version,
                    score_pct=new.score.score_pct,
                    critical_failed=new.score.critical_failed,
                    comments=new.comments,
                    evaluated_at=now,
                    updated_at=now,
                    evaluator_token_id=new.evaluator_token_id,
                    evaluator_role=new.evaluator_role,
                )
                .returning(E.id)
            )
            evaluation_id = int(result.scalar_one())
            await _insert_answers(connection, evaluation_id, new)
            stored = await _evaluation(connection, evaluation_id)
        assert stored is not None
        return stored

    async def update_evaluation(self, evaluation_id: int, new: NewEvaluation) -> StoredEvaluation:
        """New answers, score and comments for an evaluation not yet acknowledged
        (``QualityConflict`` once it is; ``QualityNotFound`` if there is none). The call,
        form version, evaluator and ``evaluated_at`` stay."""
        now = self._clock.now()
        async with self._transaction() as connection:
            result = await connection.execute(
                update(EVALUATIONS)
                .where(E.id == evaluation_id, E.acknowledged_at.is_(None))
                .values(
                    score_pct=new.score.score_pct,
                    critical_failed=new.score.critical_failed,
                    comments=new.comments,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                raise await _refusal(connection, evaluation_id, "changed")
            await connection.execute(delete(ANSWERS).where(A.evaluation_id == evaluation_id))
            await _insert_answers(connection, evaluation_id, new)
            stored = await _evaluation(connection, evaluation_id)
        assert stored is not None
        return stored

    async def acknowledge(self, evaluation_id: int, comment: str | None) -> StoredEvaluation:
        """Stamp the agent's acknowledgement, once (``QualityConflict`` the second time)."""
        now = self._clock.now()
        async with self._transaction() as connection:
            result = await connection.execute(
                update(EVALUATIONS)
                .where(E.id == evaluation_id, E.acknowledged_at.is_(None))
                .values(acknowledged_at=now, acknowledgement_comment=comment)
            )
            if result.rowcount != 1:
                raise await _refusal(connection, evaluation_id, "acknowledged again")
            stored = await _evaluation(connection, evaluation_id)
        assert stored is not None
        return stored

    async def get_evaluation(self, evaluation_id: int) -> StoredEvaluation | None:
        async with self._transaction() as connection:
            return await _evaluation(connection, evaluation_id)

    async def list_evaluations(
        self, filters: EvaluationFilter, *, before_id: int | None = None, limit: int = 100
    ) -> list[StoredEvaluation]:
        """Newest first (by id); ``before_id`` continues a listing after its last row."""
        query = _filtered(select(E.id), filters).order_by(E.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(E.id < before_id)
        async with self._transaction() as connection:
            ids = [int(i) for i in (await connection.execute(query)).scalars()]
            rows = await _evaluations(connection, ids)
        return rows

    async def averages(
        self, by: AverageBy, *, evaluated_from: datetime | None, evaluated_before: datetime | None
    ) -> list[Average]:
        """Mean scores over the evaluations made in [from, before), grouped ``by``."""
        window = EvaluationFilter(evaluated_from=evaluated_from, evaluated_before=evaluated_before)
        if by is AverageBy.QUESTION:
            query = _filtered(
                select(
                    A.question_id.label("key"),
                    E.form_id.label("form_id"),
                    func.count().label("evaluations"),
                    func.count(A.score_pct).label("scored"),
                    func.avg(A.score_pct).label("average"),
                ).select_from(ANSWERS.join(EVALUATIONS, A.evaluation_id == E.id)),
                window,
            ).group_by(E.form_id, A.question_id)
        else:
            column = E.agent_id if by is AverageBy.AGENT else E.queue
            query = _filtered(
                select(
                    column.label("key"),
                    func.count().label("evaluations"),
                    func.count(E.score_pct).label("scored"),
                    func.avg(E.score_pct).label("average"),
                ),
                window,
            ).group_by(column)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        averages = [
            Average(
                key=row.key,
                form_id=row.form_id if by is AverageBy.QUESTION else None,
                evaluations=int(row.evaluations),
                scored=int(row.scored),
                average_pct=None if row.average is None else round(float(row.average), DECIMALS),
            )
            for row in rows
        ]
        # None (no agent / queue) last; the database's own NULL order differs.
        return sorted(averages, key=lambda a: (a.key is None, a.form_id or "", a.key or ""))


# --- helpers -------------------------------------------------------------------------------


async def _refusal(connection: AsyncConnection, evaluation_id: int, what: str) -> Exception:
    found = (await connection.execute(select(E.id).where(E.id == evaluation_id))).first()
    if found is None:
        return QualityNotFound("evaluation", str(evaluation_id))
    return QualityConflict(
        f"evaluation {evaluation_id} is acknowledged by its agent and cannot be {what}"
    )


async def _form_row(connection: AsyncConnection, form_id: str) -> Row[Any] | None:
    return (await connection.execute(select(FORMS).where(F.id == form_id))).first()


async def _insert_version(
    connection: AsyncConnection,
    form_id: str,
    version: int,
    definition: FormDefinition,
    by: str,
    now: datetime,
) -> None:
    await connection.execute(
        insert(VERSIONS).values(
            form_id=form_id,
            version=version,
            name=definition.name,
            sections=sections_to_json(definition.sections),
            created_at=now,
            created_by=by,
        )
    )


def _forms_query() -> Select[Any]:
    return select(
        F.id,
        F.current_version,
        F.created_at,
        V.version,
        V.name,
        V.sections,
        V.created_at.label("version_created_at"),
        V.created_by,
    ).select_from(FORMS.join(VERSIONS, V.form_id == F.id))


def _form(row: Row[Any]) -> StoredForm:
    return StoredForm(
        id=row.id,
        version=int(row.version),
        current_version=int(row.current_version),
        definition=FormDefinition(name=row.name, sections=sections_from_json(row.sections)),
        created_at=row.created_at,
        version_created_at=row.version_created_at,
        version_created_by=row.created_by,
    )


async def _insert_answers(
    connection: AsyncConnection, evaluation_id: int, new: NewEvaluation
) -> None:
    scores = {q.question_id: q.score_pct for q in new.score.questions}
    rows = [
        {
            "evaluation_id": evaluation_id,
            "question_id": question.id,
            "answer": answer_text(question, new.answers[question.id]),
            "score_pct": scores[question.id],
        }
        for question in new.form.questions()
    ]
    if rows:
        await connection.execute(insert(ANSWERS), rows)


def _filtered(query: Select[Any], filters: EvaluationFilter) -> Select[Any]:
    conditions = []
    if filters.agent_id is not None:
        conditions.append(E.agent_id == filters.agent_id)
    if filters.queue is not None:
        conditions.append(E.queue == filters.queue)
    if filters.linkedid is not None:
        conditions.append(E.linkedid == filters.linkedid)
    if filters.form_id is not None:
        conditions.append(E.form_id == filters.form_id)
    if filters.evaluated_from is not None:
        conditions.append(E.evaluated_at >= filters.evaluated_from)
    if filters.evaluated_before is not None:
        conditions.append(E.evaluated_at < filters.evaluated_before)
    if filters.acknowledged is True:
        conditions.append(E.acknowledged_at.is_not(None))
    elif filters.acknowledged is False:
        conditions.append(E.acknowledged_at.is_(None))
    return query.where(*conditions) if conditions else query


async def _evaluation(connection: AsyncConnection, evaluation_id: int) -> StoredEvaluation | None:
    found = await _evaluations(connection, [evaluation_id])
    return found[0] if found else None


async def _evaluations(connection: AsyncConnection, ids: Sequence[int]) -> list[StoredEvaluation]:
    """The evaluations with ``ids``, in that order, with their answers."""
    if not ids:
        return []
    rows = (await connection.execute(select(EVALUATIONS).where(E.id.in_(ids)))).all()
    answer_rows = (await connection.execute(select(ANSWERS).where(A.evaluation_id.in_(ids)))).all()
    answers: dict[int, dict[str, str]] = {}
    scores: dict[int, dict[str, float | None]] = {}
    for a in answer_rows:
        answers.setdefault(int(a.evaluation_id), {})[a.question_id] = a.answer
        scores.setdefault(int(a.evaluation_id), {})[a.question_id] = a.score_pct
    by_id = {int(row.id): row for row in rows}
    return [_stored(by_id[i], answers.get(i, {}), scores.get(i, {})) for i in ids if i in by_id]


def _stored(
    row: Row[Any], answers: Mapping[str, str], scores: Mapping[str, float | None]
) -> StoredEvaluation:
    return StoredEvaluation(
        id=int(row.id),
        call=CallScored(
            linkedid=row.linkedid,
            agent_id=row.agent_id,
            queue=row.queue,
            campaign_id=row.campaign_id,
            recording_ref=row.recording_ref,
        ),
        form_id=row.form_id,
        form_version=int(row.form_version),
        answers=dict(answers),
        question_scores=dict(scores),
        score_pct=row.score_pct,
        critical_failed=bool(row.critical_failed),
        comments=row.comments,
        evaluated_at=row.evaluated_at,
        updated_at=row.updated_at,
        evaluator_token_id=row.evaluator_token_id,
        evaluator_role=row.evaluator_role,
        acknowledged_at=row.acknowledged_at,
        acknowledgement_comment=row.acknowledgement_comment,
    )
