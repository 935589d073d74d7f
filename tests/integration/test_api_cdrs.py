"""The CDR API against a real SQLite database (migrated with Alembic, rows inserted with
SQLAlchemy), served on a real 127.0.0.1 port."""

from __future__ import annotations

import csv
import gc
import io
import json
import random
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.api import cdrs as cdrs_api
from ccd.api.problems import ApiProblem
from ccd.cdr.queries import (
    CdrDetail,
    CdrFilter,
    CdrPosition,
    CdrSort,
    CdrStoreUnavailable,
    StoredCdr,
)
from ccd.db import migrate
from ccd.db.cdr_queries import CdrQueries
from ccd.db.engine import create_engine
from ccd.domain.auth import Principal, Role
from tests.cdrrows import T0, cdr_row, insert_rows, leg_row
from tests.integration.apifakes import Api, running_api
from tests.integration.authmatrix import IDENTITIES, headers_for

CDR_COLUMNS = [f.name for f in fields(StoredCdr)]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}"
    await migrate.upgrade(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    async with running_api(cdrs=CdrQueries(engine)) as api:
        yield api


# A small, varied call log: (linkedid, overrides). Minutes after T0 give the order.
VARIED = [
    ("c1", {"started_at": T0, "caller_num": "5551001", "agent_id": "1001", "queue": "sales"}),
    (
        "c2",
        {
            "started_at": T0 + timedelta(minutes=1),
            "direction": "outbound",
            "callee_num": "5559999",
            "caller_num": "100",
            "campaign_id": "spring",
            "disposition": "no-answer",
            "answered_at": None,
        },
    ),
    (
        "c3",
        {
            "started_at": T0 + timedelta(minutes=2),
            "agent_id": "1002",
            "queue": "support",
            "disposition": "abandoned",
        },
    ),
    (
        "c4",
        {
            "started_at": T0 + timedelta(minutes=3),
            "direction": "internal",
            "did": "5551",
            "server": "lyon",
        },
    ),
    (
        "c5",
        {
            "started_at": T0 + timedelta(minutes=4),
            "agent_id": "1001",
            "queue": "support",
            "caller_num": "55_1%",
            "campaign_id": "spring",
        },
    ),
]


@pytest.fixture
async def varied(engine: AsyncEngine) -> None:
    await insert_rows(
        engine,
        [cdr_row(linkedid, **overrides) for linkedid, overrides in VARIED],
        [
            leg_row("c1.b", "c1", T0 + timedelta(seconds=2), "PJSIP/1001-00000002"),
            leg_row("c1.a", "c1", T0, "PJSIP/trunk-00000001"),
        ],
    )


async def get_json(api: Api, path: str, role: str = "admin") -> tuple[int, Any]:
    response = await api.client.get(path, headers=api.auth(role))
    return response.status, await response.json()


async def ids(api: Api, query: str, role: str = "admin") -> list[str]:
    status, body = await get_json(api, f"/api/v1/cdrs?{query}", role)
    assert status == 200, body
    return [cdr["id"] for cdr in body["cdrs"]]


# --- list and get ------------------------------------------------------------------------


@pytest.mark.usefixtures("varied")
async def test_list_is_newest_first_with_every_column(api: Api) -> None:
    status, body = await get_json(api, "/api/v1/cdrs")
    assert status == 200
    assert [c["id"] for c in body["cdrs"]] == ["c5", "c4", "c3", "c2", "c1"]
    assert body["next_cursor"] is None
    first = body["cdrs"][-1]
    assert list(first) == ["id", *CDR_COLUMNS]
    assert first["started_at"] == "2026-11-20T08:00:00.000Z"
    assert first["answered_at"] == "2026-11-20T08:00:05.000Z"
    assert first["ring_s"] == 5.0
    assert first["hangup_cause"] == 16
    assert first["ivr_path"] == []
    # Columns reserved for later capabilities are present, as null.
    assert first["wait_s"] is None
    assert first["recording_ref"] is None
    assert first["contact_id"] is None
    assert first["agent_id"] == "1001"


@pytest.mark.usefixtures("varied")
async def test_sort_oldest_first(api: Api) -> None:
    assert await ids(api, "sort=started_at") == ["c1", "c2", "c3", "c4", "c5"]
    assert await ids(api, "sort=-started_at") == ["c5", "c4", "c3", "c2", "c1"]


@pytest.mark.usefixtures("varied")
async def test_get_returns_the_cdr_with_its_legs_in_start_order(api: Api) -> None:
    status, body = await get_json(api, "/api/v1/cdrs/c1")
    assert status == 200
    assert body["id"] == body["linkedid"] == "c1"
    assert [leg["uniqueid"] for leg in body["legs"]] == ["c1.a", "c1.b"]
    assert body["legs"][0]["channel"] == "PJSIP/trunk-00000001"
    assert body["legs"][0]["ended_at"] == "2026-11-20T08:00:30.000Z"
    assert body["legs"][0]["answered_at"] is None
    status, body = await get_json(api, "/api/v1/cdrs/c2")
    assert status == 200
    assert body["legs"] == []


@pytest.mark.usefixtures("varied")
async def test_unknown_cdr_is_a_404_problem(api: Api) -> None:
    response = await api.client.get("/api/v1/cdrs/nope.1", headers=api.auth("admin"))
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert (await response.json())["status"] == 404


@pytest.mark.usefixtures("varied")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from=2026-11-20T08:02:00Z", ["c5", "c4", "c3"]),
        ("to=2026-11-20T08:02:00Z", ["c2", "c1"]),  # `to` is exclusive
        ("from=2026-11-20T09:01:00%2B01:00&to=2026-11-20T08:03:00Z", ["c3", "c2"]),  # offset
        ("number=5551001", ["c1"]),  # caller
        ("number=5559999", ["c2"]),  # callee
        ("number=5551", ["c4"]),  # did, exact: not a prefix of 5551001
        (
            "number=555*",
            ["c4", "c2", "c1"],
        ),  # c3 has no 555 number  # prefix on caller, callee or did
        ("number=55_*", ["c5"]),  # LIKE wildcards are literal
        ("number=55_1%25", ["c5"]),
        ("number=1800555*", ["c5", "c3", "c2", "c1"]),  # did prefix (c4's did differs)
        ("direction=outbound", ["c2"]),
        ("direction=internal", ["c4"]),
        ("disposition=abandoned", ["c3"]),
        ("disposition=no-answer", ["c2"]),
        ("queue=support", ["c5", "c3"]),
        ("agent=1001", ["c5", "c1"]),
        ("campaign=spring", ["c5", "c2"]),
        ("queue=nobody", []),
        ("server=lyon", ["c4"]),
        ("server=default", ["c5", "c3", "c2", "c1"]),
    ],
)
async def test_each_filter(api: Api, query: str, expected: list[str]) -> None:
    assert await ids(api, query) == expected


