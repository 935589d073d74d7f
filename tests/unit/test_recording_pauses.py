"""PCI pauses of a recording: idempotent pause/resume, ordered intervals, closed at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccd.recording.files import file_name, is_recording_id, new_recording_id
from ccd.recording.pauses import Pause, Pauses

T = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def test_pause_then_resume_makes_one_interval() -> None:
    pauses, changed = Pauses().pause(at(5))
    assert changed
    assert pauses.paused
    pauses, changed = pauses.resume(at(9))
    assert changed
    assert not pauses.paused
    assert pauses.intervals == (Pause(at(5), at(9)),)


def test_repeated_requests_change_nothing() -> None:
    paused, _ = Pauses().pause(at(5))
    again, changed = paused.pause(at(6))
    assert not changed
    assert again == paused
    resumed, _ = paused.resume(at(9))
    again, changed = resumed.resume(at(10))
    assert not changed
    assert again == resumed
    untouched, changed = Pauses().resume(at(1))
    assert not changed
    assert untouched == Pauses()


def test_two_pauses_stay_in_order() -> None:
    pauses = Pauses()
    for start, end in ((1, 2), (4, 7)):
        pauses = pauses.pause(at(start))[0].resume(at(end))[0]
    assert pauses.intervals == (Pause(at(1), at(2)), Pause(at(4), at(7)))


def test_end_of_recording_closes_an_open_pause() -> None:
    pauses = Pauses().pause(at(5))[0].closed(at(30))
    assert pauses.intervals == (Pause(at(5), at(30)),)
    assert Pauses().closed(at(30)) == Pauses()


def test_json_round_trip() -> None:
    pauses = Pauses().pause(at(1))[0].resume(at(2))[0].pause(at(3))[0]
    assert Pauses.from_json(pauses.as_json()) == pauses
    assert pauses.as_json()[-1]["end"] is None


def test_recording_ids_and_file_names() -> None:
    recording_id = new_recording_id()
    assert is_recording_id(recording_id)
    assert file_name(recording_id) == recording_id + ".wav"
    assert new_recording_id() != recording_id
    for bad in ("../etc/passwd", "rec-XYZ", "", "rec-" + "0" * 31):
        assert not is_recording_id(bad)
