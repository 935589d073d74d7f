"""Several Asterisk servers: what keeps their call ids apart.

Call ids are Asterisk's linkedids. Two servers with the same (or no) ``systemname`` can
hand out the same uniqueid, so with more than one server configured each needs its own
non-empty ``systemname`` (Asterisk then prefixes every uniqueid/linkedid with it). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

SERVER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
"""A configured Asterisk server's name: in calls, CDRs, logs and ``/readyz``."""
DEFAULT_SERVER_NAME = "default"
"""The name of the one server an ``[ami]`` section alone configures."""


def system_name_problems(system_names: Mapping[str, str | None]) -> list[str]:
    """One reason per server whose ``systemname`` cannot keep call ids unique.

    ``system_names``: server name → its ``systemname`` (``""`` unset, None unknown: not
    connected yet, or CoreSettings not readable by the AMI user), in configuration order.
    Nothing to say with one server (its ids are unique on their own), nor about a server
    not read yet (its readiness already says it is not connected)."""
    if len(system_names) < 2:
        return []
    problems: list[str] = []
    first_with: dict[str, str] = {}
    for server, system_name in system_names.items():
        if system_name is None:
            continue
        if not system_name:
            problems.append(
                f"ami {server}: asterisk.conf has no systemname; with several servers each "
                "needs its own, or call ids can collide"
            )
            continue
        other = first_with.setdefault(system_name, server)
        if other != server:
            problems.append(
                f"ami {server}: same systemname {system_name!r} as server {other}; each "
                "server needs its own, or call ids can collide"
            )
    return problems
