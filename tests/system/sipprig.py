"""SIPp phones for the system tests: customers calling into the Asterisk sandbox and
agents' phones answering, ringing out or busy, with real SIP signalling (DESIGN §3).

The sandbox's side is in docker/asterisk/pjsip.conf (endpoint ``sipp-caller`` for every
customer, ``sipp-answers`` / ``sipp-rings`` / ``sipp-busy`` / ``sipp-holds`` for the
agents at static contacts on loopback) and extensions.conf (``ccd-sipp-in``: where
customers' calls go).
The scenarios are in ``tests/system/sipp/``. Every SIPp runs on 127.0.0.1 only (SIP,
media and its control socket), in its own process group, and is ended by the rig.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
PJSIP_CONF = Path(__file__).resolve().parents[2] / "docker" / "asterisk" / "pjsip.conf"
HOST = "127.0.0.1"
ASTERISK_SIP_PORT = 5060  # pjsip.conf transport-udp-loopback

# The agents' phones: endpoint → scenario. Their ports are the contacts in pjsip.conf.
CALLER = "sipp-caller"  # every customer's channel: PJSIP/sipp-caller-…
ANSWERS = "sipp-answers"
RINGS = "sipp-rings"
BUSY = "sipp-busy"
HOLDS = "sipp-holds"  # answers, holds 2 s after 1 s, talks 1 s more (agent-holds.xml)
AGENT_SCENARIOS = {
    ANSWERS: "agent-answers.xml",
    RINGS: "agent-never-answers.xml",
    BUSY: "agent-busy.xml",
    HOLDS: "agent-holds.xml",
}

_CONTACT = re.compile(r"^contact\s*=\s*sip:([^@\s]+)@127\.0\.0\.1:(\d+)\s*$", re.MULTILINE)


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        pytest.fail(
            "sipp not found: install Debian's sip-tester (scripts/test does)", pytrace=False
        )
    return path


def agent_ports() -> dict[str, int]:
    """Endpoint → port of the agents' static contacts in pjsip.conf (the one place they
    are written, so the sandbox and the phones the rig starts always agree)."""
    return {name: int(port) for name, port in _CONTACT.findall(PJSIP_CONF.read_text())}


def _udp_port_bound(port: int) -> bool:
    """Whether something has bound UDP ``port`` (read from /proc: probing with a bind of
    our own could take the port from under a SIPp that is just starting)."""
    with open("/proc/net/udp") as table:
        next(table)  # the header line
        return any(int(line.split()[1].split(":")[1], 16) == port for line in table)


def _free_udp_ports(count: int) -> list[int]:
    """``count`` ports free now; SIPp media takes a pair (audio ``p``, video ``p + 2``),
    so each returned port has ``p + 2`` free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port + 2 <= 65535 and not _udp_port_bound(port + 2) and port not in ports:
            ports.append(port)
    return ports


@dataclass(frozen=True)
class Received:
    """A SIP request a SIPp received, from its message trace."""

    at: datetime  # when SIPp read it (this machine's clock)
    method: str
    call_id: str
    from_user: str  # the From URI's user: for Asterisk's calls, the caller id number


_TRACE_ENTRY = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)\n"
    r"\S+ message received \[\d+\] bytes :\n\n([A-Z]+) \S+ SIP/2\.0\n(.*?)(?=^-{10,} |\Z)",
    re.MULTILINE | re.DOTALL,
)


def _header(block: str, name: str) -> str:
    match = re.search(rf"^{name}\s*:\s*(.*?)\s*$", block, re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else ""


@dataclass
class Sipp:
    """One SIPp process; its traces are ``<log_dir>/<name>.*``."""

    name: str
    process: asyncio.subprocess.Process
    log_dir: Path

    def logs(self) -> str:
        """Its unexpected messages, screen and (the end of) its SIP trace: for failures."""
        parts = []
        for suffix in ("errors", "screen", "out", "messages"):
            path = self.log_dir / f"{self.name}.{suffix}"
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"--- {path.name}\n{text[-6000:]}")
        return "\n".join(parts) or f"(no logs of {self.name})"

    def received(self, method: str) -> list[Received]:
        """The ``method`` requests this SIPp received, in order; a retransmission (same
        Call-ID and CSeq) counts once. Read it after ``stop()``: the trace is complete."""
        path = self.log_dir / f"{self.name}.messages"
        text = path.read_text(errors="replace").replace("\r\n", "\n") if path.exists() else ""
        seen: set[tuple[str, str]] = set()
        requests: list[Received] = []
        for stamp, got, block in _TRACE_ENTRY.findall(text):
            key = (_header(block, "Call-ID"), _header(block, "CSeq"))
            if got != method or key in seen:
                continue
            seen.add(key)
            user = re.search(r"sip:([^@>;]+)@", _header(block, "From"))
            requests.append(
                Received(
                    at=datetime.strptime(
                        " ".join(stamp.split()), "%Y-%m-%d %H:%M:%S.%f"
                    ).astimezone(),  # SIPp writes local time
                    method=got,
                    call_id=key[0],
                    from_user=user.group(1) if user else "",
                )
            )
        return requests

    async def wait(self, timeout_s: float) -> int:
        """Its exit status (0: every call as the scenario says), or a failure after
        ``timeout_s`` (the process is stopped)."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            await self.stop()
            pytest.fail(
                f"SIPp {self.name} still running after {timeout_s} s\n{self.logs()}",
                pytrace=False,
            )

    async def stop(self, grace_s: float = 2) -> None:
        """SIGUSR1 (SIPp's own smooth exit: traces written), then SIGKILL."""
        if self.process.returncode is not None:
            return
        for sig, wait_s in ((signal.SIGUSR1, grace_s), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), wait_s)
                return


