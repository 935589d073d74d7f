"""IVR load on the real Asterisk sandbox: N simultaneous callers through a 3-level menu.

Target (issue 4, "Performance"): at least 100 simultaneous callers through a 3-level menu;
report the completion rate and ccd's event-loop lag p99 (< 20 ms).

What runs, all in one process and one event loop (so the lag is an upper bound for the
IVR part of the daemon: the AMI driver shares ccd's loop):
- ccd's real ``AgiServer`` on 127.0.0.1 port 0 with the real ``ivr_agi_handler`` and a flow
  loaded by ``load_flows`` from a TOML file this bench writes (level1 → level2 → level3 →
  transfer to ``ccd-sim,answer`` for odd callers, a hangup node for even ones);
- a lag probe: a task that sleeps 10 ms in a loop and records the overshoot;
- the caller driver: AMI ``Originate Local/<did>@ccd-ivr`` with ``CCD_AGI_PORT`` set to
  the bench server's port (the DID names the caller), and ``PlayDTMF`` on the ``;1`` half.

When to press: the AGI channel's ``stream_file`` is wrapped (instrumentation only, the
runner is unchanged) so the driver learns the moment the runner starts a menu prompt with
escape digits; the digit is sent ``--dtmf-delay`` later, i.e. while Asterisk streams the
prompt (any digit ends it) or, if the prompt was shorter, into the ``GET DATA`` after it.
A lost digit is not fatal: the menu times out and re-offers, the driver sees the prompt
again and presses again (counted as a re-offer).

Run as root (the sandbox needs it):  .venv/bin/python bench/ivr_load.py --callers 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import structlog  # noqa: E402

from bench.machine import describe  # noqa: E402
from ccd.agi.channel import AgiChannel  # noqa: E402
from ccd.agi.runner import flow_resolver, ivr_agi_handler  # noqa: E402
from ccd.agi.server import AgiServer  # noqa: E402
from ccd.clock import SystemClock  # noqa: E402
from ccd.domain import contract  # noqa: E402
from ccd.domain.cdr import IvrStep  # noqa: E402
from ccd.ivr.flows import FlowSet, load_flows  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from tests.system.conftest import AMI_HOST, AMI_PORT, AMI_SECRET, AMI_USERNAME  # noqa: E402
from tests.system.rawami import Frame, RawAmi  # noqa: E402

SANDBOX = REPO / "scripts" / "asterisk-sandbox"
CLEANUP_STEP_S = 20.0  # bound on each shutdown step (hang-ups, tasks, AGI server)
FLOW_ID = "ivrbench"
FIRST_DID = 7000
# The prompt of each level names it, so the driver knows which digit the menu wants.
MENUS = {
    "level1": ("digits/1", {"1": "level2", "9": "bye"}),
    "level2": ("digits/2", {"2": "level3", "9": "bye"}),
    "level3": ("digits/3", {"3": "agent", "4": "bye"}),
}
LEVEL_NODES = tuple(MENUS)
LEVEL_PROMPTS = {prompt: level for level, (prompt, _) in enumerate(MENUS.values(), start=1)}


def flow_toml(menu_timeout_s: float) -> str:
    """The bench flow: the three menus above, then a transfer and a hangup node."""
    menus = []
    for node, (prompt, options) in MENUS.items():
        table = ", ".join(f'"{digit}" = "{target}"' for digit, target in options.items())
        menus.append(
            f"""
[nodes.{node}]
kind = "menu"
prompts = ["{prompt}"]
options = {{ {table} }}
timeout_s = {menu_timeout_s:g}
retries = 2
invalid_prompts = ["beeperr"]
timeout_prompts = ["beep"]
"""
        )
    return f"""\
id = "{FLOW_ID}"
entry = "level1"
default_destination = "bye"
{"".join(menus)}
[nodes.agent]
kind = "transfer"
context = "{contract.SIM_CONTEXT}"
exten = "{contract.SimExten.ANSWER}"

