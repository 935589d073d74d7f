"""Post-call surveys end to end without Asterisk: the survey AGI over a real socket (a
fake Asterisk answers the AGI commands), the real IVR machine, the answer writer and the
store on a migrated SQLite database, and the answers shown with the CDR by the real API."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.agi.server import AgiServer
from ccd.backoff import Backoff, BackoffPolicy
from ccd.db import migrate
from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from ccd.db.cdr_queries import CdrQueries
from ccd.db.engine import create_engine
from ccd.db.models import metadata
from ccd.db.survey_store import RESPONSES, SurveyStore
from ccd.domain.events import QueueConnected
from ccd.ivr.flows import FlowSet, parse_flows
from ccd.survey.agi import PostCallSurvey
from ccd.survey.model import SurveyAnswer
from ccd.survey.writer import AnswerWriter
from tests.cdrrows import T0, cdr_row, insert_rows
from tests.clock import FakeClock, settle
from tests.integration.apifakes import FakeAcdLive, error_fields, running_api, send

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
LINKEDID = "1764064000.1"  # what the fake Asterisk answers for CHANNEL(linkedid)

CSAT = """
id = "csat"
entry = "survey"
default_destination = "bye"

[nodes.survey]
kind = "survey"
retries = 1
next = "bye"

[[nodes.survey.questions]]
key = "agent"
prompts = ["q-agent"]

[[nodes.survey.questions]]
key = "resolved"
prompts = ["q-resolved"]

