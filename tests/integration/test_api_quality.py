"""Quality evaluation over the API, on a real QualityStore, AuditStore and CDR reader over
SQLite: forms and their versions, evaluations of stored calls, what an agent sees and
acknowledges, averages computed by hand, and every refusal a problem naming its field."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.db.cdr_queries import CdrQueries
from ccd.db.engine import create_engine
from ccd.db.quality_store import QualityStore
from ccd.quality.forms import FormDefinition, Question, QuestionKind, Section
from ccd.quality.records import EvaluationFilter
from tests.cdrrows import cdr_row, insert_rows
from tests.clock import T0, FakeClock
from tests.integration.apifakes import Api, error_fields, running_api, send
from tests.integration.authmatrix import (
    IDENTITIES,
    QA_CALL_ID,
    QUALITY_ENDPOINTS,
    call,
    expected_status,
    headers_for,
)

OTHER_AGENT_CALL = "1700000200.1"  # agent 1002, queue support
NO_AGENT_CALL = "1700000300.1"  # IVR only: no agent, no queue
EVALUATIONS = "/api/v1/quality/evaluations"
FORMS = "/api/v1/quality/forms"

BASIC = FormDefinition(
    "Basic",
    (
        Section(
            "Opening",
            (
                Question("greeting", "Greeted?", QuestionKind.YES_NO, 1.0),
                Question("empathy", "Empathy", QuestionKind.SCALE, 1.0, scale_max=5),
            ),
        ),
    ),
)

# The README's worked example.
INBOUND: dict[str, Any] = {
    "id": "inbound",
    "name": "Inbound basics",
    "sections": [
        {
            "title": "Opening",
            "questions": [
                {"id": "greeting", "text": "Greeted the caller?", "kind": "yes_no"},
                {
                    "id": "verified_identity",
                    "text": "Verified identity?",
                    "kind": "yes_no",
                    "weight": 2,
                    "critical": True,
                },
            ],
        },
        {
            "title": "Handling",
            "questions": [
                {
                    "id": "empathy",
                    "text": "Empathy",
                    "kind": "scale",
                    "scale_max": 5,
                    "weight": 3,
                },
                {
                    "id": "upsell",
                    "text": "Offered the upgrade?",
                    "kind": "yes_no",
                    "allow_na": True,
                },
                {
                    "id": "resolution",
                    "text": "Resolved?",
                    "kind": "scale",
                    "scale_max": 4,
                    "weight": 2,
                },
            ],
        },
    ],
}
EXAMPLE_ANSWERS = {
    "greeting": "yes",
    "verified_identity": "yes",
    "empathy": 4,
    "upsell": "na",
    "resolution": 3,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def quality(engine: AsyncEngine, clock: FakeClock) -> QualityStore:
    """Calls QA_CALL_ID (agent 1001, sales, recorded), OTHER_AGENT_CALL and NO_AGENT_CALL;
    form "basic"; evaluation 1 of QA_CALL_ID (greeting yes, empathy 4: 87.5 %)."""
    await insert_rows(
        engine,
        [
            cdr_row(QA_CALL_ID, agent_id="1001", queue="sales", recording_ref="rec/a.wav"),
            cdr_row(OTHER_AGENT_CALL, agent_id="1002", queue="support", campaign_id="spring"),
            cdr_row(NO_AGENT_CALL),
        ],
    )
    store = QualityStore(engine, clock)
    await store.create_form("basic", BASIC, "t-seed")
    async with api_on(engine, store) as api:
        status, _ = await send(
            api,
            "POST",
            EVALUATIONS,
            "qa",
            {
                "linkedid": QA_CALL_ID,
                "form_id": "basic",
                "answers": {"greeting": "yes", "empathy": 4},
            },
        )
        assert status == 201
    return store


@asynccontextmanager
async def api_on(engine: AsyncEngine, store: QualityStore | None) -> AsyncIterator[Api]:
    async with running_api(
        max_body_bytes=65536,
        cdrs=CdrQueries(engine),
        quality=store,
        audit=AuditStore(engine),
    ) as api:
        yield api


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(QUALITY_ENDPOINTS))
async def test_auth_matrix(
    route: str, identity: str, engine: AsyncEngine, quality: QualityStore
) -> None:
    endpoint = QUALITY_ENDPOINTS[route]
    async with api_on(engine, quality) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)


# --- forms ---------------------------------------------------------------------------------


async def test_a_form_is_created_read_and_listed(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        status, created = await send(api, "POST", FORMS, "qa", INBOUND)
        assert status == 201
        assert created["version"] == created["current_version"] == 1
        assert created["version_created_by"] == "t-qa"
        empathy = created["sections"][1]["questions"][0]
        assert empathy == {
            "id": "empathy",
            "text": "Empathy",
            "kind": "scale",
            "weight": 3.0,
            "critical": False,
            "allow_na": False,
            "scale_max": 5,
        }
        assert (await send(api, "GET", f"{FORMS}/inbound", "agent")) == (200, created)
        status, listing = await send(api, "GET", FORMS, "analyst")
        assert [form["id"] for form in listing["forms"]] == ["basic", "inbound"]
        status, again = await send(api, "POST", FORMS, "qa", INBOUND)
        assert status == 409
        assert "PUT" in again["detail"]


async def test_an_edit_is_a_new_version_and_the_old_one_stays(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        edited = {**INBOUND, "name": "Inbound v2"}
        del edited["id"]
        await send(api, "POST", FORMS, "qa", INBOUND)
        status, second = await send(api, "PUT", f"{FORMS}/inbound", "supervisor", edited)
        assert status == 200
        assert (second["version"], second["current_version"], second["name"]) == (
            2,
            2,
            "Inbound v2",
        )
        status, first = await send(api, "GET", f"{FORMS}/inbound/versions/1", "qa")
        assert (status, first["version"], first["current_version"], first["name"]) == (
            200,
            1,
            2,
            "Inbound basics",
        )
        assert (await send(api, "GET", f"{FORMS}/inbound/versions/3", "qa"))[0] == 404
        assert (await send(api, "GET", f"{FORMS}/inbound/versions/x", "qa"))[0] == 404
        assert (await send(api, "GET", f"{FORMS}/nope", "qa"))[0] == 404
        assert (await send(api, "PUT", f"{FORMS}/nope", "qa", edited))[0] == 404


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (lambda q: q.update(weight=0), {"sections.1.questions.0.weight"}),
        (lambda q: q.update(weight=101), {"sections.1.questions.0.weight"}),
        (lambda q: q.pop("scale_max"), {"sections.1.questions.0.scale_max"}),
        (lambda q: q.update(scale_max=1), {"sections.1.questions.0.scale_max"}),
        (lambda q: q.update(kind="stars"), {"sections.1.questions.0.kind"}),
        (lambda q: q.update(id="greeting"), {"sections.1.questions.0.id"}),
        (lambda q: q.update(id="bad id"), {"sections.1.questions.0.id"}),
        (lambda q: q.update(critical="yes"), {"sections.1.questions.0.critical"}),
        (lambda q: q.update(text="a\r\nb"), {"sections.1.questions.0.text"}),
    ],
)
async def test_a_bad_question_is_named(
    change: Any, fields: set[str], engine: AsyncEngine, quality: QualityStore
) -> None:
    form: dict[str, Any] = {
        **INBOUND,
        "sections": [
            dict(s, questions=[dict(q) for q in s["questions"]]) for s in INBOUND["sections"]
        ],
    }
    change(form["sections"][1]["questions"][0])
    async with api_on(engine, quality) as api:
        status, problem = await send(api, "POST", FORMS, "qa", form)
        assert status == 422
        assert error_fields(problem) == fields
        assert (await send(api, "GET", f"{FORMS}/inbound", "qa"))[0] == 404


async def test_a_form_without_questions_is_refused(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        empty_section = {**INBOUND, "sections": [{"title": "Nothing", "questions": []}]}
        status, problem = await send(api, "POST", FORMS, "qa", empty_section)
        assert (status, error_fields(problem)) == (422, {"sections.0.questions"})
        status, problem = await send(api, "POST", FORMS, "qa", {**INBOUND, "sections": []})
        assert (status, error_fields(problem)) == (422, {"sections"})


# --- evaluations ---------------------------------------------------------------------------


async def evaluate(api: Api, linkedid: str, answers: dict[str, Any], role: str = "qa") -> Any:
    body = {"linkedid": linkedid, "form_id": "inbound", "answers": answers, "comments": "ok"}
    status, evaluation = await send(api, "POST", EVALUATIONS, role, body)
    assert status == 201, evaluation
    return evaluation


async def test_an_evaluation_scores_a_stored_call_and_copies_it(
    engine: AsyncEngine, quality: QualityStore, clock: FakeClock
) -> None:
    clock.advance(3600)
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        evaluation = await evaluate(api, QA_CALL_ID, EXAMPLE_ANSWERS)
        # (1*1 + 2*1 + 3*0.75 + 2*2/3) / (1+2+3+2) = 82.29 %; upsell N/A left out.
        assert evaluation["score_pct"] == 82.29
        assert evaluation["critical_failed"] is False
        assert (evaluation["linkedid"], evaluation["agent_id"], evaluation["queue"]) == (
            QA_CALL_ID,
            "1001",
            "sales",
        )
        assert evaluation["recording_ref"] == "rec/a.wav"
        assert evaluation["form"] == {"id": "inbound", "version": 1, "name": "Inbound basics"}
        assert evaluation["evaluated_at"] == "2026-11-25T10:00:00.000Z"
        assert evaluation["evaluator"] == {"token_id": "t-qa", "role": "qa"}
        assert evaluation["acknowledged_at"] is None
        assert [(a["question_id"], a["answer"], a["score_pct"]) for a in evaluation["answers"]] == [
            ("greeting", "yes", 100.0),
            ("verified_identity", "yes", 100.0),
            ("empathy", 4, 75.0),
            ("upsell", "na", None),
            ("resolution", 3, 66.67),
        ]
        assert evaluation["answers"][1]["section"] == "Opening"
        assert evaluation["answers"][1]["critical"] is True
        status, read = await send(api, "GET", f"{EVALUATIONS}/{evaluation['id']}", "analyst")
        assert (status, read) == (200, evaluation)

        other = await evaluate(api, OTHER_AGENT_CALL, EXAMPLE_ANSWERS)
        assert (other["agent_id"], other["queue"], other["campaign_id"]) == (
            "1002",
            "support",
            "spring",
        )
        assert other["recording_ref"] is None


async def test_a_failed_critical_question_scores_zero(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        evaluation = await evaluate(api, QA_CALL_ID, {**EXAMPLE_ANSWERS, "verified_identity": "no"})
    assert (evaluation["score_pct"], evaluation["critical_failed"]) == (0.0, True)


async def test_evaluating_what_does_not_exist_is_refused(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        body = {"linkedid": "999.9", "form_id": "inbound", "answers": EXAMPLE_ANSWERS}
        status, problem = await send(api, "POST", EVALUATIONS, "qa", body)
        assert (status, problem["detail"]) == (404, "no CDR with id '999.9'")
        body = {"linkedid": QA_CALL_ID, "form_id": "nope", "answers": EXAMPLE_ANSWERS}
        status, problem = await send(api, "POST", EVALUATIONS, "qa", body)
        assert (status, error_fields(problem)) == (422, {"form_id"})
        answers = {**EXAMPLE_ANSWERS, "greeting": "maybe", "bogus": "yes", "empathy": 6}
        del answers["resolution"]
        body = {"linkedid": QA_CALL_ID, "form_id": "inbound", "answers": answers}
        status, problem = await send(api, "POST", EVALUATIONS, "qa", body)
        assert status == 422
        assert error_fields(problem) == {
            "answers.greeting",
            "answers.empathy",
            "answers.resolution",
            "answers.bogus",
        }
        status, listing = await send(api, "GET", f"{EVALUATIONS}?form=inbound", "qa")
        assert listing["evaluations"] == []


async def test_an_evaluation_keeps_its_form_version(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        first = await evaluate(api, QA_CALL_ID, EXAMPLE_ANSWERS)
        # Version 2 drops upsell and makes greeting weigh 10.
        v2 = {k: v for k, v in INBOUND.items() if k != "id"}
        v2["sections"] = [
            {
                "title": "All",
                "questions": [{"id": "greeting", "text": "Hi?", "kind": "yes_no", "weight": 10}],
            }
        ]
        assert (await send(api, "PUT", f"{FORMS}/inbound", "qa", v2))[0] == 200

        # A correction still answers and scores version 1's five questions.
        corrected = {**EXAMPLE_ANSWERS, "greeting": "no"}
        status, updated = await send(
            api, "PUT", f"{EVALUATIONS}/{first['id']}", "supervisor", {"answers": corrected}
        )
        assert status == 200
        # (0 + 2 + 2.25 + 1.3333) / 8 = 69.79 %
        assert (updated["score_pct"], updated["form"]["version"]) == (69.79, 1)
        assert updated["comments"] == ""
        assert updated["evaluated_at"] == first["evaluated_at"]
        status, problem = await send(
            api, "PUT", f"{EVALUATIONS}/{first['id']}", "qa", {"answers": {"greeting": "no"}}
        )
        assert status == 422
        assert "answers.empathy" in error_fields(problem)

        # A new evaluation uses version 2.
        second = await evaluate(api, QA_CALL_ID, {"greeting": "no"})
        assert (second["form"]["version"], second["score_pct"]) == (2, 0.0)


async def test_an_agent_sees_and_acknowledges_only_their_own(
    engine: AsyncEngine, quality: QualityStore, clock: FakeClock
) -> None:
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        own = await evaluate(api, QA_CALL_ID, EXAMPLE_ANSWERS)
        theirs = await evaluate(api, OTHER_AGENT_CALL, EXAMPLE_ANSWERS)

        status, listing = await send(api, "GET", EVALUATIONS, "agent")
        assert status == 200
        assert [e["id"] for e in listing["evaluations"]] == [own["id"], 1]
        assert (await send(api, "GET", f"{EVALUATIONS}?agent=1002", "agent"))[0] == 403
        assert (await send(api, "GET", f"{EVALUATIONS}/{theirs['id']}", "agent"))[0] == 403
        ack = f"{EVALUATIONS}/{theirs['id']}/acknowledge"
        assert (await send(api, "POST", ack, "agent"))[0] == 403

        clock.advance(7200)
        ack = f"{EVALUATIONS}/{own['id']}/acknowledge"
        status, acknowledged = await send(api, "POST", ack, "agent", {"comment": "Thanks"})
        assert status == 200
        assert acknowledged["acknowledged_at"] == "2026-11-25T11:00:00.000Z"
        assert acknowledged["acknowledgement_comment"] == "Thanks"
        status, problem = await send(api, "POST", ack, "agent")
        assert status == 409
        assert "acknowledged" in problem["detail"]
        # An acknowledged evaluation is final.
        status, problem = await send(
            api, "PUT", f"{EVALUATIONS}/{own['id']}", "qa", {"answers": EXAMPLE_ANSWERS}
        )
        assert status == 409
        status, read = await send(api, "GET", f"{EVALUATIONS}/{own['id']}", "agent")
        assert read["score_pct"] == 82.29
        assert read["acknowledged_at"] == "2026-11-25T11:00:00.000Z"

        status, pending = await send(api, "GET", f"{EVALUATIONS}?acknowledged=false", "agent")
        assert [e["id"] for e in pending["evaluations"]] == [1]
        assert (await send(api, "POST", f"{EVALUATIONS}/999/acknowledge", "agent"))[0] == 404


async def test_changes_are_audited(engine: AsyncEngine, quality: QualityStore) -> None:
    renamed = {**INBOUND, "name": "Inbound, second edition"}
    del renamed["id"]
    async with api_on(engine, quality) as api:
        _, created = await send(api, "POST", FORMS, "qa", INBOUND)
        _, versioned = await send(api, "PUT", f"{FORMS}/inbound", "supervisor", renamed)
        evaluation = await evaluate(api, QA_CALL_ID, EXAMPLE_ANSWERS)
        corrected = {**EXAMPLE_ANSWERS, "empathy": 5}
        path = f"{EVALUATIONS}/{evaluation['id']}"
        body = {"answers": corrected, "comments": "fixed"}
        status, updated = await send(api, "PUT", path, "supervisor", body)
        assert status == 200
        status, acked = await send(api, "POST", f"{path}/acknowledge", "agent", {"comment": "seen"})
        assert status == 200
    trail = await AuditStore(engine).search(
        target_kind="evaluation", target_id=str(evaluation["id"])
    )
    assert [(r.action, r.actor_token_id, r.actor_role) for r in reversed(trail)] == [
        ("evaluation.created", "t-qa", "qa"),
        ("evaluation.updated", "t-sup", "supervisor"),
        ("evaluation.acknowledged", "t-agent", "agent"),
    ]
    acknowledged, update, creation = trail
    assert creation.detail == {"linkedid": QA_CALL_ID, "agent_id": "1001", "score_pct": 82.29}
    # A correction keeps what the evaluation said before it and what it says after.
    assert update.detail["score_pct"] == updated["score_pct"] != evaluation["score_pct"]
    before, after = update.detail["before"], update.detail["after"]
    assert (before["answers"]["empathy"], after["answers"]["empathy"]) == ("4", "5")
    assert (before["comments"], after["comments"]) == ("ok", "fixed")
    assert (before["score_pct"], after["score_pct"]) == (82.29, updated["score_pct"])
    before, after = acknowledged.detail["before"], acknowledged.detail["after"]
    assert (before["acknowledged_at"], before["acknowledgement_comment"]) == (None, None)
    assert after["acknowledged_at"] == acked["acknowledged_at"]
    assert after["acknowledgement_comment"] == "seen"
    forms = await AuditStore(engine).search(target_kind="quality_form", target_id="inbound")
    assert [(r.action, r.actor_role) for r in reversed(forms)] == [
        ("quality_form.created", "qa"),
        ("quality_form.versioned", "supervisor"),
    ]
    versioning, creating = forms
    assert creating.detail == {"version": 1, "before": None, "after": created}
    assert versioning.detail["version"] == 2
    assert versioning.detail["before"] == created
    assert versioning.detail["after"] == versioned
    assert versioning.detail["after"]["name"] == "Inbound, second edition"


DONE_NOT_RECORDED = "was done, but the audit trail is unavailable: it was not recorded"


async def test_a_trail_failing_after_the_change_is_a_503_saying_it_was_done(
    engine: AsyncEngine, quality: QualityStore, tmp_path: Path
) -> None:
    # Never migrated: the trail exists but every write to it fails in the driver.
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-audit.sqlite3'}")
    renamed = {**INBOUND, "name": "Inbound, second edition"}
    del renamed["id"]
    evaluation = {"linkedid": QA_CALL_ID, "form_id": "inbound", "answers": EXAMPLE_ANSWERS}
    changes: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
        ("qa", "POST", FORMS, INBOUND, "quality_form.created 'inbound'"),
        ("qa", "PUT", f"{FORMS}/inbound", renamed, "quality_form.versioned 'inbound'"),
        ("qa", "POST", EVALUATIONS, evaluation, "evaluation.created '2'"),
        ("qa", "PUT", f"{EVALUATIONS}/2", {"answers": EXAMPLE_ANSWERS}, "evaluation.updated '2'"),
        ("agent", "POST", f"{EVALUATIONS}/2/acknowledge", None, "evaluation.acknowledged '2'"),
    ]
    try:
        async with running_api(
            max_body_bytes=65536,
            cdrs=CdrQueries(engine),
            quality=quality,
            audit=AuditStore(broken),
        ) as api:
            for role, method, path, body, done in changes:
                status, problem = await send(api, method, path, role, body)
                assert status == 503, (path, problem)
                assert problem["type"] == "urn:ccd:problem:upstream-unavailable"
                assert problem["detail"] == f"{done} {DONE_NOT_RECORDED}"
    finally:
        await broken.dispose()
    # Every change was made, and only the trail misses it.
    form = await quality.get_form("inbound")
    assert form is not None
    assert (form.version, form.definition.name) == (2, "Inbound, second edition")
    stored = await quality.get_evaluation(2)
    assert stored is not None
    assert stored.acknowledged_at is not None


async def test_without_a_trail_nothing_is_changed(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    async with running_api(max_body_bytes=65536, cdrs=CdrQueries(engine), quality=quality) as api:
        status, problem = await send(api, "POST", FORMS, "qa", INBOUND)
        assert (status, problem["detail"]) == (
            503,
            "the audit trail is unavailable; retry later",
        )
        assert (await send(api, "GET", f"{FORMS}/inbound", "qa"))[0] == 404
        basic = {**INBOUND, "name": "Basic, edited"}
        del basic["id"]
        assert (await send(api, "PUT", f"{FORMS}/basic", "qa", basic))[0] == 503
        changed = {"answers": {"greeting": "no", "empathy": 1}}
        new = {"linkedid": QA_CALL_ID, "form_id": "basic", **changed}
        assert (await send(api, "POST", EVALUATIONS, "qa", new))[0] == 503
        # A bad request is answered as it would be with a trail.
        status, problem = await send(api, "POST", EVALUATIONS, "qa", {**new, "form_id": "nope"})
        assert (status, error_fields(problem)) == (422, {"form_id"})
        assert (await send(api, "PUT", f"{EVALUATIONS}/1", "qa", changed))[0] == 503
        assert (await send(api, "POST", f"{EVALUATIONS}/1/acknowledge", "agent"))[0] == 503
    form = await quality.get_form("basic")
    assert form is not None
    assert form.version == 1
    evaluation = await quality.get_evaluation(1)
    assert evaluation is not None
    assert (evaluation.answers["greeting"], evaluation.acknowledged_at) == ("yes", None)
    assert len(await quality.list_evaluations(EvaluationFilter(), before_id=None, limit=10)) == 1


async def test_listing_filters_and_pages(
    engine: AsyncEngine, quality: QualityStore, clock: FakeClock
) -> None:
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        clock.advance(3600)
        a = await evaluate(api, OTHER_AGENT_CALL, EXAMPLE_ANSWERS)
        b = await evaluate(api, NO_AGENT_CALL, EXAMPLE_ANSWERS)
        status, page = await send(api, "GET", f"{EVALUATIONS}?limit=2", "analyst")
        assert status == 200
        assert [e["id"] for e in page["evaluations"]] == [b["id"], a["id"]]
        _, rest = await send(
            api, "GET", f"{EVALUATIONS}?limit=2&cursor={page['next_cursor']}", "analyst"
        )
        assert ([e["id"] for e in rest["evaluations"]], rest["next_cursor"]) == ([1], None)
        _, support = await send(api, "GET", f"{EVALUATIONS}?queue=support", "qa")
        assert [e["id"] for e in support["evaluations"]] == [a["id"]]
        # 10:00Z is inside [09:30Z, 12:00+01:00 = 11:00Z); evaluation 1 (09:00Z) is not.
        window = "from=2026-11-25T09:30:00Z&to=2026-11-25T12:00:00%2B01:00"
        _, later = await send(api, "GET", f"{EVALUATIONS}?{window}", "qa")
        assert [e["id"] for e in later["evaluations"]] == [b["id"], a["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-25T09:00:00", "from"),
        ("limit=0", "limit"),
        ("cursor=abc", "cursor"),
        ("acknowledged=perhaps", "acknowledged"),
        ("colour=red", "colour"),
        ("queue=a&queue=b", "queue"),
        ("from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z", "from"),
    ],
)
async def test_bad_list_parameters_are_named(
    query: str, field: str, engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        status, problem = await send(api, "GET", f"{EVALUATIONS}?{query}", "qa")
    assert (status, error_fields(problem)) == (422, {field})


async def test_unknown_evaluations_are_404(engine: AsyncEngine, quality: QualityStore) -> None:
    async with api_on(engine, quality) as api:
        for path in ("999", "0", "abc", "9" * 30, "%EF%BC%91"):  # the last: fullwidth 1
            assert (await send(api, "GET", f"{EVALUATIONS}/{path}", "qa"))[0] == 404
        assert (await send(api, "PUT", f"{EVALUATIONS}/999", "qa", {"answers": {}}))[0] == 404
        for path in (f"{EVALUATIONS}/1%0D%0A", f"{FORMS}/basic/versions/1%00", f"{FORMS}/a%0Ab"):
            status, problem = await send(api, "GET", path, "qa")
            assert (status, problem["type"]) == (422, "urn:ccd:problem:validation-error")


async def test_without_a_quality_database_the_routes_are_503(engine: AsyncEngine) -> None:
    async with running_api(allow_server_errors=True, audit=AuditStore(engine)) as api:
        status, problem = await send(api, "GET", FORMS, "qa")
    assert status == 503
    assert problem["type"] == "urn:ccd:problem:upstream-unavailable"


# --- averages --------------------------------------------------------------------------------


async def test_averages_per_agent_queue_and_question(
    engine: AsyncEngine, quality: QualityStore, clock: FakeClock
) -> None:
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        clock.advance(86400)  # 2026-11-26 09:00
        await evaluate(api, QA_CALL_ID, EXAMPLE_ANSWERS)  # 82.29
        perfect = {**EXAMPLE_ANSWERS, "empathy": 5, "resolution": 4, "upsell": "yes"}
        await evaluate(api, QA_CALL_ID, perfect)  # 100
        await evaluate(api, OTHER_AGENT_CALL, {**EXAMPLE_ANSWERS, "verified_identity": "no"})  # 0
        await evaluate(api, NO_AGENT_CALL, EXAMPLE_ANSWERS)  # 82.29

        day = "from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z"
        status, by_agent = await send(
            api, "GET", f"/api/v1/quality/averages?by=agent&{day}", "analyst"
        )
        assert status == 200
        assert (by_agent["by"], by_agent["from"], by_agent["to"]) == (
            "agent",
            "2026-11-26T00:00:00.000Z",
            "2026-11-27T00:00:00.000Z",
        )
        assert by_agent["averages"] == [
            # (82.29 + 100) / 2 = 91.145, rounded to 2 decimals
            {"agent_id": "1001", "evaluations": 2, "scored": 2, "average_pct": 91.15},
            {"agent_id": "1002", "evaluations": 1, "scored": 1, "average_pct": 0.0},
            {"agent_id": None, "evaluations": 1, "scored": 1, "average_pct": 82.29},
        ]
        status, by_queue = await send(api, "GET", f"/api/v1/quality/averages?by=queue&{day}", "qa")
        assert [(r["queue"], r["evaluations"]) for r in by_queue["averages"]] == [
            ("sales", 2),
            ("support", 1),
            (None, 1),
        ]
        status, by_question = await send(
            api, "GET", f"/api/v1/quality/averages?by=question&{day}", "supervisor"
        )
        rows = {r["question_id"]: r for r in by_question["averages"]}
        assert set(rows) == {"greeting", "verified_identity", "empathy", "upsell", "resolution"}
        # empathy 4, 5, 4, 4 -> 75, 100, 75, 75 -> 81.25
        assert rows["empathy"] == {
            "form_id": "inbound",
            "question_id": "empathy",
            "text": "Empathy",
            "evaluations": 4,
            "scored": 4,
            "average_pct": 81.25,
        }
        # verified_identity yes, yes, no, yes -> 75
        assert rows["verified_identity"]["average_pct"] == 75.0
        # upsell na, yes, na, na: one scored
        assert (rows["upsell"]["scored"], rows["upsell"]["average_pct"]) == (1, 100.0)

        # The day before holds evaluation 1 only (basic form, agent 1001: 87.5).
        before = "to=2026-11-26T00:00:00Z"
        status, earlier = await send(
            api, "GET", f"/api/v1/quality/averages?by=agent&{before}", "qa"
        )
        assert earlier["averages"] == [
            {"agent_id": "1001", "evaluations": 1, "scored": 1, "average_pct": 87.5}
        ]


async def test_an_all_na_evaluation_is_counted_but_not_averaged(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    form = {
        "id": "optional",
        "name": "Optional",
        "sections": [
            {
                "title": "S",
                "questions": [
                    {"id": "a", "text": "A", "kind": "yes_no", "allow_na": True},
                    {"id": "b", "text": "B", "kind": "scale", "scale_max": 3, "allow_na": True},
                ],
            }
        ],
    }
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", form)
        body = {
            "linkedid": OTHER_AGENT_CALL,
            "form_id": "optional",
            "answers": {"a": "na", "b": "na"},
        }
        status, evaluation = await send(api, "POST", EVALUATIONS, "qa", body)
        assert (status, evaluation["score_pct"]) == (201, None)
        status, averages = await send(api, "GET", "/api/v1/quality/averages?by=agent", "qa")
    assert averages["averages"] == [
        {"agent_id": "1001", "evaluations": 1, "scored": 1, "average_pct": 87.5},
        {"agent_id": "1002", "evaluations": 1, "scored": 0, "average_pct": None},
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "by"), ("by=team", "by"), ("by=agent&to=tomorrow", "to"), ("by=agent&extra=1", "extra")],
)
async def test_bad_average_parameters_are_named(
    query: str, field: str, engine: AsyncEngine, quality: QualityStore
) -> None:
    async with api_on(engine, quality) as api:
        status, problem = await send(api, "GET", f"/api/v1/quality/averages?{query}", "qa")
    assert (status, error_fields(problem)) == (422, {field})


# --- garbage ---------------------------------------------------------------------------------

NASTY: list[object] = [
    "",
    "\r\n",
    "\0",
    "\ud800",
    "yes",
    "na",
    "no",
    0,
    -1,
    3,
    2**70,
    1.5,
    True,
    None,
    [],
    {},
    "x" * 300,
]


def junk_form(rng: random.Random) -> dict[str, Any]:
    form: dict[str, Any] = json.loads(json.dumps(INBOUND))
    section = rng.choice(form["sections"])
    question = rng.choice(section["questions"])
    for _ in range(rng.randrange(1, 4)):
        target = rng.choice([form, section, question])
        target[rng.choice([*target.keys(), "extra"])] = rng.choice(NASTY)
    return form


async def test_random_forms_and_answers_never_cause_a_server_error(
    engine: AsyncEngine, quality: QualityStore
) -> None:
    rng = random.Random(20261206)
    seen: set[int] = set()
    async with api_on(engine, quality) as api:
        await send(api, "POST", FORMS, "qa", INBOUND)
        for index in range(150):
            form = junk_form(rng)
            form["id"] = rng.choice([f"f{index}", f"f{index}", "inbound", rng.choice(NASTY)])
            status, _ = await send(api, "POST", FORMS, "qa", form)
            seen.add(status)
            answers: dict[str, Any] = dict(EXAMPLE_ANSWERS)
            for _ in range(rng.randrange(1, 3)):
                answers[rng.choice([*answers, "zz", "\r"])] = rng.choice(NASTY)
            body = {
                "linkedid": rng.choice([QA_CALL_ID, QA_CALL_ID, "1.2", "\0", "x" * 70]),
                "form_id": "inbound",
            }
            status, _ = await send(api, "POST", EVALUATIONS, "qa", {**body, "answers": answers})
            seen.add(status)
    assert {201, 404, 409, 422} <= seen
