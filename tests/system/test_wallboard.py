"""The wallboard in real headless Chromium, fed by ccd's ACD on the real Asterisk sandbox
and PostgreSQL: agents log in, real callers wait, one is answered, one gives up — and the
page shows what the API says, changing within ~2 s of the ACD without a reload."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ccd.acd.model import PauseReason, Queue, Strategy
from ccd.domain.auth import Role
from tests.chromium import CHROMIUM, NOT_INSTALLED, Page, chromium_page
from tests.system.acdrig import NO_ANSWER, AcdRun, acd_daemon, acd_database, config, sim_agent
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually
from tests.wallboardpage import READ_BOARD, log_in, seconds

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NOT_INSTALLED)

ANSWERS, BUSY = sim_agent("1001"), sim_agent("1003")
LUNCH = PauseReason("lunch", "Lunch")
LIVE_WITHIN_S = 2.0  # the page must follow the ACD this fast
STATE_LABELS = {
    "available": "Idle",
    "reserved": "Ringing",
    "on_call": "Talking",
    "wrap_up": "Wrap-up",
    "paused": "Paused",
}


async def _api_view(run: AcdRun, token: str) -> dict[str, Any]:
    """What the REST API says, in the page's terms (queue sales, every logged-in agent)."""
    status, queues = await run.api("GET", "/api/v1/queues/sales", token)
    assert status == 200, queues
    status, agents = await run.api("GET", "/api/v1/agents", token)
    assert status == 200, agents
    live = queues["live"]
    return {
        "waiting": live["waiting"],
        "longest_wait_s": live["longest_wait_s"],
        "states": {s: live["agents"].get(s, 0) for s in STATE_LABELS},
        "offered": live["offered"],
        "abandoned": live["abandoned"],
        "agents": {
            a["id"]: (a["name"], a["live"]["status"], a["live"]["in_state_s"], a["live"]["call_id"])
            for a in agents["agents"]
            if a["live"] is not None
        },
    }


def _assert_page_shows(shown: dict[str, Any], api: dict[str, Any]) -> None:
    sales = shown["queues"]["sales"]
    assert int(sales["waiting"]) == api["waiting"]
    # The page ticks the wait on by itself between pushes; reads are ~0.1 s apart.
    assert abs(seconds(sales["longest_wait"]) - api["longest_wait_s"]) <= 2
    assert {s: int(n) for s, n in sales["states"].items()} == api["states"]
    assert int(sales["offered"]) == api["offered"]
    assert set(shown["agents"]) == set(api["agents"])
    for agent_id, (name, status, in_state_s, call_id) in api["agents"].items():
        row = shown["agents"][agent_id]
        assert row["name"] == name
        assert row["state"].split(":")[0] == STATE_LABELS[status]
        assert abs(seconds(row["time"]) - in_state_s) <= 2, (agent_id, row, in_state_s)
        assert row["call"] == (call_id or "")


async def _page_and_api_agree(page: Page, run: AcdRun, token: str) -> bool:
    api = await _api_view(run, token)
    shown = await page.evaluate(READ_BOARD)
    try:
        _assert_page_shows(shown, api)
    except (AssertionError, KeyError):
        return False
    return True


async def _agree(page: Page, run: AcdRun, token: str, what: str) -> None:
    """Wait until the page shows what the API says; if it never does, fail with the
    difference (the last comparison's assertion)."""
    try:
        await eventually(
            lambda: _page_and_api_agree(page, run, token),
            within_s=5,
            what=f"the page shows what the API says ({what})",
        )
    except pytest.fail.Exception:
        _assert_page_shows(await page.evaluate(READ_BOARD), await _api_view(run, token))
        raise


async def _lag(page: Page, run: AcdRun, token: str, api_shows: Any, page_shows: str) -> float:
    """Seconds between the API showing a change (``api_shows(view)``) and the page showing
    it (``page_shows``, a JS expression), both polled every 50 ms."""
    api_at: float | None = None
    page_at: float | None = None
    deadline = time.monotonic() + 60
    while (api_at is None or page_at is None) and time.monotonic() < deadline:
        now = time.monotonic()
        if api_at is None and api_shows(await _api_view(run, token)):
            api_at = now
        if page_at is None and await page.evaluate(page_shows):
            page_at = now
        await asyncio.sleep(0.05)
    assert api_at is not None, "the API never showed the change"
    assert page_at is not None, "the page never showed the change"
    return max(0.0, page_at - api_at)


# The sales chart's data: SL points and abandonment bars, by the values they were drawn for.
CHART_POINTS = """(() => {
  const chart = document.querySelector('svg[data-chart=sales]');
  if (!chart) return null;
  return {sl: [...chart.querySelectorAll('circle')].map((e) => Number(e.dataset.sl)),
          ab: [...chart.querySelectorAll('rect.abandon')].map((e) => Number(e.dataset.abandon))};
})()"""


def _waiting_is(n: int) -> str:
    return (
        "document.querySelector('#queues [data-queue=sales] [data-field=waiting] .value')"
        f"?.textContent === '{n}'"
    )


def _agent_state_is(agent_id: str, label: str) -> str:
    return (
        f"document.querySelector('#agents tr[data-agent=\"{agent_id}\"] [data-field=state]')"
        f"?.textContent.startsWith('{label}')"
    )


