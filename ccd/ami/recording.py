"""Call recording on Asterisk: typed operations and the adapter that sends them.

A recording is a recorder channel (``contract.RECORDING_CONTEXT``): ccd originates
``Local/s@ccd-recording-hold`` into ``ccd-recording``, whose dialplan runs MixMonitor into
the file and ChanSpy on the customer's channel. MixMonitor is not started over AMI: that
action needs the ``system`` class, which ccd's AMI user never holds (``call`` and
``originate`` suffice for everything here).

- ``start``: the recorder's Originate, its uniqueid chosen by ccd (``recorder_id``);
- ``stop``: hang the recorder up (the file is closed; the call goes on);
- ``mute``: ``MixMonitorMute`` both directions on or off on the recorder (class ``call``):
  while muted Asterisk writes silence, so the file's timeline stays the call's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from ccd.ami.actions import HangupAction, OriginateAction, local_channel
from ccd.ami.framing import Frame
from ccd.domain import contract


def start_recording_action(recorder_id: str, target_channel: str, file: str) -> OriginateAction:
    return OriginateAction(
        channel=local_channel("s", contract.RECORDING_HOLD_CONTEXT),
        context=contract.RECORDING_CONTEXT,
        exten="s",
        variables={
            contract.VAR_RECORDING_FILE: file,
            contract.VAR_RECORDING_TARGET: target_channel,
        },
        channel_id=recorder_id,
        action_id=recorder_id,  # its OriginateResponse tells a recorder that never ran
    )


@dataclass(frozen=True, slots=True)
class MuteRecordingAction:
    channel: str  # the recorder's (name or uniqueid)
    muted: bool

    def headers(self) -> dict[str, str]:
        return {
            "Action": "MixMonitorMute",
            "Channel": self.channel,
            "Direction": "both",
            "State": "1" if self.muted else "0",
        }


class RecordingAmi(Protocol):
    async def originate(self, action: OriginateAction) -> str: ...

    async def hangup(self, action: HangupAction) -> None: ...

    async def send_action(
        self, fields: Mapping[str, str], *, as_list: Literal[False], timeout_s: float | None = None
    ) -> Frame: ...


class AmiRecorder:
    """``ccd.recording.ports.Recorder`` over AMI. Errors are the gateway's
    (``AmiActionFailed`` when Asterisk has no such channel, ``AmiNotConnected``…)."""

    def __init__(self, ami: RecordingAmi) -> None:
        self._ami = ami

    async def start(self, recorder_id: str, target_channel: str, file: str) -> None:
        await self._ami.originate(start_recording_action(recorder_id, target_channel, file))

    async def stop(self, recorder_id: str) -> None:
        await self._ami.hangup(HangupAction(recorder_id))

    async def mute(self, recorder_id: str, muted: bool) -> None:
        await self._ami.send_action(
            MuteRecordingAction(recorder_id, muted).headers(), as_list=False
        )
