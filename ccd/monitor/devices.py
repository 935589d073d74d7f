"""Which devices a supervisor may have ccd ring for live monitoring: ``[monitor] devices``,
fnmatch-style patterns (case-sensitive) a device must match.

A dial string with "@" (a Local channel into some context, a PJSIP endpoint's contact or
outbound URI) or a second "/" (``PJSIP/<trunk>/sip:<number>@<host>``) can reach an outside
number or another part of the dialplan, so a pattern without "@" never admits one: only a
pattern that itself names the "@" part (``Local/*@phones``) does.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class MonitorDevices:
    patterns: tuple[str, ...] = DEFAULT_PATTERNS

    def allows(self, device: str) -> bool:
        elsewhere = _reaches_elsewhere(device)
        return any(
            fnmatchcase(device, pattern) and (not elsewhere or "@" in pattern)
            for pattern in self.patterns
        )

    def refusal(self) -> str:
        listed = ", ".join(repr(p) for p in self.patterns)
        return (
            f"is not an allowed monitoring device (allowed: {listed}; a device with '@' or a "
            "second '/' only by a pattern with '@')"
        )
