"""What ccd knows about one Asterisk channel at one moment."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ChannelState(enum.IntEnum):
    """Asterisk's ``ChannelState`` numbers (``enum ast_channel_state``)."""

    DOWN = 0
    RESERVED = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7
    DIALING_OFFHOOK = 8
    PRERING = 9
    UNKNOWN = 10

    @classmethod
    def parse(cls, raw: str) -> ChannelState:
        """Asterisk sends the number as text; anything unexpected is UNKNOWN."""
        try:
            return cls(int(raw))
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """The channel fields Asterisk repeats on every channel event."""

    uniqueid: str
    linkedid: str
    name: str
    state: ChannelState
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    server: str = ""  # the configured Asterisk server it lives on (ccd tags it)
