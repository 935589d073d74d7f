"""The dialer REST API (campaigns) against a real SQLite database, served on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.db.dialer_store import ATTEMPTS, ContactStatus, DialerStore
from ccd.db.engine import create_engine
from ccd.dialer.contacts import contact_id
from ccd.dialer.model import Campaign, CampaignState, Contact, DialMode
from tests.integration.apifakes import Api, error_fields, running_api, send
from tests.integration.authmatrix import (
    DIALER_ENDPOINTS,
    IDENTITIES,
    call,
    expected_status,
    headers_for,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BASE = Campaign(
    id="draft",
    name="Draft",
    mode=DialMode.PROGRESSIVE,
    caller_id="+12125550100",
    queue_id="sales",
)
MINIMAL = {"mode": "progressive", "caller_id": "+12125550100", "queue_id": "sales"}


@pytest.fixture
async def store(engine: AsyncEngine) -> DialerStore:
    store = DialerStore(engine)
    await store.put_campaign(BASE)
    await store.put_campaign(replace(BASE, id="running", state=CampaignState.RUNNING))
    await store.put_campaign(replace(BASE, id="paused", state=CampaignState.PAUSED))
    await store.add_dnc(["+12125550111"])
    return store


@pytest.fixture
def audit(engine: AsyncEngine) -> AuditStore:
    return AuditStore(engine)


@pytest.fixture
async def api(store: DialerStore, audit: AuditStore) -> AsyncIterator[Api]:
    async with running_api(dialer_store=store, audit=audit) as api:
        yield api


# --- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(DIALER_ENDPOINTS))
async def test_auth_matrix(
    route: str, identity: str, store: DialerStore, audit: AuditStore
) -> None:
    endpoint = DIALER_ENDPOINTS[route]
    before = await _everything(store)
    async with running_api(dialer_store=store, audit=audit) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)
    if status in (401, 403):
        assert await _everything(store) == before  # a refused caller changed nothing


async def _everything(store: DialerStore) -> tuple[object, ...]:
    campaigns = {c.campaign.id: c.campaign for c in await store.list_campaigns()}
    return campaigns, await store.list_dnc(), await store.contact_counts("draft")


# --- campaigns ---------------------------------------------------------------------------


async def test_campaign_crud_round_trip(api: Api) -> None:
    body = {
        "id": "spring",
        "name": "Spring sale",
        "mode": "predictive",
        "caller_id": "+442071838750",
        "agent_ids": ["1002", "1001"],
        "windows": [{"days": ["mon", "tue"], "start": "09:00", "end": "17:30"}],
        "holidays": ["2026-12-25"],
        "ring_timeout_s": 20,
        "retries": {"busy": {"delay_s": 300, "max_attempts": 5}},
        "abandon_cap_pct": 2.5,
        "amd": "hang-up",
        "safe_harbor_prompt": "custom/safe-harbor",
        "default_region": "gb",
    }
    status, created = await send(api, "POST", "/api/v1/campaigns", "supervisor", body)
    assert status == 201, created
    assert created["state"] == "draft"
    assert created["agent_ids"] == ["1001", "1002"]
    assert created["windows"] == [{"days": ["mon", "tue"], "start": "09:00", "end": "17:30"}]
    assert created["retries"]["busy"] == {"delay_s": 300.0, "max_attempts": 5}
    assert created["retries"]["no-answer"]["max_attempts"] == 3  # default kept
    assert created["default_region"] == "GB"
    assert created["problems"] == []
    assert created["live"] == {"contacts": {"total": 0, "left": 0, "dialing": 0, "done": 0}}

    status, got = await send(api, "GET", "/api/v1/campaigns/spring")
    assert status == 200
    assert got == created

    status, listed = await send(api, "GET", "/api/v1/campaigns")
    assert status == 200
    assert [c["id"] for c in listed["campaigns"]] == ["draft", "paused", "running", "spring"]

    status, updated = await send(api, "PUT", "/api/v1/campaigns/spring", body=MINIMAL)
    assert status == 200, updated
    assert updated["mode"] == "progressive"
    assert updated["name"] == "spring"  # omitted fields take their defaults
    assert updated["agent_ids"] == []

    status, problem = await send(api, "POST", "/api/v1/campaigns", body=body)
    assert status == 409
    assert "already exists" in problem["detail"]

    assert (await send(api, "DELETE", "/api/v1/campaigns/spring"))[0] == 204
    assert (await send(api, "GET", "/api/v1/campaigns/spring"))[0] == 404
    assert (await send(api, "DELETE", "/api/v1/campaigns/spring"))[0] == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"id": "x", "mode": "robot", "caller_id": "+1"}, {"mode", "caller_id"}),
        ({"id": "a b", **MINIMAL}, {"id"}),
        ({"id": "x", **MINIMAL, "name": "bad\r\nname"}, {"name"}),
        ({"id": "x", **MINIMAL, "surprise": 1}, {"surprise"}),
        ({"id": "x", **MINIMAL, "default_region": "ZZ"}, {"default_region"}),
        ({"id": "x", **MINIMAL, "ring_timeout_s": "25"}, {"ring_timeout_s"}),
        ({"id": "x", **MINIMAL, "holidays": ["2026-13-01"]}, {"holidays"}),
        ({"id": "x", **MINIMAL, "safe_harbor_prompt": "../../etc/passwd"}, {"safe_harbor_prompt"}),
        (
            {
                "id": "x",
                **MINIMAL,
                "windows": [{"days": ["mon"], "start": "18:00", "end": "09:00"}],
            },
            {"windows"},
        ),
        (
            {"id": "x", **MINIMAL, "windows": [{"days": ["mo"], "start": "9", "end": "x"}]},
            {"windows.0.days.0", "windows.0.start", "windows.0.end"},
        ),
        (
            {"id": "x", **MINIMAL, "retries": {"answered": {"delay_s": 1, "max_attempts": 1}}},
            {"retries.answered.[key]"},
        ),
        ({"id": "x", **MINIMAL, "abandon_cap_pct": 0}, {"abandon_cap_pct"}),
        ({"id": "x"}, {"mode", "caller_id"}),
    ],
)
async def test_invalid_bodies_are_422_naming_each_field(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    status, problem = await send(api, "POST", "/api/v1/campaigns", body=body)
    assert status == 422, problem
    assert fields <= error_fields(problem), problem
    status, problem = await send(api, "PUT", "/api/v1/campaigns/draft", body=body)
    assert status == 422, problem


async def test_non_json_and_empty_bodies_are_clear_4xx(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/campaigns",
        data=b"id=x",
        headers=api.auth("admin") | {"Content-Type": "text/plain"},
    )
    assert response.status == 415
    response = await api.client.post(
        "/api/v1/campaigns",
        data=b"",
        headers=api.auth("admin") | {"Content-Type": "application/json"},
    )
    assert response.status == 400
    response = await api.client.put(
        "/api/v1/campaigns/draft",
        data=b"[1]",
        headers=api.auth("admin") | {"Content-Type": "application/json"},
    )
    assert response.status == 422


async def test_lifecycle_moves_and_illegal_moves(api: Api) -> None:
    base = "/api/v1/campaigns/draft"
    for action in ("pause", "resume", "stop"):
        status, problem = await send(api, "POST", f"{base}/{action}")
        assert status == 409, action
        assert problem["type"] == "urn:ccd:problem:illegal-transition"
        assert problem["state"] == "draft"
    status, view = await send(api, "POST", f"{base}/start")
    assert (status, view["state"]) == (200, "running")
    assert (await send(api, "POST", f"{base}/start"))[0] == 409
    assert (await send(api, "POST", f"{base}/resume"))[0] == 409
    status, view = await send(api, "POST", f"{base}/pause")
    assert (status, view["state"]) == (200, "paused")
    assert (await send(api, "POST", f"{base}/pause"))[0] == 409
    status, view = await send(api, "POST", f"{base}/resume")
    assert (status, view["state"]) == (200, "running")
    status, view = await send(api, "POST", f"{base}/stop")
    assert (status, view["state"]) == (200, "stopped")
    for action in ("start", "pause", "resume", "stop"):
        status, problem = await send(api, "POST", f"{base}/{action}")
        assert status == 409, action
        assert "it is stopped" in problem["detail"]
    assert (await send(api, "POST", "/api/v1/campaigns/nope/start"))[0] == 404


async def test_start_and_resume_refused_while_the_campaign_breaks_a_rule(
    api: Api, store: DialerStore
) -> None:
    # A predictive campaign without its safe-harbor message is refused outright.
    predictive = {**MINIMAL, "mode": "predictive", "abandon_cap_pct": 5}
    status, problem = await send(api, "PUT", "/api/v1/campaigns/draft", body=predictive)
    assert status == 422
    assert error_fields(problem) == {"safe_harbor_prompt"}
    # Other rules: a draft may break them, start says which.
    predictive["safe_harbor_prompt"] = "safe-harbor"
    status, view = await send(api, "PUT", "/api/v1/campaigns/draft", body=predictive)
    assert status == 200  # a draft may be incomplete
    assert {p["field"] for p in view["problems"]} == {"abandon_cap_pct"}
    status, problem = await send(api, "POST", "/api/v1/campaigns/draft/start")
    assert status == 409
    assert problem["type"] == "urn:ccd:problem:campaign-not-ready"
    assert error_fields(problem) == {"abandon_cap_pct"}
    assert "abandon_cap_pct" in problem["detail"]
    assert (await store.get_campaign("draft")).campaign.state is CampaignState.DRAFT  # type: ignore[union-attr]

    # A running campaign cannot be changed into one that breaks a rule...
    status, problem = await send(api, "PUT", "/api/v1/campaigns/running", body=predictive)
    assert status == 422
    assert error_fields(problem) == {"abandon_cap_pct"}
    # ...and a paused one that breaks one (an older version's row) cannot resume.
    broken = replace(BASE, id="paused", mode=DialMode.PREDICTIVE, state=CampaignState.PAUSED)
    await store.put_campaign(broken)
    status, problem = await send(api, "POST", "/api/v1/campaigns/paused/resume")
    assert status == 409
    assert error_fields(problem) == {"safe_harbor_prompt"}

    fixed = {**predictive, "cap_override": True}
    status, view = await send(api, "PUT", "/api/v1/campaigns/draft", body=fixed)
    assert (status, view["problems"]) == (200, [])
    status, view = await send(api, "POST", "/api/v1/campaigns/draft/start")
    assert (status, view["state"]) == (200, "running")


async def test_delete_refused_once_the_campaign_has_dialed(
    api: Api, store: DialerStore, engine: AsyncEngine
) -> None:
    number = "+12125550123"
    contact = Contact(contact_id("running", number), "running", number, ("America/New_York",))
    await store.add_contacts("running", [contact])
    async with engine.begin() as connection:
        await connection.execute(
            insert(ATTEMPTS).values(
                campaign_id="running",
                contact_id=contact.id,
                number=number,
                started_at=T0,
                outcome="no-answer",
                safe_harbor_played=False,
            )
        )
    status, problem = await send(api, "DELETE", "/api/v1/campaigns/running")
    assert status == 409
    assert "compliance evidence" in problem["detail"]
    assert (await send(api, "GET", "/api/v1/campaigns/running"))[0] == 200


async def test_live_carries_the_contact_counts(api: Api, store: DialerStore) -> None:
    numbers = ["+12125550101", "+12125550102", "+12125550103"]
    await store.add_contacts(
        "draft",
        [Contact(contact_id("draft", n), "draft", n, ("America/New_York",)) for n in numbers],
    )
    status, view = await send(api, "GET", "/api/v1/campaigns/draft")
    assert status == 200
    assert view["live"] == {"contacts": {"total": 3, "left": 3, "dialing": 0, "done": 0}}


async def test_state_survives_a_restart(
    engine: AsyncEngine, store: DialerStore, audit: AuditStore
) -> None:
    async with running_api(dialer_store=store, audit=audit) as api:
        assert (await send(api, "POST", "/api/v1/campaigns/draft/start"))[0] == 200
        assert (await send(api, "POST", "/api/v1/campaigns/running/pause"))[0] == 200
    async with running_api(dialer_store=DialerStore(engine)) as api:
        _, listed = await send(api, "GET", "/api/v1/campaigns")
    assert {c["id"]: c["state"] for c in listed["campaigns"]} == {
        "draft": "running",
        "paused": "paused",
        "running": "paused",
    }


async def test_bad_path_ids_are_404_or_422(api: Api) -> None:
    assert (await send(api, "GET", "/api/v1/campaigns/a%20b"))[0] == 404
    status, problem = await send(api, "GET", "/api/v1/campaigns/a%0Ab")
    assert status == 422
    assert error_fields(problem) == {"id"}


async def test_without_a_store_the_routes_are_503() -> None:
    async with running_api(allow_server_errors=True) as api:
        status, problem = await send(api, "GET", "/api/v1/campaigns")
    assert status == 503
    assert "dialer store" in problem["detail"]


async def test_database_failure_is_503_not_500(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'no.db'}")
    try:
        async with running_api(dialer_store=DialerStore(engine), allow_server_errors=True) as api:
            status, problem = await send(api, "GET", "/api/v1/campaigns")
            assert status == 503
            assert problem["type"] == "urn:ccd:problem:upstream-unavailable"
            status, _ = await send(api, "POST", "/api/v1/campaigns/x/start")
            assert status == 503
    finally:
        await engine.dispose()


# --- do-not-call -------------------------------------------------------------------------


async def test_dnc_add_check_list_remove(api: Api) -> None:
    status, added = await send(api, "POST", "/api/v1/dnc", body={"number": "(212) 555-0142"})
    assert status == 201, added
    assert added == {"number": "+12125550142", "campaign_id": None, "added": True}
    status, again = await send(api, "POST", "/api/v1/dnc", body={"number": "+1 212 555 0142"})
    assert (status, again["added"]) == (200, False)
    status, _ = await send(
        api,
        "POST",
        "/api/v1/dnc",
        body={"number": "0612345678", "campaign_id": "draft", "region": "FR"},
    )
    assert status == 201

    status, check = await send(api, "GET", "/api/v1/dnc/check?number=2125550142", "agent")
    assert status == 200
    assert check["blocked"] is True
    assert [entry["list"] for entry in check["lists"]] == ["global"]
    status, check = await send(
        api, "GET", "/api/v1/dnc/check?number=%2B33612345678&campaign=draft", "agent"
    )
    assert (check["blocked"], [e["campaign_id"] for e in check["lists"]]) == (True, ["draft"])
    status, check = await send(api, "GET", "/api/v1/dnc/check?number=%2B33612345678")
    assert (status, check["blocked"], check["lists"]) == (200, False, [])

    status, page = await send(api, "GET", "/api/v1/dnc?limit=1")
    assert status == 200
    assert [e["number"] for e in page["entries"]] == ["+12125550111"]
    assert page["next_cursor"] == "+12125550111"
    status, page = await send(api, "GET", "/api/v1/dnc?limit=1&cursor=%2B12125550111")
    assert [e["number"] for e in page["entries"]] == ["+12125550142"]
    status, page = await send(api, "GET", "/api/v1/dnc?cursor=%2B12125550142")
    assert (page["entries"], page["next_cursor"]) == ([], None)
    status, page = await send(api, "GET", "/api/v1/dnc?campaign=draft")
    assert [e["number"] for e in page["entries"]] == ["+33612345678"]

    assert (await send(api, "DELETE", "/api/v1/dnc/2125550142"))[0] == 204
    status, problem = await send(api, "DELETE", "/api/v1/dnc/2125550142")
    assert status == 404
    assert "not on the global list" in problem["detail"]
    # Off the campaign's list, a national number of another region.
    path = "/api/v1/dnc/0612345678?campaign=draft&region=FR"
    assert (await send(api, "DELETE", path))[0] == 204
    assert (await send(api, "DELETE", path))[0] == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/api/v1/dnc", {"number": "12"}, 422, "number"),
        ("POST", "/api/v1/dnc", {"number": "not a number"}, 422, "number"),
        ("POST", "/api/v1/dnc", {"number": "2125550100\r\n"}, 422, "number"),
        ("POST", "/api/v1/dnc", {"number": "2125550100", "region": "ZZ"}, 422, "region"),
        ("POST", "/api/v1/dnc", {"number": "2125550100", "extra": 1}, 422, "extra"),
        ("POST", "/api/v1/dnc", {"number": "2125550100", "campaign_id": "nope"}, 404, None),
        ("GET", "/api/v1/dnc/check", None, 422, "number"),
        ("GET", "/api/v1/dnc/check?number=abc", None, 422, "number"),
        ("GET", "/api/v1/dnc/check?number=2125550100&campaign=nope", None, 404, None),
        ("GET", "/api/v1/dnc/check?number=2125550100&number=2125550101", None, 422, "number"),
        ("GET", "/api/v1/dnc?limit=0", None, 422, "limit"),
        ("GET", "/api/v1/dnc?limit=x", None, 422, "limit"),
        ("GET", "/api/v1/dnc?limit=%C2%B2", None, 422, "limit"),  # superscript two
        ("GET", "/api/v1/dnc?cursor=abc", None, 422, "cursor"),
        ("GET", "/api/v1/dnc?campaign=nope", None, 404, None),
        ("GET", "/api/v1/dnc?campaign=a%0Ab", None, 422, "campaign"),
        ("DELETE", "/api/v1/dnc/12", None, 422, "number"),
        ("DELETE", "/api/v1/dnc/2125550111?region=XX", None, 422, "region"),
        # Not the documented two letters, though US once it is stripped.
        ("DELETE", "/api/v1/dnc/2125550111?region=%20us", None, 422, "region"),
        ("GET", "/api/v1/dnc/check?number=2125550111&region=", None, 422, "region"),
    ],
)
async def test_dnc_refusals_are_clear_4xx(
    api: Api, method: str, path: str, body: object, status: int, field: str | None
) -> None:
    got, problem = await send(api, method, path, body=body)
    assert got == status, problem
    if field is not None:
        assert field in error_fields(problem), problem


async def post_csv(
    api: Api, path: str, text: str | bytes, content_type: str = "text/csv"
) -> tuple[int, Any]:
    data = text.encode() if isinstance(text, str) else text
    response = await api.client.post(
        path, data=data, headers=api.auth("admin") | {"Content-Type": content_type}
    )
    return response.status, await response.json()


async def test_dnc_import_reports_bad_rows(api: Api, store: DialerStore) -> None:
    text = "phone,note\n2125550150,a\nnot a number,b\n+12125550111,c\n2125550150,d\n"
    status, report = await post_csv(api, "/api/v1/dnc/import", text)
    assert status == 200, report
    assert {k: report[k] for k in ("read", "imported", "new", "already_there", "rejected")} == {
        "read": 4,
        "imported": 3,
        "new": 1,
        "already_there": 2,
        "rejected": 1,
    }
    assert report["bad_rows"] == [
        {"row": 3, "column": "phone", "reason": "unparseable number: not a phone number"}
    ]
    assert await store.is_blocked("+12125550150")
    # A plain list, one number per line, onto a campaign's list in its region.
    status, report = await post_csv(api, "/api/v1/dnc/import?campaign=draft", "2125550160\n")
    assert (status, report["new"]) == (200, 1)
    assert await store.is_blocked("+12125550160", campaign_id="draft")
    assert not await store.is_blocked("+12125550160")


async def test_dnc_import_refusals(api: Api) -> None:
    status, problem = await post_csv(api, "/api/v1/dnc/import", "a,b\n1,2\n")
    assert status == 422
    assert error_fields(problem) == {"body"}
    assert "no phone column" in problem["errors"][0]["message"]
    status, problem = await post_csv(api, "/api/v1/dnc/import", "{}", "application/json")
    assert status == 415
    status, problem = await post_csv(api, "/api/v1/dnc/import?campaign=nope", "2125550100\n")
    assert status == 404
    status, problem = await post_csv(api, "/api/v1/dnc/import?region=QQ", "2125550100\n")
    assert (status, error_fields(problem)) == (422, {"region"})


async def test_dnc_import_is_not_bound_by_the_json_body_cap(api: Api, store: DialerStore) -> None:
    # The test app caps JSON bodies at 4096 bytes; an upload streams past that.
    numbers = [f"+1212555{n:04d}" for n in range(2000, 4000)]
    text = "phone\n" + "\n".join(numbers) + "\n"
    assert len(text) > 6 * 4096
    status, report = await post_csv(api, "/api/v1/dnc/import", text)
    assert (status, report["new"], report["rejected"]) == (200, 2000, 0)
    assert len(await store.list_dnc(limit=5000)) == 2001


# --- contacts upload ---------------------------------------------------------------------

CONTACTS = (
    "Mobile,Full name,TZ,plan\n"
    "(212) 555-0100,Alice Martin,,gold\n"
    "+33 6 12 34 56 78,Chloé Durand,Europe/Paris,silver\n"
    "not a number,Bob,,\n"
    "212 555 0100,Alice again,,\n"
    "2125550101,Carol,Mars/Olympus,\n"
)
MAPPED = "/api/v1/campaigns/draft/contacts?phone_column=Mobile&name_column=Full+name&tz_column=TZ"


async def test_contacts_upload_imports_good_rows_and_reports_bad_ones(
    api: Api, store: DialerStore
) -> None:
    status, report = await post_csv(api, MAPPED, CONTACTS)
    assert status == 200, report
    assert {k: report[k] for k in ("read", "imported", "new", "already_there", "rejected")} == {
        "read": 5,
        "imported": 2,
        "new": 2,
        "already_there": 0,
        "rejected": 3,
    }
    assert report["bad_rows"] == [
        {"row": 4, "column": "Mobile", "reason": "unparseable number: not a phone number"},
        {"row": 5, "column": "Mobile", "reason": "duplicate: same number as row 2"},
        {
            "row": 6,
            "column": "TZ",
            "reason": "unknown time zone 'Mars/Olympus' (an IANA name: America/New_York)",
        },
    ]
    alice = await store.get_contact(contact_id("draft", "+12125550100"))
    assert alice is not None
    assert (alice.contact.name, alice.contact.fields) == ("Alice Martin", {"plan": "gold"})
    assert alice.contact.time_zones == ("America/New_York",)

    # The same file again changes nothing.
    status, again = await post_csv(api, MAPPED, CONTACTS)
    assert status == 200
    assert (again["imported"], again["new"], again["already_there"]) == (2, 0, 2)
    status, view = await send(api, "GET", "/api/v1/campaigns/draft")
    assert view["live"]["contacts"] == {"total": 2, "left": 2, "dialing": 0, "done": 0}


async def test_contacts_upload_streams_past_the_json_body_cap(api: Api, store: DialerStore) -> None:
    lines = [f"+1212555{n:04d},Customer {n}" for n in range(2000, 3000)]
    text = "phone,name\n" + "\n".join(lines) + "\n"
    assert len(text) > 4 * 4096
    status, report = await post_csv(api, "/api/v1/campaigns/running/contacts", text)
    assert (status, report["new"], report["rejected"]) == (200, 1000, 0)
    assert (await store.contact_counts("running"))[ContactStatus.PENDING] == 1000


async def test_contacts_upload_refusals(api: Api, store: DialerStore) -> None:
    base = "/api/v1/campaigns/draft/contacts"
    # Unusable: every problem at once, nothing written.
    status, problem = await post_csv(api, f"{base}?tz_column=Zone", "number,who\n2125550100,A\n")
    assert status == 422, problem
    messages = [e["message"] for e in problem["errors"]]
    assert len(messages) == 2
    assert "no phone column 'phone'" in messages[0]
    assert "no time zone column 'Zone'" in messages[1]
    status, problem = await post_csv(api, base, "")
    assert (status, problem["errors"][0]["message"]) == (
        422,
        "the file is empty: the first row must name the columns",
    )
    status, problem = await post_csv(api, f"{base}?region=QQ", "phone\n2125550100\n")
    assert status == 422
    assert "unknown default region" in problem["errors"][0]["message"]
    status, problem = await post_csv(api, f"{base}?region=%20us", "phone\n2125550100\n")
    assert (status, error_fields(problem)) == (422, {"region"})
    # Not one good row: 422 with every bad row, and the counts.
    status, problem = await post_csv(api, base, "phone\nnope\n12\n")
    assert status == 422
    assert [e["message"] for e in problem["errors"]] == [
        "row 2, column 'phone': unparseable number: not a phone number",
        "row 3, column 'phone': not a valid number: too short",
    ]
    assert (problem["read"], problem["rejected"]) == (2, 2)
    status, problem = await post_csv(api, base, "phone\n")
    assert status == 422
    assert (await store.contact_counts("draft"))[ContactStatus.PENDING] == 0

    assert (await post_csv(api, base, "{}", "application/json"))[0] == 415
    assert (await post_csv(api, "/api/v1/campaigns/nope/contacts", "phone\n"))[0] == 404
    status, problem = await post_csv(api, f"{base}?phone_column=a%0Ab", "phone\n")
    assert (status, error_fields(problem)) == (422, {"phone_column"})
    assert (await send(api, "POST", "/api/v1/campaigns/draft/start"))[0] == 200
    assert (await send(api, "POST", "/api/v1/campaigns/draft/stop"))[0] == 200
    status, problem = await post_csv(api, base, "phone\n2125550100\n")
    assert status == 409
    assert "stopped" in problem["detail"]


async def test_contacts_upload_rejects_a_row_that_is_not_utf8(api: Api) -> None:
    data = b"phone,name\n2125550100,Ann\n2125550101,\xff\xfe\n"
    status, report = await post_csv(api, "/api/v1/campaigns/draft/contacts", data)
    assert (status, report["new"]) == (200, 1)
    assert report["bad_rows"] == [{"row": 3, "column": "name", "reason": "not UTF-8 text"}]


async def test_an_empty_cursor_is_the_first_page_as_documented(api: Api) -> None:
    _, first = await send(api, "GET", "/api/v1/dnc")
    assert (await send(api, "GET", "/api/v1/dnc?cursor="))[1] == first
    assert (await send(api, "GET", "/api/v1/dnc?cursor=abc"))[0] == 422
    response = await api.client.get("/api/v1/openapi.json")
    document = await response.json()
    [cursor] = [
        p for p in document["paths"]["/api/v1/dnc"]["get"]["parameters"] if p["name"] == "cursor"
    ]
    pattern = cursor["schema"]["pattern"]
    assert re.search(pattern, "") is not None
    assert re.search(pattern, "+12125550111") is not None
    assert re.search(pattern, "abc") is None


# --- the audit trail ---------------------------------------------------------------------


async def _trail(api: Api, query: str = "") -> list[dict[str, Any]]:
    """The audit trail as an admin reads it, oldest first."""
    status, body = await send(api, "GET", f"/api/v1/audit?limit=1000{query}")
    assert status == 200, body
    return list(reversed(body["events"]))


async def test_every_campaign_change_is_audited_with_before_and_after(api: Api) -> None:
    body = {"id": "winter", **MINIMAL}
    assert (await send(api, "POST", "/api/v1/campaigns", "supervisor", body))[0] == 201
    changed = {**MINIMAL, "name": "Winter sale"}
    assert (await send(api, "PUT", "/api/v1/campaigns/winter", "supervisor", changed))[0] == 200
    for action in ("start", "pause", "resume", "stop"):
        assert (await send(api, "POST", f"/api/v1/campaigns/winter/{action}"))[0] == 200
    assert (await send(api, "DELETE", "/api/v1/campaigns/winter", "supervisor"))[0] == 204
    # Refused changes leave no entry.
    assert (await send(api, "POST", "/api/v1/campaigns/draft/pause"))[0] == 409
    assert (await send(api, "PUT", "/api/v1/campaigns/nope", body=MINIMAL))[0] == 404

    trail = await _trail(api, "&target_kind=campaign")
    assert [(e["action"], e["target_id"], e["actor"]["token_id"]) for e in trail] == [
        ("campaign.created", "winter", "t-sup"),
        ("campaign.updated", "winter", "t-sup"),
        ("campaign.started", "winter", "t-admin"),
        ("campaign.paused", "winter", "t-admin"),
        ("campaign.resumed", "winter", "t-admin"),
        ("campaign.stopped", "winter", "t-admin"),
        ("campaign.deleted", "winter", "t-sup"),
    ]
    created, updated, started, paused, resumed, stopped, deleted = (e["detail"] for e in trail)
    assert created["before"] is None
    assert (created["after"]["name"], created["after"]["state"]) == ("winter", "draft")
    assert (updated["before"]["name"], updated["after"]["name"]) == ("winter", "Winter sale")
    assert started == {"before": {"state": "draft"}, "after": {"state": "running"}}
    assert paused == {"before": {"state": "running"}, "after": {"state": "paused"}}
    assert resumed == {"before": {"state": "paused"}, "after": {"state": "running"}}
    assert stopped == {"before": {"state": "running"}, "after": {"state": "stopped"}}
    assert deleted["after"] is None
    assert (deleted["before"]["name"], deleted["before"]["state"]) == ("Winter sale", "stopped")


async def test_a_contact_upload_is_audited_with_counts_not_rows(api: Api) -> None:
    text = "phone,name\n2125550170,Ann\nnot a number,Bob\n2125550171,Cy\n"
    status, report = await post_csv(api, "/api/v1/campaigns/draft/contacts", text)
    assert status == 200, report
    # Not one good row: nothing imported, nothing audited.
    status, _ = await post_csv(api, "/api/v1/campaigns/draft/contacts", "phone\nnope\n")
    assert status == 422
    trail = await _trail(api)
    assert [(e["action"], e["target_kind"], e["target_id"]) for e in trail] == [
        ("campaign.contacts_imported", "campaign", "draft")
    ]
    assert trail[0]["actor"]["token_id"] == "t-admin"
    assert trail[0]["detail"] == {
        "read": 3,
        "imported": 2,
        "new": 2,
        "already_there": 0,
        "rejected": 1,
    }
    assert "2125550170" not in str(trail[0])


async def test_dnc_changes_are_audited(api: Api) -> None:
    status, _ = await send(api, "POST", "/api/v1/dnc", "supervisor", {"number": "2125550199"})
    assert status == 201
    # Already there: no change, no entry.
    assert (await send(api, "POST", "/api/v1/dnc", body={"number": "+12125550199"}))[0] == 200
    add = {"number": "0612345678", "campaign_id": "draft", "region": "FR"}
    assert (await send(api, "POST", "/api/v1/dnc", body=add))[0] == 201
    assert (await send(api, "DELETE", "/api/v1/dnc/2125550111", "supervisor"))[0] == 204
    assert (await send(api, "DELETE", "/api/v1/dnc/2125550111"))[0] == 404
    text = "phone\n2125550160\nbad\n2125550161\n"
    assert (await post_csv(api, "/api/v1/dnc/import?campaign=draft", text))[0] == 200

    trail = await _trail(api)
    assert [(e["action"], e["target_kind"], e["target_id"]) for e in trail] == [
        ("dnc.added", "dnc", "+12125550199"),
        ("dnc.added", "dnc", "+33612345678"),
        ("dnc.removed", "dnc", "+12125550111"),
        ("dnc.imported", "dnc_list", "draft"),
    ]
    assert [e["actor"]["token_id"] for e in trail] == ["t-sup", "t-admin", "t-sup", "t-admin"]
    assert trail[0]["detail"] == {
        "before": None,
        "after": {"number": "+12125550199", "campaign_id": None, "list": "global"},
    }
    assert trail[1]["detail"]["after"] == {
        "number": "+33612345678",
        "campaign_id": "draft",
        "list": "draft",
    }
    assert trail[2]["detail"] == {
        "before": {"number": "+12125550111", "campaign_id": None, "list": "global"},
        "after": None,
    }
    assert trail[3]["detail"] == {
        "campaign_id": "draft",
        "read": 3,
        "imported": 2,
        "new": 2,
        "already_there": 0,
        "rejected": 1,
    }


async def test_a_trail_failing_after_the_change_is_a_503_saying_it_was_done(
    store: DialerStore, tmp_path: Path
) -> None:
    # Never migrated: the trail exists but every write to it fails in the driver.
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-audit.sqlite3'}")
    try:
        async with running_api(
            dialer_store=store, audit=AuditStore(broken), allow_server_errors=True
        ) as api:
            status, problem = await send(api, "POST", "/api/v1/campaigns/draft/start")
            assert (status, problem["type"]) == (503, "urn:ccd:problem:upstream-unavailable")
            assert problem["detail"] == (
                "campaign.started 'draft' was done, but the audit trail is unavailable:"
                " it was not recorded"
            )
            status, problem = await send(api, "POST", "/api/v1/dnc", body={"number": "2125550199"})
            assert status == 503
            assert "dnc.added '+12125550199' was done" in problem["detail"]
    finally:
        await broken.dispose()
    stored = await store.get_campaign("draft")
    assert stored is not None
    assert stored.campaign.state is CampaignState.RUNNING
    assert "+12125550199" in [e.number for e in await store.list_dnc()]


async def test_without_an_audit_trail_nothing_changes(store: DialerStore) -> None:
    """A change that could not be audited is refused before it is made (503)."""
    before = await _everything(store)
    async with running_api(dialer_store=store, allow_server_errors=True) as api:
        for method, path, body in [
            ("POST", "/api/v1/campaigns", {"id": "winter", **MINIMAL}),
            ("PUT", "/api/v1/campaigns/draft", MINIMAL),
            ("DELETE", "/api/v1/campaigns/draft", None),
            ("POST", "/api/v1/campaigns/draft/start", None),
            ("POST", "/api/v1/dnc", {"number": "2125550199"}),
            ("DELETE", "/api/v1/dnc/2125550111", None),
        ]:
            status, problem = await send(api, method, path, body=body)
            assert (status, problem["detail"]) == (
                503,
                "the audit trail is unavailable; retry later",
            ), path
        # A bad request is answered as it would be with a trail.
        assert (await send(api, "POST", "/api/v1/campaigns", body={"id": "x"}))[0] == 422
        assert (await send(api, "POST", "/api/v1/campaigns/running/start"))[0] == 409
        for path in ("/api/v1/campaigns/draft/contacts", "/api/v1/dnc/import"):
            status, problem = await post_csv(api, path, "phone\n2125550177\n")
            assert status == 503, path
    assert await _everything(store) == before