[nodes.bye]
kind = "hangup"
"""
FLOWS: FlowSet = parse_flows({"csat.toml": CSAT}, list_prompts=lambda directory: ())
SURVEYS = {"support": "csat", "lost": "no-such-flow"}


def answer(question: str, score: int | None, linkedid: str = "c1") -> SurveyAnswer:
    return SurveyAnswer(linkedid, "support", "1001", None, question, score, NOW)


# --- the fake Asterisk side of one AGI session ---------------------------------------------


class Caller:
    """Answers the AGI commands: keys per GET DATA, or a hangup at GET DATA number n."""

    def __init__(self, keys: Sequence[str], hang_up_at: int | None = None) -> None:
        self.keys = list(keys)
        self.hang_up_at = hang_up_at
        self.asked = 0
        self.commands: list[str] = []

    def reply(self, line: str) -> str | None:
        self.commands.append(line)
        if line.startswith('GET VARIABLE "CHANNEL(linkedid)"'):
            return f"200 result=1 ({LINKEDID})"
        if line.startswith("STREAM FILE"):
            return "200 result=0 endpos=8000"
        if line.startswith("GET DATA"):
            self.asked += 1
            if self.asked == self.hang_up_at:
                return None
            return f"200 result={self.keys.pop(0)}" if self.keys else "200 result= (timeout)"
        return "200 result=1"


async def call(
    port: int, caller: Caller, *, script: str = "survey", queue: str = "support"
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = (
        f"agi_network: yes\nagi_network_script: {script}\nagi_channel: Local/answer@ccd-sim-1;1\n"
        f"agi_uniqueid: {LINKEDID}\nagi_callerid: 5551234\nagi_calleridname: Jane\n"
        f"agi_language: en\nagi_dnid: unknown\nagi_arg_1: {queue}\n\n"
    )
    try:
        writer.write(headers.encode())
        async with asyncio.timeout(10):
            while line := await reader.readline():
                reply = caller.reply(line.decode().rstrip("\n"))
                if reply is None:
                    writer.write(b"HANGUP\n")
                    break
                writer.write(reply.encode() + b"\n")
        async with asyncio.timeout(10):
            while await reader.read(1024):
                continue
    finally:
        writer.close()
        await writer.wait_closed()


class Rig:
    def __init__(self, survey: PostCallSurvey, writer: AnswerWriter, store: SurveyStore) -> None:
        self.survey = survey
        self.writer = writer
        self.store = store
        self.port = 0

    async def stored(self) -> list[tuple[str, int | None, str | None, str | None]]:
        assert await self.writer.drain(5)
        self.writer.start()
        found = await self.store.for_calls([LINKEDID])
        return [(a.question, a.score, a.queue, a.agent_id) for a in found.get(LINKEDID, [])]


@pytest.fixture
async def rig(engine: AsyncEngine) -> AsyncIterator[Rig]:
    store = SurveyStore(engine)
    clock = FakeClock(NOW)
    writer = AnswerWriter(store, clock, Backoff(BackoffPolicy(min_s=0.1, max_s=1)))
    survey = PostCallSurvey(
        flows=lambda: FLOWS, survey_flow_for=SURVEYS.get, writer=writer, clock=clock
    )
    writer.start()
    async with aiohttp.ClientSession() as lookups:
        server = AgiServer("127.0.0.1", 0, survey.agi_handler(lookups))
        await server.start()
        rig = Rig(survey, writer, store)
        rig.port = server.port
        try:
            yield rig
        finally:
            await server.stop()
            await writer.drain(5)


def served_by(rig: Rig, agent_id: str = "1001", queue: str = "support") -> None:
    rig.survey.handle(QueueConnected(NOW, LINKEDID, queue, agent_id, wait_s=3, wrapup_s=0))


async def test_answers_are_stored_with_the_call_queue_and_agent(rig: Rig) -> None:
    served_by(rig)
    caller = Caller(["4", "7", "5"])  # 7 is not 1..5: asked again
    await call(rig.port, caller)
    assert await rig.stored() == [
        ("agent", 4, "support", "1001"),
        ("resolved", 5, "support", "1001"),
    ]
    # Each question asked by its prompt, one key read; the thanks, then the hangup.
    streamed = [line.split('"')[1] for line in caller.commands if line.startswith("STREAM FILE")]
    assert streamed == ["q-agent", "q-resolved", "invalid", "q-resolved", "auth-thankyou"]
    assert caller.commands[-1] == "HANGUP"


async def test_silence_past_the_retries_is_stored_as_not_answered(rig: Rig) -> None:
    served_by(rig)
    await call(rig.port, Caller(["", "", "3"]))
    assert await rig.stored() == [
        ("agent", None, "support", "1001"),
        ("resolved", 3, "support", "1001"),
    ]


async def test_a_caller_hanging_up_keeps_the_answers_given_before(rig: Rig) -> None:
    served_by(rig)
    await call(rig.port, Caller(["2"], hang_up_at=2))
    assert await rig.stored() == [("agent", 2, "support", "1001")]


async def test_after_a_restart_the_queue_comes_from_the_dialplan_and_the_agent_is_unknown(
    rig: Rig,
) -> None:
    await call(rig.port, Caller(["5", "5"]))
    assert await rig.stored() == [("agent", 5, "support", None), ("resolved", 5, "support", None)]


@pytest.mark.parametrize("queue", ["sales", "lost", ""])
async def test_no_survey_for_a_queue_without_one_or_with_an_unknown_flow(
    rig: Rig, queue: str
) -> None:
    caller = Caller(["5", "5"])
    await call(rig.port, caller, queue=queue)
    assert caller.commands == ['GET VARIABLE "CHANNEL(linkedid)"']
    assert await rig.stored() == []


async def test_the_survey_follows_the_queue_the_call_was_connected_in(rig: Rig) -> None:
    served_by(rig, queue="support")
    caller = Caller(["1", "1"])
    await call(rig.port, caller, queue="sales")  # moved from sales to support meanwhile
    assert await rig.stored() == [
        ("agent", 1, "support", "1001"),
        ("resolved", 1, "support", "1001"),
    ]


async def test_another_script_is_refused(rig: Rig) -> None:
    caller = Caller(["5"])
    await call(rig.port, caller, script="ivr")
    assert caller.commands == []


# --- the writer: retries, bounded memory, drain --------------------------------------------


class FlakySink:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.batches: list[list[SurveyAnswer]] = []

    async def insert(self, answers: Sequence[SurveyAnswer]) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("database down")
        self.batches.append(list(answers))
        return len(answers)


async def test_a_database_outage_delays_the_answers_and_loses_none() -> None:
    clock = FakeClock(NOW)
    sink = FlakySink(failures=3)
    writer = AnswerWriter(sink, clock, Backoff(BackoffPolicy(min_s=1, max_s=4)))
    writer.start()
    writer.put(answer("agent", 4))
    await settle()
    assert writer.failing_since == NOW
    assert "database down" in writer.last_error
    assert writer.not_ready_reasons() == [
        "survey: 1 answers waiting; database writes failing since 2026-12-06T18:00:00+00:00 "
        "(ConnectionRefusedError: database down)"
    ]
    writer.put(answer("resolved", 5))
    for _ in range(3):
        await clock.step(4)
    await settle()
    # The failed batch is retried as it was; what came meanwhile follows it.
    assert [[a.question for a in batch] for batch in sink.batches] == [["agent"], ["resolved"]]
    assert writer.failing_since is None
    assert writer.pending == 0
    assert writer.written == 2
    assert writer.not_ready_reasons() == []
    assert await writer.drain(1)


async def test_past_max_pending_the_oldest_answers_are_dropped_and_counted() -> None:
    clock = FakeClock(NOW)
    sink = FlakySink(failures=1)
    writer = AnswerWriter(sink, clock, Backoff(BackoffPolicy(min_s=1, max_s=1)), max_pending=2)
    writer.start()
    writer.put(answer("q1", 1))
    await settle()
    writer.put(answer("q2", 2))
    writer.put(answer("q3", 3))
    assert writer.dropped == 1
    await clock.step(1)
    await settle()
    # q1 was being written (kept whole and retried); q2, the oldest waiting, made room.
    written = [a.question for batch in sink.batches for a in batch]
    assert written == ["q1", "q3"]
    assert await writer.drain(1)


async def test_drain_reports_answers_it_could_not_write() -> None:
    clock = FakeClock(NOW)
    writer = AnswerWriter(FlakySink(failures=1000), clock, Backoff(BackoffPolicy(min_s=1, max_s=1)))
    writer.start()
    writer.put(answer("agent", 4))
    await settle()
    assert not await writer.drain(0.05)
    assert writer.pending == 1


# --- the store ------------------------------------------------------------------------------


async def test_a_retried_insert_stores_nothing_twice(engine: AsyncEngine) -> None:
    store = SurveyStore(engine)
    assert await store.insert([answer("agent", 4), answer("resolved", None)]) == 2
    assert await store.insert([answer("agent", 4), answer("resolved", None)]) == 0
    found = await store.for_calls(["c1", "c2"])
    assert [(a.question, a.score) for a in found["c1"]] == [("agent", 4), ("resolved", None)]
    assert found["c1"][0].answered_at == NOW
    assert "c2" not in found


async def test_the_table_refuses_a_score_outside_1_to_5(engine: AsyncEngine) -> None:
    row = {
        "linkedid": "c1",
        "question": "agent",
        "score": 6,
        "answered_at": NOW,
    }
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(RESPONSES), [row])


async def test_the_migration_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}"
    await migrate.upgrade(url)

    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "survey" in repr(d)]

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        await migrate.downgrade(engine, "0009")
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
            columns = await connection.execute(text("SELECT * FROM acd_queues"))
            assert "survey_flow" not in list(columns.keys())
        assert "survey_responses" not in tables
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head_revisions()[0]
    finally:
        await engine.dispose()


# --- shown with the CDR -------------------------------------------------------------------


async def test_the_cdr_and_its_csv_carry_the_calls_answers(engine: AsyncEngine) -> None:
    await insert_rows(engine, [cdr_row("c1"), cdr_row("c2", started_at=T0 + timedelta(minutes=1))])
    await SurveyStore(engine).insert([answer("agent", 4), answer("resolved", None)])
    async with running_api(cdrs=CdrQueries(engine)) as api:
        response = await api.client.get("/api/v1/cdrs/c1", headers=api.auth("analyst"))
        assert response.status == 200
        assert (await response.json())["survey"] == {"agent": 4, "resolved": None}
        response = await api.client.get("/api/v1/cdrs/c2", headers=api.auth("analyst"))
        assert (await response.json())["survey"] == {}
        response = await api.client.get("/api/v1/cdrs", headers=api.auth("supervisor"))
        listed = {row["id"]: row["survey"] for row in (await response.json())["cdrs"]}
        assert listed == {"c1": {"agent": 4, "resolved": None}, "c2": {}}
        response = await api.client.get("/api/v1/cdrs.csv", headers=api.auth("supervisor"))
        rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert {row["linkedid"]: row["survey"] for row in rows} == {
            "c1": '{"agent":4,"resolved":null}',
            "c2": "{}",
        }


# --- the queue setting ----------------------------------------------------------------------


async def test_a_queue_names_its_survey_flow_over_the_api(engine: AsyncEngine) -> None:
    store = AcdStore(engine)
    async with running_api(
        acd_store=store, acd_live=FakeAcdLive(queues=[]), audit=AuditStore(engine)
    ) as api:
        status, body = await send(
            api, "POST", "/api/v1/queues", body={"id": "support", "survey_flow": "csat"}
        )
        assert status == 201, body
        assert body["survey_flow"] == "csat"
        status, body = await send(api, "GET", "/api/v1/queues/support", role="supervisor")
        assert status == 200, body
        assert body["survey_flow"] == "csat"
        stored = await store.get_queue("support")
        assert stored is not None
        assert stored.queue.survey_flow == "csat"
        for bad in ("csat\r\nAction: Originate", "../csat", "", "x" * 65, 7):
            status, problem = await send(
                api, "PUT", "/api/v1/queues/support", body={"survey_flow": bad}
            )
            assert status == 422, problem
            assert error_fields(problem) == {"survey_flow"}
        status, body = await send(api, "PUT", "/api/v1/queues/support", body={})
        assert status == 200, body
        assert body["survey_flow"] is None  # a PUT without it turns the survey off
