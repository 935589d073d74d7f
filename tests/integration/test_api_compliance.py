"""A campaign's abandonment report and its CSV evidence over REST, from dial attempts in a
real SQLite database, served on 127.0.0.1."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import ATTEMPTS, DialerStore, DialerStoreUnavailable
from ccd.db.engine import create_engine
from ccd.dialer.compliance import CSV_FIELDS, AnsweredCall
from ccd.dialer.contacts import contact_id
from ccd.dialer.model import Campaign, CampaignState, Contact, DialMode
from tests.integration.apifakes import Api, error_fields, running_api, send

# running_api's clock: 2026-11-25T09:00:30Z. The rolling 30 days are 2026-10-27..11-25.
NUMBER = "+12125550123"
CONTACT = contact_id("spring", NUMBER)
SPRING = Campaign(
    id="spring",
    name="Spring",
    mode=DialMode.PROGRESSIVE,
    caller_id="+12125550100",
    queue_id="sales",
    state=CampaignState.RUNNING,
)
REPORT = "/api/v1/campaigns/spring/compliance"
CSV_PATH = "/api/v1/campaigns/spring/compliance.csv"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def attempt(
    answered: str | None,
    *,
    connected_after_s: float | None = None,
    outcome: str = "answered",
    amd: str | None = None,
    safe_harbor_after_s: float | None = None,
    campaign_id: str = "spring",
) -> dict[str, Any]:
    answered_at = at(answered) if answered is not None else None
    started = (answered_at or at("2026-11-25T08:50:00Z")) - timedelta(seconds=10)

    def after(seconds: float | None) -> datetime | None:
        if seconds is None or answered_at is None:
            return None
        return answered_at + timedelta(seconds=seconds)

    return {
        "campaign_id": campaign_id,
        "contact_id": contact_id(campaign_id, NUMBER),
        "number": NUMBER,
        "started_at": started,
        "answered_at": answered_at,
        "agent_connected_at": after(connected_after_s),
        "safe_harbor_at": after(safe_harbor_after_s),
        "safe_harbor_played": safe_harbor_after_s is not None,
        "ended_at": started + timedelta(seconds=90),
        "outcome": outcome,
        "amd_status": amd,
        "agent_id": "1001" if connected_after_s is not None else None,
    }


EVIDENCE = [
    attempt("2026-11-25T08:00:00Z", connected_after_s=1.5),  # connected
    attempt("2026-11-25T08:10:00Z", connected_after_s=3.0, outcome="abandoned"),  # too late
    attempt("2026-11-25T08:20:00Z", safe_harbor_after_s=2.0, outcome="abandoned"),  # nobody
    attempt("2026-11-25T08:30:00Z", outcome="machine", amd="MACHINE"),  # not a person
    attempt("2026-11-25T08:40:00Z", connected_after_s=2.0),  # exactly 2 s: in time
    attempt(None, outcome="no-answer"),  # never answered: not evidence
    attempt("2026-11-24T12:00:00Z", connected_after_s=1.0),  # yesterday
    attempt("2026-11-15T12:00:00Z", safe_harbor_after_s=2.0, outcome="abandoned"),
    attempt("2026-10-26T12:00:00Z", safe_harbor_after_s=2.0, outcome="abandoned"),  # too old
]


async def add_attempts(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(ATTEMPTS), rows)


@pytest.fixture
async def store(engine: AsyncEngine) -> DialerStore:
    store = DialerStore(engine)
    for campaign in (SPRING, replace(SPRING, id="loose", abandon_cap_pct=5.0, cap_override=True)):
        await store.put_campaign(campaign)
        number_contact = Contact(contact_id(campaign.id, NUMBER), campaign.id, NUMBER, ("UTC",))
        await store.add_contacts(campaign.id, [number_contact])
    await add_attempts(engine, EVIDENCE)
    return store


@pytest.fixture
async def api(store: DialerStore, engine: AsyncEngine) -> AsyncIterator[Api]:
    async with running_api(dialer_store=store, dialer_attempts=AttemptStore(engine)) as api:
        yield api


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- the report --------------------------------------------------------------------------


async def test_the_report_today_the_30_days_and_each_day(api: Api) -> None:
    status, report = await send(api, "GET", REPORT, "integrator")
    assert status == 200, report
    assert report["campaign_id"] == "spring"
    assert (report["cap_pct"], report["cap_override"], report["above_legal_cap"]) == (
        3.0,
        False,
        False,
    )
    assert report["legal_cap_pct"] == 3.0
    assert report["report_zone"] == "UTC"
    assert report["as_of"] == "2026-11-25T09:00:30.000Z"
    assert report["today"] == {
        "day": "2026-11-25",
        "answered": 4,
        "abandoned": 2,
        "rate_pct": 50.0,
        "within_cap": False,
    }
    assert report["rolling_30_days"] == {
        "from_day": "2026-10-27",
        "to_day": "2026-11-25",
        "answered": 6,
        "abandoned": 3,
        "rate_pct": 50.0,
        "within_cap": False,
    }
    days = report["per_day"]
    assert len(days) == 30
    assert (days[0]["day"], days[-1]["day"]) == ("2026-10-27", "2026-11-25")
    by_day = {d["day"]: d for d in days}
    assert by_day["2026-11-15"] == {
        "day": "2026-11-15",
        "answered": 1,
        "abandoned": 1,
        "rate_pct": 100.0,
        "within_cap": False,
    }
    assert by_day["2026-11-24"]["answered"] == 1
    quiet = by_day["2026-11-01"]
    assert quiet == {
        "day": "2026-11-01",
        "answered": 0,
        "abandoned": 0,
        "rate_pct": 0.0,
        "within_cap": True,
    }
    assert sum(d["answered"] for d in days) == 6


async def test_the_report_shows_a_cap_override(api: Api) -> None:
    status, report = await send(api, "GET", "/api/v1/campaigns/loose/compliance")
    assert status == 200
    assert (report["cap_pct"], report["cap_override"], report["above_legal_cap"]) == (
        5.0,
        True,
        True,
    )
    assert report["rolling_30_days"]["answered"] == 0  # the evidence is spring's


async def test_within_the_cap_is_exact(engine: AsyncEngine, api: Api) -> None:
    # 100 live answers today with 3 abandoned in all (the two of the evidence and one more)
    # is 3 %: within a 3 % cap. One abandoned call more is over it.
    rows = [
        attempt(f"2026-11-25T07:{i // 60:02d}:{i % 60:02d}Z", connected_after_s=1.0)
        for i in range(95)
    ]
    rows.append(attempt("2026-11-25T06:00:00Z", safe_harbor_after_s=2.0, outcome="abandoned"))
    await add_attempts(engine, rows)
    status, report = await send(api, "GET", REPORT)
    assert status == 200
    assert report["today"] == {
        "day": "2026-11-25",
        "answered": 100,
        "abandoned": 3,
        "rate_pct": 3.0,
        "within_cap": True,
    }


async def test_days_are_the_report_zones(store: DialerStore, engine: AsyncEngine) -> None:
    await add_attempts(engine, [attempt("2026-11-25T02:00:00Z", connected_after_s=1.0)])
    attempts = AttemptStore(engine)
    async with running_api(dialer_store=store, dialer_attempts=attempts) as api:
        status, utc = await send(api, "GET", REPORT)
    async with running_api(
        dialer_store=store, dialer_attempts=attempts, dialer_report_zone="America/New_York"
    ) as api:
        status, new_york = await send(api, "GET", REPORT)
    assert status == 200
    assert utc["today"]["answered"] == 5
    # 02:00 UTC is 21:00 the day before in New York.
    assert new_york["report_zone"] == "America/New_York"
    assert new_york["today"]["answered"] == 4
    assert {d["day"]: d["answered"] for d in new_york["per_day"]}["2026-11-24"] == 2


# --- the CSV -----------------------------------------------------------------------------


async def test_the_csv_has_one_row_per_answered_call(api: Api) -> None:
    response = await api.client.get(CSV_PATH, headers=api.auth("supervisor"))
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="compliance-spring-20261125T090030Z.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(await response.text())
    assert tuple(rows[0]) == CSV_FIELDS
    body = [dict(zip(CSV_FIELDS, row, strict=True)) for row in rows[1:]]
    # The 30 days up to now, by answer time; unanswered and older calls are not there.
    assert [(r["report_day"], r["verdict"], r["counted"]) for r in body] == [
        ("2026-11-15", "abandoned", "True"),
        ("2026-11-24", "connected", "True"),
        ("2026-11-25", "connected", "True"),
        ("2026-11-25", "abandoned", "True"),
        ("2026-11-25", "abandoned", "True"),
        ("2026-11-25", "machine", "False"),
        ("2026-11-25", "connected", "True"),
    ]
    first_today = body[2]
    assert first_today["number"] == "'+12125550123"  # a formula trigger, as in the CDR export
    assert first_today["contact_id"] == CONTACT
    assert first_today["answered_at"] == "2026-11-25T08:00:00.000Z"
    assert first_today["agent_connected_at"] == "2026-11-25T08:00:01.500Z"
    assert first_today["connect_delay_s"] == "1.5"
    assert first_today["safe_harbor_at"] == ""
    assert body[4]["safe_harbor_at"] == "2026-11-25T08:20:02.000Z"
    assert body[6]["connect_delay_s"] == "2.0"  # exactly 2 s is in time


async def test_the_csv_between_from_and_to(api: Api) -> None:
    response = await api.client.get(
        CSV_PATH,
        params={"from": "2026-11-25T09:00:00+01:00", "to": "2026-11-25T08:15:00Z"},
        headers=api.auth("admin"),
    )
    assert response.status == 200
    rows = read_csv(await response.text())
    assert [row[4] for row in rows[1:]] == [
        "2026-11-25T08:00:00.000Z",
        "2026-11-25T08:10:00.000Z",
    ]
    # Further back than 30 days when asked.
    response = await api.client.get(
        CSV_PATH, params={"from": "2026-10-01T00:00:00Z"}, headers=api.auth("admin")
    )
    assert len(read_csv(await response.text())) == 1 + 8


async def test_the_csv_streams_in_batches(engine: AsyncEngine, api: Api) -> None:
    start = at("2026-11-20T00:00:00Z")
    rows = []
    for i in range(1234):
        row = attempt(None, connected_after_s=None)
        answered = start + timedelta(seconds=i)
        row.update(answered_at=answered, agent_connected_at=answered + timedelta(seconds=1))
        rows.append(row)
    await add_attempts(engine, rows)
    response = await api.client.get(
        CSV_PATH,
        params={"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"},
        headers=api.auth("admin"),
    )
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    lines = read_csv(await response.text())
    assert len(lines) == 1 + 1234
    assert len({line[0] for line in lines[1:]}) == 1234  # every attempt once


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-25T00:00:00", "from"),  # no offset
        ("to=yesterday", "to"),
        ("from=1764000000", "from"),
        ("from=2026-11-25T09:00:00Z&to=2026-11-25T08:00:00Z", "from"),
        ("from=2026-11-25T00:00:00Z&from=2026-11-24T00:00:00Z", "from"),
        ("limit=10", "limit"),
        ("from=2026-11-25T00:00:00Z%0D%0A", "from"),
        ("to=2026-11-25T00:00:00Z%00", "to"),
        ("fr%0Aom=1", "query"),
    ],
)
async def test_bad_csv_parameters_are_422_naming_them(query: str, field: str, api: Api) -> None:
    response = await api.client.get(f"{CSV_PATH}?{query}", headers=api.auth("admin"))
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert error_fields(await response.json()) == {field}


async def test_unknown_campaigns_are_404(api: Api) -> None:
    assert (await send(api, "GET", "/api/v1/campaigns/nope/compliance"))[0] == 404
    response = await api.client.get(
        "/api/v1/campaigns/nope/compliance.csv", headers=api.auth("admin")
    )
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_without_attempt_records_the_routes_are_503(store: DialerStore) -> None:
    async with running_api(dialer_store=store) as api:
        assert (await send(api, "GET", REPORT))[0] == 503
        response = await api.client.get(CSV_PATH, headers=api.auth("admin"))
        assert response.status == 503


async def test_database_failure_is_503_before_the_first_byte(
    store: DialerStore, tmp_path: Path
) -> None:
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'no.db'}")
    try:
        async with running_api(
            dialer_store=store, dialer_attempts=AttemptStore(broken), allow_server_errors=True
        ) as api:
            status, problem = await send(api, "GET", REPORT)
            assert (status, problem["type"]) == (503, "urn:ccd:problem:upstream-unavailable")
            response = await api.client.get(CSV_PATH, headers=api.auth("admin"))
            assert response.status == 503
            assert response.content_type == "application/problem+json"
    finally:
        await broken.dispose()


class FailingAfter(AttemptStore):
    """The real records, until the database goes away after ``rows`` answered calls."""

    def __init__(self, engine: AsyncEngine, rows: int) -> None:
        super().__init__(engine)
        self.rows = rows

    async def answered_calls(
        self, campaign_id: str, *, since: float, until: float | None = None, batch_size: int = 1000
    ) -> AsyncIterator[AnsweredCall]:
        sent = 0
        async for call in super().answered_calls(
            campaign_id, since=since, until=until, batch_size=batch_size
        ):
            if sent == self.rows:
                raise DialerStoreUnavailable("the database went away")
            sent += 1
            yield call


async def test_a_failure_mid_export_cuts_the_file(store: DialerStore, engine: AsyncEngine) -> None:
    rows = [
        attempt(f"2026-11-22T10:{i // 60:02d}:{i % 60:02d}Z", connected_after_s=1)
        for i in range(900)
    ]
    await add_attempts(engine, rows)
    async with running_api(dialer_store=store, dialer_attempts=FailingAfter(engine, 700)) as api:
        response = await api.client.get(CSV_PATH, headers=api.auth("admin"))
        assert response.status == 200  # the first batch was read before the headers
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
