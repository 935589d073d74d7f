"""What the recording service needs from the outside: Asterisk's recorder and the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ccd.recording.model import Recording
from ccd.recording.policy import RecordingPolicy


class Recorder(Protocol):
    async def start(self, recorder_id: str, target_channel: str, file: str) -> None:
        """Record ``target_channel`` (both parties) into ``file`` (Asterisk's path) on a
        recorder channel whose uniqueid is ``recorder_id``."""
        ...

    async def stop(self, recorder_id: str) -> None: ...

    async def mute(self, recorder_id: str, muted: bool) -> None: ...


class RecordingRepository(Protocol):
    async def policy(self, kind: str, target_id: str) -> RecordingPolicy | None: ...

    async def add(self, recording: Recording) -> None: ...

    async def save(self, recording: Recording) -> None: ...

    async def get(self, recording_id: str) -> Recording | None: ...

    async def unfinished(self, limit: int = 1000) -> Sequence[Recording]: ...

    async def expired(self, started_before: datetime, limit: int = 1000) -> Sequence[Recording]: ...
