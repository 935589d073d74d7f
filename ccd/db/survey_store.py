"""Post-call survey answers in ``survey_responses``.

Inserts are idempotent: one row per call and question (a unique constraint), and a row
that is already there is left alone (``ON CONFLICT DO NOTHING``), so the writer may retry
a batch whose commit it never heard back about without storing an answer twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ccd.db.models import metadata
from ccd.survey.model import SurveyAnswer

RESPONSES: Table = metadata.tables["survey_responses"]
# Survey answers of this many calls per SELECT ... IN (...) (SQLite's variable limit).
IN_CHUNK = 500


def _values(answer: SurveyAnswer) -> dict[str, Any]:
    return {
        "linkedid": answer.linkedid,
        "queue": answer.queue,
        "agent_id": answer.agent_id,
        "campaign_id": answer.campaign_id,
        "question": answer.question,
        "score": answer.score,
        "answered_at": answer.answered_at,
    }


class SurveyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, answers: Sequence[SurveyAnswer]) -> int:
        """Store ``answers`` in one transaction; returns how many rows were new (answers
        already stored are skipped). Raises the driver's error when the database fails."""
        if not answers:
            return 0
        insert = (
            postgresql.insert(RESPONSES)
            if self._engine.dialect.name == "postgresql"
            else sqlite.insert(RESPONSES)
        )
        # One multi-row INSERT (not executemany, whose rowcount asyncpg does not sum).
        statement = insert.values([_values(a) for a in answers]).on_conflict_do_nothing(
            index_elements=["linkedid", "question"]
        )
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
        return max(result.rowcount, 0)

    async def for_calls(self, linkedids: Collection[str]) -> dict[str, list[SurveyAnswer]]:
        """The answers of each call that has any, in the order they were given."""
        found: dict[str, list[SurveyAnswer]] = {}
        wanted = sorted(set(linkedids))
        async with self._engine.connect() as connection:
            for start in range(0, len(wanted), IN_CHUNK):
                rows = await connection.execute(
                    select(RESPONSES)
                    .where(RESPONSES.c.linkedid.in_(wanted[start : start + IN_CHUNK]))
                    .order_by(RESPONSES.c.answered_at, RESPONSES.c.id)
                )
                for row in rows:
                    found.setdefault(row.linkedid, []).append(_answer(row))
        return found


def _answer(row: Row[Any]) -> SurveyAnswer:
    return SurveyAnswer(
        linkedid=row.linkedid,
        queue=row.queue,
        agent_id=row.agent_id,
        campaign_id=row.campaign_id,
        question=row.question,
        score=row.score,
        answered_at=row.answered_at,
    )


async def scores_by_call(
    connection: AsyncConnection, linkedids: Collection[str]
) -> dict[str, dict[str, int | None]]:
    """Question → score (None: not answered) for each call that has survey answers, in
    the order the questions were answered: what a CDR shows as ``survey``."""
    scores: dict[str, dict[str, int | None]] = {}
    wanted = sorted(set(linkedids))
    for start in range(0, len(wanted), IN_CHUNK):
        rows = await connection.execute(
            select(RESPONSES.c.linkedid, RESPONSES.c.question, RESPONSES.c.score)
            .where(RESPONSES.c.linkedid.in_(wanted[start : start + IN_CHUNK]))
            .order_by(RESPONSES.c.answered_at, RESPONSES.c.id)
        )
        for linkedid, question, score in rows:
            scores.setdefault(linkedid, {})[question] = score
    return scores
