"""Where ccd's join → agent ringing goes, and three ways to shorten it (issue 13).

``bench/acd_vs_app_queue.py`` measures ccd's join → agent ringing at several times
app_queue's. This bench splits ccd's time with stamps from both sides of the wire (the
``Timestamp`` Asterisk puts on each AMI event, read by a separate recorder process, and
wall-clock stamps taken inside ccd — one machine, one clock) and measures bench-only
prototypes of the candidates, with the same load as acd_vs_app_queue (callers every
``--gap`` s, agents ``Local/11xx@ccd-agents``), variants interleaved round by round:

- ``app_queue``: the baseline, ``Queue()`` reached → agent channel created.
- ``shipped``: ccd-queue-wait as the sandbox has it (with the HA change, its FastAGI line
  is ``Gosub(ccd-agi,…)``, which tries each address in turn). Join = that line reached.
- ``fastagi``: the same FastAGI session from a bench context whose queue step is the
  ``AGI()`` itself, one address (ccd-queue-wait before the HA change). Join = ``AGI()``.
- ``announce`` (c): ``ccd-bench-announce`` sends ``UserEvent(CcdBenchQueueJoin, …)`` just
  before the same ``AGI()``; ccd takes the caller from the event on its AMI connection
  (through its bus, as adopted code would) and rings while the FastAGI connects; whichever
  of the two comes second finds the caller's place kept, or, once they are connected,
  does nothing. Join = ``UserEvent()`` reached.
- ``asyncagi`` (a): ``ccd-bench-asyncagi`` runs ``AGI(agi:async, <same arguments>)``; ccd
  takes the caller from ``AsyncAGIStart`` and holds them with ``AGI`` actions (music on
  hold) over its AMI login, which needs the ``agi`` class (a bench login,
  bench/fixtures/manager_acd_latency.conf). Join = ``AGI()`` reached.
- ``pool`` (b): FastAGI is Asterisk → ccd, one new TCP connection per ``AGI()`` (res_agi
  keeps none open), so there is nothing ccd can pre-connect on that side. What can be
  pre-connected is the other half of the round trip: a second AMI login with events off,
  open before the caller comes, that carries only the agent's ``Originate`` (it never
  queues behind event traffic on either end). FastAGI as shipped otherwise.
- ``announce+pool``: both.

The bench dialplan and login are added to the sandbox's copies of extensions.conf and
manager.conf for the run and the shipped files put back afterwards (reload, no restart).

Run as root, holding the sandbox lock:
    flock /tmp/ccd-sandbox.lock .venv/bin/python bench/acd_latency_breakdown.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import acd_vs_app_queue  # noqa: E402
from bench.acd_vs_app_queue import app_queue_round, ccd_callers, stamp  # noqa: E402
from bench.ami_recorder import READ_AT, Recorder  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.sandbox_rig import (  # noqa: E402
    SANDBOX,
    acd_daemon,
    add_caller_load,
    control_login,
    parser,
    running,
    sandbox_up,
)
from ccd.acd.waiting import Arrival, QueueRefused, Ticket, parse_arrival  # noqa: E402
from ccd.agi.channel import AgiChannel  # noqa: E402
from ccd.ami.gateway import AmiGateway  # noqa: E402
from ccd.clock import SystemClock  # noqa: E402
from ccd.domain import contract  # noqa: E402
from ccd.domain.events import UserEventReceived  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from tests.system.conftest import AMI_HOST, AMI_PORT, AMI_SECRET, AMI_USERNAME  # noqa: E402
from tests.system.rawami import Frame, RawAmi  # noqa: E402

FIXTURES = REPO / "bench" / "fixtures"
DIALPLAN_FIXTURE = FIXTURES / "extensions_acd_latency.conf"
MANAGER_FIXTURE = FIXTURES / "manager_acd_latency.conf"
ANNOUNCE_CONTEXT = "ccd-bench-announce"
ASYNCAGI_CONTEXT = "ccd-bench-asyncagi"
FASTAGI_CONTEXT = "ccd-bench-fastagi"
ANNOUNCE_EVENT = "CcdBenchQueueJoin"
AGI_USERNAME = "ccd-bench-agi"
AGI_SECRET = "ccd-bench-agi-secret"

# acd_vs_app_queue's events, and those the asyncagi and announce variants start from.
RECORDED_EVENTS = acd_vs_app_queue.RECORDED_EVENTS | {"AsyncAGIStart", "UserEvent"}
# The queue step each context reaches first: ccd-queue-wait's FastAGI line is AGI() at
# HEAD and Gosub(ccd-agi,...) with the HA change (every address in turn).
JOIN_APPLICATIONS = {
    contract.QUEUE_CONTEXT: {"AGI", "Gosub"},
    FASTAGI_CONTEXT: {"AGI"},
    ANNOUNCE_CONTEXT: {"UserEvent"},
    ASYNCAGI_CONTEXT: {"AGI"},
}


@dataclass(frozen=True)
class Variant:
    name: str
    context: str
    announce: bool = False
    asyncagi: bool = False
    pool: bool = False


VARIANTS = {
    v.name: v
    for v in (
        Variant("shipped", contract.QUEUE_CONTEXT),
        Variant("fastagi", FASTAGI_CONTEXT),
        Variant("announce", ANNOUNCE_CONTEXT, announce=True),
        Variant("asyncagi", ASYNCAGI_CONTEXT, asyncagi=True),
        Variant("pool", FASTAGI_CONTEXT, pool=True),
        Variant("announce+pool", ANNOUNCE_CONTEXT, announce=True, pool=True),
    )
}


# -- the sandbox: bench dialplan and login in, shipped files back --------------------------


def cli(command: str) -> str:
    done = subprocess.run(
        [str(SANDBOX), "cli", command], check=True, capture_output=True, text=True
    )
    return done.stdout


@contextlib.contextmanager
def bench_configuration() -> Iterator[None]:
    root = Path(
        subprocess.run(
            [str(SANDBOX), "path"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    etc = root / "etc" / "asterisk"
    shutil.copy(DIALPLAN_FIXTURE, etc / DIALPLAN_FIXTURE.name)
    with (etc / "extensions.conf").open("a", encoding="utf-8") as conf:
        conf.write(f'\n#include "{DIALPLAN_FIXTURE.name}"\n')
    with (etc / "manager.conf").open("a", encoding="utf-8") as conf:
        conf.write(MANAGER_FIXTURE.read_text(encoding="utf-8"))
    try:
        cli("dialplan reload")
        cli("manager reload")
        shown = cli(f"dialplan show {ASYNCAGI_CONTEXT}")
        if "agi:async" not in shown:
            raise RuntimeError(f"bench dialplan not loaded: {shown[:300]}")
        yield
    finally:
        # The shipped files, exactly as `asterisk-sandbox up` installs them.
        for name in ("extensions.conf", "manager.conf"):
            shutil.copy(REPO / "docker" / "asterisk" / name, etc / name)
        (etc / DIALPLAN_FIXTURE.name).unlink(missing_ok=True)
        cli("dialplan reload")
        cli("manager reload")


# -- ccd with instrumentation -------------------------------------------------------------


@dataclass
class Stamps:
    """Wall-clock stamps taken inside ccd (instrumentation only), by ACD call id."""

    accepted: dict[str, float] = field(default_factory=dict)  # FastAGI connection accepted
    arrived: dict[str, float] = field(default_factory=dict)  # ccd first had the caller
    session: dict[str, float] = field(default_factory=dict)  # FastAGI session arrived
    sent: dict[str, float] = field(default_factory=dict)  # agent Originate written
    event_lag: list[float] = field(default_factory=list)  # Timestamp → ccd read the event
    failed_agi_actions: int = 0  # asyncagi: the caller had left AGI(agi:async) already
    late_sessions: int = 0  # announce: the second of announce / session came after the answer


_accepted_at: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "accepted_at", default=None
)


def env_from_async_start(frame: Frame) -> dict[str, str]:
    """AsyncAGIStart's Env: the AGI header block, URL-encoded, one ``agi_x: v`` per line."""
    env: dict[str, str] = {}
    for line in urllib.parse.unquote(frame.get("Env", "")).splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            env[key] = value
    return env


