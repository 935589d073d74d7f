"""Typed AMI operations: what ccd asks of Asterisk, as frozen values.

Only ccd/ami turns them into AMI header fields (``headers()``, used by ``AmiGateway``);
the rest of ccd never spells an AMI action, header or dialplan application. The gateway
checks every header for CR/LF/NUL (``ccd.domain.safety``) before anything is written.

- ``RingAgentAction``: ring an agent's device; once it answers, bridge it with a waiting
  caller's channel (Originate … Application=Bridge). The application is fixed here.
- ``OriginateAction``: call ``channel``; once it answers, run ``context,exten,priority``
  (the REST API's originate, the ACD's call back, the dialer's customer leg).
- ``HangupAction``: hang up one channel (by name or uniqueid) with a cause.
- ``RedirectAction``: send a channel elsewhere in the dialplan.
- ``SetVariableAction``: set one channel variable (before a Redirect that reads it).
- ``RedirectAction``: send one channel to ``context,exten,priority`` (the dialer's
  answered call to its safe-harbor or machine message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ccd.domain.safety import UnsafeAmiValue

HANGUP_NORMAL_CLEARING = 16


class UnsafeAmiVariable(UnsafeAmiValue):
    """A channel variable Asterisk would split into others (``,`` in a value; ``,`` or
    ``=`` in a name): nothing is written."""

    def __init__(self, name: str) -> None:
        ValueError.__init__(
            self, f"variable {name!r}: names must not contain ',' or '=', values not ','"
        )
        self.field = name


@dataclass(frozen=True, slots=True)
class CallerId:
    """A caller id to present: number and display name (quotes in the name are dropped)."""

    number: str
    name: str = ""

    def header(self) -> str:
        name = self.name.replace('"', "")
        return f'"{name}" <{self.number}>'


def local_channel(exten: str, context: str, *, keep: bool = False) -> str:
    """The dialable Local channel running ``exten`` in ``context``. ``keep``: never
    optimised away (``/n``), so its ``;1`` half stays the same channel once bridged."""
    return f"Local/{exten}@{context}" + ("/n" if keep else "")


@dataclass(frozen=True, slots=True)
class RingAgentAction:
    """Ring ``interface`` (the agent's device) for ``timeout_s``; when it answers, the
    agent's channel bridges with ``caller_channel``. If the agent hangs up first, the
    caller continues at ``caller_after_context`` (s, 1) instead of its previous dialplan.
    ``channel_id`` becomes the agent channel's uniqueid."""

    action_id: str
    interface: str
    caller_channel: str
    caller_after_context: str
    timeout_s: float
    channel_id: str
    variables: Mapping[str, str] = field(default_factory=dict)
    caller_id: CallerId | None = None

    def headers(self) -> dict[str, str]:
        """The Originate's fields (the gateway adds Action and Async)."""
        fields = {
            "ActionID": self.action_id,
            "Channel": self.interface,
            "Application": "Bridge",
            # F(...): when the agent hangs up first, the caller leaves the bridge for
            # this context instead of falling back into the dialplan it came from.
            "Data": f"{self.caller_channel},F({self.caller_after_context}^s^1)",
            "Timeout": _milliseconds(self.timeout_s),
            "ChannelId": self.channel_id,
            "OtherChannelId": self.channel_id + "-2",
        }
        if self.variables:
            fields["Variable"] = _variables(self.variables)
        if self.caller_id is not None:
            fields["CallerID"] = self.caller_id.header()
        return fields


@dataclass(frozen=True, slots=True)
class OriginateAction:
    """Call ``channel``; when it answers, it runs ``exten`` at ``priority`` in
    ``context``. ``caller_id``: a ``CallerId``, or Asterisk's own ``"name" <number>``
    text sent as given. ``channel_id``: the new channel's uniqueid (known before it
    exists). ``action_id``: chosen by the gateway when None."""

    channel: str
    context: str
    exten: str
    priority: int = 1
    timeout_s: float | None = None
    caller_id: CallerId | str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    channel_id: str | None = None
    action_id: str | None = None

    def headers(self) -> dict[str, str]:
        """The Originate's fields (the gateway adds Action, Async, and an ActionID
        when there is none)."""
        fields: dict[str, str] = {}
        if self.action_id is not None:
            fields["ActionID"] = self.action_id
        fields |= {
            "Channel": self.channel,
            "Context": self.context,
            "Exten": self.exten,
            "Priority": str(self.priority),
        }
        if self.timeout_s is not None:
            fields["Timeout"] = _milliseconds(self.timeout_s)
        if self.channel_id is not None:
            fields["ChannelId"] = self.channel_id
        if isinstance(self.caller_id, CallerId):
            fields["CallerID"] = self.caller_id.header()
        elif self.caller_id:
            fields["CallerID"] = self.caller_id
        if self.variables:
            fields["Variable"] = _variables(self.variables)
        return fields


@dataclass(frozen=True, slots=True)
class HangupAction:
    """Hang up ``channel`` (its name, or its uniqueid) with ``cause`` (Q.850)."""

    channel: str
    cause: int = HANGUP_NORMAL_CLEARING

    def headers(self) -> dict[str, str]:
        return {"Action": "Hangup", "Channel": self.channel, "Cause": str(self.cause)}


@dataclass(frozen=True, slots=True)
class RedirectAction:
    """Send ``channel`` (its name, or its uniqueid) on to ``exten`` at ``priority`` in
    ``context``, leaving whatever dialplan application it is in."""

    channel: str
    context: str
    exten: str
    priority: int = 1

    def headers(self) -> dict[str, str]:
        return {
            "Action": "Redirect",
            "Channel": self.channel,
            "Context": self.context,
            "Exten": self.exten,
            "Priority": str(self.priority),
        }


@dataclass(frozen=True, slots=True)
class SetVariableAction:
    """Set the channel variable ``name`` to ``value`` on ``channel`` (name or uniqueid)."""

    channel: str
    name: str
    value: str

    def headers(self) -> dict[str, str]:
        if not self.name or "=" in self.name:
            raise UnsafeAmiVariable(self.name)
        return {
            "Action": "Setvar",
            "Channel": self.channel,
            "Variable": self.name,
            "Value": self.value,
        }


def _milliseconds(seconds: float) -> str:
    return str(int(seconds * 1000))


def _variables(variables: Mapping[str, str]) -> str:
    """One ``Variable`` header: Asterisk splits it on commas."""
    for name, value in variables.items():
        if not name or "," in name or "=" in name or "," in value:
            raise UnsafeAmiVariable(name)
    return ",".join(f"{name}={value}" for name, value in variables.items())
