"""Live monitoring on the real Asterisk sandbox and real PostgreSQL, checked by ear.

Three parties (``ccd-monitor-sim``), each a Local channel that makes its own sound and
records what it hears: the customer plays a 1000 Hz tone and waits in ccd's queue, the
agent (ccd's ACD rings it) plays 440 Hz, the supervisor's device speaks (tt-monkeys). A
supervisor token starts a session in ``listen``, switches to ``whisper`` and then ``barge``,
and the customer hangs up. From the recordings, in 0.5 s slices:
- the supervisor hears both tones throughout;
- speech (energy away from both tones) reaches the agent only from the whisper on, and the
  customer only from the barge on.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import struct
import subprocess
import time
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

from ccd.acd.model import Agent, Queue, Strategy
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.acdrig import AcdRun, acd_daemon, acd_database, config
from tests.system.conftest import SANDBOX_SCRIPT, AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually

RATE = 8000
SLICE = RATE // 2
CUSTOMER_HZ, AGENT_HZ = 1000, 440
# Away from both tones (and their neighbours): what a voice adds.
SPEECH_BINS_HZ = (300, 550, 700, 850, 1200, 1500, 2500, 3000)
TONE_PRESENT = 1000.0  # Playtones' level measures ~3600 here
# Speech measured 100-420 a slice; tones alone 2-5; a tone cut for a frame (ChanSpy
# attaching, a switch) splatters up to ~60.
SPEECH_PRESENT = 120.0
SPEECH_ABSENT = 80.0
PHASE_S = 3.0
SETTLE_S = 0.7  # left out after each change: redirect, ChanSpy restart, 20 ms frames


# The supervisors' devices here are Local channels into the simulation's context.
SIM_DEVICES = {"CCD_MONITOR__DEVICES": json.dumps([f"Local/*@{contract.MONITOR_SIM_CONTEXT}"])}


def magnitude(samples: tuple[int, ...], hz: float) -> float:
    """Goertzel: the amplitude of ``hz`` in ``samples``."""
    coefficient = 2 * math.cos(2 * math.pi * hz / RATE)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return math.sqrt(max(power, 0.0)) / len(samples)


@dataclass(frozen=True)
class Heard:
    """0.5 s slices of what one party heard, from its answer on."""

    slices: list[tuple[int, ...]]
    duration_s: float

    @classmethod
    def read(cls, path: Path) -> Heard:
        with wave.open(str(path)) as recording:
            assert recording.getframerate() == RATE
            frames = recording.getnframes()
            data = recording.readframes(frames)
        samples = struct.unpack(f"<{frames}h", data)
        slices = [samples[i : i + SLICE] for i in range(0, frames - SLICE + 1, SLICE)]
        return cls(slices, frames / RATE)

    def window(self, start_s: float, end_s: float) -> list[tuple[int, ...]]:
        first, last = math.ceil(start_s * 2), math.floor(end_s * 2)
        chosen = self.slices[max(first, 0) : max(last, 0)]
        assert chosen, f"no whole slice between {start_s:.1f} s and {end_s:.1f} s"
        return chosen

    def speech(self, start_s: float, end_s: float) -> tuple[float, float]:
        """(weakest, strongest) slice's speech energy."""
        levels = [
            sum(magnitude(s, hz) for hz in SPEECH_BINS_HZ) for s in self.window(start_s, end_s)
        ]
        return min(levels), max(levels)