@pytest.mark.usefixtures("varied")
async def test_filters_combine(api: Api) -> None:
    assert await ids(api, "agent=1001&queue=support") == ["c5"]
    assert await ids(api, "campaign=spring&direction=outbound&number=5559999") == ["c2"]
    assert await ids(api, "queue=support&from=2026-11-20T08:03:00Z&sort=started_at") == ["c5"]
    assert await ids(api, "agent=1001&disposition=abandoned") == []


# --- pagination --------------------------------------------------------------------------


@pytest.fixture
async def many(engine: AsyncEngine) -> list[tuple[datetime, str]]:
    """250 calls; groups of up to 7 share a started_at, so the tiebreak matters."""
    rng = random.Random(3)
    rows = []
    for n in range(250):
        started = T0 + timedelta(seconds=n // 7)
        rows.append(
            cdr_row(
                f"{rng.randrange(10**6):06d}.{n}",
                started_at=started,
                queue="odd" if n % 2 else "even",
            )
        )
    rng.shuffle(rows)
    await insert_rows(engine, rows)
    return [(r["started_at"], r["linkedid"]) for r in rows]


async def walk(api: Api, query: str, role: str = "admin") -> tuple[list[str], int]:
    seen: list[str] = []
    path = f"/api/v1/cdrs?{query}"
    for pages in range(1, 1000):  # a cursor that repeats a page must fail the test, not spin
        status, body = await get_json(api, path, role)
        assert status == 200, body
        page = [cdr["id"] for cdr in body["cdrs"]]
        assert not set(page) & set(seen), "a page repeated rows"
        seen.extend(page)
        if body["next_cursor"] is None:
            return seen, pages
        path = f"/api/v1/cdrs?{query}&cursor={quote(body['next_cursor'])}"
    raise AssertionError("pagination never ended")


@pytest.mark.parametrize("sort", ["-started_at", "started_at"])
async def test_pages_cover_every_row_once_in_order(
    api: Api, many: list[tuple[datetime, str]], sort: str
) -> None:
    seen, pages = await walk(api, f"limit=100&sort={sort}")
    assert pages == 3
    expected = sorted(many, reverse=sort.startswith("-"))
    assert seen == [linkedid for _, linkedid in expected]


async def test_pages_with_a_filter_and_a_limit_that_divides_evenly(
    api: Api, many: list[tuple[datetime, str]]
) -> None:
    seen, pages = await walk(api, "limit=25&queue=odd&sort=started_at")
    assert pages == 5  # exactly 125 rows: the last full page says there is no next one
    assert len(seen) == len(set(seen)) == 125


async def test_rows_written_while_paging_do_not_shift_pages(
    api: Api, engine: AsyncEngine, many: list[tuple[datetime, str]]
) -> None:
    status, first = await get_json(api, "/api/v1/cdrs?limit=100")
    assert status == 200
    # A newer call arrives (it sorts before the cursor), the next page is unaffected.
    await insert_rows(engine, [cdr_row("late.1", started_at=T0 + timedelta(hours=1))])
    cursor = quote(first["next_cursor"])
    status, second = await get_json(api, f"/api/v1/cdrs?limit=100&cursor={cursor}")
    expected = [linkedid for _, linkedid in sorted(many, reverse=True)]
    assert [c["id"] for c in first["cdrs"] + second["cdrs"]] == expected[:200]


@pytest.mark.usefixtures("varied")
async def test_limit_bounds_the_page(api: Api) -> None:
    _, body = await get_json(api, "/api/v1/cdrs?limit=2")
    assert [c["id"] for c in body["cdrs"]] == ["c5", "c4"]
    assert isinstance(body["next_cursor"], str)
    assert body["next_cursor"] == quote(body["next_cursor"], safe="")  # url-safe as is


@pytest.mark.usefixtures("varied")
async def test_bad_cursors_are_422_naming_cursor(api: Api) -> None:
    _, body = await get_json(api, "/api/v1/cdrs?limit=1&queue=support")
    good = body["next_cursor"]
    flipped = good[:5] + ("A" if good[5] != "A" else "B") + good[6:]
    for query in [
        "cursor=garbage",
        "cursor=%21%21%21.%21",
        f"cursor={good[:-3]}",
        f"cursor={flipped}",
        f"cursor={good}",  # issued for queue=support, used without it
        f"cursor={good}&queue=support&sort=started_at",  # issued for the other sort
        "cursor=",
    ]:
        response = await api.client.get(f"/api/v1/cdrs?{query}", headers=api.auth("admin"))
        assert response.status == 422, query
        problem = await response.json()
        assert [e["field"] for e in problem["errors"]] == ["cursor"], query
    assert await ids(api, f"cursor={good}&queue=support&limit=1") == ["c3"]


def forged(payload: object) -> str:
    """A cursor with a valid check value around any payload (the key is not secret)."""
    raw = json.dumps(payload).encode()
    return f"{cdrs_api._b64(raw)}.{cdrs_api._b64(cdrs_api._check(raw))}"


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"v": 1},
        {"v": 2, "s": "-started_at", "t": "2026-11-20T08:00:00+00:00", "id": "x", "f": ""},
        {"v": 1, "s": "-started_at", "t": "2026-11-20T08:00:00", "id": "x", "f": ""},
        {"v": 1, "s": "-started_at", "t": "9999-12-31T23:59:59-01:00", "id": "x", "f": ""},
        {"v": 1, "s": "-started_at", "t": 5, "id": "x", "f": ""},
        {"v": 1, "s": "-started_at", "t": "2026-11-20T08:00:00+00:00", "id": 7, "f": ""},
    ],
)
def test_forged_cursors_are_refused_by_name(payload: object) -> None:
    with pytest.raises(ApiProblem) as refused:
        cdrs_api.decode_cursor(forged(payload), CdrSort.NEWEST_FIRST, CdrFilter())
    assert refused.value.status == 422
    assert [e.field for e in refused.value.errors] == ["cursor"]