def arrival_from_env(env: dict[str, str]) -> Arrival:
    # parse_arrival reads only the header block; the AsyncAGI session has no socket.
    channel = AgiChannel(asyncio.StreamReader(), cast(asyncio.StreamWriter, None), env)
    return parse_arrival(channel)


def arrival_from_user_event(frame: Frame) -> Arrival:
    return Arrival(
        queue_id=frame.get("Queue", ""),
        priority=int(frame.get("Priority") or 0),
        skills={},
        joined_at=float(frame["Joined"]) if frame.get("Joined") else None,
        linkedid=frame.get("Linkedid") or frame.get("Uniqueid", ""),
        callback_of=frame.get("Callback") or None,
        channel=frame.get("Channel", ""),
        uniqueid=frame.get("Uniqueid", ""),
        caller_num=frame.get("CallerIDNum", ""),
        caller_name=frame.get("CallerIDName", ""),
    )


async def ccd_round(
    args: argparse.Namespace, variant: Variant, control: RawAmi, recorder: Recorder
) -> dict[str, list[float]]:
    username, secret = (
        (AGI_USERNAME, AGI_SECRET) if variant.asyncagi else (AMI_USERNAME, AMI_SECRET)
    )
    daemon, sim_agents = await acd_daemon(
        args.agents,
        data_prefix="ccd-acd-latency-",
        log_level=args.log_level,
        username=username,
        secret=secret,
    )
    acd = daemon.components.acd
    gateway = daemon.components.gateway
    stamps = Stamps()
    original_arrive = acd.arrive
    tasks: set[asyncio.Task[Any]] = set()
    async_tickets: dict[str, Ticket] = {}

    def keep(task: asyncio.Task[Any]) -> None:
        tasks.add(task)
        task.add_done_callback(finished)

    def finished(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        # An AGI action for a caller Bridge() already pulled out of AGI(agi:async) fails
        # ("Channel … does not exist"): counted, as the FastAGI session's HANGUP would be.
        if not task.cancelled() and task.exception() is not None:
            stamps.failed_agi_actions += 1

    arrived_once: set[str] = set()
    announcements: dict[str, Frame] = {}

    def timed_arrive(arrival: Any) -> Ticket:
        now = time.time()
        call_id = arrival.call_id
        stamps.arrived.setdefault(call_id, now)
        accepted = _accepted_at.get()
        if accepted is not None:
            stamps.session.setdefault(call_id, now)
            stamps.accepted.setdefault(call_id, accepted)
        if variant.announce and call_id in arrived_once and call_id not in acd._callers:
            # Announce and FastAGI session both bring the caller, in either order; when
            # the second comes the first was already rung and connected (Bridge() is
            # pulling the caller out): joining again would ring a second agent.
            stamps.late_sessions += 1
            return Ticket(arrival=arrival, leave=asyncio.get_running_loop().create_future())
        arrived_once.add(call_id)
        return original_arrive(arrival)

    acd.arrive = timed_arrive  # type: ignore[method-assign]

    agi_server = daemon.components.agi
    original_on_connect = agi_server._on_connect

    async def timed_on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _accepted_at.set(time.time())
        await original_on_connect(reader, writer)

    agi_server._on_connect = timed_on_connect  # type: ignore[method-assign]

    original_on_event = gateway._on_event

    def on_event(frame: Frame) -> None:
        now = time.time()
        raw = frame.get("Timestamp")
        if raw:
            stamps.event_lag.append(now - float(raw))
        name = frame.get("Event")
        if variant.announce and name == "UserEvent" and frame.get("UserEvent") == ANNOUNCE_EVENT:
            # Kept for the channel name and caller id, which UserEventReceived leaves out.
            announcements[frame.get("Uniqueid", "")] = frame
        elif variant.asyncagi and name == "AsyncAGIStart":
            start_async_session(frame)
        elif variant.asyncagi and name == "AsyncAGIEnd":
            ticket = async_tickets.pop(frame.get("Uniqueid", ""), None)
            if ticket is not None:
                acd.departed(ticket)
        original_on_event(frame)

    def start_async_session(frame: Frame) -> None:
        arrival = arrival_from_env(env_from_async_start(frame))
        async_tickets[arrival.uniqueid] = acd.arrive(arrival)
        # The caller hears music while they wait, as in the FastAGI session.
        keep(
            asyncio.ensure_future(
                gateway.send_action(
                    {
                        "Action": "AGI",
                        "Channel": arrival.channel,
                        "Command": "SET MUSIC ON default",
                        "CommandID": f"moh-{arrival.uniqueid}",
                    },
                    as_list=False,
                )
            )
        )

    gateway._on_event = on_event

    def on_bus(event: object) -> None:
        # As adopted code would: the ACD acts on the translated event from ccd's bus,
        # one dispatcher hop after the frame was read.
        if not isinstance(event, UserEventReceived) or event.name != ANNOUNCE_EVENT:
            return
        frame = announcements.pop(event.uniqueid, None)
        if frame is not None:
            try:
                acd.arrive(arrival_from_user_event(frame))
            except QueueRefused as exc:  # the FastAGI session will try again
                print(f"announce refused: {exc}", file=sys.stderr)

    if variant.announce:
        daemon.components.bus.subscribe(on_bus)

    pool: AmiGateway | None = None
    if variant.pool:
        pool = AmiGateway(
            host=AMI_HOST,
            port=AMI_PORT,
            username=AMI_USERNAME,
            secret=AMI_SECRET,
            on_event=lambda frame: None,
            on_connection=lambda event: None,
            on_resync_row=lambda frame: None,
            clock=SystemClock(),
            events="off",
        )
    ring = pool.ring_agent if pool is not None else gateway.ring_agent

    def timed_ring_agent(action: Any) -> Any:
        call_id = action.variables.get(contract.VAR_ACD_CALL)
        if call_id is not None:
            stamps.sent.setdefault(call_id, time.time())
        return ring(action)

    acd._ami.ring_agent = timed_ring_agent  # type: ignore[method-assign]

    try:
        async with running(daemon, sim_agents):
            if pool is not None:
                await pool.start()
                await pool.wait_resynced(20)
            ids, first = await ccd_callers(
                args, daemon, control, recorder, variant.name, variant.context
            )
    finally:
        if pool is not None:
            await pool.stop()
        for task in tasks:
            task.cancel()
    return per_caller(variant, ids, recorder.events()[first:], stamps)


def per_caller(
    variant: Variant, ids: list[str], frames: list[Frame], stamps: Stamps
) -> dict[str, list[float]]:
    join_apps = JOIN_APPLICATIONS[variant.context]
    joins: dict[str, float] = {}
    agi_reached: dict[str, float] = {}
    async_start: dict[str, float] = {}
    agent_channels: dict[str, list[str]] = {}  # caller id -> agent channel uniqueids
    created: dict[str, float] = {}
    for frame in frames:
        event, uniqueid = frame["Event"], frame.get("Uniqueid", "")
        if event == "Newexten":
            application = frame.get("Application")
            if frame.get("Context") == variant.context and application in join_apps:
                joins.setdefault(uniqueid, stamp(frame))
            if application == "AGI":
                agi_reached.setdefault(uniqueid, stamp(frame))
        elif event == "AsyncAGIStart":
            async_start.setdefault(uniqueid, stamp(frame))
        elif event == "VarSet" and frame.get("Variable") == contract.VAR_ACD_CALL:
            agent_channels.setdefault(frame.get("Value", ""), []).append(uniqueid)
        elif event == "Newchannel":
            created.setdefault(uniqueid, stamp(frame))
    rung = {i: agent_channels[i][0] for i in ids if agent_channels.get(i)}
    done = [i for i in ids if i in joins and rung.get(i) in created]

    def parts(
        start: Callable[[str], float | None], end: Callable[[str], float | None]
    ) -> list[float]:
        out = []
        for i in done:
            a, b = start(i), end(i)
            if a is not None and b is not None:
                out.append(b - a)
        return out

    ring_at = {i: created[rung[i]] for i in done}
    result = {
        "end_to_end": parts(joins.get, ring_at.get),
        "join_to_ccd": parts(joins.get, stamps.arrived.get),
        "join_to_agi": parts(joins.get, agi_reached.get),
        "agi_to_accept": parts(agi_reached.get, stamps.accepted.get),
        "accept_to_headers": parts(stamps.accepted.get, stamps.session.get),
        "join_to_session": parts(joins.get, stamps.session.get),
        "join_to_async_start": parts(joins.get, async_start.get),
        "decide": parts(stamps.arrived.get, stamps.sent.get),
        "originate": parts(stamps.sent.get, ring_at.get),
        "event_lag": list(stamps.event_lag),
        "recorder_lag": [float(f[READ_AT]) - stamp(f) for f in frames if READ_AT in f],
        "late_sessions": [float(stamps.late_sessions)],
        "failed_agi_actions": [float(stamps.failed_agi_actions)],
        "callers": [float(len(ids))],
        # Agent legs per caller (an Originate's Local channel is <id> and <id>-2).
        "rung_twice": [float(sum(1 for i in ids if len(_legs(agent_channels.get(i, []))) > 1))],
    }
    return result


def _legs(uniqueids: list[str]) -> set[str]:
    return {u.removesuffix("-2") for u in uniqueids}


# -- the table ----------------------------------------------------------------------------

ROWS = [
    ("end_to_end", "join → agent channel created"),
    ("join_to_ccd", "  join → ccd has the caller"),
    ("join_to_agi", "    join → AGI() reached"),
    ("agi_to_accept", "    AGI() → FastAGI connection accepted"),
    ("accept_to_headers", "    accepted → header block read"),
    ("join_to_async_start", "    join → AsyncAGIStart raised (Asterisk)"),
    ("decide", "  ccd decides, Originate written"),
    ("originate", "  Originate written → agent channel"),
    ("join_to_session", "  (join → FastAGI session in ccd)"),
]


def quantiles(samples: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in samples)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, int(len(ms) * q))]

    return statistics.median(ms), at(0.90), at(0.99)


