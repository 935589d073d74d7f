"""IVR scenarios on the real Asterisk sandbox through the running daemon: a caller enters
``ccd-ivr``, the daemon's FastAGI runs one of the flows below, digits go in with AMI
``PlayDTMF`` on the Local channel's ``;1`` half once the AMI says the menu listens
(``AGIExecStart`` of ``GET DATA``), and each test checks where the call ends up
(``Newexten`` in ``ccd-sim``) and the IVR path stored in the call's CDR."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ccd.app import Daemon
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.conftest import AsteriskSandbox
from tests.system.ivrrig import (
    agi_commands,
    call_in,
    first_half,
    ivr_daemon,
    listening,
    press,
    reached,
    recording_ami,
)
from tests.system.rawami import Frame, RawAmi
from tests.system.waiting import eventually

SANDBOX_ROOT = Path("/var/cache/ccd/asterisk-root")
SOUNDS = SANDBOX_ROOT / "usr/share/asterisk/sounds/en_US_f_Allison"
LANGUAGE_PROMPTS = ("beep", "beeperr", "invalid", "please-try-again")
SIM = contract.SIM_CONTEXT
DEPARTMENT = contract.SimExten.HANGUP_AFTER_2
AFTER_RETRIES = contract.SimExten.BUSY
OTHER = contract.SimExten.CONGESTION
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def transfer(exten: str) -> str:
    return f'kind = "transfer"\ncontext = "{SIM}"\nexten = "{exten}"\n'


RETRY_FLOW = f"""
id = "retry"
default = true
entry = "main"
default_destination = "other"

[nodes.main]
kind = "menu"
prompts = ["beep"]
options = {{ "1" = "desk" }}
timeout_s = 4
retries = 1
invalid_prompts = ["beeperr"]
timeout_prompts = ["please-try-again"]
after_retries = "after"

[nodes.desk]
{transfer(DEPARTMENT)}
[nodes.after]
{transfer(AFTER_RETRIES)}
[nodes.other]
{transfer(OTHER)}
"""


def schedule_flow(now: datetime) -> str:
    # Open all day, but only on a weekday three days away: closed now, whatever the hour.
    open_day = DAYS[(now.weekday() + 3) % 7]
    return f"""
id = "hours"
entry = "hours"
default_destination = "other"

[nodes.hours]
kind = "schedule"
timezone = "UTC"
hours = ["{open_day} 00:00-24:00"]
open = "other"
closed = "closed"

[nodes.closed]
{transfer(DEPARTMENT)}
[nodes.other]
{transfer(OTHER)}
"""


def language_flow(prompt_dir: str) -> str:
    return f"""
id = "lang"
entry = "choose"
default_destination = "other"
languages = ["en", "fr"]
prompt_dir = "{prompt_dir}"

[nodes.choose]
kind = "language"
prompts = ["beep"]
options = {{ "2" = "fr" }}
timeout_s = 5
next = "main"

[nodes.main]
kind = "menu"
prompts = ["beep"]
options = {{ "1" = "desk" }}
timeout_s = 10
retries = 0

[nodes.desk]
{transfer(DEPARTMENT)}
[nodes.other]
{transfer(OTHER)}
"""


def lookup_flow(url: str) -> str:
    return f"""
id = "crm"
entry = "account"
default_destination = "regular"

[nodes.account]
kind = "collect"
prompts = ["beep"]
variable = "account"
min_len = 4
max_len = 8
pattern = "[0-9]+"
terminator = "#"
timeout_s = 8
next = "crm"

[nodes.crm]
kind = "lookup"
url = "{url}"
timeout_s = 1
send = ["account", "caller_num"]
assign = {{ vip = "vip" }}
branch_on = "vip"
branches = {{ yes = "priority" }}
next = "regular"
fallback = "fallback"

[nodes.priority]
{transfer(DEPARTMENT)}
[nodes.regular]
{transfer(OTHER)}
[nodes.fallback]
{transfer(AFTER_RETRIES)}
"""


class Crm:
    """A real integrator endpoint: account 1111 is VIP, 2222 never answers in time,
    3333 answers garbage."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = await request.json()
        self.received.append(body)
        account = body.get("account")
        if account == "2222":
            await asyncio.sleep(10)
        if account == "3333":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        return web.json_response({"vip": "yes" if account == "1111" else "no"})


