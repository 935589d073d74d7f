"""Which configured Asterisk server a uniqueid comes from, by its ``systemname`` prefix.

With a ``systemname`` set in asterisk.conf, Asterisk writes it at the front of every
uniqueid and linkedid it hands out (``paris-1764000000.12``). Several servers configured
must each have their own (``ccd.domain.servers``), so the prefix names the server, and it
is known as soon as the uniqueid is: a FastAGI session can tell its server before ccd has
read any AMI event of its channel. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping


def server_by_system_name(uniqueid: str, system_names: Mapping[str, str | None]) -> str | None:
    """The server whose ``systemname`` prefixes ``uniqueid`` (``<systemname>-<epoch>.<n>``).

    ``system_names``: server name → its systemname (``""`` unset, None not read). The
    longest matching systemname wins (``pbx`` and ``pbx-2`` are both prefixes of
    ``pbx-2-1764000000.1``); None when none matches, or when two servers share it (then
    the prefix says nothing)."""
    best: str | None = None
    best_length = 0
    shared = False
    for server, system_name in system_names.items():
        if not system_name or not uniqueid.startswith(system_name + "-"):
            continue
        if len(system_name) > best_length:
            best, best_length, shared = server, len(system_name), False
        elif len(system_name) == best_length:
            shared = True
    return None if shared else best
