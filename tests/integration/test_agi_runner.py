"""The IVR runner end to end over a real socket: a fake Asterisk answers the AGI commands,
the real IVR machine decides, a real local HTTP server answers lookups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ccd.agi.runner import FlowResolver, ivr_agi_handler
from ccd.agi.server import AgiServer
from ccd.domain.cdr import IvrStep
from ccd.ivr.flows import Flow
from tests.clock import FakeClock

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def make_flow(lookup_url: str = "http://127.0.0.1:1/none") -> Flow:
    return Flow.model_validate(
        {
            "id": "main",
            "entry": "menu",
            "default_destination": "operator",
            "languages": ["en", "fr"],
            "nodes": {
                "menu": {
                    "kind": "menu",
                    "prompts": ["welcome", "choose"],
                    "options": {
                        "1": "sales",
                        "2": "account",
                        "3": "bye",
                        "4": "french",
                        "5": "closed",
                    },
                    "timeout_s": 3,
                    "retries": 1,
                    "invalid_prompts": ["invalid"],
                    "timeout_prompts": ["again"],
                },
                "sales": {"kind": "transfer", "context": "sales-ctx", "exten": "100"},
                "operator": {"kind": "transfer", "context": "ops", "exten": "0"},
                "bye": {"kind": "hangup", "prompts": ["goodbye"]},
                "closed": {"kind": "hangup", "cause": 21},
                "french": {"kind": "language", "language": "fr", "next": "mail"},
                "mail": {"kind": "voicemail", "mailbox": "1000@default"},
                "account": {
                    "kind": "collect",
                    "prompts": ["enter-account"],
                    "variable": "account",
                    "min_len": 4,
                    "max_len": 6,
                    "next": "crm",
                },
                "crm": {
                    "kind": "lookup",
                    "url": lookup_url,
                    "timeout_s": 0.5,
                    "send": ["caller_num", "account"],
                    "assign": {"name": "customer"},
                    "branch_on": "tier",
                    "branches": {"vip": "vip"},
                    "next": "sales",
                    "fallback": "operator",
                },
                "vip": {"kind": "queue", "queue": "vip", "priority": 10, "skills": ["gold"]},
            },
        }
    )


@dataclass
class Script:
    """What the fake Asterisk answers: digits per GET DATA, missing files, a hangup point."""

    digits: list[str] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    digit_during: dict[str, str] = field(default_factory=dict)
    hang_up_on_get_data: bool = False
    commands: list[str] = field(default_factory=list)

    def reply(self, line: str) -> str | None:
        self.commands.append(line)
        if line.startswith('GET VARIABLE "CHANNEL(linkedid)"'):
            return "200 result=1 (1764064000.1)"
        if line.startswith("STREAM FILE"):
            name = line.split('"')[1]
            if name in self.missing:
                return "200 result=-1 endpos=0"
            if name in self.digit_during:
                return f"200 result={ord(self.digit_during[name])} endpos=100"
            return "200 result=0 endpos=8000"
        if line.startswith("GET DATA"):
            if self.hang_up_on_get_data:
                return None
            return f"200 result={self.digits.pop(0)}" if self.digits else "200 result= (timeout)"
        return "200 result=1"

    def variables(self) -> dict[str, str]:
        found = {}
        for line in self.commands:
            if line.startswith("SET VARIABLE"):
                parts = line.split('"')
                found[parts[1]] = parts[3]
        return found


@dataclass
class Finished:
    calls: list[tuple[str, str, tuple[IvrStep, ...]]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, uniqueid: str, linkedid: str, path: tuple[IvrStep, ...]) -> None:
        self.calls.append((uniqueid, linkedid, path))
        self.done.set()


HEADERS = (
    "agi_network: yes\nagi_network_script: {script}\nagi_channel: Local/s@ccd-ivr-1;2\n"
    "agi_uniqueid: 1764064000.2\nagi_callerid: 5551234\nagi_calleridname: Jane\n"
    "agi_language: en\nagi_dnid: unknown\nagi_arg_1: {flow}\nagi_arg_2: 5000\n\n"
)


async def call(port: int, script: Script, agi_script: str = "ivr", flow: str = "main") -> None:
    """One call as Asterisk makes it: headers, then answer every command until closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HEADERS.format(script=agi_script, flow=flow).encode())
        async with asyncio.timeout(10):
            while line := await reader.readline():
                reply = script.reply(line.decode().rstrip("\n"))
                if reply is None:
                    writer.write(b"HANGUP\n")
                    break
                writer.write(reply.encode() + b"\n")
        async with asyncio.timeout(10):
            while await reader.read(1024):
                continue
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def lookup_server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    over = asyncio.Event()

    async def crm(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body)
        account = body.get("account", "")
        if account == "1111":
            return web.json_response({"name": "Ada", "tier": "vip", "since": 2019})
        if account == "2222":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if account == "3333":
            # Slower than any lookup timeout: answers only once the test is over.
            await over.wait()
        if account == "4444":
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"name": "Bob", "tier": "basic"})

    app = web.Application()
    app.router.add_post("/crm", crm)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/crm", seen
    finally:
        over.set()
        await runner.cleanup()


