"""A campaign's Asterisk server over HTTP: ``server`` on create, update and read, checked
against the configured servers (422 naming ``server``), audited before and after, and
changed only while no call of the campaign can be in flight (409)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import DialerStore
from ccd.dialer.model import Campaign, CampaignState, Contact, DialMode, Outcome
from ccd.dialer.retries import Done, DoneReason
from tests.integration.apifakes import Api, error_fields, running_api, send

SERVERS = ("east", "west")  # east first: the default one
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BODY = {"mode": "progressive", "caller_id": "+12125550100", "queue_id": "sales"}
PAUSED = Campaign(
    id="paused",
    name="Paused",
    mode=DialMode.PROGRESSIVE,
    caller_id="+12125550100",
    queue_id="sales",
    state=CampaignState.PAUSED,
    server="east",
)


@pytest.fixture
async def store(engine: AsyncEngine) -> DialerStore:
    store = DialerStore(engine)
    await store.put_campaign(PAUSED)
    await store.put_campaign(replace(PAUSED, id="running", state=CampaignState.RUNNING))
    await store.add_contacts(
        "paused", [Contact("paused-0", "paused", "+12125550142", ("America/New_York",))]
    )
    return store


@pytest.fixture
async def api(engine: AsyncEngine, store: DialerStore) -> AsyncIterator[Api]:
    async with running_api(
        dialer_store=store,
        dialer_attempts=AttemptStore(engine),
        audit=AuditStore(engine),
        asterisk_servers=SERVERS,
    ) as api:
        yield api


async def _trail(api: Api) -> list[dict[str, Any]]:
    status, body = await send(api, "GET", "/api/v1/audit?limit=100&target_kind=campaign")
    assert status == 200, body
    return list(reversed(body["events"]))


async def test_server_is_stored_shown_and_audited(api: Api) -> None:
    status, created = await send(
        api, "POST", "/api/v1/campaigns", "supervisor", {"id": "spring", **BODY, "server": "west"}
    )
    assert status == 201, created
    assert created["server"] == "west"
    status, got = await send(api, "GET", "/api/v1/campaigns/spring")
    assert (status, got["server"]) == (200, "west")
    status, listed = await send(api, "GET", "/api/v1/campaigns")
    assert {c["id"]: c["server"] for c in listed["campaigns"]}["spring"] == "west"

    # A draft moves freely; omitted, it goes back to the default (null).
    status, moved = await send(api, "PUT", "/api/v1/campaigns/spring", body={**BODY})
    assert (status, moved["server"]) == (200, None)
    created_entry, updated_entry = await _trail(api)
    assert created_entry["detail"]["after"]["server"] == "west"
    assert updated_entry["detail"]["before"]["server"] == "west"
    assert updated_entry["detail"]["after"]["server"] is None


async def test_a_campaign_without_server_reads_null(api: Api) -> None:
    status, created = await send(api, "POST", "/api/v1/campaigns", body={"id": "plain", **BODY})
    assert (status, created["server"]) == (201, None)


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ("north", "no Asterisk server named 'north' (configured: east, west)"),
        ("West", "String should match pattern"),
        ("west\r\nAction: Originate", "must not contain CR, LF or NUL"),
        ("", "String should match pattern"),
        (5, "Input should be a valid string"),
    ],
)
async def test_a_server_not_configured_or_malformed_is_a_422_naming_server(
    api: Api, server: object, reason: str
) -> None:
    status, problem = await send(
        api, "POST", "/api/v1/campaigns", body={"id": "bad", **BODY, "server": server}
    )
    assert status == 422, problem
    assert error_fields(problem) == {"server"}
    assert reason in str(problem["errors"])
    assert (await send(api, "GET", "/api/v1/campaigns/bad"))[0] == 404
    status, problem = await send(
        api, "PUT", "/api/v1/campaigns/paused", body={**BODY, "server": server}
    )
    assert (status, error_fields(problem)) == (422, {"server"})
    assert (await send(api, "GET", "/api/v1/campaigns/paused"))[1]["server"] == "east"
    assert await _trail(api) == []


async def test_a_running_campaign_cannot_move_to_another_server(api: Api) -> None:
    status, problem = await send(
        api, "PUT", "/api/v1/campaigns/running", body={**BODY, "server": "west"}
    )
    assert status == 409, problem
    assert "pause it before moving it" in problem["detail"]
    assert (await send(api, "GET", "/api/v1/campaigns/running"))[1]["server"] == "east"
    # The same server (named, or as the default: east is the first) is no move.
    status, same = await send(
        api, "PUT", "/api/v1/campaigns/running", body={**BODY, "name": "R", "server": "east"}
    )
    assert (status, same["name"]) == (200, "R")
    status, same = await send(api, "PUT", "/api/v1/campaigns/running", body={**BODY})
    assert (status, same["server"]) == (200, None)
    assert [e["action"] for e in await _trail(api)] == ["campaign.updated", "campaign.updated"]


async def test_a_paused_campaign_moves_only_once_its_calls_have_ended(
    api: Api, engine: AsyncEngine
) -> None:
    attempts = AttemptStore(engine)
    claimed = await attempts.claim("paused-0", channel_id="ccd-dial-1", now=T0.timestamp())
    status, problem = await send(
        api, "PUT", "/api/v1/campaigns/paused", body={**BODY, "server": "west"}
    )
    assert status == 409, problem
    assert "1 call(s) still in flight on server 'east'" in problem["detail"]
    assert (await send(api, "GET", "/api/v1/campaigns/paused"))[1]["server"] == "east"

    await attempts.finish(
        claimed.attempt_id,
        outcome=Outcome.NO_ANSWER,
        ended_at=T0.timestamp() + 30,
        next=Done(DoneReason.MAX_ATTEMPTS),
    )
    status, moved = await send(
        api, "PUT", "/api/v1/campaigns/paused", body={**BODY, "server": "west"}
    )
    assert (status, moved["server"]) == (200, "west")
