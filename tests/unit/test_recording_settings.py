"""The ``[recording]`` settings: defaults, Asterisk's directory vs ccd's, and problems that
name the key and the file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from ccd.errors import ConfigError
from ccd.settings import parse_settings

FILE = "/etc/ccd/ccd.toml"
SECRET_ENV = {"CCD_AMI__SECRET": "s3cret-value"}
REPO = Path(__file__).resolve().parents[2]


def test_defaults_read_where_asterisk_writes() -> None:
    recording = parse_settings(None, source=FILE, environ=SECRET_ENV).recording
    assert recording.asterisk_dir == PurePosixPath("/var/spool/asterisk/monitor/ccd")
    assert recording.local_dir == Path("/var/spool/asterisk/monitor/ccd")
    assert (recording.retention_days, recording.integrators_may_play) == (90, False)


def test_chrooted_asterisk_has_two_views_of_one_directory() -> None:
    toml = '[recording]\nasterisk_dir = "/var/spool/rec"\ndir = "../chroot/var/spool/rec"\n'
    recording = parse_settings(toml, source=FILE, environ=SECRET_ENV).recording
    assert str(recording.asterisk_dir) == "/var/spool/rec"
    assert recording.local_dir == Path("/etc/chroot/var/spool/rec")  # from the file's directory


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[recording]\nasterisk_dir = "spool/rec"\n', "recording.asterisk_dir"),
        ("[recording]\nretention_days = 0\n", "recording.retention_days"),
        ('[recording]\nintegrators_may_play = "maybe"\n', "recording.integrators_may_play"),
        ('[recording]\nformat = "mp3"\n', "recording.format"),
    ],
)
def test_problems_name_the_file_and_the_key(toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(toml, source=FILE, environ=SECRET_ENV)
    (problem,) = caught.value.problems
    assert FILE in problem
    assert key in problem


def test_shipped_sample_is_valid() -> None:
    text = (REPO / "config" / "ccd.toml").read_text()
    recording = parse_settings(text, source=FILE, environ=SECRET_ENV).recording
    assert recording.retention_days == 90
