"""Who called whom: the callee rule shared by the live model and the CDR builder. Pure.

The rule (first that yields a number other than the caller's own):
1. the originator's connected-line number;
2. the target of the first ``Dial`` made by a channel of the call (``dial_target``);
3. the caller id number of the first channel that is neither the originator nor the other
   half of the originator's Local channel pair (for a channel Asterisk dialed out,
   CallerIDNum is the called party);
4. the originator's exten, except ``s`` (the no-number start extension).
Otherwise ``known`` (the callee found earlier, kept when the evidence goes away).
"""

from __future__ import annotations

from collections.abc import Iterable

from ccd.domain.channels import ChannelSnapshot


def local_partner(name: str) -> str:
    """The other half of a Local channel (``…;1`` ↔ ``…;2``), or ``""``."""
    if name.endswith(";1"):
        return name[:-1] + "2"
    if name.endswith(";2"):
        return name[:-1] + "1"
    return ""


def dial_target(dial_string: str, destination_exten: str) -> str:
    """``200@trunk`` → ``200``; ``PJSIP/bob`` → ``bob``; ``sip:300@host`` → ``300``;
    the destination's exten when the dial string names nothing."""
    target = dial_string.split("@", 1)[0].rsplit("/", 1)[-1]
    if target.startswith(("sip:", "sips:")):
        target = target.split(":", 1)[1]
    return target or destination_exten


def callee_number(
    caller_num: str,
    originator: ChannelSnapshot | None,
    dial_target: str,
    channels: Iterable[ChannelSnapshot],
    known: str = "",
) -> str:
    """Apply the module's callee rule; ``channels`` in creation order (originator may be in)."""
    if originator is not None:
        connected = originator.connected_num
        if connected and connected != caller_num:
            return connected
    if dial_target and dial_target != caller_num:
        return dial_target
    if originator is not None:
        partner = local_partner(originator.name)
        for snap in channels:
            if snap.uniqueid == originator.uniqueid or (partner and snap.name == partner):
                continue
            if snap.caller_num and snap.caller_num != caller_num:
                return snap.caller_num
            break  # only the first other channel speaks for the called party
        exten = originator.exten
        if exten and exten != "s" and exten != caller_num:
            return exten
    return known
