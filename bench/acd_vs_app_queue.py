"""ccd's ACD against Asterisk's app_queue on the real sandbox: caller join → agent ringing.

Target (issue 5, "Performance"): on the same box and load, ccd's join → agent ringing is no
slower than app_queue's ``QueueCallerJoin`` → ``AgentCalled``.

Both rounds use the same agents (``Local/11xx@ccd-agents``: answer, talk ``--talk`` s), the
same callers (``Local/answer@ccd-sim`` customers arriving every ``--gap`` s) and the same
clock: the ``Timestamp`` header Asterisk puts on every AMI event (``timestampevents=yes``),
read on the recorder connection (all events).

- app_queue: the caller enters ``ccd-bench-queue`` (``Queue(ccd-baseline)``, rrmemory, the
  agents added with ``QueueAdd``). Join = ``QueueCallerJoin``; ringing = the first
  ``AgentCalled`` for that caller.
- ccd: the daemon runs in this process (embedded SQLite, FastAGI on a free port) with an
  equivalent round-robin queue. The caller enters ``ccd-queue-wait``. Join = the caller's
  dialplan reaching ``AGI()`` (``Newexten``, Application AGI): everything after it — the
  FastAGI connection, ccd's decision, the Originate — counts against ccd. (Where the
  dialplan reaches ccd through ``Gosub(ccd-agi,…)``, which runs ``AGI()`` for each address
  in turn, join is that Gosub, and the address loop counts against ccd too.) Ringing = the
  agent channel's ``CCD_ACD_CALL`` being set (``VarSet``), which Asterisk does as it creates
  the channel, before dialling it. In-process, the time from the join event on ccd's bus
  to the Originate being written is reported too.

Run as root (the sandbox needs it):  .venv/bin/python bench/acd_vs_app_queue.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from ccd.acd.model import Agent, PauseReason, Queue, Strategy  # noqa: E402
from ccd.acd.seed import AcdConfig  # noqa: E402
from ccd.app import Daemon  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.acd_store import AcdStore  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.domain import contract  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from ccd.settings import parse_settings  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.system.conftest import (  # noqa: E402
    AMI_HOST,
    AMI_PORT,
    AMI_SECRET,
    AMI_USERNAME,
    RECORDER_SECRET,
    RECORDER_USERNAME,
)
from tests.system.rawami import Frame, RawAmi  # noqa: E402

SANDBOX = REPO / "scripts" / "asterisk-sandbox"
APP_QUEUE = "ccd-baseline"


def agents(count: int) -> list[str]:
    return [f"Local/{1101 + i}@{contract.AGENT_SIM_CONTEXT}" for i in range(count)]


RECORDED_EVENTS = frozenset({"Newexten", "QueueCallerJoin", "AgentCalled", "Newchannel", "VarSet"})


class Recorder:
    """The AMI events the bench needs, with Asterisk's timestamps, recorded by a separate
    process (``--record-to``): parsing every event of the recorder login here would
    compete with ccd for this process's event loop and slow ccd down unfairly."""

    script = Path(__file__)
    """The script whose ``--record-to`` mode records (a bench may record more events)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, str(self.script), "--record-to", str(self.path), stdout=subprocess.PIPE
        )
        assert self._process.stdout is not None
        try:
            # Importing ccd takes a while on a loaded machine (20 s was too short at load 11).
            ready = await asyncio.wait_for(self._process.stdout.readline(), 120)
        except BaseException:
            await self.stop()  # never left behind, recording, when the bench gives up
            raise
        assert ready.strip() == b"ready", ready

    def events(self) -> list[Frame]:
        with self.path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.endswith("\n")]

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


async def record(path: Path) -> None:
    watcher = await RawAmi.connect(AMI_HOST, AMI_PORT)
    await watcher.login(RECORDER_USERNAME, RECORDER_SECRET)
    with path.open("w", encoding="utf-8") as out:
        print("ready", flush=True)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = await watcher.read_frame(3600)
                event = frame.get("Event")
                if event == "VarSet" and frame.get("Variable") != contract.VAR_ACD_CALL:
                    continue
                if event in RECORDED_EVENTS:
                    out.write(json.dumps(frame) + "\n")
                    out.flush()


def stamp(frame: Frame) -> float:
    return float(frame["Timestamp"])


async def place_callers(
    control: RawAmi, count: int, gap_s: float, prefix: str, **originate: str
) -> list[str]:
    ids = []
    for index in range(count):
        channel_id = f"{prefix}-{index}-{int(time.time() * 1000)}"
        ids.append(channel_id)
        await control.send(
            "Originate",
            Channel=f"Local/{contract.SimExten.ANSWER}@{contract.SIM_CONTEXT}",
            Exten="s",
            Priority="1",
            Async="true",
            ChannelId=channel_id,
            CallerID=f"Bench <{7000 + index}>",
            **originate,
        )
        print(f"  {prefix}: caller {index + 1}/{count}", file=sys.stderr, end="\r")
        await asyncio.sleep(gap_s)
    print(file=sys.stderr)
    return ids


async def wait_quiet(control: RawAmi, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await control.send("Command", Command="channel request hangup all")
    await asyncio.sleep(1)


async def app_queue_round(
    args: argparse.Namespace, control: RawAmi, recorder: Recorder
) -> tuple[list[float], list[float]]:
    """(QueueCallerJoin → AgentCalled, Queue() reached → agent channel created)."""
    for interface in agents(args.agents):
        await control.action("QueueAdd", Queue=APP_QUEUE, Interface=interface)
    first = len(recorder.events())
    try:
        ids = await place_callers(
            control, args.callers, args.gap, "aq", Context=contract.BENCH_QUEUE_CONTEXT
        )
        await wait_quiet(control, args.talk + 4)
    finally:
        for interface in agents(args.agents):
            await control.action("QueueRemove", Queue=APP_QUEUE, Interface=interface)
    entered: dict[str, float] = {}
    joins: dict[str, float] = {}
    called: dict[str, Frame] = {}
    created: dict[str, float] = {}
    for frame in recorder.events()[first:]:
        event, uniqueid = frame["Event"], frame.get("Uniqueid", "")
        if event == "Newexten" and frame.get("Application") == "Queue":
            entered.setdefault(uniqueid, stamp(frame))
        elif event == "QueueCallerJoin":
            joins.setdefault(uniqueid, stamp(frame))
        elif event == "AgentCalled":
            called.setdefault(uniqueid, frame)
        elif event == "Newchannel":
            created.setdefault(frame.get("Channel", ""), stamp(frame))
    internal = [stamp(called[i]) - joins[i] for i in ids if i in joins and i in called]
    end_to_end = [
        created[called[i]["DestChannel"]] - entered[i]
        for i in ids
        if i in entered and i in called and called[i].get("DestChannel") in created
    ]
    return internal, end_to_end


async def ccd_round(
    args: argparse.Namespace, control: RawAmi, recorder: Recorder
) -> dict[str, list[float]]:
    """Per caller: end to end, and its parts (AGI connect, ccd's decision, Asterisk's
    Originate until the agent channel exists)."""
    data = Path(tempfile.mkdtemp(prefix="ccd-acd-bench-"))
    environ = {
        "CCD_AMI__HOST": AMI_HOST,
        "CCD_AMI__PORT": str(AMI_PORT),
        "CCD_AMI__USERNAME": AMI_USERNAME,
        "CCD_AMI__SECRET": AMI_SECRET,
        "CCD_DATA_DIR": str(data),
        "CCD_HTTP__PORT": "0",
        "CCD_AGI__PORT": str(free_port()),
        "CCD_LOG__LEVEL": "WARNING",
    }
    settings = parse_settings(None, source="bench", environ=environ)
    await migrate.upgrade(settings.database_url)
    queue = Queue(id="bench", strategy=Strategy.ROUND_ROBIN, ring_timeout_s=15, wrapup_s=0)
    sim_agents = [
        Agent(id=str(1101 + i), interface=interface)
        for i, interface in enumerate(agents(args.agents))
    ]
    engine = create_engine(settings.database_url)
    await AcdStore(engine).apply_seed(
        AcdConfig(
            agents={a.id: a for a in sim_agents},
            queues={queue.id: queue},
            pause_reasons={"no-answer": PauseReason("no-answer")},
            memberships={a.id: frozenset({queue.id}) for a in sim_agents},
        )
    )
    await engine.dispose()
    daemon = Daemon(settings)
    acd = daemon.components.acd
    # Instrumentation only (wall clock, comparable with Asterisk's timestamps): when ccd
    # had the caller, and when it wrote the agent's Originate.
    arrived: dict[str, float] = {}
    sent: dict[str, float] = {}
    original_arrive = acd.arrive
    original_ring_agent = acd._ami.ring_agent

    def timed_arrive(arrival: Any) -> Any:
        arrived[arrival.call_id] = time.time()
        return original_arrive(arrival)

    def timed_ring_agent(action: Any) -> Any:
        call_id = action.variables.get(contract.VAR_ACD_CALL)
        if call_id is not None:
            sent.setdefault(call_id, time.time())
        return original_ring_agent(action)

    acd.arrive = timed_arrive  # type: ignore[method-assign]
    acd._ami.ring_agent = timed_ring_agent  # type: ignore[method-assign]
    await daemon.start()
    try:
        await daemon.components.gateway.wait_resynced(20)
        for agent in sim_agents:
            await acd.login(agent.id, None)
        first = len(recorder.events())
        ids = await place_callers(
            control,
            args.callers,
            args.gap,
            "cq",
            Context=contract.QUEUE_CONTEXT,
            Variable=f"{contract.VAR_QUEUE}=bench,{contract.VAR_AGI_PORT}={daemon.agi_port}",
        )
        await wait_quiet(control, args.talk + 4)
    finally:
        await daemon.stop()
    joins: dict[str, float] = {}
    agent_channel_of: dict[str, str] = {}  # caller id -> agent channel uniqueid
    created: dict[str, float] = {}
    for frame in recorder.events()[first:]:
        event, uniqueid = frame["Event"], frame.get("Uniqueid", "")
        # The queue step: AGI() itself, or (HA) the Gosub(ccd-agi,...) that runs it.
        if event == "Newexten" and frame.get("Application") in ("AGI", "Gosub"):
            if frame.get("Context") == contract.QUEUE_CONTEXT:
                joins.setdefault(uniqueid, stamp(frame))
        elif event == "VarSet" and frame.get("Variable") == contract.VAR_ACD_CALL:
            agent_channel_of.setdefault(frame.get("Value", ""), uniqueid)
        elif event == "Newchannel":
            created.setdefault(uniqueid, stamp(frame))
    done = [i for i in ids if i in joins and agent_channel_of.get(i) in created]
    return {
        "end_to_end": [created[agent_channel_of[i]] - joins[i] for i in done],
        "agi": [arrived[i] - joins[i] for i in done if i in arrived],
        "decide": [sent[i] - arrived[i] for i in done if i in arrived and i in sent],
        "originate": [created[agent_channel_of[i]] - sent[i] for i in done if i in sent],
    }


def summary(name: str, samples: list[float], expected: int) -> list[str]:
    if not samples:
        return [name, "0", "-", "-", "-", "-"]
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return [
        name,
        f"{len(ms)}/{expected}",
        f"{statistics.median(ms):.2f}",
        f"{ms[min(len(ms) - 1, int(len(ms) * 0.95))]:.2f}",
        f"{p99:.2f}",
        f"{ms[-1]:.2f}",
    ]


async def run(args: argparse.Namespace) -> int:
    await asyncio.to_thread(subprocess.run, [str(SANDBOX), "up"], check=True, capture_output=True)
    control = await RawAmi.connect(AMI_HOST, AMI_PORT)
    reply = await control.action("Login", Username=AMI_USERNAME, Secret=AMI_SECRET, Events="off")
    assert reply.get("Response") == "Success", reply
    await control.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(args.talk))
    recorder = Recorder(Path(tempfile.mkdtemp(prefix="ccd-acd-bench-")) / "events.jsonl")
    await recorder.start()
    internal: list[float] = []
    baseline: list[float] = []
    ours: dict[str, list[float]] = {"end_to_end": [], "agi": [], "decide": [], "originate": []}
    try:
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}: app_queue", file=sys.stderr)
            inside_app_queue, app_queue_end_to_end = await app_queue_round(args, control, recorder)
            internal += inside_app_queue
            baseline += app_queue_end_to_end
            print(f"round {round_no + 1}/{args.rounds}: ccd", file=sys.stderr)
            for part, samples in (await ccd_round(args, control, recorder)).items():
                ours[part] += samples
    finally:
        await recorder.stop()
        await control.close()
    expected = args.callers * args.rounds
    rows = [
        ["path", "callers", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        summary("app_queue QueueCallerJoin → AgentCalled", internal, expected),
        summary("app_queue Queue() reached → agent channel created", baseline, expected),
        summary("ccd AGI() reached → agent channel created", ours["end_to_end"], expected),
        summary("  of which: AGI() → ccd has the caller", ours["agi"], expected),
        summary("  of which: ccd decides, Originate written", ours["decide"], expected),
        summary("  of which: Originate → agent channel", ours["originate"], expected),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(
        f"\n{args.callers} callers x {args.rounds} rounds, one every {args.gap} s, "
        f"{args.agents} agents talking {args.talk} s"
    )
    print(f"machine: {describe()}")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    if baseline and ours["end_to_end"]:
        ratio = statistics.median(ours["end_to_end"]) / statistics.median(baseline)
        print(f"\nccd / app_queue, same definition (app → agent channel), median: {ratio:.2f}x")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--callers", type=int, default=40, help="callers per round (default 40)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--agents", type=int, default=5, help="agents (default 5)")
    p.add_argument("--gap", type=float, default=0.5, help="seconds between callers (0.5)")
    p.add_argument("--talk", type=float, default=1.0, help="agent talk time, s (1)")
    p.add_argument("--record-to", type=Path, help=argparse.SUPPRESS)  # the recorder process
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.record_to is not None:
        asyncio.run(record(args.record_to))
        return 0
    configure_logging(level="WARNING", fmt="console")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
