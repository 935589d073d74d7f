"""FastAGI against the real Asterisk: a call enters the shipped ``ccd-ivr`` context, the
AGI connects to ccd's server (port 0; the call carries ``CCD_AGI_PORT``), digits sent with
AMI ``PlayDTMF`` on the Local channel's ``;1`` half reach ``GET DATA`` on ``;2``, and the
dialplan continues where the IVR told it to — or at the default destination.

A test acts on the call when the AMI says the AGI session got there (``AGIExecStart`` of
``GET DATA`` or of a prompt), never after a guess of how long a prompt plays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from ccd.agi.channel import AgiChannel, AgiPromptFailed
from ccd.agi.runner import ivr_agi_handler
from ccd.agi.server import AgiServer
from ccd.clock import SystemClock
from ccd.domain import contract
from ccd.domain.cdr import IvrStep
from ccd.ivr.flows import Flow
from tests.system.conftest import AsteriskSandbox
from tests.system.ivrrig import (
    agi_command_started,
    agi_commands,
    enter_ivr,
    first_half,
    listening,
    press,
    reached,
    recording_ami,
)
from tests.system.rawami import Frame, RawAmi


@pytest.fixture
async def recorder(asterisk_sandbox: AsteriskSandbox) -> AsyncIterator[RawAmi]:
    """AMI with every event (Newexten included), to see where the dialplan went."""
    async with recording_ami(asterisk_sandbox) as client:
        yield client


async def serve(handler: Callable[[AgiChannel], Awaitable[None]]) -> AgiServer:
    server = AgiServer("127.0.0.1", 0, handler)
    await server.start()
    return server


async def test_digits_reach_get_data_and_the_dialplan_follows_the_transfer(
    recorder: RawAmi, asterisk_sandbox: AsteriskSandbox
) -> None:
    seen: dict[str, object] = {}
    waiting = asyncio.Event()
    done = asyncio.Event()

    async def handler(channel: AgiChannel) -> None:
        try:
            seen["env"] = dict(channel.env)
            seen["linkedid"] = await channel.get_variable("CHANNEL(linkedid)")
            seen["beep"] = await channel.stream_file("beep")
            try:
                await channel.stream_file("ccd-no-such-prompt")
            except AgiPromptFailed:
                seen["missing"] = True
            waiting.set()
            seen["digits"] = await channel.get_data("", 8000, 3)
            await channel.set_variable(contract.VAR_IVR_NEXT_CONTEXT, contract.SIM_CONTEXT)
            await channel.set_variable(
                contract.VAR_IVR_NEXT_EXTEN, contract.SimExten.HANGUP_AFTER_2
            )
            await channel.set_variable(contract.VAR_IVR_ACTION, contract.IvrAction.TRANSFER)
        finally:
            done.set()

    server = await serve(handler)
    try:
        answered = await enter_ivr(recorder, server.port)
        async with asyncio.timeout(15):
            await waiting.wait()
        env = seen["env"]
        assert isinstance(env, dict)
        assert env["agi_network_script"] == contract.AGI_SCRIPT_IVR
        assert env["agi_arg_1"] == "test"
        # Every FastAGI call runs from the subroutine that tries each ccd address in turn.
        assert env["agi_context"] == contract.AGI_CONTEXT
        assert env["agi_channel"].endswith(";2")
        assert seen["linkedid"] == answered["Uniqueid"]  # the ;1 half started the call
        assert seen["beep"] == ""
        assert seen["missing"] is True
        await listening(recorder, env["agi_channel"])
        await press(recorder, first_half(env["agi_channel"]), "427")
        async with asyncio.timeout(15):
            await done.wait()
        assert seen["digits"] == "427"
        await recorder.wait_for(reached(contract.SIM_CONTEXT, contract.SimExten.HANGUP_AFTER_2), 15)
    finally:
        await server.stop()


async def test_ccd_unreachable_goes_to_an_announcement_not_silence(recorder: RawAmi) -> None:
    server = await serve(lambda channel: asyncio.sleep(0))
    port = server.port
    await server.stop()  # nobody listens on that port any more
    await enter_ivr(recorder, port)
    played = await recorder.wait_for(reached(contract.IVR_CONTEXT, "s", "Playback"), 15)
    assert played["AppData"] == "ss-noservice"


async def test_ivr_ending_without_a_route_goes_to_the_default_destination(
    recorder: RawAmi,
) -> None:
    server = await serve(lambda channel: channel.verbose("nothing to do"))
    try:
        await enter_ivr(recorder, server.port)
        await recorder.wait_for(reached(contract.IVR_CONTEXT, "s", "Playback"), 15)
    finally:
        await server.stop()


async def test_a_transfer_to_a_target_that_does_not_exist_is_not_silence(
    recorder: RawAmi,
) -> None:
    async def nowhere(channel: AgiChannel) -> None:
        # e.g. a queue node before the ACD's context exists
        await channel.set_variable(contract.VAR_IVR_NEXT_CONTEXT, "ccd-no-such-context")
        await channel.set_variable(contract.VAR_IVR_NEXT_EXTEN, "s")
        await channel.set_variable(contract.VAR_IVR_ACTION, contract.IvrAction.TRANSFER)

    server = await serve(nowhere)
    try:
        await enter_ivr(recorder, server.port)
        played = await recorder.wait_for(reached(contract.IVR_CONTEXT, "s", "Playback"), 15)
        assert played["AppData"] == "ss-noservice"
    finally:
        await server.stop()


def menu_flow(*prompts: str) -> Flow:
    return Flow.model_validate(
        {
            "id": "test",
            "entry": "menu",
            "default_destination": "bye",
            "nodes": {
                "menu": {
                    "kind": "menu",
                    "prompts": list(prompts),
                    "options": {"1": "bye", "2": "far-end", "3": "refuse"},
                    "timeout_s": 8,
                    "retries": 1,
                    "invalid_prompts": ["beeperr"],
                },
                "far-end": {
                    "kind": "transfer",
                    "context": contract.SIM_CONTEXT,
                    "exten": contract.SimExten.HANGUP_AFTER_2,
                },
                "bye": {"kind": "hangup", "prompts": ["beep"]},
                "refuse": {"kind": "hangup", "cause": 21},
            },
        }
    )


Path = tuple[IvrStep, ...]
CallerAction = Callable[[RawAmi, str], Awaitable[None]]


async def call_through_runner(
    recorder: RawAmi, flow: Flow, caller: CallerAction
) -> tuple[Frame, str, str, Path, AgiServer]:
    """One call into ccd-ivr driven by the real runner. ``caller(ami, agi_channel)`` acts
    once the AGI session has started. Returns (OriginateResponse, uniqueid, linkedid, path,
    the stopped server)."""
    paths: list[tuple[str, str, Path]] = []
    finished = asyncio.Event()

    def on_finished(uniqueid: str, linkedid: str, path: Path) -> None:
        paths.append((uniqueid, linkedid, path))
        finished.set()

    channels: list[str] = []
    listening = asyncio.Event()
    async with aiohttp.ClientSession() as client:
        runner = ivr_agi_handler(
            lambda name, did: flow if name == "test" else None,
            client,
            SystemClock(),
            on_finished=on_finished,
        )

        async def handler(channel: AgiChannel) -> None:
            channels.append(channel.channel)
            listening.set()
            await runner(channel)

        server = await serve(handler)
        try:
            answered = await enter_ivr(recorder, server.port)
            async with asyncio.timeout(15):
                await listening.wait()
            await caller(recorder, channels[0])
            async with asyncio.timeout(20):
                await finished.wait()
            async with asyncio.timeout(5):
                while server.active_sessions:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        finally:
            await server.stop()
    [(uniqueid, linkedid, path)] = paths
    return answered, uniqueid, linkedid, path, server


async def test_a_caller_reaches_a_department_through_the_real_runner(
    recorder: RawAmi,
) -> None:
    async def press_two(ami: RawAmi, agi_channel: str) -> None:
        # The missing greeting fails, "beep" plays, then GET DATA listens.
        await listening(ami, agi_channel)
        await press(ami, first_half(agi_channel), "2")

    flow = menu_flow("ccd-missing-greeting", "beep")
    answered, uniqueid, linkedid, path, _ = await call_through_runner(recorder, flow, press_two)
    await recorder.wait_for(reached(contract.SIM_CONTEXT, contract.SimExten.HANGUP_AFTER_2), 15)
    assert linkedid == answered["Uniqueid"]
    assert uniqueid != linkedid
    assert [(step.node, step.digits) for step in path] == [("menu", "2"), ("far-end", "")]


async def test_a_digit_typed_during_a_long_prompt_interrupts_it(recorder: RawAmi) -> None:
    agi_channel = ""

    async def press_early(ami: RawAmi, channel: str) -> None:
        nonlocal agi_channel
        agi_channel = channel
        # Once the ~30 s demo-instruct started: the digit lands well inside it.
        await agi_command_started(ami, channel, "STREAM FILE", "demo-instruct")
        await press(ami, first_half(channel), "2")

    flow = menu_flow("demo-instruct", "beep")
    _, _, _, path, _ = await call_through_runner(recorder, flow, press_early)
    await recorder.wait_for(reached(contract.SIM_CONTEXT, contract.SimExten.HANGUP_AFTER_2), 15)
    assert [(step.node, step.digits) for step in path] == [("menu", "2"), ("far-end", "")]
    commands = agi_commands(recorder, agi_channel)
    assert any("demo-instruct" in command for command in commands)
    # The digit ended the menu: the second prompt and GET DATA never ran.
    assert not any("beep" in command or "GET DATA" in command for command in commands)


async def test_caller_hanging_up_mid_menu_leaves_nothing_behind(
    recorder: RawAmi, asterisk_sandbox: AsteriskSandbox
) -> None:
    async def hang_up(ami: RawAmi, channel: str) -> None:
        await agi_command_started(ami, channel, "STREAM FILE", "demo-instruct")  # mid-menu
        reply = await ami.action("Hangup", Channel=first_half(channel))
        assert reply["Response"] == "Success", reply

    flow = menu_flow("demo-instruct")
    answered, _, linkedid, path, server = await call_through_runner(recorder, flow, hang_up)
    assert [step.node for step in path] == ["menu"]
    assert server.active_sessions == 0
    await recorder.wait_for(
        lambda f: (
            f.get("Event") == "Hangup"
            and f.get("Linkedid") == linkedid
            and f.get("Channel", "").endswith(";2")
        ),
        10,
    )
    left = [name for name in asterisk_sandbox.active_channels() if "ccd-ivr" in name]
    assert not [name for name in left if name.startswith(answered["Channel"][:-2])]


async def test_a_hangup_node_hangs_up_with_its_cause(recorder: RawAmi) -> None:
    async def press_three(ami: RawAmi, agi_channel: str) -> None:
        await listening(ami, agi_channel)
        await press(ami, first_half(agi_channel), "3")

    _, uniqueid, _, path, _ = await call_through_runner(recorder, menu_flow("beep"), press_three)
    assert [step.node for step in path] == ["menu", "refuse"]
    hangup = await recorder.wait_for(
        lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == uniqueid, 10
    )
    assert hangup["Cause"] == "21"
