"""Retries, call backs and dispositions: when a contact is dialed next, or why never again.
Instants are written in UTC with the New York wall time in a comment (June: EDT, UTC-4)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ccd.dialer.model import DEFAULT_RETRIES, Outcome, RetryRule
from ccd.dialer.retries import (
    Attempt,
    Dial,
    Done,
    DoneReason,
    after_attempt,
    after_disposition,
    call_back,
    series,
)
from tests.unit.dialercases import CAMPAIGN, NEW_YORK, utc

TEN_AM = utc(2024, 6, 12, 14, 0)  # Wed 12 June 2024, 10:00 in New York
HOUR = 3600.0


def attempts(*outcomes: Outcome, start: float = TEN_AM, every: float = HOUR) -> list[Attempt]:
    return [(start + n * every, outcome) for n, outcome in enumerate(outcomes)]


def test_no_answer_is_retried_an_hour_later() -> None:
    assert after_attempt(NEW_YORK, CAMPAIGN, attempts(Outcome.NO_ANSWER)) == Dial(
        at=TEN_AM + HOUR, due=TEN_AM + HOUR
    )


@pytest.mark.parametrize("outcome", list(DEFAULT_RETRIES))
def test_each_outcome_waits_its_own_delay(outcome: Outcome) -> None:
    delay = DEFAULT_RETRIES[outcome].delay_s
    found = after_attempt(NEW_YORK, CAMPAIGN, [(TEN_AM, outcome)])
    assert found == Dial(at=TEN_AM + delay, due=TEN_AM + delay)  # at most 14:00: inside


def test_a_retry_due_after_hours_waits_for_the_next_morning() -> None:
    late = utc(2024, 6, 13, 0, 30)  # 20:30: due at 21:30, closed
    found = after_attempt(NEW_YORK, CAMPAIGN, [(late, Outcome.NO_ANSWER)])
    assert found == Dial(at=utc(2024, 6, 13, 12, 0), due=late + HOUR)  # Thu 8:00


def test_max_attempts_counts_the_first_call() -> None:
    # NO_ANSWER: at most 3 attempts in all.
    assert isinstance(after_attempt(NEW_YORK, CAMPAIGN, attempts(*[Outcome.NO_ANSWER] * 2)), Dial)
    assert after_attempt(NEW_YORK, CAMPAIGN, attempts(*[Outcome.NO_ANSWER] * 3)) == Done(
        DoneReason.MAX_ATTEMPTS
    )
    one_try = replace(CAMPAIGN, retries={Outcome.BUSY: RetryRule(delay_s=60, max_attempts=1)})
    assert after_attempt(NEW_YORK, one_try, attempts(Outcome.BUSY)) == Done(DoneReason.MAX_ATTEMPTS)


def test_every_outcome_of_the_series_counts_toward_the_limit() -> None:
    # FAILED allows 2 attempts in all: a no-answer then a failure is the end.
    assert after_attempt(NEW_YORK, CAMPAIGN, attempts(Outcome.NO_ANSWER, Outcome.FAILED)) == Done(
        DoneReason.MAX_ATTEMPTS
    )
    # BUSY allows 3: busy after one no-answer is retried 10 minutes later.
    history = attempts(Outcome.NO_ANSWER, Outcome.BUSY)
    assert after_attempt(NEW_YORK, CAMPAIGN, history) == Dial(
        at=TEN_AM + HOUR + 600, due=TEN_AM + HOUR + 600
    )


def test_the_history_may_come_in_any_order() -> None:
    history = attempts(Outcome.NO_ANSWER, Outcome.BUSY)
    assert after_attempt(NEW_YORK, CAMPAIGN, history[::-1]) == after_attempt(
        NEW_YORK, CAMPAIGN, history
    )


def test_an_answered_call_ends_the_contact_until_the_agent_says_otherwise() -> None:
    history = attempts(Outcome.NO_ANSWER, Outcome.ANSWERED)
    assert after_attempt(NEW_YORK, CAMPAIGN, history) == Done(DoneReason.ANSWERED)


def test_an_outcome_without_a_rule_is_not_retried() -> None:
    no_machines = replace(
        CAMPAIGN, retries={k: v for k, v in DEFAULT_RETRIES.items() if k is not Outcome.MACHINE}
    )
    assert after_attempt(NEW_YORK, no_machines, attempts(Outcome.MACHINE)) == Done(
        DoneReason.NO_RETRY
    )


def test_a_call_back_starts_a_new_series() -> None:
    # Two no-answers, a conversation that scheduled a call back, then the call back rang out.
    history = attempts(Outcome.NO_ANSWER, Outcome.NO_ANSWER, Outcome.ANSWERED, Outcome.NO_ANSWER)
    assert series(history) == history[3:]
    assert after_attempt(NEW_YORK, CAMPAIGN, history) == Dial(
        at=TEN_AM + 4 * HOUR, due=TEN_AM + 4 * HOUR
    )
    # The conversation belongs to the series it ended.
    assert series(history[:3]) == history[:3]


def test_a_contact_that_can_never_be_called_is_done() -> None:
    nowhere = replace(NEW_YORK, time_zones=())
    assert after_attempt(nowhere, CAMPAIGN, attempts(Outcome.BUSY)) == Done(DoneReason.NO_WINDOW)


def test_after_attempt_needs_the_attempt() -> None:
    with pytest.raises(ValueError, match="needs the attempt"):
        after_attempt(NEW_YORK, CAMPAIGN, [])


def test_do_not_call_ends_the_contact_even_with_a_call_back_time() -> None:
    assert after_disposition(NEW_YORK, CAMPAIGN, "do-not-call", TEN_AM) == Done(
        DoneReason.DO_NOT_CALL
    )
    assert after_disposition(
        NEW_YORK, CAMPAIGN, "do-not-call", TEN_AM, call_back_at=TEN_AM + HOUR, agent_id="1001"
    ) == Done(DoneReason.DO_NOT_CALL)


def test_a_sale_ends_the_contact() -> None:
    assert after_disposition(NEW_YORK, CAMPAIGN, "sale", TEN_AM) == Done(DoneReason.ANSWERED)


def test_an_agent_call_back_is_owned_by_the_agent() -> None:
    tomorrow_3pm = utc(2024, 6, 13, 19, 0)
    found = after_disposition(
        NEW_YORK, CAMPAIGN, "call-back", TEN_AM, call_back_at=tomorrow_3pm, agent_id="1001"
    )
    assert found == Dial(at=tomorrow_3pm, due=tomorrow_3pm, call_back=True, owner="1001")
    anyone = after_disposition(NEW_YORK, CAMPAIGN, "call-back", TEN_AM, call_back_at=tomorrow_3pm)
    assert anyone == Dial(at=tomorrow_3pm, due=tomorrow_3pm, call_back=True, owner=None)


def test_a_call_back_asked_for_after_hours_moves_into_the_window() -> None:
    ten_pm = utc(2024, 6, 13, 2, 0)  # 22:00 in New York
    found = call_back(NEW_YORK, CAMPAIGN, ten_pm, now=TEN_AM, owner="1001")
    assert found == Dial(at=utc(2024, 6, 13, 12, 0), due=ten_pm, call_back=True, owner="1001")


def test_a_call_back_in_the_past_is_dialed_now() -> None:
    found = call_back(NEW_YORK, CAMPAIGN, TEN_AM - HOUR, now=TEN_AM)
    assert found == Dial(at=TEN_AM, due=TEN_AM - HOUR, call_back=True)


def test_any_disposition_with_a_time_is_a_call_back() -> None:
    interested = replace(CAMPAIGN, dispositions=(*CAMPAIGN.dispositions, "interested"))
    found = after_disposition(
        NEW_YORK, interested, "interested", TEN_AM, call_back_at=TEN_AM + HOUR
    )
    assert found == Dial(at=TEN_AM + HOUR, due=TEN_AM + HOUR, call_back=True)


def test_dispositions_the_api_must_refuse() -> None:
    with pytest.raises(ValueError, match="needs the time"):
        after_disposition(NEW_YORK, CAMPAIGN, "call-back", TEN_AM)
    with pytest.raises(ValueError, match="not one of the campaign's"):
        after_disposition(NEW_YORK, CAMPAIGN, "maybe", TEN_AM)


def test_a_call_back_for_a_contact_without_a_zone_is_refused() -> None:
    nowhere = replace(NEW_YORK, time_zones=("Etc/Unknown",))
    assert call_back(nowhere, CAMPAIGN, TEN_AM, now=TEN_AM) == Done(DoneReason.NO_WINDOW)
