"""The whole IVR in the running daemon on the real Asterisk sandbox: a caller enters the
shipped ``ccd-ivr`` context, the daemon's own FastAGI server runs a flow from its flows
directory, digits sent with AMI ``PlayDTMF`` walk a two-level menu to a transfer, and the
call's CDR (written by the daemon into its database) carries the IVR path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccd.app import Daemon
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.conftest import AsteriskSandbox
from tests.system.ivrrig import (
    call_in,
    first_half,
    ivr_daemon,
    listening,
    press,
    reached,
    recording_ami,
)
from tests.system.rawami import RawAmi
from tests.system.waiting import eventually

FLOW = f"""
id = "twolevel"
default = true
entry = "main"
default_destination = "bye"

[nodes.main]
kind = "menu"
prompts = ["beep"]
options = {{ "1" = "support", "9" = "bye" }}
timeout_s = 8
retries = 1

[nodes.support]
kind = "menu"
prompts = ["beep"]
options = {{ "2" = "desk", "9" = "bye" }}
timeout_s = 8
retries = 1

[nodes.desk]
kind = "transfer"
context = "{contract.SIM_CONTEXT}"
exten = "{contract.SimExten.HANGUP_AFTER_2}"

[nodes.bye]
kind = "hangup"
"""


@pytest.fixture
async def recorder(asterisk_sandbox: AsteriskSandbox) -> AsyncIterator[RawAmi]:
    async with recording_ami(asterisk_sandbox) as client:
        yield client


@pytest.fixture
async def daemon(asterisk_sandbox: AsteriskSandbox, tmp_path: Path) -> AsyncIterator[Daemon]:
    async with ivr_daemon(asterisk_sandbox, tmp_path, {"twolevel.toml": FLOW}) as running:
        yield running


async def test_a_caller_walks_two_menus_to_a_department_and_the_cdr_has_the_path(
    daemon: Daemon, recorder: RawAmi
) -> None:
    linkedid, agi_channel = await call_in(daemon, recorder, "twolevel")
    await listening(recorder, agi_channel)  # "beep" played, the main menu reads digits
    await press(recorder, first_half(agi_channel), "1")
    await listening(recorder, agi_channel, nth=2)  # the support menu
    await press(recorder, first_half(agi_channel), "2")
    await recorder.wait_for(reached(contract.SIM_CONTEXT, contract.SimExten.HANGUP_AFTER_2), 15)

    _id, token = await daemon.components.tokens.create(Role.SUPERVISOR, label="ivr-e2e")
    async with aiohttp.ClientSession(
        base_url=f"http://127.0.0.1:{daemon.http_port}",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:

        async def stored() -> dict[str, Any] | None:
            async with http.get(f"/api/v1/cdrs/{linkedid}") as response:
                if response.status != 200:
                    return None
                body: dict[str, Any] = await response.json()
                return body

        cdr = await eventually(stored, within_s=20, what="the call's CDR in the database")
        async with http.get("/api/v1/ivr/flows") as response:
            assert response.status == 200
            assert [flow["id"] for flow in (await response.json())["flows"]] == ["twolevel"]

    path = cdr["ivr_path"]
    assert [(step["node"], step["digits"]) for step in path] == [
        ("main", "1"),
        ("support", "2"),
        ("desk", ""),
    ]
