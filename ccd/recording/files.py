"""Recording ids and file names: chosen by ccd alone (never from API input), so a name is
always a safe single path component. Pure."""

from __future__ import annotations

import re
import uuid
from pathlib import Path, PurePosixPath

from ccd.domain.contract import RECORDER_CHANNEL_PREFIX

RECORDING_ID = re.compile(r"rec-[0-9a-f]{32}")
FILE_SUFFIX = ".wav"  # MixMonitor picks the format from the extension


def new_recording_id() -> str:
    return f"rec-{uuid.uuid4().hex}"


def is_recording_id(value: str) -> bool:
    return RECORDING_ID.fullmatch(value) is not None


def recorder_id(recording_id: str) -> str:
    return RECORDER_CHANNEL_PREFIX + recording_id


def file_name(recording_id: str) -> str:
    if not is_recording_id(recording_id):
        raise ValueError(f"not a recording id: {recording_id!r}")
    return recording_id + FILE_SUFFIX


def asterisk_path(asterisk_dir: PurePosixPath, name: str) -> str:
    """Where Asterisk writes the file (its own view: in a chroot, inside it)."""
    return str(asterisk_dir / name)


def local_path(ccd_dir: Path, name: str) -> Path:
    """Where ccd reads the same file."""
    return ccd_dir / name
