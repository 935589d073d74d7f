"""ccd's own calls that are no customer's call give no record: the recorder (ccd.recording)
and a supervisor's monitoring session (ccd.monitor, recorded in the audit trail)."""

from __future__ import annotations

import pytest

from tests.unit.amitraffic import Chan, Traffic
from tests.unit.cdrrun import Run


@pytest.mark.parametrize(
    ("channel", "uniqueid"),
    [
        ("Local/s@ccd-recording-hold-00000001;1", "ccd-recorder-r1"),
        ("PJSIP/2001-00000007", "ccd-mon-m1"),
    ],
)
def test_ccds_own_sessions_give_no_record(channel: str, uniqueid: str) -> None:
    t = Traffic()
    run = Run()
    own = Chan(channel, uniqueid, uniqueid)
    run.frames(t.newchannel(own), t.newstate(own, 6), t.hangup(own))
    assert run.records == []
    run.assert_empty()


def test_a_phone_call_from_the_same_device_is_still_recorded() -> None:
    t = Traffic()
    run = Run()
    phone = Chan("PJSIP/2001-00000008", t.uniqueid(), "")
    phone.linkedid = phone.uniqueid
    run.frames(t.newchannel(phone), t.newstate(phone, 6), t.hangup(phone))
    assert len(run.records) == 1
