"""The composition root wires ``/metrics``: the whole daemon (embedded SQLite, the fake
AMI server on 127.0.0.1) answers a scrape with every component's metrics, to an
integrator token and not to an agent's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccd.app import Daemon
from ccd.db import migrate
from ccd.domain.auth import Role
from ccd.settings import parse_settings
from tests.fakeami import FakeAmi
from tests.integration.apifakes import wait_until

SECRET = "s3cret"


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def daemon(fake_ami: FakeAmi, tmp_path: Path) -> AsyncIterator[Daemon]:
    environ = {
        "CCD_AMI__HOST": fake_ami.host,
        "CCD_AMI__PORT": str(fake_ami.port),
        "CCD_AMI__USERNAME": "ccd",
        "CCD_AMI__SECRET": SECRET,
        "CCD_DATA_DIR": str(tmp_path),
        "CCD_HTTP__HOST": "127.0.0.1",
        "CCD_HTTP__PORT": "0",
        "CCD_AGI__PORT": "0",
    }
    settings = parse_settings(None, source="test", environ=environ)
    await migrate.upgrade(settings.database_url)
    running = Daemon(settings)
    await running.start()
    try:
        await running.components.gateway.wait_resynced(10)
        yield running
    finally:
        await running.stop()


async def scrape(daemon: Daemon, token: str) -> tuple[int, dict[str, float]]:
    url = f"http://127.0.0.1:{daemon.http_port}/metrics"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        if response.status != 200:
            return response.status, {}
        text = await response.text()
    samples = {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return 200, samples


async def test_the_daemon_serves_every_components_metrics(
    daemon: Daemon, fake_ami: FakeAmi
) -> None:
    tokens = daemon.components.tokens
    _, scraper = await tokens.create(Role.INTEGRATOR, label="prometheus")
    _, agent = await tokens.create(Role.AGENT, agent_id="1001", label="agent")

    status, samples = await scrape(daemon, scraper)
    assert status == 200
    assert samples["ccd_ami_logged_in[('server', 'default')]"] == 1
    assert samples["ccd_ami_reconnects_total[('server', 'default')]"] == 0
    assert samples["ccd_cdr_spool_depth[]"] == 0
    assert samples["ccd_bus_backlog[]"] >= 0
    assert "ccd_event_loop_lag_seconds_count[]" in samples
    assert "ccd_cdr_write_latency_seconds_count[]" in samples
    assert samples["ccd_dialer_calls_in_flight[]"] == 0
    assert samples["ccd_agents[('state', 'available')]"] == 0
    received = samples["ccd_ami_events_received_total[('server', 'default')]"]

    await fake_ami.send_event({"Event": "UserEvent", "UserEvent": "CcdMetrics"})
    gateway = daemon.components.gateway
    await wait_until(lambda: gateway.events_received > received, what="the event received")
    _, after = await scrape(daemon, scraper)
    assert after["ccd_ami_events_received_total[('server', 'default')]"] == received + 1

    assert (await scrape(daemon, agent))[0] == 403