@pytest.fixture
async def rig(
    lookup_server: tuple[str, list[dict[str, Any]]],
) -> AsyncIterator[tuple[AgiServer, Finished]]:
    flow = make_flow(lookup_server[0])

    def flow_for(name: str, did: str) -> Flow | None:
        return flow if name == "main" else None

    resolver: FlowResolver = flow_for
    finished = Finished()
    async with aiohttp.ClientSession() as client:
        server = AgiServer(
            "127.0.0.1",
            0,
            ivr_agi_handler(resolver, client, FakeClock(NOW), on_finished=finished),
        )
        await server.start()
        try:
            yield server, finished
        finally:
            await server.stop()


async def test_menu_digit_transfers_to_the_department(rig: tuple[AgiServer, Finished]) -> None:
    server, finished = rig
    script = Script(digits=["1"])
    await call(server.port, script)
    assert script.commands[1:4] == [
        'STREAM FILE "welcome" "0123456789*#"',
        'STREAM FILE "choose" "0123456789*#"',
        'GET DATA "" "3000" "1"',
    ]
    variables = script.variables()
    assert variables["CCD_IVR_NEXT_CONTEXT"] == "sales-ctx"
    assert variables["CCD_IVR_NEXT_EXTEN"] == "100"
    # The action comes last: the dialplan must see the target before acting on it.
    assert script.commands[-1] == 'SET VARIABLE "CCD_IVR_ACTION" "transfer"'
    [(uniqueid, linkedid, path)] = finished.calls
    assert (uniqueid, linkedid) == ("1764064000.2", "1764064000.1")
    assert [(step.node, step.digits) for step in path] == [("menu", "1"), ("sales", "")]


async def test_digit_typed_during_a_prompt_stops_it_and_counts(
    rig: tuple[AgiServer, Finished],
) -> None:
    server, _ = rig
    script = Script(digit_during={"welcome": "3"})
    await call(server.port, script)
    assert 'STREAM FILE "choose" "0123456789*#"' not in script.commands
    assert not any(line.startswith("GET DATA") for line in script.commands)
    assert 'STREAM FILE "goodbye" ""' in script.commands
    assert script.commands[-2:] == ['SET VARIABLE "CCD_IVR_ACTION" "hangup"', "HANGUP"]


async def test_hangup_with_a_cause_runs_the_hangup_application(
    rig: tuple[AgiServer, Finished],
) -> None:
    server, _ = rig
    script = Script(digits=["5"])
    await call(server.port, script)
    assert script.commands[-2:] == ['SET VARIABLE "CCD_IVR_ACTION" "hangup"', 'EXEC "Hangup" "21"']


