"""The composition root wires token hardening: the whole daemon (embedded SQLite, the fake
AMI server) limits failed authentication per address as ``[api]`` says, lists tokens over
REST, and writes every token's last use when it stops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ccd.app import Daemon
from ccd.db import migrate
from ccd.db.engine import create_engine
from ccd.db.tokens import TokenStore
from ccd.domain.auth import Role
from ccd.settings import Settings, parse_settings
from tests.fakeami import FakeAmi

SECRET = "s3cret"


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def settings(fake_ami: FakeAmi, tmp_path: Path) -> Settings:
    environ = {
        "CCD_AMI__HOST": fake_ami.host,
        "CCD_AMI__PORT": str(fake_ami.port),
        "CCD_AMI__USERNAME": "ccd",
        "CCD_AMI__SECRET": SECRET,
        "CCD_DATA_DIR": str(tmp_path),
        "CCD_HTTP__HOST": "127.0.0.1",
        "CCD_HTTP__PORT": "0",
        "CCD_AGI__PORT": "0",
        "CCD_API__AUTH_FAIL_LIMIT": "2",
        "CCD_API__AUTH_FAIL_WINDOW_S": "600",
    }
    settings = parse_settings(None, source="test", environ=environ)
    await migrate.upgrade(settings.database_url)
    return settings


async def get(port: int, path: str, token: str) -> tuple[int, dict[str, object], str | None]:
    url = f"http://127.0.0.1:{port}{path}"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status, await response.json(), response.headers.get("Retry-After")


async def test_limits_lists_and_writes_last_use_at_shutdown(settings: Settings) -> None:
    daemon = Daemon(settings)
    await daemon.start()
    try:
        tokens = daemon.components.tokens
        admin_id, admin = await tokens.create(Role.ADMIN, label="ops")
        port = daemon.http_port
        assert port is not None
        for _ in range(3):
            assert (await get(port, "/api/v1/me", admin))[0] == 200
        status, body, _ = await get(port, "/api/v1/tokens", admin)
        assert status == 200
        listed = body["tokens"]
        assert isinstance(listed, list)
        assert [(t["id"], t["status"]) for t in listed] == [(admin_id, "active")]
        # Noted in memory, not written per request: the once-a-minute flush has not run.
        [info] = await tokens.list()
        assert info.last_used_at is None

        wrong = admin[:-4] + "AAAA"
        assert (await get(port, "/api/v1/me", wrong))[0] == 401
        assert (await get(port, "/api/v1/me", wrong))[0] == 401
        status, body, retry_after = await get(port, "/api/v1/me", admin)
        assert status == 429
        assert retry_after is not None
        assert 1 <= int(retry_after) <= 600
    finally:
        await daemon.stop()

    # Stopping wrote it.
    engine = create_engine(settings.database_url)
    try:
        [info] = await TokenStore(engine).list()
    finally:
        await engine.dispose()
    assert info.last_used_from == "127.0.0.1"
    assert info.last_used_at is not None
