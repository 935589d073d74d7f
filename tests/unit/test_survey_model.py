"""Who served a call, as the post-call survey needs it after the agent has left. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccd.domain.events import QueueConnected, QueueEntered
from ccd.survey.model import ServedBy, ServedCalls

AT = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


def connected(linkedid: str, agent_id: str, queue: str = "support") -> QueueConnected:
    return QueueConnected(AT, linkedid, queue, agent_id, wait_s=2, wrapup_s=0)


def test_the_last_connect_of_a_call_names_its_queue_and_agent() -> None:
    served = ServedCalls()
    served.handle(connected("c1", "1001", queue="sales"))
    served.handle(connected("c1", "1002"))  # transferred inside ccd, answered again
    assert served.served("c1") == ServedBy("support", "1002")
    assert served.served("c2") is None


def test_other_events_are_ignored() -> None:
    served = ServedCalls()
    served.handle(QueueEntered(AT, "c1", "support", joined_at=AT))
    served.handle(object())
    assert len(served) == 0


def test_only_the_most_recent_calls_are_kept() -> None:
    served = ServedCalls(kept=2)
    for linkedid in ("c1", "c2", "c3"):
        served.handle(connected(linkedid, "1001"))
    assert served.served("c1") is None
    assert served.served("c2") is not None
    served.handle(connected("c2", "1003"))  # refreshed: c3 is now the oldest
    served.handle(connected("c4", "1001"))
    assert served.served("c3") is None
    assert served.served("c2") == ServedBy("support", "1003")


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="kept"):
        ServedCalls(kept=0)