[nodes.bye]
kind = "hangup"
"""


@dataclass
class Caller:
    index: int
    did: str
    final_node: str  # "agent" (transfer) or "bye" (hangup)
    originated_at: float = 0.0
    originate_error: str = ""
    local_channel: str = ""  # the ;1 half, from the AGI side or the OriginateResponse
    agi_started_at: float | None = None
    finished_at: float | None = None
    path: tuple[IvrStep, ...] | None = None
    offers: Counter[int] = field(default_factory=Counter)  # level → times its prompt started

    def digit_for(self, level: int) -> str:
        if level < 3:
            return str(level)
        return "3" if self.final_node == "agent" else "4"

    @property
    def completed(self) -> bool:
        if self.path is None:
            return False
        nodes = [step.node for step in self.path]
        # A re-offered menu may appear more than once; the order of first visits counts.
        visited = list(dict.fromkeys(nodes))
        return visited == [*LEVEL_NODES, self.final_node]


@dataclass
class Stats:
    ami_errors: Counter[str] = field(default_factory=Counter)
    dtmf_sent: int = 0
    lag_s: list[float] = field(default_factory=list)
    log_levels: Counter[str] = field(default_factory=Counter)
    log_events: Counter[str] = field(default_factory=Counter)


class AmiDriver:
    """One AMI connection; a reader task routes responses and OriginateResponses to
    waiters by ActionID and drops everything else."""

    STOP_TIMEOUT_S = 5.0

    def __init__(self, ami: RawAmi) -> None:
        self.ami = ami
        self._waiting: dict[tuple[str, str], asyncio.Future[Frame]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self.lost = ""
        self.stuck = False  # the reader did not end within STOP_TIMEOUT_S of stop()

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="ivr-bench-ami-reader")

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the reader and close the connection, always within about ``timeout_s``.

        Closing the socket first ends a pending read by itself; the reader is cancelled
        too and waited for with a bound (asyncio.wait neither raises the reader's outcome
        nor swallows a cancellation of the caller, e.g. Ctrl-C)."""
        closing = asyncio.ensure_future(self.ami.close())
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            _done, pending = await asyncio.wait({reader}, timeout=timeout_s)
            self.stuck = bool(pending)
        _done, pending = await asyncio.wait({closing}, timeout=timeout_s)
        for task in pending:
            task.cancel()

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.ami.read_frame(3600)
            except TimeoutError:
                continue
            except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
                # Asterisk went away (e.g. restarted) or stop() closed the socket: nothing
                # pending will ever answer.
                self.lost = repr(exc)
                for waiter in self._waiting.values():
                    if not waiter.done():
                        waiter.set_exception(ConnectionError("AMI connection lost"))
                self._waiting.clear()
                return
            self.ami.received.clear()  # RawAmi keeps every frame; the bench needs none
            action_id = frame.get("ActionID", "")
            kind = "originate" if frame.get("Event") == "OriginateResponse" else "response"
            if kind == "originate" or "Response" in frame:
                key = (kind, action_id)
                answered = self._waiting.pop(key) if key in self._waiting else None
                if answered is not None and not answered.done():
                    answered.set_result(frame)

    def expect(self, kind: str, action_id: str) -> asyncio.Future[Frame]:
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiting[(kind, action_id)] = waiter
        return waiter

    async def action(self, action: str, timeout_s: float = 10, **fields: str) -> Frame:
        action_id = f"b-{next(self._ids)}"
        waiter = self.expect("response", action_id)
        await self.ami.send(action, ActionID=action_id, **fields)
        async with asyncio.timeout(timeout_s):
            return await waiter

    async def originate(self, caller: Caller, agi_port: int, wait_s: int) -> Frame:
        action_id = f"orig-{caller.index}"
        response = self.expect("response", action_id)
        outcome = self.expect("originate", action_id)
        await self.ami.send(
            "Originate",
            ActionID=action_id,
            Channel=f"Local/{caller.did}@{contract.IVR_CONTEXT}",
            Application="Wait",
            Data=str(wait_s),
            Async="true",
            Variable=f"{contract.VAR_AGI_PORT}={agi_port},{contract.VAR_IVR_FLOW}={FLOW_ID}",
        )
        async with asyncio.timeout(30):
            reply = await response
            if reply.get("Response") != "Success":
                return reply
            return await outcome


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


async def lag_probe(samples: list[float], stop: asyncio.Event, period_s: float = 0.010) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        await asyncio.sleep(period_s)
        samples.append(loop.time() - started - period_s)


