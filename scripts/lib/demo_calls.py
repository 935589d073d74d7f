"""scripts/demo's call generator: one demo call every INTERVAL seconds over AMI.

Each call gets a real-looking caller id (``"Alice Martin" <+33612345001>``), varied from
call to call, so the live calls, the queues and the CDRs show who called. Asterisk's CLI
``channel originate`` cannot set one, hence AMI ``Originate`` with ``CallerID``.

    python scripts/lib/demo_calls.py --host 127.0.0.1 --port 5038 --username ccd \
        --interval 10            # the secret comes from $CCD_AMI__SECRET
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping

# Far ends from dialplan/extensions_ccd_sim.conf: a two-party call that bridges and is hung
# up by our side after 8 s, one the far end ends after 2 s, a busy number, and customers
# calling the ACD queues sales and support.
CALLS: tuple[Mapping[str, str], ...] = (
    {"Channel": "Local/dial-answer@ccd-sim", "Application": "Wait", "Data": "8"},
    {"Channel": "Local/hangup-after-2@ccd-sim", "Application": "Wait", "Data": "30"},
    {"Channel": "Local/dial-answer@ccd-sim", "Application": "Wait", "Data": "5"},
    {"Channel": "Local/busy@ccd-sim", "Application": "Wait", "Data": "5"},
    {"Channel": "Local/answer@ccd-sim", "Context": "ccd-sim", "Exten": "queue-sales"},
    {"Channel": "Local/answer@ccd-sim", "Context": "ccd-sim", "Exten": "queue-support"},
)

# Seven callers for six kinds of call: the pairs change from one round to the next.
CALLERS: tuple[tuple[str, str], ...] = (
    ("Alice Martin", "+33612345001"),
    ("Bruno Lefebvre", "+33698761402"),
    ("Chloé Dubois", "+33145220388"),
    ("David Moreau", "+33788120457"),
    ("Emma Laurent", "+33478901266"),
    ("Farid Benali", "+33561447093"),
    ("Grace Okafor", "+442079460118"),
)


def demo_call(index: int) -> dict[str, str]:
    """The fields of the ``index``-th demo Originate (without ActionID)."""
    name, number = CALLERS[index % len(CALLERS)]
    call = dict(CALLS[index % len(CALLS)])
    if "Exten" in call:
        call["Priority"] = "1"
    return call | {"CallerID": f'"{name}" <{number}>', "Async": "true"}


def ami_frame(action: str, fields: Mapping[str, str]) -> bytes:
    lines = [f"Action: {action}", *(f"{key}: {value}" for key, value in fields.items())]
    for line in lines:
        if any(char in line for char in "\r\n\0"):
            raise ValueError(f"CR, LF or NUL in an AMI field: {line!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def calls_forever(start: int = 0) -> Iterator[dict[str, str]]:
    for index in itertools.count(start):
        yield demo_call(index)


def place_calls(
    host: str, port: int, username: str, secret: str, interval_s: float, count: int | None
) -> None:
    """Place ``count`` calls (None: forever), logging in again if the connection drops."""
    placed = 0
    while count is None or placed < count:
        try:
            with socket.create_connection((host, port), timeout=10) as sock:
                # Events off: nothing to read but the replies, which nobody needs here.
                login = {"Username": username, "Secret": secret, "Events": "off"}
                sock.sendall(ami_frame("Login", login))
                for call in calls_forever(placed):
                    if count is not None and placed >= count:
                        return
                    sock.sendall(ami_frame("Originate", {"ActionID": f"demo-{placed}", **call}))
                    placed += 1
                    time.sleep(interval_s)
                    _discard_replies(sock)
        except OSError as error:
            print(f"demo: AMI {host}:{port}: {error}; retrying", file=sys.stderr)
            time.sleep(min(interval_s, 5.0))


def _discard_replies(sock: socket.socket) -> None:
    """Read what Asterisk answered so far, so replies never pile up on the connection."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        raise ConnectionResetError("AMI closed the connection")
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038)
    parser.add_argument("--username", default="ccd")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between calls")
    parser.add_argument("--count", type=int, help="stop after this many calls (default: never)")
    args = parser.parse_args(argv)
    secret = os.environ.get("CCD_AMI__SECRET", "")
    try:
        place_calls(args.host, args.port, args.username, secret, args.interval, args.count)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
