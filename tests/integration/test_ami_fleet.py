"""The daemon with two Asterisk servers (two fake AMI servers on 127.0.0.1): each has its
own gateway; /readyz names the one that is down, or the one whose systemname cannot keep
call ids apart; a call on either is listed with its server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ccd.app import Daemon
from ccd.domain.auth import Role
from tests.fakeami import FakeAmi
from tests.integration.apifakes import wait_until
from tests.integration.fleetrig import fake_asterisk, two_server_daemon

SECRET = "s3cret"


@pytest.fixture
async def paris() -> AsyncIterator[FakeAmi]:
    async with fake_asterisk(secret=SECRET, system_name="paris") as server:
        yield server


@pytest.fixture
async def lyon() -> AsyncIterator[FakeAmi]:
    async with fake_asterisk(secret="lyon-" + SECRET, system_name="lyon") as server:
        yield server


@pytest.fixture
async def daemon(paris: FakeAmi, lyon: FakeAmi, tmp_path: Path) -> AsyncIterator[Daemon]:
    environ = {
        "CCD_AMI__SECRET": SECRET,
        "CCD_ASTERISK_SECRET_LYON": "lyon-" + SECRET,
        "CCD_AMI__RECONNECT_MIN_S": "0.05",
        "CCD_AMI__RECONNECT_MAX_S": "0.1",
    }
    async with two_server_daemon(paris, lyon, tmp_path, environ=environ) as running:
        yield running


async def get(daemon: Daemon, path: str, token: str | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{daemon.http_port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.json()


def newchannel(name: str, uniqueid: str) -> dict[str, str]:
    return {
        "Event": "Newchannel",
        "Channel": name,
        "ChannelState": "4",
        "ChannelStateDesc": "Ring",
        "CallerIDNum": "100",
        "CallerIDName": "Alice",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Context": "ccd-ivr",
        "Exten": "s",
        "Uniqueid": uniqueid,
        "Linkedid": uniqueid,
    }


async def test_each_server_has_its_gateway_and_calls_carry_their_server(
    daemon: Daemon, paris: FakeAmi, lyon: FakeAmi
) -> None:
    fleet = daemon.components.fleet
    assert fleet is not None
    assert fleet.names == ("paris", "lyon")
    assert daemon.components.gateway is fleet.get("paris")
    assert (await get(daemon, "/readyz"))[0] == 200

    await paris.send_event(newchannel("PJSIP/alice-1", "paris-1.1"))
    await lyon.send_event(newchannel("PJSIP/bob-1", "lyon-1.1"))
    await wait_until(lambda: daemon.components.live.model.call_count == 2, what="two calls")
    _, token = await daemon.components.tokens.create(Role.SUPERVISOR, label="t")
    status, body = await get(daemon, "/api/v1/calls", token)
    assert status == 200
    assert isinstance(body, dict)
    assert {call["id"]: call["server"] for call in body["calls"]} == {
        "paris-1.1": "paris",
        "lyon-1.1": "lyon",
    }


async def test_readiness_names_the_server_that_is_down(
    daemon: Daemon, paris: FakeAmi, lyon: FakeAmi
) -> None:
    await lyon.stop_listening()
    lyon.drop_connections()
    lyon_gateway = daemon.components.fleet.get("lyon")  # type: ignore[union-attr]
    await wait_until(lambda: not lyon_gateway.logged_in, what="lyon down")
    status, body = await get(daemon, "/readyz")
    assert status == 503
    assert isinstance(body, dict)
    reasons = body["reasons"]
    assert any(reason.startswith("ami lyon: not logged in") for reason in reasons), reasons
    assert not any("paris" in reason for reason in reasons), reasons
    assert daemon.components.fleet.get("paris").resynced  # type: ignore[union-attr]


async def test_a_shared_systemname_keeps_ccd_not_ready_naming_both(
    daemon: Daemon, paris: FakeAmi, lyon: FakeAmi
) -> None:
    lyon.system_name = "paris"
    lyon.drop_connections()  # the next login reads CoreSettings again
    lyon_gateway = daemon.components.fleet.get("lyon")  # type: ignore[union-attr]
    await wait_until(
        lambda: lyon_gateway.system_name == "paris" and lyon_gateway.resynced,
        what="lyon back as 'paris'",
    )
    status, body = await get(daemon, "/readyz")
    assert status == 503
    assert isinstance(body, dict)
    assert body["reasons"] == [
        "ami lyon: same systemname 'paris' as server paris; each server needs its own, "
        "or call ids can collide"
    ]
