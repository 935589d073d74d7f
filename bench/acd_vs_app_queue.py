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
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.ami_recorder import Recorder  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.sandbox_rig import (  # noqa: E402
    BENCH_QUEUE,
    acd_daemon,
    add_caller_load,
    agent_interfaces,
    control_login,
    parser,
    running,
    sandbox_up,
)
from ccd.app import Daemon  # noqa: E402
from ccd.domain import contract  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from tests.system.rawami import Frame, RawAmi  # noqa: E402

APP_QUEUE = "ccd-baseline"
RECORDED_EVENTS = frozenset({"Newexten", "QueueCallerJoin", "AgentCalled", "Newchannel", "VarSet"})


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


async def ccd_callers(
    args: argparse.Namespace,
    daemon: Daemon,
    control: RawAmi,
    recorder: Recorder,
    prefix: str,
    context: str,
) -> tuple[list[str], int]:
    """``--callers`` callers into ``context`` (queue ``bench``, the daemon's FastAGI port),
    all ended: their channel ids, and the index of the first event recorded for them."""
    first = len(recorder.events())
    ids = await place_callers(
        control,
        args.callers,
        args.gap,
        prefix,
        Context=context,
        Variable=f"{contract.VAR_QUEUE}={BENCH_QUEUE},{contract.VAR_AGI_PORT}={daemon.agi_port}",
    )
    await wait_quiet(control, args.talk + 4)
    return ids, first


async def app_queue_round(
    args: argparse.Namespace, control: RawAmi, recorder: Recorder
) -> tuple[list[float], list[float]]:
    """(QueueCallerJoin → AgentCalled, Queue() reached → agent channel created)."""
    for interface in agent_interfaces(args.agents):
        await control.action("QueueAdd", Queue=APP_QUEUE, Interface=interface)
    first = len(recorder.events())
    try:
        ids = await place_callers(
            control, args.callers, args.gap, "aq", Context=contract.BENCH_QUEUE_CONTEXT
        )
        await wait_quiet(control, args.talk + 4)
    finally:
        for interface in agent_interfaces(args.agents):
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
    daemon, sim_agents = await acd_daemon(args.agents, data_prefix="ccd-acd-bench-")
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
    async with running(daemon, sim_agents):
        ids, first = await ccd_callers(
            args, daemon, control, recorder, "cq", contract.QUEUE_CONTEXT
        )
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
    await asyncio.to_thread(sandbox_up)
    control = await control_login()
    await control.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(args.talk))
    recorder = Recorder(
        Path(tempfile.mkdtemp(prefix="ccd-acd-bench-")) / "events.jsonl", RECORDED_EVENTS
    )
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
    p = parser(__doc__)
    add_caller_load(p, rounds=3, rounds_help="alternating rounds (default 3)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING", fmt="console")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
