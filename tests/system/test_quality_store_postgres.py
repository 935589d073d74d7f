"""Quality evaluation on a real PostgreSQL cluster (scripts/pg-cluster), in a private
schema: migration 0009 and its downgrade, forms and versions, evaluations of CDRs read by
the real CDR queries, the averages the database computes, and one acknowledgement when
two arrive at once."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.audit_store import AuditStore
from ccd.db.cdr_queries import CdrQueries
from ccd.db.models import metadata
from ccd.db.quality_store import QualityConflict, QualityStore
from ccd.quality.records import AverageBy
from tests.cdrrows import cdr_row, insert_rows
from tests.clock import T0, FakeClock
from tests.integration.apifakes import running_api, send
from tests.integration.sqlitedb import table_names
from tests.integration.test_api_quality import BASIC, EXAMPLE_ANSWERS, INBOUND

pytestmark = pytest.mark.postgres

QA_TABLES = {"qa_forms", "qa_form_versions", "qa_evaluations", "qa_answers"}
EVALUATIONS = "/api/v1/quality/evaluations"


async def test_quality_on_postgres(private_schema_engine: AsyncEngine) -> None:
    engine = private_schema_engine
    await migrate.upgrade(engine)
    assert await table_names(engine) >= QA_TABLES

    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "qa_" in repr(d)]

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []

    await insert_rows(
        engine,
        [
            cdr_row("c1", agent_id="1001", queue="sales", recording_ref="rec/c1.wav"),
            cdr_row("c2", agent_id="1002", queue="sales"),
        ],
    )
    clock = FakeClock(T0)
    store = QualityStore(engine, clock)
    await store.create_form("basic", BASIC, "t-seed")
    async with running_api(
        max_body_bytes=65536, cdrs=CdrQueries(engine), quality=store, audit=AuditStore(engine)
    ) as api:
        assert (await send(api, "POST", "/api/v1/quality/forms", "qa", INBOUND))[0] == 201
        body = {"linkedid": "c1", "form_id": "inbound", "answers": EXAMPLE_ANSWERS}
        status, first = await send(api, "POST", EVALUATIONS, "qa", body)
        assert (status, first["score_pct"], first["recording_ref"]) == (201, 82.29, "rec/c1.wav")
        perfect = {**EXAMPLE_ANSWERS, "empathy": 5, "resolution": 4}
        await send(api, "POST", EVALUATIONS, "qa", {**body, "answers": perfect})
        critical = {**EXAMPLE_ANSWERS, "verified_identity": "no"}
        body2 = {"linkedid": "c2", "form_id": "inbound", "answers": critical}
        status, failed = await send(api, "POST", EVALUATIONS, "supervisor", body2)
        assert (status, failed["score_pct"], failed["critical_failed"]) == (201, 0.0, True)

        status, by_question = await send(
            api, "GET", "/api/v1/quality/averages?by=question", "analyst"
        )
        rows = {r["question_id"]: r for r in by_question["averages"]}
        # empathy 4, 5, 4 -> 75, 100, 75
        assert (rows["empathy"]["scored"], rows["empathy"]["average_pct"]) == (3, 83.33)
        assert (rows["upsell"]["evaluations"], rows["upsell"]["scored"]) == (3, 0)
        assert rows["upsell"]["average_pct"] is None

        # Two acknowledgements at once: the database lets exactly one through.
        results = await asyncio.gather(
            store.acknowledge(first["id"], None),
            store.acknowledge(first["id"], "again"),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["QualityConflict", "StoredEvaluation"]
        status, read = await send(api, "GET", f"{EVALUATIONS}/{first['id']}", "agent")
        assert read["acknowledged_at"] == "2026-11-25T09:00:00.000Z"

    by_queue = await store.averages(AverageBy.QUEUE, evaluated_from=T0, evaluated_before=None)
    # (82.29 + 100 + 0) / 3 = 60.76
    assert [(a.key, a.evaluations, a.scored, a.average_pct) for a in by_queue] == [
        ("sales", 3, 3, 60.76)
    ]
    with pytest.raises(QualityConflict):
        await store.create_form("basic", BASIC, "t-seed")
    second = await store.add_form_version("basic", BASIC, "t-qa")
    assert (second.version, second.current_version) == (2, 2)
    first_version = await store.get_form("basic", 1)
    assert first_version is not None
    assert first_version.definition == BASIC

    await migrate.downgrade(engine, "0008")
    assert not QA_TABLES & await table_names(engine)
    assert "cdrs" in await table_names(engine)
    await migrate.upgrade(engine)
    assert await table_names(engine) >= QA_TABLES