def count_logs(stats: Stats) -> None:
    """Count ccd's warnings and errors (by event) in front of ccd's own log pipeline."""

    def counter(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        stats.log_levels[method] += 1
        if method in {"warning", "error", "exception", "critical"}:
            stats.log_events[str(event_dict.get("event"))] += 1
        return event_dict

    processors = list(structlog.get_config()["processors"])
    structlog.configure(processors=[counter, *processors])


def sandbox_up() -> None:
    if os.geteuid() != 0:
        sys.exit("ivr_load: run as root (the Asterisk sandbox needs chroot and mounts)")
    print("starting the sandbox (scripts/asterisk-sandbox up) ...", file=sys.stderr)
    done = subprocess.run([str(SANDBOX), "up"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"scripts/asterisk-sandbox up failed:\n{done.stderr}\n{done.stdout}")


def sandbox_channels() -> list[str]:
    try:
        done = subprocess.run(
            [str(SANDBOX), "cli", "core show channels concise"],
            capture_output=True,
            text=True,
            check=False,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        print("asterisk CLI did not answer in 15 s", file=sys.stderr)
        return []
    return [line for line in done.stdout.splitlines() if "!" in line]


async def run(args: argparse.Namespace) -> int:
    stats = Stats()
    count_logs(stats)
    loop = asyncio.get_running_loop()
    flows_dir = Path(args.flows_dir) if args.flows_dir else Path(tempfile.mkdtemp(prefix="ivrb-"))
    flows_dir.mkdir(parents=True, exist_ok=True)
    (flows_dir / f"{FLOW_ID}.toml").write_text(flow_toml(args.menu_timeout))
    flows: FlowSet = load_flows(flows_dir)
    if FLOW_ID not in flows.flows:
        sys.exit(f"ivr_load: {flows_dir} has no flow {FLOW_ID!r}")

    callers = [
        Caller(index=i, did=str(FIRST_DID + i), final_node="agent" if i % 2 else "bye")
        for i in range(args.callers)
    ]
    by_did = {c.did: c for c in callers}
    by_uniqueid: dict[str, Caller] = {}
    tasks: set[asyncio.Task[Any]] = set()
    all_done = asyncio.Event()
    started = loop.time()

    def track(coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_finished(uniqueid: str, _linkedid: str, path: tuple[IvrStep, ...]) -> None:
        caller = by_uniqueid.get(uniqueid)
        if caller is None:
            return
        caller.finished_at = loop.time()
        caller.path = path
        if all(c.finished_at is not None or c.originate_error for c in callers):
            all_done.set()

    # Asterisk runs one AMI session's actions one after another, and PlayDTMF holds its
    # session for the digit's duration: callers share a pool of connections.
    connections = args.ami_connections or min(50, max(1, (args.callers + 3) // 4))
    pool = [AmiDriver(await RawAmi.connect(AMI_HOST, args.ami_port)) for _ in range(connections)]
    for number, driver in enumerate(pool):
        driver.start()
        # Every session gets every event; only the first (originates) needs them.
        login = await driver.action(
            "Login",
            Username=args.ami_user,
            Secret=args.ami_secret,
            Events="on" if number == 0 else "off",
        )
        if login.get("Response") != "Success":
            sys.exit(f"ivr_load: AMI login failed: {login.get('Message')}")

    def ami_of(caller: Caller) -> AmiDriver:
        return pool[caller.index % len(pool)]

    async def hang_up(caller: Caller) -> None:
        ami = ami_of(caller)
        if caller.local_channel and not ami.lost:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await ami.action("Hangup", Channel=caller.local_channel, timeout_s=5)

    async def press(caller: Caller, level: int) -> None:
        await asyncio.sleep(args.dtmf_delay)
        try:
            reply = await ami_of(caller).action(
                "PlayDTMF",
                Channel=caller.local_channel,
                Digit=caller.digit_for(level),
                Duration=str(args.dtmf_ms),
            )
        except TimeoutError:
            stats.ami_errors["PlayDTMF: no response"] += 1
            return
        except ConnectionError:
            stats.ami_errors["PlayDTMF: AMI connection lost"] += 1
            return
        if reply.get("Response") == "Success":
            stats.dtmf_sent += 1
        else:
            stats.ami_errors[f"PlayDTMF: {reply.get('Message')}"] += 1

    async with aiohttp.ClientSession() as lookups:
        runner = ivr_agi_handler(
            flow_resolver(lambda: flows), lookups, SystemClock(), on_finished=on_finished
        )

        async def handler(channel: AgiChannel) -> None:
            caller = by_did.get(channel.args[1] if len(channel.args) > 1 else "")
            if caller is None:
                await runner(channel)
                return
            caller.agi_started_at = loop.time()
            caller.local_channel = channel.channel[:-1] + "1"
            by_uniqueid[channel.uniqueid] = caller
            stream_file = channel.stream_file

            async def announcing_stream_file(name: str, escape_digits: str = "") -> str:
                level = LEVEL_PROMPTS.get(name)
                if escape_digits and level is not None:
                    caller.offers[level] += 1
                    track(press(caller, level))
                return await stream_file(name, escape_digits)

            channel.stream_file = announcing_stream_file  # type: ignore[method-assign]
            await runner(channel)

        server = AgiServer("127.0.0.1", 0, handler, max_sessions=max(500, 2 * args.callers))
        await server.start()
        stop_probe = asyncio.Event()
        probe = asyncio.create_task(lag_probe(stats.lag_s, stop_probe))
        wait_s = int(args.timeout) + 60

        async def originate(caller: Caller) -> None:
            caller.originated_at = loop.time()
            try:
                outcome = await pool[0].originate(caller, server.port, wait_s)
            except TimeoutError:
                caller.originate_error = "no OriginateResponse"
            except ConnectionError:
                caller.originate_error = "AMI connection lost"
            else:
                if outcome.get("Response") == "Failure" or outcome.get("Response") == "Error":
                    caller.originate_error = outcome.get("Reason") or outcome.get("Message", "?")
                elif outcome.get("Channel") and not caller.local_channel:
                    caller.local_channel = outcome["Channel"]
            if caller.originate_error:
                stats.ami_errors[f"Originate: {caller.originate_error}"] += 1
                if all(c.finished_at is not None or c.originate_error for c in callers):
                    all_done.set()

        async def progress() -> None:
            while True:
                await asyncio.sleep(1)
                recent = stats.lag_s[-100:]
                print(
                    f"t={loop.time() - started:5.1f}s"
                    f" originated={sum(1 for c in callers if c.originated_at)}"
                    f" in_ivr={server.active_sessions}"
                    f" finished={sum(1 for c in callers if c.finished_at is not None)}"
                    f" completed={sum(1 for c in callers if c.completed)}"
                    f" dtmf={stats.dtmf_sent}"
                    f" lag_max_last_1s={max(recent, default=0) * 1000:.1f}ms",
                    file=sys.stderr,
                )

        reporter = asyncio.create_task(progress())
        began = loop.time()
        try:
            for caller in callers:
                track(originate(caller))
                if args.rate > 0:
                    await asyncio.sleep(1 / args.rate)
            originated_in = loop.time() - began
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(1.0, args.timeout - (loop.time() - began))):
                    await all_done.wait()
            load_s = loop.time() - began
            print(f"load phase over after {load_s:.1f} s", file=sys.stderr)
            bad = Counter(c.originate_error for c in callers if c.originate_error)
            print(f"originate errors: {dict(bad)}", file=sys.stderr)
            stop_probe.set()
            await probe
            # Transferred callers should now sit in ccd-sim,answer (music on hold).
            in_sim = [
                line
                for line in await asyncio.to_thread(sandbox_channels)
                if f"!{contract.SIM_CONTEXT}!{contract.SimExten.ANSWER}!" in line
                and line.startswith(f"Local/{FIRST_DID // 1000}")
            ]
        finally:
            # Every step below is bounded, so the bench always ends (and Ctrl-C, which
            # cancels this task, still gets through: nothing here swallows it).
            reporter.cancel()
            stop_probe.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLEANUP_STEP_S):
                    await asyncio.gather(*(hang_up(c) for c in callers))
            for task in list(tasks):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLEANUP_STEP_S):
                    await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLEANUP_STEP_S):
                    await server.stop()
            for driver in pool:
                if driver.lost:  # before we closed it ourselves
                    stats.ami_errors[f"AMI connection lost ({driver.lost})"] += 1
            await asyncio.gather(*(driver.stop() for driver in pool))
            stuck = sum(driver.stuck for driver in pool)
            if stuck:
                print(f"{stuck} AMI reader task(s) did not stop in time", file=sys.stderr)
    await asyncio.sleep(2)  # let Asterisk tear the Local channels down
    # Only this bench's callers (DIDs 7000…): other sessions may share the sandbox.
    leftover = [
        line
        for line in sandbox_channels()
        if line.startswith(f"Local/{FIRST_DID // 1000}") and "@ccd-ivr" in line
    ]

    report(
        args,
        callers,
        stats,
        server,
        load_s=load_s,
        originated_in=originated_in,
        in_sim=len(in_sim),
        leftover=len(leftover),
    )
    return 0


def report(
    args: argparse.Namespace,
    callers: list[Caller],
    stats: Stats,
    server: AgiServer,
    *,
    load_s: float,
    originated_in: float,
    in_sim: int,
    leftover: int,
) -> None:
    n = len(callers)
    completed = [c for c in callers if c.completed]
    finished = [c for c in callers if c.finished_at is not None]
    times = [c.finished_at - c.originated_at for c in completed if c.finished_at is not None]
    in_ivr = [
        c.finished_at - c.agi_started_at
        for c in completed
        if c.finished_at is not None and c.agi_started_at is not None
    ]
    reoffers = sum(max(0, count - 1) for c in callers for count in c.offers.values())
    transfers = sum(1 for c in completed if c.final_node == "agent")
    peak = peak_concurrency(callers)
    lag_ms = [s * 1000 for s in stats.lag_s]
    pacing = f"{args.rate:g}/s" if args.rate > 0 else "all at once"
    rows = [
        (
            "callers",
            f"{n} (pacing {pacing}, originated in {originated_in:.1f} s,"
            f" {args.ami_connections or min(50, max(1, (n + 3) // 4))} AMI connections)",
        ),
        ("completed all 3 levels", f"{len(completed)}/{n} = {len(completed) / n:.1%}"),
        ("finished the IVR (any path)", f"{len(finished)}/{n}"),
        ("peak simultaneous callers in the IVR", str(peak)),
        ("transferred / hung up by the flow", f"{transfers} / {len(completed) - transfers}"),
        ("transferred callers found in ccd-sim,answer", str(in_sim)),
        (
            "time to complete (originate → IVR done) p50/p95/max",
            fmt3(times, "s"),
        ),
        ("time in the IVR (AGI start → done) p50/p95/max", fmt3(in_ivr, "s")),
        ("menu re-offers (digit lost or late)", str(reoffers)),
        ("PlayDTMF sent", str(stats.dtmf_sent)),
        (
            "event-loop lag p50/p99/max",
            f"{percentile(lag_ms, 50):.2f} / {percentile(lag_ms, 99):.2f} / "
            f"{max(lag_ms, default=float('nan')):.2f} ms ({len(lag_ms)} samples)",
        ),
        ("lag p99 < 20 ms", "yes" if percentile(lag_ms, 99) < 20 else "NO"),
        (
            "AMI errors",
            ", ".join(f"{k} x{v}" for k, v in stats.ami_errors.items()) or "none",
        ),
        (
            "AGI errors (refused / bad headers)",
            f"{server.refused} / {server.bad_headers}",
        ),
        (
            "ccd warnings+errors logged",
            ", ".join(f"{k} x{v}" for k, v in stats.log_events.most_common(6)) or "none",
        ),
        ("our channels left after cleanup", str(leftover)),
        ("load phase wall time", f"{load_s:.1f} s"),
        ("machine", describe()),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"\nIVR load: {n} callers through a 3-level menu on the Asterisk sandbox\n")
    print(f"| {'metric':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for key, value in rows:
        print(f"| {key:<{width}} | {value} |")
    failures = Counter(
        "originate: " + c.originate_error
        if c.originate_error
        else "no AGI session"
        if c.agi_started_at is None
        else "still in the IVR at the timeout"
        if c.finished_at is None
        else "wrong path: " + "→".join(s.node for s in c.path or ())
        for c in callers
        if not c.completed
    )
    for reason, count in failures.most_common(10):
        print(f"  not completed: {reason} x{count}")


def peak_concurrency(callers: list[Caller]) -> int:
    edges = []
    for c in callers:
        if c.agi_started_at is not None:
            edges.append((c.agi_started_at, 1))
            edges.append((c.finished_at if c.finished_at is not None else float("inf"), -1))
    peak = current = 0
    for _, delta in sorted(edges):
        current += delta
        peak = max(peak, current)
    return peak


def fmt3(values: list[float], unit: str) -> str:
    if not values:
        return "n/a"
    return (
        f"{statistics.median(values):.2f} / {percentile(values, 95):.2f} / {max(values):.2f} {unit}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--callers", type=int, default=100)
    p.add_argument(
        "--rate", type=float, default=20.0, help="originates per second; 0 = all at once"
    )
    p.add_argument("--timeout", type=float, default=120.0, help="bound on the load phase, s")
    p.add_argument("--flows-dir", help="write the bench flow here (default: a temp dir)")
    p.add_argument("--menu-timeout", type=float, default=5.0, help="menu digit timeout, s")
    p.add_argument("--dtmf-delay", type=float, default=0.2, help="prompt start → PlayDTMF, s")
    p.add_argument("--dtmf-ms", type=int, default=120, help="PlayDTMF Duration, ms")
    p.add_argument("--ami-port", type=int, default=AMI_PORT)
    p.add_argument(
        "--ami-connections", type=int, default=0, help="AMI pool size (default: callers/4, ≤ 50)"
    )
    p.add_argument("--ami-user", default=AMI_USERNAME)
    p.add_argument("--ami-secret", default=AMI_SECRET, help="default: the sandbox's")
    p.add_argument("--log-level", default="WARNING", help="ccd's log level during the run")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox_up()
    configure_logging(args.log_level)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        # asyncio.run cancelled the run on Ctrl-C; its cleanup (bounded) has run.
        print("ivr_load: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