def recordings_dir() -> Path:
    root = subprocess.run(
        [str(SANDBOX_SCRIPT), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(root) / "var/spool/asterisk/monitor/ccd-sim"


async def heard(name: str) -> Heard:
    path = recordings_dir() / f"{name}-hears.wav"

    def complete() -> Heard | None:
        # MixMonitor writes the header when the party hangs up.
        try:
            return Heard.read(path)
        except (FileNotFoundError, EOFError, wave.Error, struct.error):
            return None

    result: Heard = await eventually(complete, within_s=15, what=f"recording {path}")
    return result


def spy(sandbox: AsteriskSandbox, supervisor_device: str) -> tuple[str, str] | None:
    """(extension, ChanSpy's argument) of the supervisor's channel running ccd-monitor."""
    for line in sandbox.cli("core show channels concise").splitlines():
        fields = line.split("!")
        if len(fields) > 6 and fields[0].startswith(supervisor_device) and fields[5] == "ChanSpy":
            return fields[2], fields[6]
    return None


async def test_listen_whisper_barge_by_ear(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    run_id = uuid.uuid4().hex[:6]
    agent_name, customer_name, supervisor_name = (
        f"agent{run_id}",
        f"customer{run_id}",
        f"supervisor{run_id}",
    )
    agent = Agent(
        id="4001",
        interface=f"Local/rec-{AGENT_HZ:04d}-{agent_name}@{contract.MONITOR_SIM_CONTEXT}",
        name="tone agent",
    )
    sales = Queue(id="sales", strategy=Strategy.LONGEST_IDLE, ring_timeout_s=10)
    url = await acd_database(postgres_cluster, config([sales], [agent], {"4001": ["sales"]}))
    device = f"Local/voice-{supervisor_name}@{contract.MONITOR_SIM_CONTEXT}"
    async with acd_daemon(asterisk_sandbox, url, tmp_path, settings_env=SIM_DEVICES) as run:
        status, body = await run.api(
            "POST", "/api/v1/agents/4001/login", await run.token(Role.AGENT, "4001")
        )
        assert status in (200, 204), body
        call_id = await customer_calls(run, customer_name)
        supervisor = await run.token(Role.SUPERVISOR)
        await eventually(
            lambda: any(c.linkedid == call_id for c in run.connected()),
            within_s=20,
            what="the customer connected to agent 4001",
        )
        status, problem = await run.api(
            "POST", "/api/v1/calls/nope/monitor", supervisor, {"device": device}
        )
        assert status == 404, problem

        status, session = await run.api(
            "POST", f"/api/v1/calls/{call_id}/monitor", supervisor, {"device": device}
        )
        assert status == 201, session
        assert session["agent_id"] == "4001"
        agent_channel = session["agent_channel"]
        assert agent_channel.startswith(f"Local/rec-{AGENT_HZ:04d}-{agent_name}@")
        monitor = f"/api/v1/monitors/{session['id']}"

        async def active() -> bool:
            code, view = await run.api("GET", monitor, supervisor)
            return code == 200 and view["state"] == "active"

        await eventually(active, within_s=15, what="the supervisor answered")
        supervisor_t0 = time.monotonic()

        def spying(mode: str, options: str) -> bool:
            return spy(asterisk_sandbox, device) == (mode, f"{agent_channel},{options}")

        await eventually(lambda: spying("listen", "qES"), within_s=5, what="ChanSpy listening")
        await asyncio.sleep(PHASE_S)

        switched_at: dict[str, float] = {}
        for mode, options in (("whisper", "qESw"), ("barge", "qESB")):
            switched_at[mode] = time.monotonic()
            status, view = await run.api("PATCH", monitor, supervisor, {"mode": mode})
            assert status == 200, view
            assert view["mode"] == mode
            await eventually(
                functools.partial(spying, mode, options), within_s=5, what=f"ChanSpy in {mode}"
            )
            await asyncio.sleep(PHASE_S)

        # The customer hangs up: the agent's channel goes, and the session with it.
        hung_up_at = time.monotonic()
        reply = await run.ami.action("Hangup", Channel=call_id)
        assert reply["Response"] == "Success", reply

        async def no_sessions() -> bool:
            code, listed = await run.api("GET", "/api/v1/monitors", supervisor)
            return code == 200 and listed["count"] == 0

        await eventually(no_sessions, within_s=10, what="the session ended by itself")
        await eventually(
            lambda: not any(supervisor_name in c for c in asterisk_sandbox.active_channels()),
            within_s=10,
            what="the supervisor's device hung up",
        )

        # Being monitored changes nothing of the customer's record: one call, agent 4001's,
        # no supervisor leg in it.
        await run.settled()
        status, record = await run.api("GET", f"/api/v1/cdrs/{call_id}", supervisor)
        assert status == 200, record
        assert (record["disposition"], record["agent_id"]) == ("answered", "4001")
        assert not any(supervisor_name in leg["channel"] for leg in record["legs"]), record
        # The supervisor's own call is no customer call: no record of its own either.
        status, listing = await run.api("GET", "/api/v1/cdrs", supervisor)
        assert status == 200, listing
        assert not [r["id"] for r in listing["cdrs"] if r["id"].startswith("ccd-mon-")]
        admin = await run.token(Role.ADMIN)
        status, trail = await run.api("GET", f"/api/v1/audit?target_id={call_id}", admin)
        assert status == 200, trail
        events = list(reversed(trail["events"]))
        assert [(e["action"], e["detail"]["mode"]) for e in events] == [
            ("monitor.started", "listen"),
            ("monitor.switched", "whisper"),
            ("monitor.switched", "barge"),
            ("monitor.ended", "barge"),
        ]
        assert events[-1]["detail"]["reason"] == "call-ended"
        assert {e["actor"]["role"] for e in events} == {"supervisor"}

    # By ear. The agent's and the customer's recordings end at the customer's hang-up:
    # that puts them on the test's clock. The supervisor's ends a little later (ChanSpy
    # exits, then the device is hung up).
    supervisor_heard = await heard(supervisor_name)
    agent_heard = await heard(agent_name)
    customer_heard = await heard(customer_name)
    agent_t0 = hung_up_at - agent_heard.duration_s
    customer_t0 = hung_up_at - customer_heard.duration_s

    def between(t0: float, start: float, end: float) -> tuple[float, float]:
        """A phase on a recording's own time, less the moments of change."""
        return start - t0 + SETTLE_S, end - t0 - SETTLE_S / 2

    # The supervisor hears agent and customer throughout (a switch costs a frame or two).
    for hz in (AGENT_HZ, CUSTOMER_HZ):
        levels = sorted(magnitude(s, hz) for s in supervisor_heard.slices[1:-1])
        assert levels[len(levels) // 10] > TONE_PRESENT, f"the supervisor must hear {hz} Hz"

    phases = {
        "listen": (supervisor_t0, switched_at["whisper"]),
        "whisper": (switched_at["whisper"], switched_at["barge"]),
        "barge": (switched_at["barge"], hung_up_at),
    }
    measured: list[tuple[str, str, bool, float, float]] = []
    hears_supervisor = {"listen": (False, False), "whisper": (True, False), "barge": (True, True)}
    for phase, (start, end) in phases.items():
        for who, recording, t0, expected in (
            ("agent", agent_heard, agent_t0, hears_supervisor[phase][0]),
            ("customer", customer_heard, customer_t0, hears_supervisor[phase][1]),
        ):
            weakest, strongest = recording.speech(*between(t0, start, end))
            measured.append((phase, who, expected, weakest, strongest))
    report = "\n".join(
        f"{p:8} {w:9} hears supervisor {e!s:5} speech {lo:4.0f}..{hi:4.0f}"
        for p, w, e, lo, hi in measured
    )
    print(report)
    for phase, who, expected, weakest, strongest in measured:
        if expected:
            assert weakest > SPEECH_PRESENT, (
                f"{phase}: the {who} must hear the supervisor\n{report}"
            )
        else:
            assert strongest < SPEECH_ABSENT, f"{phase}: the {who} must not hear them\n{report}"


async def customer_calls(run: AcdRun, name: str) -> str:
    """A customer playing a 1000 Hz tone, waiting in queue sales; returns the call id."""
    call_id = f"caller-{name}"
    variables = {
        contract.VAR_QUEUE: "sales",
        contract.VAR_AGI_PORT: str(run.agi_port),
    }
    reply = await run.ami.action(
        "Originate",
        Channel=f"Local/rec-{CUSTOMER_HZ:04d}-{name}@{contract.MONITOR_SIM_CONTEXT}",
        Context=contract.QUEUE_CONTEXT,
        Exten="s",
        Priority="1",
        Async="true",
        CallerID="Customer <5550100>",
        ChannelId=call_id,
        Variable=",".join(f"{k}={v}" for k, v in variables.items()),
    )
    assert reply.get("Response") == "Success", reply
    return call_id


async def test_a_supervisor_left_listening_by_a_stopped_ccd_is_hung_up_by_the_next(
    asterisk_sandbox: AsteriskSandbox, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """ccd stops while a supervisor listens: ChanSpy keeps running in Asterisk. The next
    ccd knows no session for that channel (nobody could stop it through the API): it hangs
    it up at its first resync, and only it — the customer's call goes on."""
    run_id = uuid.uuid4().hex[:6]
    agent_name, customer_name, supervisor_name = (
        f"agent{run_id}",
        f"customer{run_id}",
        f"supervisor{run_id}",
    )
    agent = Agent(
        id="4001",
        interface=f"Local/rec-{AGENT_HZ:04d}-{agent_name}@{contract.MONITOR_SIM_CONTEXT}",
        name="tone agent",
    )
    sales = Queue(id="sales", strategy=Strategy.LONGEST_IDLE, ring_timeout_s=10)
    url = await acd_database(postgres_cluster, config([sales], [agent], {"4001": ["sales"]}))
    device = f"Local/voice-{supervisor_name}@{contract.MONITOR_SIM_CONTEXT}"

    def supervisor_channels() -> list[str]:
        return [c for c in asterisk_sandbox.active_channels() if supervisor_name in c]

    try:
        async with acd_daemon(
            asterisk_sandbox,
            url,
            tmp_path / "first",
            hangup_after=False,
            settings_env=SIM_DEVICES,
        ) as run:
            status, body = await run.api(
                "POST", "/api/v1/agents/4001/login", await run.token(Role.AGENT, "4001")
            )
            assert status in (200, 204), body
            call_id = await customer_calls(run, customer_name)
            await eventually(
                lambda: any(c.linkedid == call_id for c in run.connected()),
                within_s=20,
                what="the customer connected to agent 4001",
            )
            supervisor = await run.token(Role.SUPERVISOR)
            status, session = await run.api(
                "POST", f"/api/v1/calls/{call_id}/monitor", supervisor, {"device": device}
            )
            assert status == 201, session
            await eventually(
                lambda: spy(asterisk_sandbox, device) is not None,
                within_s=15,
                what="the supervisor listening",
            )
        # The first ccd is gone; the supervisor still listens.
        assert spy(asterisk_sandbox, device) is not None
        assert supervisor_channels()

        async with acd_daemon(
            asterisk_sandbox, url, tmp_path / "second", quiet_before=False
        ) as run:
            await eventually(
                lambda: not supervisor_channels(),
                within_s=15,
                what="the orphaned supervisor channel hung up",
            )
            customer_legs = [c for c in asterisk_sandbox.active_channels() if customer_name in c]
            assert customer_legs, "the customer's call must go on"
            supervisor = await run.token(Role.SUPERVISOR)
            status, listed = await run.api("GET", "/api/v1/monitors", supervisor)
            assert (status, listed["count"]) == (200, 0)
    finally:
        asterisk_sandbox.hangup_all()
