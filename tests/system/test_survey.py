"""The post-call survey on the real Asterisk sandbox and real PostgreSQL.

A caller (Local channel) waits in a queue whose ``survey_flow`` names a survey; the
simulated agent 1001 answers, talks ``talk_s`` seconds and hangs up. ccd bridged them with
``Bridge(<caller>,F(ccd-queue-after^s^1))``, so the caller's own channel goes on to
``ccd-survey`` and ccd's survey AGI asks the questions; the customer answers with
PlayDTMF on the ``;2`` half (it reaches the ``;1`` half's AGI). What a user then sees:
the answers in ``survey_responses`` and in the call's one CDR (API and CSV).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from ccd.acd.model import Queue
from ccd.backoff import Backoff, BackoffPolicy
from ccd.clock import SystemClock
from ccd.db import migrate
from ccd.db.engine import create_engine
from ccd.db.survey_store import SurveyStore
from ccd.domain import contract
from ccd.domain.auth import Role
from ccd.survey.model import SurveyAnswer
from ccd.survey.writer import AnswerWriter
from tests.system.acdrig import AcdRun, acd_daemon, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.ivrrig import press, recording_ami
from tests.system.rawami import Frame, RawAmi
from tests.system.rig import create_database
from tests.system.waiting import eventually

TALK_S = 2.0
SURVEY_FLOW = """
id = "csat"
entry = "survey"
default_destination = "bye"

[nodes.survey]
kind = "survey"
timeout_s = 6.0
retries = 1
invalid_prompts = ["invalid"]
thanks_prompts = ["auth-thankyou"]
next = "bye"

[[nodes.survey.questions]]
key = "agent"
prompts = ["beep"]

[[nodes.survey.questions]]
key = "resolved"
prompts = ["beep"]

[nodes.bye]
kind = "hangup"
"""
ANSWERS = sim_agent("1001")
STAYS = sim_agent("4001")  # answers and never hangs up: the caller ends these calls


def caller_channel(run: AcdRun, caller: str) -> str:
    """The caller's ``;1`` half: the channel that waited in the queue and takes the survey."""
    return run.customer_half(caller)[:-1] + "1"


async def next_get_data(recorder: RawAmi, channel: str, after: int) -> int:
    """Wait for a ``GET DATA`` of ``channel``'s AGI among the frames read from index
    ``after`` on; returns the index just past it (the survey now reads a key)."""

    def match(frame: Frame) -> bool:
        return (
            frame.get("Event") == "AGIExecStart"
            and frame.get("Channel") == channel
            and frame.get("Command", "").startswith("GET DATA")
        )

    def found() -> int | None:
        for index in range(after, len(recorder.received)):
            if match(recorder.received[index]):
                return index + 1
        return None

    index = found()
    if index is None:
        await recorder.wait_for(lambda frame: found() is not None, 20)
        index = found()
    assert index is not None
    return index


def survey_started(channel: str) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        # The survey's AGI runs through the subroutine trying each ccd address.
        return (
            frame.get("Event") == "Newexten"
            and frame.get("Context") == contract.SURVEY_CONTEXT
            and frame.get("Application") == "Gosub"
            and frame.get("AppData", "").startswith(f"{contract.AGI_CONTEXT},")
            and frame.get("Channel") == channel
        )

    return match