async def test_wallboard_page_equals_the_api_and_follows_real_calls(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    sales = Queue(
        id="sales",
        name="Sales",
        strategy=Strategy.LONGEST_IDLE,
        ring_timeout_s=10,
        wrapup_s=3,
        service_level_s=20,
    )
    url = await acd_database(
        postgres_cluster,
        config(
            [sales],
            [ANSWERS, BUSY],
            {"1001": ["sales"], "1003": ["sales"]},
            pause_reasons=(NO_ANSWER, LUNCH),
        ),
    )
    lags: dict[str, float] = {}
    async with acd_daemon(asterisk_sandbox, url, tmp_path, talk_s=20) as run:
        admin = await run.token(Role.ADMIN)
        supervisor = await run.token(Role.SUPERVISOR)
        for agent_id in ("1003", "1001"):
            status, body = await run.api("POST", f"/api/v1/agents/{agent_id}/login", admin)
            assert status == 200, body
        status, body = await run.api(
            "POST", "/api/v1/agents/1003/pause", admin, {"reason": "lunch"}
        )
        assert status == 200, body

        async with chromium_page() as page:
            await page.goto(f"http://127.0.0.1:{run.daemon.http_port}/wallboard")
            await log_in(page, supervisor)
            await page.wait_for("document.getElementById('connection').textContent === 'live'")
            await _agree(page, run, supervisor, "two agents idle/paused, nobody waiting")
            shown = await page.evaluate(READ_BOARD)
            assert shown["agents"]["1003"]["state"] == "Paused: lunch"
            assert shown["queues"]["sales"]["states"]["paused"] == "1"

            # A caller: agent 1001 answers and talks (20 s).
            first = await run.caller("sales")
            lags["agent talking"] = await _lag(
                page,
                run,
                supervisor,
                lambda v: v["agents"]["1001"][1] == "on_call",
                _agent_state_is("1001", "Talking"),
            )
            row = (await page.evaluate(READ_BOARD))["agents"]["1001"]
            assert (row["queue"], row["call"]) == ("sales", first)

            # Two more callers: nobody is free, they wait.
            await run.caller("sales")
            gives_up = await run.caller("sales")
            lags["callers waiting"] = await _lag(
                page, run, supervisor, lambda v: v["waiting"] == 2, _waiting_is(2)
            )
            await asyncio.sleep(3)  # a wait long enough to compare
            await _agree(page, run, supervisor, "one talking, two waiting")
            longest = seconds((await page.evaluate(READ_BOARD))["queues"]["sales"]["longest_wait"])
            assert longest >= 2  # 3 s, less up to 1 s since the page last redrew its clock

            # One of them gives up.
            await run.ami.action("Hangup", Channel=gives_up)
            lags["caller abandoned"] = await _lag(
                page,
                run,
                supervisor,
                lambda v: v["waiting"] == 1 and v["abandoned"] == 1,
                _waiting_is(1),
            )
            await _agree(page, run, supervisor, "one abandoned, one waiting")
            shown = await page.evaluate(READ_BOARD)
            assert shown["queues"]["sales"]["abandon_rate"] == "33.3 %"  # 1 of 3 offered

            # The conversation ends: 1001 wraps up, then takes the caller still waiting.
            await run.ami.action("Hangup", Channel=first)
            lags["agent wrap-up"] = await _lag(
                page,
                run,
                supervisor,
                lambda v: v["agents"]["1001"][1] == "wrap_up",
                _agent_state_is("1001", "Wrap-up"),
            )
            lags["next caller answered"] = await _lag(
                page, run, supervisor, lambda v: v["waiting"] == 0, _waiting_is(0)
            )
            await _agree(page, run, supervisor, "second caller talking")
            await _chart_matches_the_report(page, run, supervisor)
            assert page.script_problems() == [], page.log

    print("\nwallboard lag behind the API (s):", {k: round(v, 2) for k, v in lags.items()})
    assert all(lag <= LIVE_WITHIN_S for lag in lags.values()), lags


async def _chart_matches_the_report(page: Page, run: AcdRun, token: str) -> None:
    """Today's chart draws the interval report's rows: one SL point per interval with a
    service level, one abandonment bar per interval with a rate."""
    status, board = await run.api("GET", "/api/v1/wallboard", token)
    assert status == 200, board
    start = datetime.fromisoformat(board["day_start"])
    query = urlencode({"from": start.isoformat(), "to": board["day_end"], "interval": "30"})
    status, report = await run.api("GET", f"/api/v1/reports/queues?{query}", token)
    assert status == 200, report

    async def drawn() -> bool:
        _status, now = await run.api("GET", f"/api/v1/reports/queues?{query}", token)
        rows = [r for r in now["rows"] if r["queue"] == "sales"]
        want_sl = sorted(r["service_level_pct"] for r in rows if r["service_level_pct"] is not None)
        want_ab = sorted(r["abandon_rate_pct"] for r in rows if r["abandon_rate_pct"] is not None)
        shown = await page.evaluate(CHART_POINTS)
        return (
            shown is not None
            and bool(want_ab)
            and sorted(shown["sl"]) == want_sl
            and sorted(shown["ab"]) == want_ab
        )

    await eventually(
        drawn, within_s=70, what="today's chart draws the interval report", interval_s=1
    )
