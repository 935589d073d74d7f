"""The live model's view of calls: channels grouped by Asterisk ``linkedid``."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from ccd.domain.cdr import IvrStep
from ccd.domain.channels import ChannelSnapshot


class CallState(enum.StrEnum):
    RINGING = "ringing"  # no channel of the call is up yet
    UP = "up"  # at least one channel answered, not bridged with another party
    BRIDGED = "bridged"  # two or more channels of the call share a bridge


@dataclass(frozen=True, slots=True)
class LiveChannel:
    snapshot: ChannelSnapshot
    created_at: datetime
    answered_at: datetime | None
    bridge_id: str | None


@dataclass(frozen=True, slots=True)
class Call:
    linkedid: str
    state: CallState
    started_at: datetime
    answered_at: datetime | None
    caller_num: str
    caller_name: str
    callee_num: str
    channels: tuple[LiveChannel, ...]  # in creation order; the first is the originator
    ivr_path: tuple[IvrStep, ...] = ()  # every IVR visit of the call so far, in order
    server: str = ""  # the configured Asterisk server the call is on


@dataclass(frozen=True, slots=True)
class CallStarted:
    at: datetime
    call: Call


@dataclass(frozen=True, slots=True)
class CallUpdated:
    at: datetime
    call: Call


@dataclass(frozen=True, slots=True)
class CallEnded:
    at: datetime
    call: Call


CallChange = CallStarted | CallUpdated | CallEnded
