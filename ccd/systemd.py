"""systemd's readiness protocol (``Type=notify``): one datagram to ``$NOTIFY_SOCKET``.
A few lines instead of a dependency; without the variable (not under systemd) nothing
is sent."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"


def notify(state: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd. False when not run by systemd;
    OSError when the socket refuses it."""
    address = environ.get(NOTIFY_SOCKET_ENV)
    if not address:
        return False
    # "@name" is an abstract socket (Linux): its address starts with a NUL byte.
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(target)
        sock.sendall(state.encode("utf-8"))
    return True
