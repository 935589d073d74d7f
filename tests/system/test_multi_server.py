"""One ccd serving two real Asterisk servers (sandbox instances ``east`` and ``west``, each
its own chroot, ports and ``systemname``): callers on each run ccd's IVR (FastAGI
sessions from both), live calls and CDRs carry their server, hangup and originate reach
the right Asterisk, and one server going down leaves the other's calls alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ccd.domain.contract import SimExten, sim_channel
from ccd.domain.events import AmiDisconnected, ResyncFinished
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.multiserverrig import MultiServerRun, Sandboxes, multi_server_daemon
from tests.system.waiting import eventually

FLOW = """
id = "front"
default = true
entry = "menu"
default_destination = "bye"

[nodes.menu]
kind = "menu"
prompts = ["beep"]
options = { "9" = "bye" }
timeout_s = 60
retries = 0

[nodes.bye]
kind = "hangup"
"""
FLOWS = {"front.toml": FLOW}


async def in_menu(run: MultiServerRun, server: str, call_id: str) -> dict[str, Any]:
    """The live call once ccd's IVR (a FastAGI session from ``server``) reads its menu's
    digits."""
    await run.in_ivr_menu(server, call_id)
    return await run.live_call(call_id)


def setting(cli_output: str, label: str) -> str:
    """The value after ``label:`` in an Asterisk CLI ``show settings`` listing."""
    for line in cli_output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == label:
            return value.strip()
    raise AssertionError(f"no {label!r} in {cli_output!r}")


def test_each_instance_is_an_asterisk_of_its_own_beside_the_default_one(
    two_sandboxes: Sandboxes, asterisk_sandbox: AsteriskSandbox
) -> None:
    roots = set()
    for name in ("east", "west"):
        instance = two_sandboxes[name]
        core = instance.cli("core show settings")
        assert setting(core, "System name") == name
        manager = instance.cli("manager show settings")
        assert setting(manager, "TCP Bindaddress") == f"127.0.0.1:{instance.ami_port}"
        transports = instance.cli("pjsip show transports")
        assert f"127.0.0.1:{instance.sip_port}" in transports, transports
        rtp = instance.cli("rtp show settings")
        start, end = instance.rtp_ports.split("-")
        assert (setting(rtp, "Port start"), setting(rtp, "Port end")) == (start, end)
        assert instance.root.is_mount(), instance.root  # its overlay, not a copy
        roots.add(instance.root)
    assert len(roots) == 2
    # The default sandbox keeps its own: no systemname, AMI 5038, RTP 10000-10999.
    default = asterisk_sandbox.cli("core show settings")
    assert setting(default, "System name") == ""
    assert setting(asterisk_sandbox.cli("manager show settings"), "TCP Bindaddress") == (
        f"127.0.0.1:{asterisk_sandbox.port}"
    )
    rtp = asterisk_sandbox.cli("rtp show settings")
    assert (setting(rtp, "Port start"), setting(rtp, "Port end")) == ("10000", "10999")


async def test_callers_on_both_servers_run_the_ivr_and_carry_their_server(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with multi_server_daemon(two_sandboxes, postgres_cluster, tmp_path, flows=FLOWS) as run:
        east = await run.caller_in_ivr("east", "front", number="5550101")
        west = await run.caller_in_ivr("west", "front", number="5550102")

        assert (await in_menu(run, "east", east))["server"] == "east"
        assert (await in_menu(run, "west", west))["server"] == "west"
        listed = {call["id"]: call["server"] for call in await run.live_calls()}
        assert listed == {east: "east", west: "west"}

        # The hangup reaches west's Asterisk: its channels go, east's caller stays.
        status, body = await run.api("DELETE", f"/api/v1/calls/{west}")
        assert status == 202, body
        await run.wait_call_gone(west)

        async def west_idle() -> bool:
            return await run.channels_on("west") == []

        await eventually(west_idle, within_s=5, what="no channel left on west")
        assert any(name.startswith("Local/") for name in await run.channels_on("east"))
        assert (await run.live_call(east))["server"] == "east"

        status, body = await run.api("DELETE", f"/api/v1/calls/{east}")
        assert status == 202, body
        await run.settled(east, west)

        east_rows = await run.cdrs(server="east")
        west_rows = await run.cdrs(server="west")
        assert [(r["linkedid"], r["server"], r["caller_num"]) for r in east_rows] == [
            (east, "east", "5550101")
        ]
        assert [(r["linkedid"], r["server"], r["caller_num"]) for r in west_rows] == [
            (west, "west", "5550102")
        ]
        assert [step["node"] for step in east_rows[0]["ivr_path"]] == ["menu"]
        assert [step["node"] for step in west_rows[0]["ivr_path"]] == ["menu"]


async def test_originate_with_a_server_places_the_call_on_that_asterisk(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with multi_server_daemon(two_sandboxes, postgres_cluster, tmp_path) as run:
        body = {"endpoint": sim_channel(SimExten.ANSWER), "destination": "1000", "server": "west"}
        status, answer = await run.api("POST", "/api/v1/calls", body)
        assert status == 202, answer

        async def on_west() -> list[str]:
            return await run.channels_on("west")

        channels = await eventually(on_west, within_s=10, what="the call's channels on west")
        assert any(name.startswith("Local/answer@ccd-sim") for name in channels), channels
        assert await run.channels_on("east") == []

        calls = await eventually(run.live_calls, within_s=10, what="the call listed")
        assert [call["server"] for call in calls] == ["west"]
        # West's systemname prefixes the ids Asterisk hands out there.
        assert calls[0]["id"].startswith("west-"), calls[0]["id"]
        assert calls[0]["callee"]["number"] == "1000"


async def test_one_server_down_leaves_the_other_serving_and_no_cdr_lost(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with multi_server_daemon(two_sandboxes, postgres_cluster, tmp_path, flows=FLOWS) as run:
        east = await run.caller_in_ivr("east", "front", number="5550201")
        west = await run.caller_in_ivr("west", "front", number="5550202")
        east_before = await in_menu(run, "east", east)
        await in_menu(run, "west", west)
        outage_from = len(run.server_events)

        await run.stop_server("west")

        body = await run.wait_not_ready()
        assert body["reasons"], body
        assert all(reason.startswith("ami west:") for reason in body["reasons"]), body
        # East goes on: its caller is still listed, a new caller runs its IVR and is
        # recorded while west is down.
        assert (await run.live_call(east))["started_at"] == east_before["started_at"]
        during = await run.caller_in_ivr("east", "front", number="5550203")
        assert (await in_menu(run, "east", during))["server"] == "east"
        status, answer = await run.api("DELETE", f"/api/v1/calls/{during}")
        assert status == 202, answer
        assert (await run.wait_cdr(during))["server"] == "east"

        await run.start_server("west")
        await run.wait_ready()
        outage = run.server_events[outage_from:]
        assert {e.server for e in outage if isinstance(e, AmiDisconnected)} == {"west"}
        assert {e.server for e in outage if isinstance(e, ResyncFinished)} == {"west"}
        # West's caller died with its Asterisk (settled by west's resync); east's is the
        # same call, untouched.
        await run.wait_call_gone(west)
        east_after = await run.live_call(east)
        assert east_after["started_at"] == east_before["started_at"]
        assert east_after["server"] == "east"
        assert any(name.startswith("Local/") for name in await run.channels_on("east"))

        status, answer = await run.api("DELETE", f"/api/v1/calls/{east}")
        assert status == 202, answer
        await run.settled(east, west, during)
        cdrs = await run.cdrs()
        per_call = {
            call: [r["server"] for r in cdrs if r["linkedid"] == call]
            for call in (east, west, during)
        }
        assert per_call == {east: ["east"], west: ["west"], during: ["east"]}
        assert len(cdrs) == 3, cdrs


async def test_a_server_killed_has_its_lost_calls_ended_by_its_resync_with_one_cdr_each(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with multi_server_daemon(two_sandboxes, postgres_cluster, tmp_path, flows=FLOWS) as run:
        east = await run.caller_in_ivr("east", "front", number="5550301")
        wests = [
            await run.caller_in_ivr("west", "front", number=number)
            for number in ("5550302", "5550303")
        ]
        east_before = await in_menu(run, "east", east)
        for west in wests:
            await in_menu(run, "west", west)
        outage_from = len(run.server_events)

        # kill -9: west's Asterisk sends no Hangup, its channels just vanish.
        await run.kill_server("west")

        body = await run.wait_not_ready()
        assert body["reasons"], body
        assert all(reason.startswith("ami west:") for reason in body["reasons"]), body
        # ccd never heard west's calls end: they are still listed (possibly outdated), and
        # east's caller is served as before.
        for west in wests:
            assert (await run.live_call(west))["server"] == "west"
        assert (await run.live_call(east))["started_at"] == east_before["started_at"]
        assert await run.cdrs() == []

        await run.start_server("west")
        await run.wait_resynced("west")
        await run.wait_ready()
        outage = run.server_events[outage_from:]
        assert {e.server for e in outage if isinstance(e, AmiDisconnected)} == {"west"}
        assert {e.server for e in outage if isinstance(e, ResyncFinished)} == {"west"}
        # West's resync ends the calls that died with its Asterisk: one CDR each, ended by
        # the system with no hangup cause (their Hangup was never sent).
        for west in wests:
            await run.wait_call_gone(west)
            row = await run.wait_cdr(west)
            assert (row["server"], row["hung_up_by"], row["hangup_cause"]) == (
                "west",
                "system",
                None,
            ), row
        # East's call is the same call, untouched, and ends as any call does.
        east_after = await run.live_call(east)
        assert east_after["started_at"] == east_before["started_at"]
        assert any(name.startswith("Local/") for name in await run.channels_on("east"))
        assert [row["linkedid"] for row in await run.cdrs(server="east")] == []

        status, answer = await run.api("DELETE", f"/api/v1/calls/{east}")
        assert status == 202, answer
        await run.settled(east, *wests)
        east_row = await run.wait_cdr(east)
        assert east_row["server"] == "east"
        assert east_row["hung_up_by"] != "system", east_row
        assert east_row["hangup_cause"] is not None, east_row
        cdrs = await run.cdrs()
        per_call = {
            call: [r["server"] for r in cdrs if r["linkedid"] == call] for call in (east, *wests)
        }
        assert per_call == {east: ["east"], wests[0]: ["west"], wests[1]: ["west"]}
        assert len(cdrs) == 3, cdrs


async def test_two_servers_with_one_systemname_keep_ccd_not_ready(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    # Two server entries for the one Asterisk east: both answer CoreSettings with
    # systemname east, as two boxes configured alike would.
    servers = {"east": "east", "east-again": "east"}
    async with multi_server_daemon(
        two_sandboxes, postgres_cluster, tmp_path, servers=servers, ready=False
    ) as run:
        assert run.gateway("east-again").system_name == "east"
        status, body = await run.readiness()
        assert status == 503, body
        assert body["reasons"] == [
            "ami east-again: same systemname 'east' as server east; each server needs its "
            "own, or call ids can collide"
        ]