async def test_invalid_then_timeout_goes_to_the_default_destination(
    rig: tuple[AgiServer, Finished],
) -> None:
    server, finished = rig
    script = Script(digits=["8"])  # then silence
    await call(server.port, script)
    assert 'STREAM FILE "invalid" "0123456789*#"' in script.commands
    assert script.variables()["CCD_IVR_NEXT_CONTEXT"] == "ops"
    assert [step.node for step in finished.calls[0][2]][-1] == "operator"


async def test_missing_prompt_is_skipped_and_the_menu_still_answers(
    rig: tuple[AgiServer, Finished],
) -> None:
    server, _ = rig
    script = Script(digits=["1"], missing={"welcome"})
    await call(server.port, script)
    streams = [line for line in script.commands if line.startswith("STREAM FILE")]
    assert streams == [
        'STREAM FILE "welcome" "0123456789*#"',
        'STREAM FILE "choose" "0123456789*#"',
    ]
    assert script.variables()["CCD_IVR_NEXT_CONTEXT"] == "sales-ctx"


async def test_language_switch_then_voicemail(rig: tuple[AgiServer, Finished]) -> None:
    server, _ = rig
    script = Script(digits=["4"])
    await call(server.port, script)
    variables = script.variables()
    assert variables["CHANNEL(language)"] == "fr"
    assert variables["CCD_IVR_VOICEMAIL_BOX"] == "1000@default"
    assert script.commands[-1] == 'SET VARIABLE "CCD_IVR_ACTION" "voicemail"'


@pytest.mark.parametrize(
    ("account", "context", "queue"),
    [
        ("1111", "ccd-queue-wait", "vip"),  # VIP branch, name assigned
        ("5555", "sales-ctx", None),  # answered, no branch matched
        ("2222", "ops", None),  # garbage (HTML) → fallback
        ("3333", "ops", None),  # slower than the 0.5 s timeout → fallback
        ("4444", "ops", None),  # 503 → fallback
    ],
    ids=["vip", "basic", "garbage", "timeout", "http-error"],
)
async def test_collect_then_lookup_routes_the_caller(
    rig: tuple[AgiServer, Finished],
    lookup_server: tuple[str, list[dict[str, Any]]],
    account: str,
    context: str,
    queue: str | None,
) -> None:
    server, _ = rig
    script = Script(digits=["2", account])
    await call(server.port, script)
    assert 'GET DATA "" "8000" "6"' in script.commands
    assert lookup_server[1][-1] == {"caller_num": "5551234", "account": account}
    variables = script.variables()
    assert variables["CCD_IVR_NEXT_CONTEXT"] == context
    assert variables.get("CCD_QUEUE") == queue
    if queue:
        assert variables["customer"] == "Ada"
        assert variables["CCD_PRIORITY"] == "10"
        assert variables["CCD_SKILLS"] == "gold"


async def test_caller_hanging_up_mid_menu_ends_cleanly(rig: tuple[AgiServer, Finished]) -> None:
    server, finished = rig
    script = Script(hang_up_on_get_data=True)
    await call(server.port, script)
    async with asyncio.timeout(5):
        await finished.done.wait()
    assert "CCD_IVR_ACTION" not in script.variables()
    assert [step.node for step in finished.calls[0][2]] == ["menu"]
    assert server.active_sessions == 0


async def test_unknown_flow_and_unknown_script_leave_it_to_the_dialplan(
    rig: tuple[AgiServer, Finished],
) -> None:
    server, finished = rig
    other = Script()
    await call(server.port, other, agi_script="something-else")
    assert other.commands == []
    unknown = Script()
    await call(server.port, unknown, flow="no-such-flow")
    # Only the linkedid was asked for: no action set, the dialplan's default destination runs.
    assert unknown.commands == ['GET VARIABLE "CHANNEL(linkedid)"']
    assert finished.calls == []
