"""``GET /metrics`` over a real socket: the exposition parses, and its values are the
components' own state — a real AMI gateway against the fake AMI server, a real ACD
service over its fakes, a real CDR writer and spool, the dialer tally fed through a real
bus, and the loop-lag probe on a clock the test moves."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from ccd.acd.model import Agent, Queue, Strategy
from ccd.ami.gateway import AmiGateway
from ccd.api.metrics import EXPOSITION_CONTENT_TYPE
from ccd.backoff import Backoff, BackoffPolicy
from ccd.bus import Bus
from ccd.cdr.codec import SpoolRecord
from ccd.cdr.spool import Spool
from ccd.cdr.writer import CdrWriter
from ccd.clock import SystemClock
from ccd.db.cdr_store import BatchResult
from ccd.domain.events import DialerAttemptSettled, DialerAttemptStarted
from ccd.metrics.collector import CcdCollector, build_registry
from ccd.metrics.dialer import DialerTally
from ccd.metrics.loop_lag import LoopLagProbe
from tests.cdrsamples import sample_call
from tests.clock import FakeClock, settle
from tests.fakeami import FakeAmi
from tests.integration.acdfakes import arrival, make_config, running_acd
from tests.integration.apifakes import Api, running_api, wait_until

SECRET = "s3cret"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: Api, role: str = "integrator") -> Samples:
    """Every sample of the page: (sample name, sorted labels) -> value."""
    response = await api.client.get("/metrics", headers=api.auth(role))
    assert response.status == 200
    assert response.headers["Content-Type"] == EXPOSITION_CONTENT_TYPE
    assert response.headers["Cache-Control"] == "no-store"
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


@contextlib.asynccontextmanager
async def serving(collector: CcdCollector) -> AsyncIterator[Api]:
    async with running_api(metrics=build_registry(collector)) as api:
        yield api


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret=SECRET)
    await server.start()
    yield server
    await server.close()


async def test_ami_events_reconnects_and_connection_state(fake_ami: FakeAmi) -> None:
    gateway = AmiGateway(
        host=fake_ami.host,
        port=fake_ami.port,
        username="ccd",
        secret=SECRET,
        on_event=lambda frame: None,
        on_connection=lambda event: None,
        on_resync_row=lambda frame: None,
        clock=SystemClock(),
        action_timeout_s=2.0,
        backoff=Backoff(BackoffPolicy(min_s=0.01, max_s=0.05, jitter="full"), random.Random(1)),
        server="paris",
    )
    # A second server's gateway, never started: its figures are its own.
    lyon = AmiGateway(
        host=fake_ami.host,
        port=fake_ami.port,
        username="ccd",
        secret=SECRET,
        on_event=lambda frame: None,
        on_connection=lambda event: None,
        on_resync_row=lambda frame: None,
        clock=SystemClock(),
        server="lyon",
    )
    await gateway.start()
    try:
        await gateway.wait_resynced(5)
        async with serving(CcdCollector(pbx=(gateway, lyon))) as api:
            before = await scrape(api)
            assert value(before, "ccd_ami_logged_in", server="paris") == 1
            assert value(before, "ccd_ami_resynced", server="paris") == 1
            assert value(before, "ccd_ami_reconnects_total", server="paris") == 0
            received = value(before, "ccd_ami_events_received_total", server="paris")
            assert value(before, "ccd_ami_logged_in", server="lyon") == 0
            assert value(before, "ccd_ami_connect_attempts_total", server="lyon") == 0
            assert received == gateway.events_received

            for seq in range(3):
                await fake_ami.send_event({"Event": "UserEvent", "Seq": str(seq)})
            await wait_until(
                lambda: gateway.events_received >= received + 3, what="3 events received"
            )
            after = await scrape(api)
            assert value(after, "ccd_ami_events_received_total", server="paris") == received + 3

            fake_ami.drop_connections()
            await wait_until(lambda: gateway.reconnects == 1, what="a reconnect")
            await gateway.wait_resynced(5)
            again = await scrape(api)
            assert value(again, "ccd_ami_reconnects_total", server="paris") == 1
            assert value(again, "ccd_ami_connect_attempts_total", server="paris") == 2
    finally:
        await gateway.stop()


async def test_waiting_callers_service_level_and_agents_by_state() -> None:
    sales = Queue("sales", strategy=Strategy.LINEAR, ring_timeout_s=15.0)
    agents = [Agent("1001", "PJSIP/1001"), Agent("1002", "PJSIP/1002")]
    async with running_acd(make_config([sales], agents), login=["1001", "1002"]) as rig:
        await rig.service.pause("1001", "lunch")
        async with serving(CcdCollector(acd=rig.service)) as api:
            idle = await scrape(api)
            assert value(idle, "ccd_queue_waiting_callers", queue="sales") == 0
            assert value(idle, "ccd_agents", state="available") == 1
            assert value(idle, "ccd_agents", state="paused") == 1
            # No outcome yet today: no service level to show.
            assert ("ccd_queue_service_level_ratio", (("queue", "sales"),)) not in idle

            rig.service.arrive(arrival(1))
            await rig.ami.wait_rings(1)
            ringing = await scrape(api)
            assert value(ringing, "ccd_queue_waiting_callers", queue="sales") == 1
            assert value(ringing, "ccd_queue_calls_today", queue="sales", outcome="offered") == 1
            assert value(ringing, "ccd_agents", state="reserved") == 1
            assert value(ringing, "ccd_agents", state="available") == 0
            assert value(ringing, "ccd_queue_agents", queue="sales", state="reserved") == 1
            assert value(ringing, "ccd_queue_agents", queue="sales", state="paused") == 1

            [ring] = rig.ami.rings
            rig.answered(ring)
            await settle()
            answered = await scrape(api)
            assert value(answered, "ccd_queue_waiting_callers", queue="sales") == 0
            assert value(answered, "ccd_agents", state="on_call") == 1
            assert value(answered, "ccd_queue_service_level_ratio", queue="sales") == 1.0
            live = rig.service.queue_live("sales")
            assert live is not None
            assert (
                value(answered, "ccd_queue_calls_today", queue="sales", outcome="answered")
                == (live["answered"])
            )


class InstantDatabase:
    def __init__(self) -> None:
        self.records = 0

    async def insert_batch(self, records: Sequence[SpoolRecord]) -> BatchResult:
        self.records += len(records)
        return BatchResult(
            calls=len(records),
            calls_inserted=len(records),
            asterisk_cdrs=0,
            asterisk_cdrs_inserted=0,
        )


async def until(condition: Callable[[], bool]) -> None:
    """fsync runs in a thread: no event says it is done."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.002)


