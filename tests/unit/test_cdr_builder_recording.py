"""The CDR's ``recording_ref``: ``RecordingStarted`` (the recording service, keyed by the
customer's linkedid) reaches the customer's one record — after the agent leg's linkedid
changed on BridgeEnter too."""

from __future__ import annotations

from ccd.domain.events import RecordingStarted
from tests.unit.test_cdr_builder_queue import Queued


def test_recording_started_reaches_the_customers_record() -> None:
    q = Queued()
    q.enter("support")
    q.wait(5.0)
    agent, bridge, _ = q.connect_agent(wait_s=5.0)
    q.events(RecordingStarted(at=q.now(), linkedid=q.linkedid, recording_id="rec-1"))
    q.events(RecordingStarted(at=q.now(), linkedid=q.linkedid, recording_id="rec-2"))
    q.wait(30.0)
    q.frames(q.t.bridge_leave(agent, bridge, 1), q.t.hangup(agent))
    q.caller_hangs_up()
    assert q.record().recording_ref == "rec-1"  # the first recording of the call
    assert q.builder.late_recordings == 0


def test_recording_after_the_record_is_counted_late() -> None:
    q = Queued()
    q.enter("support")
    agent, bridge, _ = q.connect_agent(wait_s=1.0)
    q.frames(q.t.bridge_leave(agent, bridge, 1), q.t.hangup(agent))
    q.caller_hangs_up()
    assert q.record().recording_ref is None
    q.events(RecordingStarted(at=q.now(), linkedid=q.linkedid, recording_id="rec-3"))
    assert q.builder.late_recordings == 1
    assert len(q.records) == 1
