"""Which devices a supervisor may have ccd ring for live monitoring: ``[monitor] devices``,
fnmatch-style patterns (case-sensitive) a device must match.

A dial string with "@" (a Local channel into some context, a PJSIP endpoint's contact or
outbound URI) or a second "/" (``PJSIP/<trunk>/sip:<number>@<host>``) can reach an outside
number or another part of the dialplan, so a pattern without "@" never admits one: only a
pattern that itself names the "@" part (``Local/*@phones``) does.

Several Asterisk servers: ChanSpy hears only channels of its own server, so the
supervisor's device is rung on the server of the agent's channel. ``[[asterisk]]
monitor_devices`` says which devices are on which server (``per_server``); a server
without it takes ``patterns``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

DEFAULT_PATTERNS = ("PJSIP/*",)
_FORBIDDEN_IN_PATTERNS = frozenset("\r\n\x00 \t,&")


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a device pattern, or None if it can."""
    if not pattern:
        return "patterns must not be empty"
    if any(char in _FORBIDDEN_IN_PATTERNS for char in pattern):
        return f"pattern {pattern!r} must not contain whitespace, ',', '&', CR, LF or NUL"
    technology, slash, _ = pattern.partition("/")
    if not slash or not technology:
        return f"pattern {pattern!r} must be <technology>/<resource>, like 'PJSIP/*'"
    if any(char in technology for char in "*?["):
        return f"pattern {pattern!r} must name its technology without wildcards"
    return None


def _reaches_elsewhere(device: str) -> bool:
    return "@" in device or device.count("/") > 1


def _matches(device: str, patterns: tuple[str, ...]) -> bool:
    elsewhere = _reaches_elsewhere(device)
    return any(
        fnmatchcase(device, pattern) and (not elsewhere or "@" in pattern) for pattern in patterns
    )


@dataclass(frozen=True, slots=True)
class MonitorDevices:
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    per_server: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Every configured server's name -> the patterns of the devices on it (its
    ``[[asterisk]] monitor_devices``, else ``patterns``); empty: one server."""

    def allows(self, device: str) -> bool:
        """Allowed on some server (``allows_on`` says whether on the call's)."""
        if not self.per_server:
            return _matches(device, self.patterns)
        return any(_matches(device, patterns) for patterns in self.per_server.values())

    def allows_on(self, device: str, server: str) -> bool:
        return _matches(device, self.per_server.get(server, self.patterns))

    def servers_of(self, device: str) -> tuple[str, ...]:
        """The servers whose devices ``device`` is one of."""
        return tuple(server for server in self.per_server if self.allows_on(device, server))

    def elsewhere_refusal(self, device: str, server: str) -> str:
        """Why ``device`` cannot monitor a call on ``server`` (it is allowed elsewhere)."""
        where = ", ".join(self.servers_of(device)) or "another server"
        return (
            f"{device} is a device of Asterisk server {where}, but the call is on server "
            f"{server}: Asterisk listens only to channels of its own server, so the "
            f"supervisor's device must be one of server {server}'s"
        )

    def refusal(self) -> str:
        every = [p for patterns in self.per_server.values() for p in patterns] or self.patterns
        listed = ", ".join(repr(p) for p in dict.fromkeys(every))
        return (
            f"is not an allowed monitoring device (allowed: {listed}; a device with '@' or a "
            "second '/' only by a pattern with '@')"
        )