async def test_cdr_spool_depth_writes_and_latency(tmp_path: Path) -> None:
    clock = FakeClock()
    spool = Spool(tmp_path / "spool", clock=clock)
    spool.open()
    database = InstantDatabase()
    writer = CdrWriter(spool, database, flush_interval_s=0.05, clock=clock)
    for n in range(3):
        spool.append(sample_call(f"call-{n}"))
    async with serving(CcdCollector(cdr_writer=writer)) as api:
        queued = await scrape(api)
        assert value(queued, "ccd_cdr_spool_depth") == 3
        assert value(queued, "ccd_cdr_write_latency_seconds_count") == 0
        assert value(queued, "ccd_cdr_database_healthy") == 1

        writer.start()
        await until(lambda: clock.sleepers > 0)
        await clock.step(0.05)
        await until(lambda: spool.pending == 0)
        written = await scrape(api)
        assert value(written, "ccd_cdr_spool_depth") == 0
        assert value(written, "ccd_cdr_records_written_total") == 3
        assert value(written, "ccd_cdr_write_latency_seconds_count") == 1
        assert value(written, "ccd_cdr_write_latency_seconds_bucket", le="0.001") == 1
        assert value(written, "ccd_cdr_write_latency_seconds_bucket", le="+Inf") == 1
        assert await writer.drain(1.0)


async def test_dialer_calls_by_campaign_and_outcome_through_the_bus() -> None:
    bus = Bus()
    tally = DialerTally()
    bus.subscribe(tally.handle)
    dispatcher = asyncio.create_task(bus.run())
    clock = FakeClock()
    try:
        for n, campaign in enumerate(("spring", "spring", "spring", "winter")):
            bus.publish(DialerAttemptStarted(clock.now(), f"dial-{n}", campaign, f"c{n}", str(n)))
        for n, outcome in enumerate(("answered", "abandoned", "answered")):
            bus.publish(DialerAttemptSettled(clock.now(), f"dial-{n}", outcome))
        await bus.drain()
        async with serving(CcdCollector(bus=bus, dialer=tally)) as api:
            samples = await scrape(api)
    finally:
        dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dispatcher
    assert value(samples, "ccd_dialer_calls_placed_total", campaign="spring") == 3
    assert value(samples, "ccd_dialer_calls_placed_total", campaign="winter") == 1
    settled = "ccd_dialer_calls_settled_total"
    assert value(samples, settled, campaign="spring", outcome="answered") == 2
    assert value(samples, settled, campaign="spring", outcome="abandoned") == 1
    assert (settled, (("campaign", "winter"), ("outcome", "answered"))) not in samples
    assert value(samples, "ccd_dialer_calls_in_flight") == 1
    assert value(samples, "ccd_bus_events_published_total") == 7
    assert value(samples, "ccd_bus_backlog") == 0


async def test_loop_lag_is_how_late_a_sleep_wakes_on_the_clock() -> None:
    clock = FakeClock()
    probe = LoopLagProbe(clock, interval_s=0.5)
    probe.start()
    try:
        await settle()
        clock.advance(0.5)  # on time
        await settle()
        clock.advance(0.8)  # the next wake-up comes 0.3 s late
        await settle()
        async with serving(CcdCollector(loop_lag=probe)) as api:
            samples = await scrape(api)
    finally:
        await probe.stop()
    assert value(samples, "ccd_event_loop_lag_seconds_count") == 2
    assert value(samples, "ccd_event_loop_lag_seconds_sum") == pytest.approx(0.3)
    assert value(samples, "ccd_event_loop_lag_seconds_bucket", le="0.001") == 1
    assert value(samples, "ccd_event_loop_lag_seconds_bucket", le="0.5") == 2
    assert value(samples, "ccd_event_loop_lag_last_seconds") == pytest.approx(0.3)


async def test_an_api_without_components_answers_an_empty_page() -> None:
    async with running_api() as api:
        assert await scrape(api, "admin") == {}


def test_the_registry_is_the_applications_own() -> None:
    registry = build_registry(CcdCollector(dialer=DialerTally()))
    assert isinstance(registry, CollectorRegistry)
    assert registry is not REGISTRY
    assert registry.get_sample_value("ccd_dialer_calls_in_flight") == 0