def table(results: dict[str, dict[str, list[float]]], baseline: list[float], expected: int) -> str:
    lines = [
        "| variant | measure | n | p50 ms | p90 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    if baseline:
        p50, p90, p99 = quantiles(baseline)
        lines.append(
            f"| app_queue | `Queue()` reached → agent channel created | {len(baseline)}/{expected} "
            f"| {p50:.2f} | {p90:.2f} | {p99:.2f} |"
        )
    for name, parts in results.items():
        for key, label in ROWS:
            samples = parts.get(key, [])
            if not samples or max(samples) == 0:
                continue
            p50, p90, p99 = quantiles(samples)
            lines.append(
                f"| {name} | {label} | {len(samples)}/{expected} "
                f"| {p50:.2f} | {p90:.2f} | {p99:.2f} |"
            )
        for key, label in (
            ("event_lag", "(AMI events: Timestamp → ccd reads it)"),
            ("recorder_lag", "(AMI events: Timestamp → the recorder process reads it)"),
        ):
            if parts.get(key):
                p50, p90, p99 = quantiles(parts[key])
                lines.append(
                    f"| {name} | {label} | {len(parts[key])} | {p50:.2f} | {p90:.2f} | {p99:.2f} |"
                )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    await asyncio.to_thread(sandbox_up)
    variants = [VARIANTS[name] for name in args.variants.split(",")]
    control = await control_login()
    recorder = Recorder(
        Path(tempfile.mkdtemp(prefix="ccd-acd-latency-")) / "events.jsonl", RECORDED_EVENTS
    )
    await recorder.start()
    baseline: list[float] = []
    results: dict[str, dict[str, list[float]]] = {v.name: {} for v in variants}
    started = describe()
    order = random.Random(args.seed)
    try:
        with bench_configuration():
            # After the reload: it clears the globals (clearglobalvars = yes).
            await control.action("Setvar", Variable=contract.VAR_SIM_TALK_S, Value=str(args.talk))
            for round_no in range(args.rounds):
                todo: list[Variant | None] = [None, *variants]  # None: app_queue
                order.shuffle(todo)
                for variant in todo:
                    name = "app_queue" if variant is None else variant.name
                    print(f"round {round_no + 1}/{args.rounds}: {name}", file=sys.stderr)
                    if variant is None:
                        _, end_to_end = await app_queue_round(args, control, recorder)
                        baseline += end_to_end
                        continue
                    for key, samples in (await ccd_round(args, variant, control, recorder)).items():
                        results[variant.name].setdefault(key, []).extend(samples)
    finally:
        await recorder.stop()
        await control.close()
    expected = args.callers * args.rounds
    print(
        f"\n{args.callers} callers x {args.rounds} rounds per variant (order shuffled per round), "
        f"one every {args.gap} s, {args.agents} agents talking {args.talk} s"
    )
    print(f"machine at the start: {started}")
    print(f"machine at the end:   {describe()}\n")
    print(table(results, baseline, expected))
    print()
    for name, parts in results.items():
        twice = int(sum(parts.get("rung_twice", [])))
        if twice:
            print(f"{name}: {twice} callers got a second agent Originate")
        failed = int(sum(parts.get("failed_agi_actions", [])))
        if failed:
            print(f"{name}: {failed} AGI actions failed (the caller had left AsyncAGI)")
        late = int(sum(parts.get("late_sessions", [])))
        if late:
            print(
                f"{name}: {late} callers' second arrival (announce or session) came "
                "after they were connected"
            )
    if baseline:
        base = statistics.median(baseline)
        fast = results.get("fastagi", {}).get("end_to_end")
        for name, parts in results.items():
            if parts.get("end_to_end"):
                ours = statistics.median(parts["end_to_end"])
                versus_fast = f", {ours / statistics.median(fast):.2f}x fastagi" if fast else ""
                print(f"{name}: median {ours / base:.1f}x app_queue{versus_fast}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser(__doc__)
    add_caller_load(p, rounds=2, rounds_help="rounds per variant (default 2)")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, from {', '.join(VARIANTS)} (default all)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the per-round order (1)")
    p.add_argument("--log-level", default="WARNING", help="ccd's log level (WARNING)")
    args = p.parse_args(argv)
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level=args.log_level, fmt="console")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