def test_a_cursor_round_trips_its_exact_position() -> None:
    position = CdrPosition(T0 + timedelta(microseconds=123457), "1700000000.42")
    filters = CdrFilter(queue="sales", number="555", number_is_prefix=True)
    cursor = cdrs_api.encode_cursor(position, CdrSort.OLDEST_FIRST, filters)
    assert cdrs_api.decode_cursor(cursor, CdrSort.OLDEST_FIRST, filters) == position


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("color=red", "color"),
        ("from_=2026-11-20T08:00:00Z", "from_"),
        ("direction=sideways", "direction"),
        ("disposition=ANSWERED", "disposition"),
        ("sort=caller_num", "sort"),
        ("from=yesterday", "from"),
        ("from=1700000000", "from"),
        ("to=2026-11-20T08:00:00", "to"),  # no timezone
        ("to=9999-12-31T23:59:59-01:00", "to"),  # past datetime.max in UTC
        ("from=0001-01-01T00:00:00%2B01:00", "from"),
        ("from=2026-11-21T00:00:00Z&to=2026-11-20T00:00:00Z", "from"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&limit=6", "limit"),
        ("queue=", "queue"),
        ("number=*", "number"),
        (f"agent={'a' * 65}", "agent"),
        ("queue=sales%0D%0AEvent:%20x", "queue"),
        ("number=555%0A", "number"),
        ("campaign=a%00b", "campaign"),
        ("server=Lyon", "server"),  # server names are lower case
        ("server=lyon%0D%0A", "server"),
        ("bad%0Dname=1", "query"),
    ],
)
async def test_invalid_queries_are_422_naming_the_parameter(
    api: Api, query: str, field: str
) -> None:
    for path in ("/api/v1/cdrs", "/api/v1/cdrs.csv"):
        response = await api.client.get(f"{path}?{query}", headers=api.auth("admin"))
        assert response.status == 422, (path, query, await response.text())
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert field in [e["field"] for e in problem["errors"]], problem