async def responses(run: AcdRun, linkedid: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(
        run.database_url.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        rows = await connection.fetch(
            "SELECT linkedid, queue, agent_id, campaign_id, question, score, answered_at"
            " FROM survey_responses WHERE linkedid = $1 ORDER BY id",
            linkedid,
        )
    finally:
        await connection.close()
    return [dict(row) for row in rows]


async def cdr_of(run: AcdRun, linkedid: str) -> dict[str, Any]:
    token = await run.token(Role.SUPERVISOR)
    status, body = await run.api("GET", f"/api/v1/cdrs/{linkedid}", token)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


async def test_the_caller_rates_the_call_after_the_agent_hangs_up_one_cdr_no_survey_talk(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    support = Queue(id="support", ring_timeout_s=10, survey_flow="csat")
    url = await acd_database(postgres_cluster, config([support], [ANSWERS], {"1001": ["support"]}))
    async with (
        acd_daemon(
            asterisk_sandbox, url, tmp_path, talk_s=TALK_S, flows={"csat.toml": SURVEY_FLOW}
        ) as run,
        recording_ami(asterisk_sandbox) as recorder,
    ):
        await run.acd.login("1001", None)
        caller = await run.caller("support")
        await eventually(lambda: run.connected(), within_s=20, what="the agent connected")
        channel = caller_channel(run, caller)
        customer = run.customer_half(caller)

        # The agent hangs up after TALK_S: the caller's channel enters the survey.
        await recorder.wait_for(survey_started(channel), 20)
        position = await next_get_data(recorder, channel, 0)
        await press(recorder, customer, "4")
        position = await next_get_data(recorder, channel, position)
        await press(recorder, customer, "9")  # not 1..5: asked again
        position = await next_get_data(recorder, channel, position)
        await press(recorder, customer, "5")
        await run.settled(within_s=30)

        async def answers_stored() -> bool:
            return len(await responses(run, caller)) == 2

        await eventually(answers_stored, within_s=15, what="both answers stored")
        rows = await responses(run, caller)
        assert [(r["question"], r["score"]) for r in rows] == [("agent", 4), ("resolved", 5)]
        assert {(r["queue"], r["agent_id"], r["campaign_id"]) for r in rows} == {
            ("support", "1001", None)
        }
        assert all(r["answered_at"].tzinfo is not None for r in rows)

        # One CDR for the call, carrying the answers; talk time is the agent's, not the survey's.
        assert await run.cdr_counts([run.caller_number(caller)]) == {run.caller_number(caller): 1}
        cdr = await cdr_of(run, caller)
        assert cdr["survey"] == {"agent": 4, "resolved": 5}
        assert cdr["disposition"] == "answered"
        assert cdr["agent_id"] == "1001"
        assert cdr["hung_up_by"] == "callee"
        assert TALK_S - 0.5 <= cdr["talk_s"] <= TALK_S + 1.5
        answered = rows[0]["answered_at"]
        stored = await run.cdr(caller)
        assert stored is not None
        assert stored["ended_at"] > answered  # the survey is inside the call's duration
        assert (stored["ended_at"] - stored["answered_at"]).total_seconds() > cdr["talk_s"] + 1

        token = await run.token(Role.SUPERVISOR)
        async with run.http.get(
            f"/api/v1/cdrs.csv?number={run.caller_number(caller)}",
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200
            table = list(csv.DictReader(io.StringIO(await response.text())))
        assert [json.loads(row["survey"]) for row in table] == [{"agent": 4, "resolved": 5}]


async def test_hanging_up_mid_survey_keeps_the_answers_given_and_ending_the_call_skips_it(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    support = Queue(id="support", ring_timeout_s=10, survey_flow="csat")
    url = await acd_database(
        postgres_cluster,
        config([support], [ANSWERS, STAYS], {"1001": ["support"], "4001": ["support"]}),
    )
    async with (
        acd_daemon(
            asterisk_sandbox, url, tmp_path, talk_s=TALK_S, flows={"csat.toml": SURVEY_FLOW}
        ) as run,
        recording_ami(asterisk_sandbox) as recorder,
    ):
        # First the agent who never hangs up: the caller ends that call — no survey.
        await run.acd.login("4001", None)
        ends_it = await run.caller("support")
        await eventually(lambda: run.connected(), within_s=20, what="4001 connected")
        await asyncio.sleep(1)
        # The caller's own channel (the call's originator) hangs up: the caller's side.
        reply = await run.ami.action("Hangup", Channel=caller_channel(run, ends_it))
        assert reply["Response"] == "Success", reply
        await run.acd.logout("4001")

        # Then 1001, who hangs up: the caller answers one question and hangs up.
        await run.acd.login("1001", None)
        quits = await run.caller("support")
        await eventually(lambda: len(run.connected()) == 2, within_s=20, what="1001 connected")
        channel = caller_channel(run, quits)
        customer = run.customer_half(quits)
        await recorder.wait_for(survey_started(channel), 20)
        position = await next_get_data(recorder, channel, 0)
        await press(recorder, customer, "2")
        await next_get_data(recorder, channel, position)
        reply = await run.ami.action("Hangup", Channel=customer)
        assert reply["Response"] == "Success", reply
        await run.settled(within_s=30)

        async def first_answer_stored() -> bool:
            return len(await responses(run, quits)) == 1

        await eventually(first_answer_stored, within_s=15, what="the answer given stored")
        rows = await responses(run, quits)
        assert [(r["question"], r["score"], r["agent_id"]) for r in rows] == [("agent", 2, "1001")]
        assert (await cdr_of(run, quits))["survey"] == {"agent": 2}

        assert await responses(run, ends_it) == []
        assert not [
            frame
            for frame in recorder.received
            if frame.get("Context") == contract.SURVEY_CONTEXT and frame.get("Linkedid") == ends_it
        ]
        ended = await cdr_of(run, ends_it)
        assert ended["survey"] == {}
        assert ended["hung_up_by"] == "caller"
        numbers = [run.caller_number(ends_it), run.caller_number(quits)]
        assert await run.cdr_counts(numbers) == dict.fromkeys(numbers, 1)


async def test_answers_given_while_postgresql_is_down_are_written_once_it_is_back(
    postgres_cluster: PostgresCluster,
) -> None:
    url = await create_database(postgres_cluster)
    await migrate.upgrade(url)
    engine = create_engine(url)
    clock = SystemClock()
    writer = AnswerWriter(
        SurveyStore(engine), clock, Backoff(BackoffPolicy(min_s=0.2, max_s=1), random.Random(1))
    )
    writer.start()
    at = clock.now()
    try:
        await asyncio.to_thread(postgres_cluster.stop)
        try:
            for question, score in (("agent", 5), ("resolved", None)):
                writer.put(SurveyAnswer("outage-1", "support", "1001", None, question, score, at))
            await eventually(
                lambda: writer.failing_since is not None, within_s=30, what="writes failing"
            )
            assert writer.pending == 2
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        assert await writer.drain(60), "answers still unwritten after PostgreSQL came back"
        stored = await SurveyStore(engine).for_calls(["outage-1"])
        assert [(a.question, a.score) for a in stored["outage-1"]] == [
            ("agent", 5),
            ("resolved", None),
        ]
        assert writer.failing_since is None
        assert writer.written == 2
    finally:
        await engine.dispose()
