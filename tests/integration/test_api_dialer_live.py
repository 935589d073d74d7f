"""The campaign view's ``live`` part with the real running dialer behind the API
(``DialerService`` in the harness of ``dialerservicefakes``): what the service holds in
memory must fit the documented ``LiveView`` — a drift would be a 500, not a wrong
document."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.api.models.campaigns import CampaignDetail
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import DialerStore
from ccd.dialer.model import Campaign, CampaignState, Contact, DialMode
from tests.integration.apifakes import running_api, send
from tests.integration.dialerservicefakes import DialerHarness, FakeAgents, TrackingClock

# A Wednesday, 10:00 in New York: inside the default calling window.
T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SPRING = Campaign(
    id="spring",
    name="Spring",
    mode=DialMode.PROGRESSIVE,
    caller_id="5000",
    agent_ids=frozenset({"1001", "1002"}),
    safe_harbor_prompt="ccd/safe-harbor",
    state=CampaignState.RUNNING,
)


async def test_the_running_dialers_live_view_is_the_documented_one(engine: AsyncEngine) -> None:
    clock = TrackingClock(T0)
    store, attempts = DialerStore(engine, clock=clock), AttemptStore(engine, clock=clock)
    await store.put_campaign(SPRING)
    await store.add_contacts(
        "spring",
        [
            Contact(f"spring-{i}", "spring", f"+1212555{i:04d}", ("America/New_York",))
            for i in range(3)
        ],
    )
    h = DialerHarness(
        clock=clock,
        engine=engine,
        store=store,
        attempts=attempts,
        agents=FakeAgents(["1001", "1002"]),
    )
    await h.start()
    try:
        h.resynced = True
        await h.run_for(2.0)  # reconciled, tallies loaded, two calls placed
        assert len(h.ami.originates) == 2
        async with running_api(
            dialer_store=store, dialer=h.service, dialer_attempts=attempts
        ) as api:
            status, view = await send(api, "GET", "/api/v1/campaigns/spring")
    finally:
        await h.stop()
    assert status == 200, view
    CampaignDetail.model_validate(view)  # the answer as the document describes it
    live = view["live"]
    assert live["contacts"] == {"total": 3, "left": 1, "dialing": 2, "done": 0}
    assert live["dialing"] is True
    assert live["calls"] == {"dialing": 2, "waiting": 0, "connected": 0, "message": 0}
    assert sum(live["agents"].values()) == 2
    assert live["pacing"]["mode"] == "progressive"
    assert live["dial_ratio"] == live["pacing"]["dial_ratio"]
    assert live["abandonment"]["source"] == "dialer"
    assert live["abandonment"]["today"] == {
        "answered": 0,
        "abandoned": 0,
        "rate_pct": 0.0,
        "within_cap": True,
    }
    assert live["today"]["dialed"] == 2