async def test_csv_takes_no_paging_parameters(api: Api) -> None:
    for query in ("limit=10", "cursor=abc"):
        response = await api.client.get(f"/api/v1/cdrs.csv?{query}", headers=api.auth("admin"))
        assert response.status == 422
        assert [e["field"] for e in (await response.json())["errors"]] == [query.split("=")[0]]


async def test_control_characters_in_the_cdr_id_are_422(api: Api) -> None:
    response = await api.client.get("/api/v1/cdrs/c1%0D%0A", headers=api.auth("admin"))
    assert response.status == 422
    assert [e["field"] for e in (await response.json())["errors"]] == ["id"]


async def test_random_queries_never_cause_a_server_error(api: Api) -> None:
    rng = random.Random(11)
    names = ["from", "to", "number", "direction", "limit", "cursor", "sort", "x", "%0A", "agent"]
    values = ["", "%0D", "%00", "*", "2026-11-20T08:00:00Z", "-1", "%FF", "%C3%A9", "9" * 300]
    for _ in range(150):
        parts = [
            f"{rng.choice(names)}={rng.choice(values)}{rng.choice(values)}"
            for _ in range(rng.randrange(4))
        ]
        for path in ("/api/v1/cdrs", "/api/v1/cdrs.csv"):
            response = await api.client.get(f"{path}?{'&'.join(parts)}", headers=api.auth("admin"))
            await response.read()
            assert response.status < 500, parts


