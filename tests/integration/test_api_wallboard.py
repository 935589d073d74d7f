"""The wallboard over HTTP: the public page and its headers, the board as JSON (names from
a real SQLite ACD store seeded with the sample seed, live figures from a stand-in ACD
snapshot), its roles, and the websocket that pushes it (token in Sec-WebSocket-Protocol)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.api.wallboard import COALESCE_S, CONTENT_SECURITY_POLICY, REFRESH_S, WALLBOARD_SOURCE
from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from ccd.db.engine import create_engine
from ccd.db.report_queries import ReportQueries
from ccd.reports.service import ReportRules, ReportService
from ccd.wallboard.view import ServiceLevelTargets
from tests.chromium import CHROMIUM, NOT_INSTALLED, chromium_page
from tests.clock import settle
from tests.hostzone import host_time_zone
from tests.integration.apifakes import TOKENS, Api, FakeAcdLive, running_api, send
from tests.integration.authmatrix import (
    IDENTITIES,
    WALLBOARD_ENDPOINTS,
    call,
    expected_status,
    headers_for,
)
from tests.integration.test_api_acd import _seeded_template
from tests.reportrows import insert_rows, queue_call
from tests.wallboardpage import READ_BOARD, log_in

CALLER_NUMBER = "+33612345678"


def live_snapshot(*, waiting: int = 1, agent_status: str = "on_call") -> dict[str, Any]:
    """What ``AcdService.snapshot()`` returns (same keys), for queue sales and agent 1001."""
    callers = [
        {
            "call_id": f"call-{n}",
            "position": n + 1,
            "waited_s": 42.0 - n,
            "priority": 0,
            "caller_num": CALLER_NUMBER,
            "callback": False,
            "ringing": [],
        }
        for n in range(waiting)
    ]
    return {
        "queues": {
            "sales": {
                "queue_id": "sales",
                "offered": 10,
                "answered": 7,
                "answered_within_sl": 6,
                "abandoned": 3,
                "abandoned_within_sl": 1,
                "waiting": waiting,
                "longest_wait_s": 42.0 if waiting else 0.0,
                "agents": {agent_status: 1},
                "service_level_s": 20.0,
                "service_level": 6 / 9,
                "callers": callers,
            }
        },
        "agents": {
            "1001": {
                "status": agent_status,
                "since": "2026-11-25T08:59:00+00:00",
                "in_state_s": 60.5,
                "reason": None,
                "call_id": "call-0" if agent_status == "on_call" else None,
                "queues": ["sales"],
                "calls_taken": 4,
                "talk_s": 300.0,
                "pending_pause": None,
                "logout_pending": False,
                "server": "lyon",
            }
        },
    }


class SnapshotAcd(FakeAcdLive):
    """The running ACD as the board reads it: ``state`` is what ``snapshot()`` returns."""

    def __init__(self) -> None:
        super().__init__(queues=["sales", "support"])
        self.state = live_snapshot()

    def snapshot(self) -> dict[str, Any]:
        return self.state


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _seeded_template(tmp_path_factory.mktemp("wallboard-api"))


@pytest.fixture
def acd() -> SnapshotAcd:
    return SnapshotAcd()


@pytest.fixture
async def api(engine: AsyncEngine, acd: SnapshotAcd) -> AsyncIterator[Api]:
    targets = ServiceLevelTargets(80.0, {"support": 90.0})
    # A trail for the agent edit a test makes (every ACD change is audited).
    async with running_api(
        acd_store=AcdStore(engine),
        acd_live=acd,
        wallboard_targets=targets,
        audit=AuditStore(engine),
    ) as api:
        yield api


# --- the page ------------------------------------------------------------------------------


async def test_page_is_public_with_strict_headers(api: Api) -> None:
    response = await api.client.get("/wallboard")
    assert response.status == 200
    assert response.content_type == "text/html"
    body = await response.text()
    assert '<script src="/wallboard/wallboard.js" defer></script>' in body
    assert "<script>" not in body  # no inline script: the CSP would refuse it anyway
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [("wallboard.js", "text/javascript"), ("wallboard.css", "text/css")],
)
async def test_assets_revalidate_with_their_etag(api: Api, asset: str, content_type: str) -> None:
    first = await api.client.get(f"/wallboard/{asset}")
    assert first.status == 200
    assert first.content_type == content_type
    etag = first.headers["ETag"]
    assert len(await first.read()) > 100
    again = await api.client.get(f"/wallboard/{asset}", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    other = await api.client.get(f"/wallboard/{asset}", headers={"If-None-Match": '"stale"'})
    assert other.status == 200


@pytest.mark.parametrize(
    "path", ["/wallboard/nope.js", "/wallboard/..%2Fapp.py", "/wallboard/%2e%2e", "/wallboard/"]
)
async def test_only_packaged_files_are_served(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status == 404
    assert response.content_type == "application/problem+json"


# --- the board -----------------------------------------------------------------------------


async def test_board_joins_names_targets_and_live_figures(api: Api) -> None:
    status, board = await send(api, "GET", "/api/v1/wallboard", "supervisor")
    assert status == 200
    assert board["type"] == "wallboard"
    assert board["generated_at"] == api.clock.now().isoformat()
    sales, support = board["queues"]
    assert sales == {
        "id": "sales",
        "name": "Sales",
        "running": True,
        "waiting": 1,
        "longest_wait_s": 42.0,
        "service_level_pct": 66.7,
        "service_level_s": 20.0,
        "target_pct": 80.0,
        "meets_target": False,
        "offered": 10,
        "answered": 7,
        "abandoned": 3,
        "abandon_rate_pct": 30.0,
        "agents": {"available": 0, "reserved": 0, "on_call": 1, "wrap_up": 0, "paused": 0},
        "agents_logged_in": 1,
    }
    # Configured but not in the snapshot: shown, empty, with its own target and threshold.
    assert support["name"] == "Technical support"
    assert (support["running"], support["waiting"], support["service_level_pct"]) == (
        False,
        0,
        None,
    )
    assert (support["target_pct"], support["service_level_s"]) == (90.0, 30.0)
    assert board["agents"] == [
        {
            "id": "1001",
            "name": "Alice (answers)",
            "status": "on_call",
            "reason": None,
            "since": "2026-11-25T08:59:00+00:00",
            "in_state_s": 60.5,
            "call_id": "call-0",
            "call_queue": "sales",  # learned from the waiting caller in the snapshot
            "queues": ["sales"],
            "calls_taken": 4,
            "pause_over_limit": False,
            "server": "lyon",  # the Asterisk server the agent's device is on
        }
    ]


async def test_board_never_carries_caller_numbers(api: Api) -> None:
    response = await api.client.get("/api/v1/wallboard", headers=api.auth("analyst"))
    assert response.status == 200
    assert CALLER_NUMBER not in await response.text()


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(WALLBOARD_ENDPOINTS))
async def test_auth_matrix(api: Api, route: str, identity: str) -> None:
    endpoint = WALLBOARD_ENDPOINTS[route]
    assert await call(api, endpoint, headers_for(identity)) == expected_status(endpoint, identity)


async def test_without_a_running_acd_the_board_is_503() -> None:
    async with running_api(allow_server_errors=True) as api:
        status, problem = await send(api, "GET", "/api/v1/wallboard", "supervisor")
        assert status == 503
        assert "ACD is not running" in problem["detail"]


async def test_database_down_is_503_for_the_board_and_the_stream(
    tmp_path: Path, acd: SnapshotAcd
) -> None:
    # Never migrated: every query fails in the driver.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        async with running_api(acd_store=AcdStore(engine), acd_live=acd) as api:
            status, problem = await send(api, "GET", "/api/v1/wallboard", "supervisor")
            assert status == 503, problem
            assert problem["type"] == "urn:ccd:problem:upstream-unavailable"
            # Refused before the upgrade: a plain HTTP answer the page can show.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await _open(api, ("ccd.v1", f"bearer.{TOKENS['supervisor']}"))
            assert refused.value.status == 503
    finally:
        await engine.dispose()


# --- the live stream -----------------------------------------------------------------------


async def _open(api: Api, protocols: tuple[str, ...]) -> aiohttp.ClientWebSocketResponse:
    return await api.client.ws_connect("/api/v1/wallboard/events", protocols=protocols)


async def _next(socket: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await socket.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


async def test_stream_authenticates_by_subprotocol_and_pushes_changes(
    api: Api, acd: SnapshotAcd
) -> None:
    socket = await _open(api, ("ccd.v1", f"bearer.{TOKENS['analyst']}"))
    assert socket.protocol == "ccd.v1"  # the token is never echoed
    first = await _next(socket)
    assert first["queues"][0]["waiting"] == 1

    # The second caller joins: the ACD's message makes the board go out again, once the
    # burst is over (COALESCE_S later).
    acd.state = live_snapshot(waiting=2)
    api.hub.publish_message({"type": "queue.caller_joined", "call_id": "call-1", "queue": "sales"})
    api.hub.publish_message({"type": "agent.state", "agent_id": "1001", "status": "on_call"})
    await settle()
    await api.clock.step(COALESCE_S)
    pushed = await _next(socket)
    assert pushed["queues"][0]["waiting"] == 2
    assert pushed["queues"][0]["longest_wait_s"] == 42.0

    # Call changes alone do not redraw the board (they carry nothing it shows) ...
    acd.state = live_snapshot(waiting=0, agent_status="wrap_up")
    api.hub.publish_message({"type": "call.updated", "call": {"id": "x"}})
    await settle()
    await api.clock.step(COALESCE_S)
    with pytest.raises(asyncio.TimeoutError):
        await socket.receive(timeout=0.2)
    # ... but the periodic refresh does (today's counters restart at midnight silently).
    await api.clock.step(REFRESH_S)
    refreshed = await _next(socket)
    assert refreshed["queues"][0]["waiting"] == 0
    assert refreshed["agents"][0]["status"] == "wrap_up"
    await socket.close()


async def test_stream_reads_names_again_on_the_periodic_refresh(
    api: Api, engine: AsyncEngine
) -> None:
    socket = await _open(api, ("ccd.v1", f"bearer.{TOKENS['admin']}"))
    assert (await _next(socket))["agents"][0]["name"] == "Alice (answers)"
    status, body = await send(
        api, "PUT", "/api/v1/agents/1001", body={"name": "Alice B.", "interface": "PJSIP/1001"}
    )
    assert status == 200, body
    # A change push keeps the names it has (no database read per change) ...
    api.hub.publish_message({"type": "agent.state", "agent_id": "1001", "status": "on_call"})
    await settle()
    await api.clock.step(COALESCE_S)
    assert (await _next(socket))["agents"][0]["name"] == "Alice (answers)"
    # ... the periodic refresh reads them again.
    await api.clock.step(REFRESH_S)
    assert (await _next(socket))["agents"][0]["name"] == "Alice B."
    await socket.close()


async def test_screens_open_at_once_share_one_build_per_change(api: Api, acd: SnapshotAcd) -> None:
    screens = [await _open(api, ("ccd.v1", f"bearer.{TOKENS['supervisor']}")) for _ in range(3)]
    for screen in screens:
        await _next(screen)
    source = api.client.app[WALLBOARD_SOURCE]
    assert source is not None
    built = source.built
    acd.state = live_snapshot(waiting=3)
    api.hub.publish_message({"type": "queue.caller_joined", "call_id": "call-2", "queue": "sales"})
    await settle()
    await api.clock.step(COALESCE_S)
    boards = [await _next(screen) for screen in screens]
    assert [b["queues"][0]["waiting"] for b in boards] == [3, 3, 3]
    assert source.built == built + 1  # one build, pushed to three screens
    # A change published after that build is never hidden by it.
    acd.state = live_snapshot(waiting=1)
    api.hub.publish_message({"type": "queue.caller_abandoned", "call_id": "call-2"})
    await settle()
    await api.clock.step(COALESCE_S)
    assert [(await _next(s))["queues"][0]["waiting"] for s in screens] == [1, 1, 1]
    for screen in screens:
        await screen.close()


async def test_stream_echoes_a_lone_bearer_subprotocol(api: Api) -> None:
    # A client that offers only the token must get it back or the handshake fails.
    socket = await _open(api, (f"bearer.{TOKENS['supervisor']}",))
    assert socket.protocol == f"bearer.{TOKENS['supervisor']}"
    assert (await _next(socket))["type"] == "wallboard"
    await socket.close()


@pytest.mark.parametrize(
    ("protocols", "status"),
    [
        (("ccd.v1",), 401),
        (("ccd.v1", "bearer.not-a-token"), 401),
        (("ccd.v1", f"bearer.{TOKENS['agent']}"), 403),
        (("ccd.v1", f"bearer.{TOKENS['integrator']}"), 403),
    ],
)
async def test_stream_refuses_missing_bad_and_wrong_role_tokens(
    api: Api, protocols: tuple[str, ...], status: int
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _open(api, protocols)
    assert refused.value.status == status


async def test_plain_get_on_the_stream_is_426(api: Api) -> None:
    response = await api.client.get("/api/v1/wallboard/events", headers=api.auth("supervisor"))
    assert response.status == 426
    assert response.headers["Upgrade"] == "websocket"


async def test_token_in_the_query_string_is_ignored(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.client.ws_connect(f"/api/v1/wallboard/events?token={TOKENS['admin']}")
    assert refused.value.status == 401


async def test_a_slow_client_is_cut_off(engine: AsyncEngine, acd: SnapshotAcd) -> None:
    async with running_api(acd_store=AcdStore(engine), acd_live=acd, queue_size=2) as api:
        socket = await _open(api, ("ccd.v1", f"bearer.{TOKENS['admin']}"))
        await _next(socket)
        for n in range(5):  # more than the queue holds before the board is rebuilt
            api.hub.publish_message({"type": "agent.state", "agent_id": str(n)})
        await settle()
        await api.clock.step(COALESCE_S)
        closed = await socket.receive(timeout=5)
        assert closed.type is aiohttp.WSMsgType.CLOSE
        assert closed.data == aiohttp.WSCloseCode.POLICY_VIOLATION


# --- the page in a real browser (headless Chromium over the DevTools protocol) -------------

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=NOT_INSTALLED)


@needs_chromium
async def test_page_logs_in_shows_the_board_and_follows_changes(api: Api, acd: SnapshotAcd) -> None:
    url = str(api.client.make_url("/wallboard"))
    async with chromium_page() as page:
        await page.goto(url)
        assert (await page.evaluate(READ_BOARD))["login"] is True

        await log_in(page, "not-a-token")
        await page.wait_for(
            "document.getElementById('login-error').textContent.includes('not valid')"
        )
        await log_in(page, TOKENS["agent"])
        await page.wait_for("document.getElementById('login-error').textContent.includes('role')")

        await log_in(page, TOKENS["supervisor"])
        await page.wait_for("document.getElementById('connection').textContent === 'live'")
        await page.wait_for("!!document.querySelector('#queues [data-queue=sales]')")
        shown = await page.evaluate(READ_BOARD)
        assert shown["login"] is False
        sales = shown["queues"]["sales"]
        assert (sales["name"], sales["waiting"], sales["service_level"]) == ("Sales", "1", "66.7 %")
        assert (sales["offered"], sales["abandon_rate"]) == ("10", "30.0 %")
        assert sales["states"] == {
            "available": "0",
            "reserved": "0",
            "on_call": "1",
            "wrap_up": "0",
            "paused": "0",
        }
        # Durations tick on between pushes: 42 s waited when the board came, more now.
        assert sales["longest_wait"] in {"0:42", "0:43", "0:44"}
        alice = shown["agents"]["1001"]
        assert (alice["name"], alice["state"], alice["queue"], alice["call"]) == (
            "Alice (answers)",
            "Talking",
            "sales",
            "call-0",
        )
        assert alice["time"] in {"1:00", "1:01", "1:02"}
        # The token stays for this tab's session only, and never went into a URL.
        assert (
            await page.evaluate("sessionStorage.getItem('ccd.wallboard.token')")
            == TOKENS["supervisor"]
        )

        # A second caller arrives and the agent goes to wrap-up: the page follows.
        acd.state = live_snapshot(waiting=2, agent_status="wrap_up")
        api.hub.publish_message(
            {"type": "queue.caller_joined", "call_id": "call-1", "queue": "sales"}
        )
        await settle()
        await api.clock.step(COALESCE_S)
        await page.wait_for(
            "document.querySelector('#queues [data-queue=sales] [data-field=waiting] .value')"
            ".textContent === '2'",
            within_s=2,
        )
        assert (await page.evaluate(READ_BOARD))["agents"]["1001"]["state"] == "Wrap-up"

        # A reload keeps the session: no second login.
        await page.goto(url)
        await page.wait_for("document.getElementById('connection').textContent === 'live'")
        assert (await page.evaluate(READ_BOARD))["login"] is False
        await page.click("#logout")
        assert (await page.evaluate(READ_BOARD))["login"] is True
        assert await page.evaluate("sessionStorage.getItem('ccd.wallboard.token')") is None

        # Nothing refused by the Content-Security-Policy, no script error.
        assert page.script_problems() == [], page.log


@pytest.fixture
def berlin_host() -> Iterator[None]:
    """The host's local time zone (where the board's "today" starts) is Europe/Berlin."""
    with host_time_zone("Europe/Berlin"):
        yield


# Europe/Berlin leaves summer time on 2026-10-25 (03:00 CEST -> 02:00 CET): that day runs
# 25 hours, 00:00 +02:00 (22:00 UTC the day before) to 24:00 +01:00 (23:00 UTC), so 50 half
# hours. Calls at 00:10 (+02:00, slot 0), 04:10 (+01:00: 5 h 10 after midnight, slot 10)
# and 23:10 (+01:00: 24 h 10 after midnight, slot 48, the last hour of the day).
FALL_BACK_MIDNIGHT = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
FALL_BACK_CALLS = [
    (FALL_BACK_MIDNIGHT + timedelta(minutes=10), "answered", 0),
    (FALL_BACK_MIDNIGHT + timedelta(hours=5, minutes=10), "abandoned", 10),
    (FALL_BACK_MIDNIGHT + timedelta(hours=24, minutes=10), "abandoned", 48),
]
CHART_LEFT, CHART_RIGHT = 34, 720 - 8  # the SVG's plot area (wallboard.js `chart`)

READ_CHART = """(() => {
  const root = document.querySelector('#charts svg[data-chart=sales]');
  return {
    bars: [...root.querySelectorAll('rect.abandon')].map(
      (r) => [Number(r.dataset.slot), Number(r.getAttribute('x')), Number(r.dataset.abandon)]),
    labels: [...root.querySelectorAll('text.hour')].map(
      (t) => [t.textContent, Number(t.getAttribute('x')) + 8]),
  };
})()"""


@needs_chromium
@pytest.mark.usefixtures("berlin_host")
async def test_chart_spans_the_25_hour_day_with_bars_and_labels_at_their_times(
    engine: AsyncEngine, acd: SnapshotAcd
) -> None:
    await insert_rows(
        engine,
        "cdrs",
        [
            queue_call(f"dst-{slot}", started, "sales", disposition, 30.0, caller="2125550001")
            for started, disposition, slot in FALL_BACK_CALLS
        ],
    )
    reports = ReportService(ReportQueries(engine), ReportRules())
    async with running_api(acd_store=AcdStore(engine), acd_live=acd, reports=reports) as api:
        # Late on the 25-hour day: 23:40 +01:00. Where that day starts and ends, and its
        # hour labels' instants, are tests/unit/test_wallboard_day_start.py's; here, that
        # the page draws bars and labels at those instants.
        api.clock.current = FALL_BACK_MIDNIGHT + timedelta(hours=24, minutes=40)
        async with chromium_page() as page:
            await page.goto(str(api.client.make_url("/wallboard")))
            await log_in(page, TOKENS["supervisor"])
            await page.wait_for("!!document.querySelector('#charts svg[data-chart=sales]')")
            shown = await page.evaluate(READ_CHART)
            assert page.script_problems() == [], page.log

    slot_w = (CHART_RIGHT - CHART_LEFT) / 50
    # A bar per half hour with calls, the last hour's included, each at its own start time.
    assert [(slot, rate) for slot, _, rate in shown["bars"]] == [(0, 0), (10, 100), (48, 100)]
    assert [x for _, x, _ in shown["bars"]] == pytest.approx(
        [CHART_LEFT + slot * slot_w + 1 for _, _, slot in FALL_BACK_CALLS]
    )
    # Labels where the wall clock shows them: 03h four hours after midnight (02:00 came twice).
    labels = dict(shown["labels"])
    assert list(labels) == ["00h", "03h", "06h", "09h", "12h", "15h", "18h", "21h", "24h"]
    assert labels["03h"] == pytest.approx(CHART_LEFT + 8 * slot_w)
    assert labels["21h"] == pytest.approx(CHART_LEFT + 44 * slot_w)
    assert labels["24h"] == pytest.approx(CHART_RIGHT)