def _sipp_command(
    name: str, scenario: str, args: Sequence[str], log_dir: Path, *, port: int
) -> list[str]:
    log_dir.mkdir(parents=True, exist_ok=True)
    media_port, control_port = _free_udp_ports(2)
    return [
        sipp_binary(),
        "-sf", str(SIPP_DIR / scenario),
        "-i", HOST, "-p", str(port),
        "-mp", str(media_port),
        # The control socket would otherwise listen on 0.0.0.0:8888 (one SIPp only).
        "-ci", HOST, "-cp", str(control_port),
        "-nostdin",
        "-trace_err", "-error_file", str(log_dir / f"{name}.errors"),
        "-trace_msg", "-message_file", str(log_dir / f"{name}.messages"),
        "-trace_screen", "-screen_file", str(log_dir / f"{name}.screen"),
        *args,
    ]  # fmt: skip


async def start_sipp(
    name: str, scenario: str, args: Sequence[str], log_dir: Path, *, port: int
) -> Sipp:
    """Start SIPp with ``scenario`` on ``127.0.0.1:port``; returns once it has bound that
    port (or fails with its output if it exited first)."""
    if _udp_port_bound(port):
        # Else the readiness check below would take the other process for this SIPp.
        pytest.fail(
            f"SIPp {name}: UDP {HOST}:{port} is taken (a SIPp left from an earlier run? "
            f"`ss -lunp | grep :{port}`)",
            pytrace=False,
        )
    command = _sipp_command(name, scenario, args, log_dir, port=port)
    with (log_dir / f"{name}.out").open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped alone, never by name
        )
    sipp = Sipp(name=name, process=process, log_dir=log_dir)
    for _ in range(100):
        if process.returncode is not None:
            break
        if _udp_port_bound(port):
            return sipp
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 0.05)
    await sipp.stop()
    pytest.fail(
        f"SIPp {name} did not start on {HOST}:{port} (exit {process.returncode})\n{sipp.logs()}",
        pytrace=False,
    )


@asynccontextmanager
async def agent_phones(
    log_dir: Path, *, talk_s: float = 3, endpoints: Sequence[str] = (ANSWERS, RINGS, BUSY)
) -> AsyncIterator[dict[str, Sipp]]:
    """Agents' phones of pjsip.conf (``endpoints``), each a SIPp taking any number of
    calls: ``sipp-answers`` answers and hangs up after ``talk_s``, ``sipp-rings`` never
    answers, ``sipp-busy`` is busy, ``sipp-holds`` answers and holds (its own timing).
    Stopped on exit."""
    ports = agent_ports()
    phones: dict[str, Sipp] = {}
    try:
        for endpoint in endpoints:
            phones[endpoint] = await start_sipp(
                endpoint,
                AGENT_SCENARIOS[endpoint],
                ["-d", str(int(talk_s * 1000)), "-aa", f"{HOST}:{ASTERISK_SIP_PORT}"],
                log_dir,
                port=ports[endpoint],
            )
        yield phones
    finally:
        for phone in phones.values():
            await phone.stop()


async def customer_call(
    log_dir: Path, *, number: str, service: str, agi_port: int, name: str = ""
) -> Sipp:
    """A customer with caller id ``number`` calling ``service`` in ccd-sipp-in
    (``ivr-<flow>`` or ``queue-<id>``), the call pointed at ccd's FastAGI ``agi_port``.
    One call; the customer waits until the far end hangs up (45 s at most, then hangs
    up). ``wait()`` gives 0 when the call went as the scenario says."""
    (port,) = _free_udp_ports(1)
    return await start_sipp(
        name or f"customer-{number}",
        "caller.xml",
        [
            "-s", service,
            "-key", "customer", number,
            "-key", "agi_port", str(agi_port),
            "-m", "1",
            # Never outlive a test: the scenario's longest wait is 45 s.
            "-timeout", "55s", "-timeout_error",
            f"{HOST}:{ASTERISK_SIP_PORT}",
        ],
        log_dir,
        port=port,
    )  # fmt: skip