async def test_unmigrated_database_is_503_not_500(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        async with running_api(cdrs=CdrQueries(engine)) as api:
            for path in ("/api/v1/cdrs", "/api/v1/cdrs/c1", "/api/v1/cdrs.csv"):
                response = await api.client.get(path, headers=api.auth("admin"))
                assert response.status == 503, path
                assert response.content_type == "application/problem+json"
                assert "no such table" not in await response.text()
    finally:
        await engine.dispose()


# --- roles -------------------------------------------------------------------------------

ROUTES = {
    "cdrs.list": "/api/v1/cdrs",
    "cdrs.get": "/api/v1/cdrs/c1",  # agent 1001's call; the test agent is 1001
    "cdrs.csv": "/api/v1/cdrs.csv",
}


@pytest.mark.usefixtures("varied")
@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_auth_matrix(api: Api, route: str, identity: str) -> None:
    response = await api.client.get(ROUTES[route], headers=headers_for(identity))
    await response.read()
    expected = 401 if identity in ("anonymous", "bad-token") else 200
    assert response.status == expected
    if expected == 401:
        assert response.content_type == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.usefixtures("varied")
async def test_an_agent_lists_only_their_own_calls(api: Api) -> None:
    assert await ids(api, "", role="agent") == ["c5", "c1"]
    assert await ids(api, "agent=1001", role="agent") == ["c5", "c1"]
    assert await ids(api, "queue=support", role="agent") == ["c5"]
    response = await api.client.get("/api/v1/cdrs.csv", headers=api.auth("agent"))
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert [r["linkedid"] for r in rows] == ["c5", "c1"]


@pytest.mark.usefixtures("varied")
@pytest.mark.parametrize("path", ["/api/v1/cdrs?agent=1002", "/api/v1/cdrs.csv?agent=1002"])
async def test_an_agent_asking_for_another_agent_is_403(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=api.auth("agent"))
    assert response.status == 403
    assert response.content_type == "application/problem+json"


@pytest.mark.usefixtures("varied")
async def test_an_agent_reading_another_agents_cdr_is_403(api: Api) -> None:
    for other in ("c3", "c2"):  # another agent's call, and a call with no agent
        response = await api.client.get(f"/api/v1/cdrs/{other}", headers=api.auth("agent"))
        assert response.status == 403, other
    response = await api.client.get("/api/v1/cdrs/missing", headers=api.auth("agent"))
    assert response.status == 404


async def test_an_agent_token_without_an_agent_id_reads_nothing(engine: AsyncEngine) -> None:
    async with running_api(cdrs=CdrQueries(engine)) as api:
        api.tokens.principals["tok-lost"] = Principal("t-lost", Role.AGENT, None)
        headers = {"Authorization": "Bearer tok-lost"}
        for path in ("/api/v1/cdrs", "/api/v1/cdrs.csv"):
            response = await api.client.get(path, headers=headers)
            assert response.status == 403, path


# --- CSV ---------------------------------------------------------------------------------


async def csv_rows(api: Api, query: str = "", role: str = "admin") -> list[dict[str, str]]:
    response = await api.client.get(f"/api/v1/cdrs.csv?{query}", headers=api.auth(role))
    assert response.status == 200, await response.text()
    return list(csv.DictReader(io.StringIO(await response.text(), newline="")))


@pytest.mark.usefixtures("varied")
async def test_csv_matches_the_json_list(api: Api) -> None:
    response = await api.client.get("/api/v1/cdrs.csv?queue=support", headers=api.auth("admin"))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert disposition.endswith('.csv"')
    raw = await response.read()
    assert raw.split(b"\r\n")[0] == ",".join(CDR_COLUMNS).encode()
    assert raw.endswith(b"\r\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    _, body = await get_json(api, "/api/v1/cdrs?queue=support")
    assert [r["linkedid"] for r in rows] == [c["id"] for c in body["cdrs"]] == ["c5", "c3"]
    for row, cdr in zip(rows, body["cdrs"], strict=True):
        assert row["started_at"] == cdr["started_at"]
        assert row["agent_id"] == cdr["agent_id"]
        assert float(row["talk_s"]) == cdr["talk_s"]
        assert row["wait_s"] == ""  # null
        assert row["ivr_path"] == "[]"


async def test_csv_quoting_and_formula_escaping(api: Api, engine: AsyncEngine) -> None:
    names = {
        "q1": 'Smith, "Bob"\r\nJr.',
        "f1": '=HYPERLINK("http://evil","x")',
        "f2": "+cmd|' /C calc'!A0",
        "f3": "-2+3",
        "f4": "@SUM(A1)",
        "f5": "\t=1",
        "ok": "Ana-María",
    }
    await insert_rows(
        engine,
        [
            cdr_row(lid, caller_name=name, started_at=T0 + timedelta(seconds=n))
            for n, (lid, name) in enumerate(names.items())
        ]
        + [
            cdr_row(
                "ivr",
                started_at=T0 + timedelta(minutes=5),
                caller_num="+15551234",
                ivr_path=[{"node": "main", "digits": "=1"}],
            )
        ],
    )
    rows = {r["linkedid"]: r for r in await csv_rows(api)}
    assert rows["q1"]["caller_name"] == names["q1"]
    assert rows["ok"]["caller_name"] == "Ana-María"
    for lid in ("f1", "f2", "f3", "f4", "f5"):
        assert rows[lid]["caller_name"] == "'" + names[lid], lid
    assert rows["ivr"]["caller_num"] == "'+15551234"
    assert rows["ivr"]["ivr_path"] == '[{"node":"main","digits":"=1"}]'
    # The JSON API returns the data unchanged.
    _, body = await get_json(api, "/api/v1/cdrs/f1")
    assert body["caller_name"] == names["f1"]


async def test_csv_spans_many_pages_without_gaps(api: Api, engine: AsyncEngine) -> None:
    rows = [cdr_row(f"r{n:05d}", started_at=T0 + timedelta(seconds=n // 3)) for n in range(4500)]
    await insert_rows(engine, rows)
    got = [r["linkedid"] for r in await csv_rows(api, "sort=started_at")]
    assert got == sorted(r["linkedid"] for r in rows)


async def test_csv_of_nothing_is_just_the_header(api: Api) -> None:
    response = await api.client.get("/api/v1/cdrs.csv", headers=api.auth("admin"))
    assert await response.text() == ",".join(CDR_COLUMNS) + "\r\n"


class FailsAfterFirstPage:
    """The real reader, until the database goes away after the first page."""

    def __init__(self, inner: CdrQueries) -> None:
        self.inner = inner
        self.calls = 0

    async def page(
        self, filters: CdrFilter, *, sort: CdrSort, after: CdrPosition | None, limit: int
    ) -> Sequence[StoredCdr]:
        self.calls += 1
        if self.calls > 1:
            raise CdrStoreUnavailable("connection refused")
        return await self.inner.page(filters, sort=sort, after=after, limit=limit)

    async def get(self, linkedid: str) -> CdrDetail | None:
        return await self.inner.get(linkedid)


async def test_csv_cut_short_by_the_database_does_not_look_complete(engine: AsyncEngine) -> None:
    await insert_rows(engine, [cdr_row(f"x{n:05d}", started_at=T0) for n in range(2500)])
    async with running_api(cdrs=FailsAfterFirstPage(CdrQueries(engine))) as api:
        response = await api.client.get("/api/v1/cdrs.csv", headers=api.auth("admin"))
        assert response.status == 200  # the first page was read before answering
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


@pytest.mark.usefixtures("varied")
@pytest.mark.parametrize("path", ["/api/v1/cdrs.csv", "/api/v1/cdrs", "/api/v1/cdrs/c1"])
async def test_head_answers_headers_only_and_keeps_the_connection_usable(
    api: Api, path: str
) -> None:
    head = await api.client.head(path, headers=api.auth("admin"))
    assert head.status == 200
    assert await head.read() == b""
    after = await api.client.get("/api/v1/cdrs/c1", headers=api.auth("admin"))
    assert after.status == 200


async def test_csv_filename_is_dated_by_the_api_clock(api: Api) -> None:
    response = await api.client.get("/api/v1/cdrs.csv", headers=api.auth("admin"))
    expected = api.clock.now().strftime("%Y%m%dT%H%M%SZ")
    assert response.headers["Content-Disposition"] == f'attachment; filename="cdrs-{expected}.csv"'
    assert response.headers["X-Request-ID"]


async def _peak_while_exporting(api: Api, query: str) -> tuple[int, int]:
    """(peak traced bytes, rows received) for one CSV export read in small chunks."""
    gc.collect()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    response = await api.client.get(f"/api/v1/cdrs.csv?{query}", headers=api.auth("admin"))
    assert response.status == 200
    lines = 0
    async for chunk in response.content.iter_chunked(16384):
        lines += chunk.count(b"\n")  # no cell here holds a newline
    peak = tracemalloc.get_traced_memory()[1] - baseline
    return peak, lines - 1


async def test_csv_export_memory_does_not_grow_with_rows(api: Api, engine: AsyncEngine) -> None:
    rows = [
        cdr_row(
            f"m{n:06d}",
            started_at=T0 + timedelta(seconds=n),
            campaign_id="small" if n % 5 == 0 else "rest",
            caller_name="Caller with a longish name " + str(n),
        )
        for n in range(50_000)
    ]
    for start in range(0, len(rows), 10_000):
        await insert_rows(engine, rows[start : start + 10_000])
    del rows
    tracemalloc.start()
    try:
        await _peak_while_exporting(api, "to=2026-11-20T08:40:00Z")  # warm caches and pools
        small_peak, small_rows = await _peak_while_exporting(api, "campaign=small")
        large_peak, large_rows = await _peak_while_exporting(api, "")
    finally:
        tracemalloc.stop()
    assert (small_rows, large_rows) == (10_000, 50_000)
    # Five times the rows; the peak is one page of rows plus buffers either way. Holding
    # the export would cost tens of megabytes here.
    assert large_peak < small_peak + 1_000_000, (small_peak, large_peak)


async def test_csv_download_over_a_real_socket_is_complete(api: Api, engine: AsyncEngine) -> None:
    await insert_rows(
        engine, [cdr_row(f"s{n}", started_at=T0 + timedelta(seconds=n)) for n in range(10)]
    )
    url = api.client.make_url("/api/v1/cdrs.csv")
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=api.auth("integrator")) as response,
    ):
        body = await response.text()
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert len(list(csv.DictReader(io.StringIO(body, newline="")))) == 10
