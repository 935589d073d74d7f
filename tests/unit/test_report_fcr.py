"""First-contact resolution on call tuples: the window's edge, other queues, anonymous
callers, dispositions, order and memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccd.reports.fcr import Contact, FcrTracker, is_anonymous, resolve

T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)
WINDOW = timedelta(hours=72)


def contact(
    call_id: str,
    after: timedelta,
    *,
    customer: str = "2125550001",
    scope: str | None = "queue:sales",
    handled: bool = True,
    unresolved: bool = False,
) -> Contact:
    return Contact(
        call_id=call_id,
        customer=customer,
        scope=scope,
        started_at=T0 + after,
        handled=handled,
        unresolved_disposition=unresolved,
    )


def verdicts(contacts: list[Contact]) -> dict[str, bool]:
    return {c.call_id: resolved for c, resolved in resolve(contacts, WINDOW)}


def test_a_call_with_no_repeat_is_resolved() -> None:
    assert verdicts([contact("a", timedelta(0))]) == {"a": True}


def test_a_repeat_at_exactly_the_window_edge_counts() -> None:
    edge = [contact("a", timedelta(0)), contact("b", WINDOW, handled=False)]
    assert verdicts(edge) == {"a": False}


def test_a_repeat_one_second_after_the_window_does_not() -> None:
    late = [contact("a", timedelta(0)), contact("b", WINDOW + timedelta(seconds=1))]
    assert verdicts(late) == {"a": True, "b": True}


def test_a_repeat_to_another_queue_does_not_count() -> None:
    calls = [
        contact("a", timedelta(0)),
        contact("b", timedelta(hours=1), scope="queue:support"),
    ]
    assert verdicts(calls) == {"a": True, "b": True}


def test_anonymous_numbers_never_match() -> None:
    calls = [
        contact("a", timedelta(0), customer="anonymous"),
        contact("b", timedelta(hours=1), customer="anonymous"),
        contact("c", timedelta(hours=2), customer=""),
        contact("d", timedelta(hours=3), customer=""),
    ]
    assert verdicts(calls) == {"a": True, "b": True, "c": True, "d": True}
    assert is_anonymous("Restricted")
    assert not is_anonymous("+12125550001")


def test_an_unanswered_repeat_counts_and_is_not_judged_itself() -> None:
    calls = [contact("a", timedelta(0)), contact("b", timedelta(hours=5), handled=False)]
    assert verdicts(calls) == {"a": False}


def test_only_the_earlier_call_of_a_chain_is_unresolved() -> None:
    calls = [
        contact("a", timedelta(0)),
        contact("b", timedelta(hours=1)),
        contact("c", timedelta(hours=100)),
    ]
    # a repeated by b; b's next call (c) is 99 h later: resolved; c has no repeat.
    assert verdicts(calls) == {"a": False, "b": True, "c": True}


def test_an_unresolved_disposition_wins() -> None:
    assert verdicts([contact("a", timedelta(0), unresolved=True)]) == {"a": False}


def test_a_call_at_the_same_instant_is_not_a_repeat() -> None:
    calls = [contact("a", timedelta(0)), contact("b", timedelta(0))]
    assert verdicts(calls) == {"a": True, "b": True}


def test_calls_without_a_scope_are_judged_on_disposition_only() -> None:
    calls = [contact("a", timedelta(0), scope=None), contact("b", timedelta(1), scope=None)]
    assert verdicts(calls) == {"a": True, "b": True}


def test_out_of_order_input_is_refused() -> None:
    with pytest.raises(ValueError, match="order"):
        verdicts([contact("a", timedelta(hours=1)), contact("b", timedelta(0))])


def test_verdicts_come_as_soon_as_the_window_has_passed() -> None:
    tracker = FcrTracker(WINDOW)
    assert tracker.push(contact("a", timedelta(0))) == []
    # 73 h later a's window is over: its verdict comes out with this push.
    [(first, resolved)] = tracker.push(contact("b", timedelta(hours=73), customer="2125550002"))
    assert (first.call_id, resolved) == ("a", True)
    assert [(c.call_id, r) for c, r in tracker.finish()] == [("b", True)]


def test_memory_holds_one_window_of_calls() -> None:
    # 10,000 calls from distinct customers an hour apart: at most 73 are ever pending.
    tracker = FcrTracker(WINDOW)
    finals = 0
    for n in range(10_000):
        finals += len(tracker.push(contact(str(n), timedelta(hours=n), customer=f"212555{n:05d}")))
        assert len(tracker._in_order) <= 73
        assert len(tracker._by_key) <= 2 * 73 + 64
    assert finals + len(tracker.finish()) == 10_000
