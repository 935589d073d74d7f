"""A recording as stored: the call it belongs to, its file and what happened to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ccd.recording.pauses import Pauses


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    linkedid: str  # the customer's call (the CDR's linkedid)
    channel: str  # the channel MixMonitor runs on (the customer's)
    agent_id: str | None
    queue_id: str | None
    campaign_id: str | None
    file: str  # the file's name in the recording directory
    started_at: datetime
    ended_at: datetime | None = None
    pauses: Pauses = field(default_factory=Pauses)
    size_bytes: int | None = None
    deleted_at: datetime | None = None
    server: str | None = None  # the Asterisk server that wrote it; None: the first one


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    linkedid: str | None = None
    agent_id: str | None = None
    queue_id: str | None = None
    campaign_id: str | None = None
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before
    limit: int = 100
