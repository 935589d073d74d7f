"""Where each Asterisk server's recordings are (ccd.recording.places): pure lookups."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ccd.recording.places import RecordingPlace, RecordingPlaces

SPOOL = PurePosixPath("/var/spool/asterisk/monitor/ccd")
EAST = RecordingPlace(SPOOL, Path("/srv/east/monitor"))
WEST = RecordingPlace(SPOOL, Path("/srv/west/monitor"))
PLACES = RecordingPlaces("east", {"east": EAST, "west": WEST, "north": None})


def test_each_server_has_its_own_place() -> None:
    assert PLACES.of("west") == WEST
    assert PLACES.of("east") == EAST


def test_untagged_and_old_rows_are_the_default_servers() -> None:
    assert PLACES.of(None) == EAST  # stored before recordings carried a server
    assert PLACES.of("") == EAST  # an untagged call
    assert PLACES.server_name(None) == "east"
    assert PLACES.server_name("west") == "west"


def test_a_server_no_longer_configured_is_read_from_the_default_place() -> None:
    # The single [ami] server was named "default"; its files did not move with a rename.
    assert PLACES.of("default") == EAST


def test_a_server_without_a_directory_has_no_place() -> None:
    assert PLACES.of("north") is None


def test_one_server() -> None:
    single = RecordingPlaces.single("default", SPOOL, Path("/var/lib/ccd/rec"))
    assert single.of(None) == RecordingPlace(SPOOL, Path("/var/lib/ccd/rec"))
    assert single.of("default") == single.of("")
