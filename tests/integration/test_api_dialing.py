"""Agents working a campaign over REST (preview, dispositions), a contact's history and
the campaign's live view, against a real SQLite database and a fake running dialer
(``dialerfakes.FakeDialer``), served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import ContactStatus, DialerStore
from ccd.dialer.contacts import contact_id
from ccd.dialer.model import Campaign, CampaignState, Contact, DialMode, Outcome
from ccd.dialer.retries import Done, DoneReason
from tests.integration.apifakes import T0, Api, error_fields, running_api, send
from tests.integration.authmatrix import (
    AGENT_ACTIONS,
    ANSWERED_CONTACT,
    DIALING_ENDPOINTS,
    IDENTITIES,
    OFFERED_CONTACT,
    PREVIEW_NUMBERS,
    call,
    expected_status,
    headers_for,
)
from tests.integration.dialerfakes import FakeDialer

NOW = T0 + timedelta(seconds=30)  # running_api's clock
PREVIEW = Campaign(
    id="preview",
    name="Preview",
    mode=DialMode.PREVIEW,
    caller_id="+12125550100",
    agent_ids=frozenset({"1001", "1002"}),
    state=CampaignState.RUNNING,
)
DISPOSITIONS = "/api/v1/campaigns/preview/dispositions"
ANSWERED_AT = (T0 - timedelta(minutes=5)).timestamp()


@dataclass
class Stores:
    dialer: DialerStore
    attempts: AttemptStore
    audit: AuditStore


@pytest.fixture
async def stores(engine: AsyncEngine) -> Stores:
    """Campaigns "preview" (running, three contacts; attempt 1, of the first contact, was
    answered by agent 1001 and is waiting for its disposition) and "empty" (running, no
    contacts) and "draft"."""
    store, attempts = DialerStore(engine), AttemptStore(engine)
    await store.put_campaign(PREVIEW)
    await store.put_campaign(replace(PREVIEW, id="empty"))
    await store.put_campaign(replace(PREVIEW, id="draft", state=CampaignState.DRAFT))
    await store.add_contacts(
        "preview",
        [
            Contact(
                contact_id("preview", number),
                "preview",
                number,
                ("America/New_York",),
                name=f"Customer {index}",
                fields={"plan": "gold"},
            )
            for index, number in enumerate(PREVIEW_NUMBERS)
        ],
    )
    claimed = await attempts.claim(
        ANSWERED_CONTACT, channel_id="ccd-dial-1", now=ANSWERED_AT - 10, agent_id="1001"
    )
    assert claimed.attempt_id == 1
    await attempts.answered(1, at=ANSWERED_AT, amd_status=None)
    await attempts.connected(1, agent_id="1001", at=ANSWERED_AT + 1)
    await attempts.finish(
        1, outcome=Outcome.ANSWERED, ended_at=ANSWERED_AT + 60, next=Done(DoneReason.ANSWERED)
    )
    return Stores(store, attempts, AuditStore(engine))


@pytest.fixture
def dialer(stores: Stores) -> FakeDialer:
    return FakeDialer(stores.dialer, stores.attempts, now=NOW.timestamp)


@pytest.fixture
async def api(stores: Stores, dialer: FakeDialer) -> AsyncIterator[Api]:
    async with running_api(
        dialer_store=stores.dialer,
        dialer=dialer,
        dialer_attempts=stores.attempts,
        audit=stores.audit,
    ) as api:
        yield api


async def _disposition(stores: Stores) -> str | None:
    attempt = await stores.attempts.get(1)
    assert attempt is not None
    return attempt.disposition


# --- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(DIALING_ENDPOINTS))
async def test_auth_matrix(route: str, identity: str, stores: Stores, dialer: FakeDialer) -> None:
    endpoint = DIALING_ENDPOINTS[route]
    async with running_api(
        dialer_store=stores.dialer,
        dialer=dialer,
        dialer_attempts=stores.attempts,
        audit=stores.audit,
    ) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)
    if status in (401, 403):
        assert dialer.calls == []  # a refused caller reached nothing
        assert await _disposition(stores) is None


@pytest.mark.parametrize("route", AGENT_ACTIONS)
async def test_an_agent_acting_for_another_agent_is_403(
    route: str, api: Api, dialer: FakeDialer, stores: Stores
) -> None:
    endpoint = DIALING_ENDPOINTS[route]
    assert endpoint.body is not None
    body = {**endpoint.body, "agent_id": "1002"}
    status, problem = await send(api, endpoint.method, endpoint.path, "agent", body)
    assert status == 403
    assert problem["detail"] == "agents may only act on their own agent id"
    assert dialer.calls == []
    assert await _disposition(stores) is None


# --- preview -----------------------------------------------------------------------------


async def test_preview_offers_a_contact_with_what_the_agent_needs(
    api: Api, dialer: FakeDialer
) -> None:
    status, offer = await send(api, "POST", "/api/v1/campaigns/preview/preview", "agent")
    assert status == 200, offer
    assert offer["campaign_id"] == "preview"
    assert offer["agent_id"] == "1001"  # the agent token's own id, no body needed
    contact = offer["contact"]
    assert contact == {
        "id": OFFERED_CONTACT,
        "campaign_id": "preview",
        "number": PREVIEW_NUMBERS[1],
        "name": "Customer 1",
        "fields": {"plan": "gold"},
        "time_zones": ["America/New_York"],
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": contact["next_attempt_at"],
        "call_back": False,
        "call_back_owner": None,
        "last_outcome": None,
        "done_reason": None,
    }
    assert contact["next_attempt_at"].endswith("Z")
    # Until it is dialed or skipped, asking again gives the same contact.
    again = await send(api, "POST", "/api/v1/campaigns/preview/preview", "agent")
    assert again == (200, offer)
    assert dialer.calls == [("preview_next", "preview", "1001")] * 2


async def test_a_supervisor_names_the_agent(api: Api, dialer: FakeDialer) -> None:
    path = "/api/v1/campaigns/preview/preview"
    status, problem = await send(api, "POST", path, "supervisor")
    assert status == 422
    assert error_fields(problem) == {"agent_id"}
    status, offer = await send(api, "POST", path, "supervisor", {"agent_id": "1002"})
    assert status == 200, offer
    assert offer["agent_id"] == "1002"
    assert dialer.calls == [("preview_next", "preview", "1002")]


async def test_preview_dial_and_skip(api: Api, dialer: FakeDialer) -> None:
    base = "/api/v1/campaigns/preview/preview"
    status, offer = await send(api, "POST", base, "agent")
    assert status == 200
    offered = offer["contact"]["id"]
    status, dialing = await send(api, "POST", f"{base}/{offered}/dial", "agent")
    assert status == 202, dialing
    assert dialing == {
        "campaign_id": "preview",
        "agent_id": "1001",
        "contact_id": offered,
        "status": "dialing",
    }
    status, offer = await send(api, "POST", base, "admin", {"agent_id": "1002"})
    assert status == 200
    skipped = offer["contact"]["id"]
    skip = await send(api, "POST", f"{base}/{skipped}/skip", "admin", {"agent_id": "1002"})
    assert skip == (204, None)
    assert dialer.calls[1] == ("preview_dial", "preview", "1001", offered)
    assert dialer.calls[3] == ("preview_skip", "preview", "1002", skipped)


async def test_no_contact_due_is_204(api: Api) -> None:
    assert await send(api, "POST", "/api/v1/campaigns/empty/preview", "agent") == (204, None)


async def test_dialer_refusals_are_409_with_their_reason(api: Api, dialer: FakeDialer) -> None:
    base = "/api/v1/campaigns/preview/preview"
    status, _ = await send(api, "POST", base, "agent")
    assert status == 200
    # Another contact than the one offered: the dialer refuses.
    status, problem = await send(api, "POST", f"{base}/{ANSWERED_CONTACT}/dial", "agent")
    assert status == 409
    assert problem["type"] == "urn:ccd:problem:dialer-refused"
    assert problem["detail"] == f"contact {ANSWERED_CONTACT} is not offered to agent 1001"
    dialer.refuse_with = "campaign draft is not running"
    status, problem = await send(api, "POST", "/api/v1/campaigns/draft/preview", "agent")
    assert (status, problem["detail"]) == (409, "campaign draft is not running")


async def test_preview_refusals_are_clear_4xx(api: Api, dialer: FakeDialer) -> None:
    base = "/api/v1/campaigns/preview/preview"
    assert (await send(api, "POST", "/api/v1/campaigns/nope/preview", "agent"))[0] == 404
    assert (await send(api, "POST", "/api/v1/campaigns/nope/preview/x/skip", "agent"))[0] == 404
    for body, field in [
        ({"agent_id": "10\r\n01"}, "agent_id"),
        ({"agent_id": "1001\x00"}, "agent_id"),
        ({"agent_id": 1001}, "agent_id"),
        ({"agent": "1001"}, "agent"),
    ]:
        status, problem = await send(api, "POST", base, "supervisor", body)
        assert status == 422, body
        assert field in error_fields(problem), problem
    status, problem = await send(api, "POST", f"{base}/a%0Ab/dial", "agent")
    assert status == 422
    assert error_fields(problem) == {"contact_id"}
    response = await api.client.post(
        base, headers=api.auth("agent") | {"Content-Type": "application/json"}, data=b"{nope"
    )
    assert response.status == 400
    response = await api.client.post(
        base, headers=api.auth("agent") | {"Content-Type": "text/plain"}, data=b"x"
    )
    assert response.status == 415
    assert dialer.calls == []


async def test_without_a_dialer_the_agent_routes_are_503(stores: Stores) -> None:
    async with running_api(dialer_store=stores.dialer, dialer_attempts=stores.attempts) as api:
        for path, body in [
            ("/api/v1/campaigns/preview/preview", None),
            (f"/api/v1/campaigns/preview/preview/{OFFERED_CONTACT}/dial", None),
            (DISPOSITIONS, {"attempt_id": 1, "disposition": "sale"}),
        ]:
            status, problem = await send(api, "POST", path, "agent", body)
            assert status == 503, path
            assert problem["detail"] == "the dialer is not running in this process"


# --- dispositions ------------------------------------------------------------------------


async def test_an_agent_disposes_its_attempt(api: Api, stores: Stores, dialer: FakeDialer) -> None:
    body = {"attempt_id": 1, "disposition": "sale"}
    status, attempt = await send(api, "POST", DISPOSITIONS, "agent", body)
    assert status == 200, attempt
    assert attempt["id"] == 1
    assert attempt["disposition"] == "sale"
    assert attempt["agent_id"] == "1001"
    assert attempt["outcome"] == "answered"
    assert attempt["contact_id"] == ANSWERED_CONTACT
    assert dialer.calls == [("dispose", "preview", 1, "1001", "sale", None, False)]
    contact = await stores.dialer.get_contact(ANSWERED_CONTACT)
    assert contact is not None
    assert contact.status is ContactStatus.DONE


async def test_a_call_back_belongs_to_the_agent_unless_anyone_may_take_it(
    api: Api, stores: Stores, dialer: FakeDialer
) -> None:
    at = "2026-11-26T10:30:00-05:00"  # 10:30 in New York: inside the calling window
    body = {"attempt_id": 1, "disposition": "call-back", "call_back_at": at}
    status, attempt = await send(api, "POST", DISPOSITIONS, "agent", body)
    assert status == 200, attempt
    expected = datetime(2026, 11, 26, 15, 30, tzinfo=UTC).timestamp()
    assert dialer.calls == [("dispose", "preview", 1, "1001", "call-back", expected, False)]
    contact = await stores.dialer.get_contact(ANSWERED_CONTACT)
    assert contact is not None
    assert (contact.status, contact.callback_owner) == (ContactStatus.PENDING, "1001")
    assert contact.next_attempt_at == datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


async def test_a_call_back_for_anyone(api: Api, stores: Stores) -> None:
    body = {
        "attempt_id": 1,
        "disposition": "call-back",
        "call_back_at": "2026-11-26T15:30:00Z",
        "call_back_anyone": True,
    }
    status, _ = await send(api, "POST", DISPOSITIONS, "agent", body)
    assert status == 200
    contact = await stores.dialer.get_contact(ANSWERED_CONTACT)
    assert contact is not None
    assert (contact.status, contact.callback_owner) == (ContactStatus.PENDING, None)


async def test_do_not_call_puts_the_number_on_the_list(api: Api, stores: Stores) -> None:
    body = {"attempt_id": 1, "disposition": "do-not-call"}
    assert (await send(api, "POST", DISPOSITIONS, "agent", body))[0] == 200
    assert await stores.dialer.is_blocked(PREVIEW_NUMBERS[0], campaign_id="preview")


async def test_a_supervisor_disposes_for_the_attempts_agent(api: Api, dialer: FakeDialer) -> None:
    body = {"attempt_id": 1, "disposition": "no-sale"}
    status, attempt = await send(api, "POST", DISPOSITIONS, "supervisor", body)
    assert status == 200, attempt
    assert dialer.calls == [("dispose", "preview", 1, "1001", "no-sale", None, False)]
    # Naming another agent than the one who took the call: the dialer refuses.
    status, problem = await send(
        api, "POST", DISPOSITIONS, "admin", {**body, "disposition": "sale", "agent_id": "1002"}
    )
    assert status == 409
    assert problem["detail"] == "attempt 1 was not answered by agent 1002"


async def test_another_disposition_of_a_disposed_attempt_is_409(api: Api) -> None:
    body = {"attempt_id": 1, "disposition": "sale"}
    assert (await send(api, "POST", DISPOSITIONS, "agent", body))[0] == 200
    assert (await send(api, "POST", DISPOSITIONS, "agent", body))[0] == 200  # the same: kept
    status, problem = await send(
        api, "POST", DISPOSITIONS, "agent", {**body, "disposition": "no-sale"}
    )
    assert status == 409
    assert "already has disposition 'sale'" in problem["detail"]


async def test_unknown_attempts_and_campaigns(api: Api) -> None:
    body = {"attempt_id": 99, "disposition": "sale"}
    status, problem = await send(api, "POST", DISPOSITIONS, "agent", body)
    assert (status, problem["detail"]) == (409, "attempt 99 is not one of campaign preview")
    status, problem = await send(api, "POST", DISPOSITIONS, "supervisor", body)
    assert (status, problem["detail"]) == (409, "attempt 99 is not one of campaign preview")
    # Attempt 1 is campaign preview's, not empty's.
    status, _ = await send(
        api, "POST", "/api/v1/campaigns/empty/dispositions", "agent", {**body, "attempt_id": 1}
    )
    assert status == 409
    status, _ = await send(api, "POST", "/api/v1/campaigns/nope/dispositions", "agent", body)
    assert status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attempt_id": 1, "disposition": "maybe"}, "disposition"),
        ({"attempt_id": 1, "disposition": "call-back"}, "call_back_at"),
        (
            {"attempt_id": 1, "disposition": "call-back", "call_back_at": "2026-11-26T10:30:00"},
            "call_back_at",
        ),
        (
            {"attempt_id": 1, "disposition": "call-back", "call_back_at": "tomorrow"},
            "call_back_at",
        ),
        (
            {"attempt_id": 1, "disposition": "call-back", "call_back_at": 1795000000},
            "call_back_at",
        ),
        ({"attempt_id": "1", "disposition": "sale"}, "attempt_id"),
        ({"attempt_id": 0, "disposition": "sale"}, "attempt_id"),
        # Past BIGINT: no such attempt can exist (the driver overflowed: a 500).
        ({"attempt_id": 2**63, "disposition": "sale"}, "attempt_id"),
        ({"disposition": "sale"}, "attempt_id"),
        ({"attempt_id": 1}, "disposition"),
        ({"attempt_id": 1, "disposition": "sa\r\nle"}, "disposition"),
        ({"attempt_id": 1, "disposition": "sale\x00"}, "disposition"),
        (
            {"attempt_id": 1, "disposition": "call-back", "call_back_at": "2026-11-26T15:30Z\r\n"},
            "call_back_at",
        ),
        ({"attempt_id": 1, "disposition": "sale", "agent_id": "1001\n"}, "agent_id"),
        ({"attempt_id": 1, "disposition": "sale", "call_back_anyone": "yes"}, "call_back_anyone"),
        ({"attempt_id": 1, "disposition": "sale", "note": "x"}, "note"),
    ],
)
async def test_invalid_dispositions_are_422_naming_the_field(
    body: dict[str, Any], field: str, api: Api, dialer: FakeDialer, stores: Stores
) -> None:
    status, problem = await send(api, "POST", DISPOSITIONS, "agent", body)
    assert status == 422, problem
    assert problem["type"] == "urn:ccd:problem:validation-error"
    assert field in error_fields(problem), problem
    assert dialer.calls == []
    assert await _disposition(stores) is None


async def test_the_rules_refusal_is_422_on_disposition(api: Api, dialer: FakeDialer) -> None:
    dialer.invalid_with = "disposition 'sale' is not one of the campaign's"  # changed meanwhile
    status, problem = await send(
        api, "POST", DISPOSITIONS, "agent", {"attempt_id": 1, "disposition": "sale"}
    )
    assert status == 422
    assert problem["errors"] == [
        {"field": "disposition", "message": "disposition 'sale' is not one of the campaign's"}
    ]


# --- one contact and its attempts --------------------------------------------------------


async def test_a_contact_with_its_attempts(api: Api) -> None:
    status, contact = await send(
        api, "GET", f"/api/v1/campaigns/preview/contacts/{ANSWERED_CONTACT}", "supervisor"
    )
    assert status == 200, contact
    assert contact["id"] == ANSWERED_CONTACT
    assert contact["status"] == "done"
    assert contact["attempts"] == 1
    assert contact["done_reason"] == "answered"
    assert contact["last_outcome"] == "answered"
    assert contact["next_attempt_at"] is None
    [attempt] = contact["attempt_history"]
    assert attempt["id"] == 1
    assert attempt["agent_id"] == "1001"
    assert attempt["outcome"] == "answered"
    assert attempt["disposition"] is None
    assert attempt["answered_at"] == "2026-11-25T08:55:00.000Z"
    assert attempt["agent_connected_at"] == "2026-11-25T08:55:01.000Z"
    assert attempt["ended_at"] == "2026-11-25T08:56:00.000Z"

    status, fresh = await send(api, "GET", f"/api/v1/campaigns/preview/contacts/{OFFERED_CONTACT}")
    assert status == 200
    assert (fresh["status"], fresh["attempt_history"]) == ("pending", [])


async def test_contact_lookups_that_fail(api: Api, stores: Stores) -> None:
    path = f"/api/v1/campaigns/empty/contacts/{ANSWERED_CONTACT}"  # another campaign's
    assert (await send(api, "GET", path))[0] == 404
    assert (await send(api, "GET", "/api/v1/campaigns/preview/contacts/nope"))[0] == 404
    assert (await send(api, "GET", f"/api/v1/campaigns/preview/contacts/{'x' * 65}"))[0] == 404
    status, problem = await send(api, "GET", "/api/v1/campaigns/preview/contacts/a%0Db")
    assert (status, error_fields(problem)) == (422, {"contact_id"})
    async with running_api(dialer_store=stores.dialer) as bare:
        path = f"/api/v1/campaigns/preview/contacts/{ANSWERED_CONTACT}"
        assert (await send(bare, "GET", path))[0] == 503


# --- the live view -----------------------------------------------------------------------


async def test_live_merges_the_dialer_and_the_database(api: Api, dialer: FakeDialer) -> None:
    dialer.live_views["preview"] = {
        "dialing": True,
        "calls": {"dialing": 1, "waiting": 0, "connected": 1, "message": 0},
        "agents": {"available": 1, "on_call": 1},
        "pacing": {"mode": "preview", "reason": "preview", "dial_ratio": 1.0, "answer_rate": 0.5},
        "abandonment": {
            "today": {"answered": 3, "abandoned": 1, "rate_pct": 33.333},
            "rolling_30_days": {"answered": 100, "abandoned": 3, "rate_pct": 3.0},
            "cap_pct": 3.0,
        },
    }
    status, view = await send(api, "GET", "/api/v1/campaigns/preview")
    assert status == 200, view
    live = view["live"]
    assert live["contacts"] == {"total": 3, "left": 2, "dialing": 0, "done": 1}
    assert live["dialing"] is True
    assert live["calls"] == {"dialing": 1, "waiting": 0, "connected": 1, "message": 0}
    assert live["agents"] == {"available": 1, "on_call": 1}
    assert live["dial_ratio"] == 1.0
    assert live["abandonment"] == {
        "today": {"answered": 3, "abandoned": 1, "rate_pct": 33.333, "within_cap": False},
        "rolling_30_days": {"answered": 100, "abandoned": 3, "rate_pct": 3.0, "within_cap": True},
        "cap_pct": 3.0,
        "source": "dialer",
    }
    # Today's attempts from the database (today in UTC, the default report zone).
    assert live["today"] == {
        "since": "2026-11-25T00:00:00.000Z",
        "report_zone": "UTC",
        "dialed": 1,
        "answered": 1,
        "connected": 1,
        "machines": 0,
        "abandoned": 0,
        "in_flight": 0,
    }
    # The list stays as it was (no live).
    status, listed = await send(api, "GET", "/api/v1/campaigns")
    assert status == 200
    assert all("live" not in c for c in listed["campaigns"])


async def test_live_of_a_campaign_the_dialer_does_not_hold(api: Api) -> None:
    status, view = await send(api, "GET", "/api/v1/campaigns/preview")
    assert status == 200
    live = view["live"]
    assert "dialing" not in live
    assert live["abandonment"] == {
        "today": {"answered": 1, "abandoned": 0, "rate_pct": 0.0, "within_cap": True},
        "rolling_30_days": {"answered": 1, "abandoned": 0, "rate_pct": 0.0, "within_cap": True},
        "cap_pct": 3.0,
        "source": "records",
    }


async def test_today_starts_at_midnight_in_the_report_zone(stores: Stores) -> None:
    async with running_api(
        dialer_store=stores.dialer,
        dialer_attempts=stores.attempts,
        dialer_report_zone="Asia/Tokyo",
    ) as api:
        status, view = await send(api, "GET", "/api/v1/campaigns/preview")
    assert status == 200
    # 09:00:30 UTC is 18:00:30 in Tokyo: the day began at 15:00 UTC the day before.
    assert view["live"]["today"]["since"] == "2026-11-24T15:00:00.000Z"
    assert view["live"]["today"]["dialed"] == 1


# --- the dialer follows every campaign write ---------------------------------------------


async def test_every_campaign_write_reloads_the_dialer(api: Api, dialer: FakeDialer) -> None:
    body = {"id": "winter", "mode": "progressive", "caller_id": "+12125550100", "queue_id": "q"}
    steps = [
        ("POST", "/api/v1/campaigns", body, 201),
        ("PUT", "/api/v1/campaigns/winter", {k: v for k, v in body.items() if k != "id"}, 200),
        ("POST", "/api/v1/campaigns/winter/start", None, 200),
        ("POST", "/api/v1/campaigns/winter/pause", None, 200),
        ("POST", "/api/v1/campaigns/winter/resume", None, 200),
        ("POST", "/api/v1/campaigns/winter/stop", None, 200),
        ("DELETE", "/api/v1/campaigns/winter", None, 204),
    ]
    for method, path, step_body, expected in steps:
        status, _ = await send(api, method, path, "supervisor", step_body)
        assert status == expected, path
    assert dialer.reloads == ["winter"] * len(steps)
    # Refused writes change nothing, so the dialer is not asked to reload.
    assert (await send(api, "POST", "/api/v1/campaigns/draft/pause"))[0] == 409
    assert (await send(api, "GET", "/api/v1/campaigns/draft"))[0] == 200
    assert dialer.reloads == ["winter"] * len(steps)


async def test_a_dialer_that_fails_to_reload_does_not_undo_the_write(
    api: Api, dialer: FakeDialer
) -> None:
    dialer.fail_reload = True
    status, view = await send(api, "POST", "/api/v1/campaigns/draft/start")
    assert (status, view["state"]) == (200, "running")
    assert dialer.reloads == ["draft"]


# --- the audit trail ---------------------------------------------------------------------


async def _trail(api: Api) -> list[dict[str, Any]]:
    """The audit trail as an admin reads it, oldest first."""
    status, body = await send(api, "GET", "/api/v1/audit?target_kind=contact")
    assert status == 200, body
    return list(reversed(body["events"]))


async def test_an_agents_acts_on_contacts_are_audited(api: Api, dialer: FakeDialer) -> None:
    base = "/api/v1/campaigns/preview/preview"
    _, offer = await send(api, "POST", base, "agent")
    offered = offer["contact"]["id"]
    assert (await send(api, "POST", f"{base}/{offered}/dial", "agent"))[0] == 202
    _, offer = await send(api, "POST", base, "supervisor", {"agent_id": "1002"})
    skipped = offer["contact"]["id"]
    skip = await send(api, "POST", f"{base}/{skipped}/skip", "supervisor", {"agent_id": "1002"})
    assert skip == (204, None)
    at = "2026-11-26T10:30:00-05:00"
    body = {"attempt_id": 1, "disposition": "call-back", "call_back_at": at}
    assert (await send(api, "POST", DISPOSITIONS, "agent", body))[0] == 200
    # Refused acts leave no entry.
    dialer.refuse_with = "agent 1001 is on a call"
    assert (await send(api, "POST", f"{base}/{offered}/dial", "agent"))[0] == 409

    trail = await _trail(api)
    assert [
        (e["action"], e["target_id"], e["actor"]["token_id"], e["actor"]["agent_id"]) for e in trail
    ] == [
        ("contact.preview_dialed", offered, "t-agent", "1001"),
        ("contact.preview_skipped", skipped, "t-sup", None),
        ("contact.disposed", ANSWERED_CONTACT, "t-agent", "1001"),
    ]
    assert trail[0]["detail"] == {"campaign_id": "preview", "agent_id": "1001"}
    assert trail[1]["detail"] == {"campaign_id": "preview", "agent_id": "1002"}
    assert trail[2]["detail"] == {
        "campaign_id": "preview",
        "attempt_id": 1,
        "agent_id": "1001",
        "before": {"disposition": None},
        "after": {
            "disposition": "call-back",
            "call_back_at": "2026-11-26T15:30:00.000Z",
            "call_back_anyone": False,
        },
    }


async def test_an_act_that_cannot_be_audited_is_not_done(
    stores: Stores, dialer: FakeDialer
) -> None:
    async with running_api(
        dialer_store=stores.dialer,
        dialer=dialer,
        dialer_attempts=stores.attempts,
        allow_server_errors=True,
    ) as api:
        dial = f"/api/v1/campaigns/preview/preview/{OFFERED_CONTACT}/dial"
        skip = f"/api/v1/campaigns/preview/preview/{OFFERED_CONTACT}/skip"
        for path, body in [
            (dial, None),
            (skip, None),
            (DISPOSITIONS, {"attempt_id": 1, "disposition": "sale"}),
        ]:
            status, problem = await send(api, "POST", path, "agent", body)
            assert (status, problem["detail"]) == (
                503,
                "the audit trail is unavailable; retry later",
            ), path
    assert dialer.calls == []
    assert await _disposition(stores) is None