@pytest.fixture
async def recorder(asterisk_sandbox: AsteriskSandbox) -> AsyncIterator[RawAmi]:
    async with recording_ami(asterisk_sandbox) as client:
        yield client


@pytest.fixture
async def crm() -> AsyncIterator[tuple[Crm, str]]:
    endpoint = Crm()
    app = web.Application()
    app.router.add_post("/crm", endpoint.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield endpoint, f"http://127.0.0.1:{port}/crm"
    finally:
        await runner.cleanup()


@pytest.fixture
def prompt_dir() -> Iterator[str]:
    """en/ and fr/ copies of a few core sounds inside the sandbox's chroot. Asterisk reads
    the in-chroot path; the daemon (outside the chroot) validates prompt files at that same
    path, so a host symlink points it at the chroot's directory."""
    name = f"ccd-ivr-lang-{uuid.uuid4().hex[:8]}"
    inside = SANDBOX_ROOT / "tmp" / name
    for language in ("en", "fr"):
        (inside / language).mkdir(parents=True)
        for prompt in LANGUAGE_PROMPTS:
            shutil.copy(SOUNDS / f"{prompt}.gsm", inside / language / f"{prompt}.gsm")
    inside.chmod(0o755)
    host_view = Path("/tmp") / name
    host_view.symlink_to(inside)
    try:
        yield f"/tmp/{name}"
    finally:
        host_view.unlink()
        shutil.rmtree(inside)


@pytest.fixture
async def daemon(
    asterisk_sandbox: AsteriskSandbox,
    tmp_path: Path,
    crm: tuple[Crm, str],
    prompt_dir: str,
) -> AsyncIterator[Daemon]:
    flows = {
        "retry.toml": RETRY_FLOW,
        "hours.toml": schedule_flow(datetime.now(UTC)),
        "lang.toml": language_flow(prompt_dir),
        "crm.toml": lookup_flow(crm[1]),
    }
    async with ivr_daemon(asterisk_sandbox, tmp_path, flows) as running:
        yield running


async def api_get(daemon: Daemon, path: str) -> tuple[int, dict[str, Any]]:
    _id, token = await daemon.components.tokens.create(Role.SUPERVISOR, label="ivr-scenarios")
    async with (
        aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{daemon.http_port}",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
        http.get(path) as response,
    ):
        body: dict[str, Any] = await response.json() if response.status == 200 else {}
        return response.status, body


async def stored_path(daemon: Daemon, linkedid: str) -> list[dict[str, Any]]:
    async def stored() -> dict[str, Any] | None:
        status, body = await api_get(daemon, f"/api/v1/cdrs/{linkedid}")
        return body if status == 200 else None

    cdr = await eventually(
        stored, within_s=20, what="the call's CDR in the database", interval_s=0.25
    )
    path: list[dict[str, Any]] = cdr["ivr_path"]
    return path


def steps(path: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(step["node"], step["digits"]) for step in path]


async def ends_in(recorder: RawAmi, exten: str) -> Frame:
    return await recorder.wait_for(reached(SIM, exten), 20)


async def test_an_invalid_digit_is_refused_and_the_retry_reaches_the_department(
    daemon: Daemon, recorder: RawAmi
) -> None:
    linkedid, agi_channel = await call_in(daemon, recorder, "retry")
    await listening(recorder, agi_channel)  # "beep" played
    await press(recorder, first_half(agi_channel), "7")
    await listening(recorder, agi_channel, nth=2)  # "beeperr", then "beep" again
    await press(recorder, first_half(agi_channel), "1")
    await ends_in(recorder, DEPARTMENT)
    # The department answers and keeps the caller ~2 s: the live call shows the path.
    status, live = await api_get(daemon, f"/api/v1/calls/{linkedid}")
    assert status == 200
    assert steps(live["ivr_path"]) == [("main", "7,1"), ("desk", "")]
    commands = agi_commands(recorder, agi_channel)
    assert any("beeperr" in command for command in commands)
    assert steps(await stored_path(daemon, linkedid)) == [("main", "7,1"), ("desk", "")]


async def test_a_silent_caller_hears_the_timeout_prompt_then_goes_to_after_retries(
    daemon: Daemon, recorder: RawAmi
) -> None:
    linkedid, agi_channel = await call_in(daemon, recorder, "retry")
    await ends_in(recorder, AFTER_RETRIES)
    commands = agi_commands(recorder, agi_channel)
    assert any("please-try-again" in command for command in commands)
    assert sum("beep" in command and "STREAM FILE" in command for command in commands) == 2
    path = await stored_path(daemon, linkedid)
    assert [step["node"] for step in path] == ["main", "after"]
    assert path[0]["digits"].strip(",") == ""


async def test_after_hours_the_schedule_sends_the_caller_to_the_closed_branch(
    daemon: Daemon, recorder: RawAmi
) -> None:
    linkedid, _ = await call_in(daemon, recorder, "hours")
    await ends_in(recorder, DEPARTMENT)
    assert steps(await stored_path(daemon, linkedid)) == [("hours", ""), ("closed", "")]


async def test_choosing_a_language_switches_the_channel_and_the_prompts(
    daemon: Daemon, recorder: RawAmi, prompt_dir: str
) -> None:
    linkedid, agi_channel = await call_in(daemon, recorder, "lang")
    await listening(recorder, agi_channel)  # the language choice
    await press(recorder, first_half(agi_channel), "2")
    french_beep = f"{prompt_dir}/fr/beep"
    await recorder.wait_for(
        lambda f: (
            f.get("Event") == "AGIExecStart"
            and f.get("Channel") == agi_channel
            and french_beep in f.get("Command", "")
        ),
        10,
    )
    language = await recorder.action("Getvar", Channel=agi_channel, Variable="CHANNEL(language)")
    assert language.get("Value") == "fr", language
    await listening(recorder, agi_channel, nth=2)  # the main menu, in French
    await press(recorder, first_half(agi_channel), "1")
    await ends_in(recorder, DEPARTMENT)
    commands = agi_commands(recorder, agi_channel)
    english = [command for command in commands if f"{prompt_dir}/en/" in command]
    assert len(english) == 1  # only the language choice itself, before the switch
    path = await stored_path(daemon, linkedid)
    assert steps(path) == [("choose", "2"), ("main", "1"), ("desk", "")]
    assert path[0]["variables"] == {"language": "fr"}


async def collect_account(daemon: Daemon, recorder: RawAmi, account: str) -> tuple[str, str]:
    linkedid, agi_channel = await call_in(daemon, recorder, "crm")
    await listening(recorder, agi_channel)
    await press(recorder, first_half(agi_channel), f"{account}#")
    return linkedid, agi_channel


async def test_a_vip_account_found_by_the_lookup_goes_to_the_priority_branch(
    daemon: Daemon, recorder: RawAmi, crm: tuple[Crm, str]
) -> None:
    linkedid, _ = await collect_account(daemon, recorder, "1111")
    await ends_in(recorder, DEPARTMENT)
    endpoint, _url = crm
    assert [body["account"] for body in endpoint.received] == ["1111"]
    path = await stored_path(daemon, linkedid)
    assert [step["node"] for step in path] == ["account", "crm", "priority"]
    assert path[0]["variables"] == {"account": "1111"}
    assert path[1]["variables"] == {"vip": "yes"}


@pytest.mark.parametrize("account", ["2222", "3333"], ids=["timeout", "garbage"])
async def test_a_lookup_that_times_out_or_answers_garbage_takes_the_fallback(
    daemon: Daemon, recorder: RawAmi, crm: tuple[Crm, str], account: str
) -> None:
    linkedid, _ = await collect_account(daemon, recorder, account)
    await ends_in(recorder, AFTER_RETRIES)
    endpoint, _url = crm
    assert [body["account"] for body in endpoint.received] == [account]
    path = await stored_path(daemon, linkedid)
    assert [step["node"] for step in path] == ["account", "crm", "fallback"]


async def test_a_caller_hanging_up_mid_menu_leaves_no_channel_and_no_session(
    daemon: Daemon, recorder: RawAmi, asterisk_sandbox: AsteriskSandbox
) -> None:
    linkedid, agi_channel = await call_in(daemon, recorder, "retry")
    await listening(recorder, agi_channel)  # mid-menu
    reply = await recorder.action("Hangup", Channel=first_half(agi_channel))
    assert reply["Response"] == "Success", reply
    path = await stored_path(daemon, linkedid)
    assert steps(path) == [("main", "")]
    await eventually(
        lambda: daemon.components.agi.active_sessions == 0,
        within_s=5,
        what="the daemon's AGI session for the call ended",
    )
    prefix = agi_channel[:-2]
    assert not [name for name in asterisk_sandbox.active_channels() if name.startswith(prefix)]
