"""A small, hand-computed data set for the report tests (the API's over SQLite and the
same reports on PostgreSQL): CDRs of queues ``sales`` (service-level target 20 s) and
``support`` (30 s) on 2026-11-24 between 09:00 and 11:00 UTC, agent 1001's session log,
and the expected figures, each worked out by hand in the comments.

Every queue call is built as the CDR builder writes one: answered at start + wait, talk
from the answer, the wrap-up after the end. ``hold_s`` is part of ``talk_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.dialer_store import DialerStore
from ccd.db.models import metadata
from ccd.dialer.model import Campaign, Contact, DialMode
from tests.cdrrows import cdr_row
from tests.clock import FakeClock

DAY = datetime(2026, 11, 24, tzinfo=UTC)
FROM = DAY.replace(hour=9)
TO = DAY.replace(hour=11)


def at(hh: int, mm: int, ss: int = 0, *, day: datetime = DAY) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss)


def queue_call(
    linkedid: str,
    started: datetime,
    queue: str,
    disposition: str,
    wait_s: float,
    *,
    caller: str,
    agent: str | None = None,
    talk_s: float = 0.0,
    hold_s: float = 0.0,
    wrapup_s: float | None = None,
) -> dict[str, Any]:
    answered = disposition == "answered"
    answered_at = started + timedelta(seconds=wait_s) if answered else None
    ended = (
        (answered_at + timedelta(seconds=talk_s))
        if answered_at
        else started + timedelta(seconds=wait_s)
    )
    return cdr_row(
        linkedid,
        started_at=started,
        answered_at=answered_at,
        ended_at=ended,
        talk_s=talk_s,
        hold_s=hold_s,
        disposition=disposition,
        queue=queue,
        wait_s=wait_s,
        agent_id=agent,
        wrapup_s=wrapup_s,
        caller_num=caller,
    )


CDRS = [
    # sales, 09:00-10:00
    queue_call(
        "c1",
        at(9, 5),
        "sales",
        "answered",
        10,
        caller="2125550001",
        agent="1001",
        talk_s=100,
        hold_s=20,
        wrapup_s=10,
    ),
    queue_call(
        "c2",
        at(9, 10),
        "sales",
        "answered",
        30,
        caller="2125550002",
        agent="1002",
        talk_s=200,
        wrapup_s=20,
    ),
    queue_call("c3", at(9, 15), "sales", "abandoned", 3, caller="2125550003"),  # short
    queue_call("c4", at(9, 20), "sales", "abandoned", 40, caller="2125550004"),
    queue_call("c5", at(9, 25), "sales", "overflowed", 120, caller="2125550005"),
    # A direct call (no queue): in no queue's figures.
    cdr_row("c11", started_at=at(9, 30), caller_num="2125550011", agent_id=None),
    # The caller of c1 again, to the same queue, 35 minutes later: c1 is not resolved.
    queue_call(
        "c6", at(9, 40), "sales", "answered", 20, caller="2125550001", agent="1001", talk_s=60
    ),
    # Waited exactly short_abandon_s (5 s): not a short abandon (short is < 5 s).
    queue_call("c7", at(9, 50), "sales", "abandoned", 5, caller="anonymous"),
    # 10:00-11:00
    queue_call(
        "c9",
        at(10, 10),
        "support",
        "answered",
        25,
        caller="2125550002",
        agent="1001",
        talk_s=120,
        wrapup_s=30,
    ),
    queue_call(
        "c8",
        at(10, 30),
        "sales",
        "answered",
        5,
        caller="2125550008",
        agent="1002",
        talk_s=50,
        wrapup_s=10,
    ),
    # At `to` exactly: outside the range.
    queue_call(
        "c12", at(11, 0), "sales", "answered", 1, caller="2125550012", agent="1002", talk_s=10
    ),
    # c8's caller again exactly 72 h later (after the range, at the window's edge): c8 is
    # not resolved.
    # Campaign winter's two connected calls (agent 1003); o2's agent said call-back.
    cdr_row(
        "o1",
        direction="outbound",
        caller_num="5000",
        callee_num="+12125559001",
        started_at=at(9, 1),
        answered_at=at(9, 1, 10),
        ended_at=at(9, 2, 40),
        talk_s=90.0,
        agent_id="1003",
        wrapup_s=30.0,
        campaign_id="winter",
    ),
    cdr_row(
        "o2",
        direction="outbound",
        caller_num="5000",
        callee_num="+12125559005",
        started_at=at(9, 5),
        answered_at=at(9, 5, 10),
        ended_at=at(9, 5, 40),
        talk_s=30.0,
        agent_id="1003",
        campaign_id="winter",
    ),
    queue_call(
        "c10",
        at(10, 30, day=DAY + timedelta(days=3)),
        "sales",
        "abandoned",
        60,
        caller="2125550008",
    ),
]

# Expected queue figures, by (queue, bucket start hour), worked out by hand:
# sales 09: offered 7 (c1 c2 c3 c4 c5 c6 c7), answered 3 (c1 c2 c6), abandoned 3 (c3 c4
#   c7), short 1 (c3: 3 s < 5 s), overflowed 1 (c5). Within 20 s: c1 (10), c6 (20) = 2.
#   SL = 2 / (7 - 1) = 33.33 %. Abandon rate = (3 - 1) / (7 - 1) = 33.33 %.
#   ASA = (10 + 30 + 20) / 3 = 20.0. AHT = (100+10 + 200+20 + 60+0) / 3 = 130.0.
#   FCR: c1 repeated by c6 -> no; c2 (its caller's next call, c9, went to support) yes;
#   c6 yes -> 2 / 3 = 66.67 %.
# sales 10: c8 only: offered 1, answered 1 within 20 s -> SL 100.0, abandon rate 0.0,
#   ASA 5.0, AHT 60.0; FCR: repeated at exactly +72 h -> 0 / 1 = 0.0.
# support 09: nothing: SL, abandon rate, ASA, AHT, FCR null.
# support 10: c9: SL 100.0 (25 <= 30), ASA 25.0, AHT 150.0, FCR 100.0.
# CSAT (SURVEYS, by answer time): sales 09 has scores 5, 4, 2 (s4 was not answered):
#   satisfied (>= 4) 2 / 3 = 66.67 %, mean 11 / 3 = 3.67. QA (EVALUATIONS, by evaluation
#   time): sales 10 has 80 and 90 (e3 scored nothing): 85.0.
EXPECTED_QUEUES: dict[tuple[str, int], dict[str, Any]] = {
    ("sales", 9): {
        "offered": 7,
        "answered": 3,
        "abandoned": 3,
        "short_abandoned": 1,
        "overflowed": 1,
        "answered_within_sl": 2,
        "service_level_pct": 33.33,
        "abandon_rate_pct": 33.33,
        "asa_s": 20.0,
        "aht_s": 130.0,
        "handled": 3,
        "fcr_pct": 66.67,
        "csat_responses": 3,
        "csat_pct": 66.67,
        "csat_mean": 3.67,
        "qa_evaluations": 0,
        "qa_score_pct": None,
    },
    ("sales", 10): {
        "offered": 1,
        "answered": 1,
        "abandoned": 0,
        "short_abandoned": 0,
        "service_level_pct": 100.0,
        "abandon_rate_pct": 0.0,
        "asa_s": 5.0,
        "aht_s": 60.0,
        "fcr_pct": 0.0,
        "csat_responses": 0,
        "csat_pct": None,
        "qa_evaluations": 2,
        "qa_score_pct": 85.0,
    },
    ("support", 9): {
        "offered": 0,
        "service_level_pct": None,
        "abandon_rate_pct": None,
        "asa_s": None,
        "aht_s": None,
        "fcr_pct": None,
    },
    ("support", 10): {
        "offered": 1,
        "answered": 1,
        "service_level_pct": 100.0,
        "asa_s": 25.0,
        "aht_s": 150.0,
        "fcr_pct": 100.0,
    },
}

# Totals over 09:00-11:00 (the intervals' counts summed, then the same formulas):
# sales: offered 8, answered 4, abandoned 3, short 1, within 20 s 3 (c1 c6 c8):
#   SL 3 / (8 - 1) = 42.86 %; abandon rate (3 - 1) / 7 = 28.57 %; ASA (10+30+20+5) / 4
#   = 16.25; AHT (110 + 220 + 60 + 60) / 4 = 112.5; FCR (c2, c6) 2 / 4 = 50.0.
# agent 1001: handled 3 (c1 c6 c9), AHT (110 + 60 + 150) / 3 = 106.67, FCR 2 / 3 = 66.67;
#   logged in 3600 + 2700, paused 900 + 1800 (lunch, training), handling 170 + 150:
#   occupancy 320 / (6300 - 2700) = 8.89 %.
EXPECTED_TOTALS: dict[str, dict[str, Any]] = {
    "sales": {
        "offered": 8,
        "answered": 4,
        "abandoned": 3,
        "short_abandoned": 1,
        "answered_within_sl": 3,
        "service_level_pct": 42.86,
        "abandon_rate_pct": 28.57,
        "asa_s": 16.25,
        "aht_s": 112.5,
        "fcr_pct": 50.0,
        "csat_pct": 66.67,
        "qa_score_pct": 85.0,
    },
    "1001": {
        "handled": 3,
        "aht_s": 106.67,
        "fcr_pct": 66.67,
        "logged_in_s": 6300.0,
        "paused_s": 2700.0,
        "pause_by_reason": {"lunch": 900.0, "training": 1800.0},
        "handling_s": 320.0,
        "occupancy_pct": 8.89,
    },
}

# Agent 1001's session log: logged in (available) since 08:30, lunch 09:30-09:45, training
# from 10:15, logged out at 10:45.
SESSIONS = [
    ("1001", "available", None, at(8, 30)),
    ("1001", "paused", "lunch", at(9, 30)),
    ("1001", "available", None, at(9, 45)),
    ("1001", "paused", "training", at(10, 15)),
    ("1001", "logged_out", None, at(10, 45)),
]

# Agent figures, by (agent, bucket start hour):
# 1001 09: handled c1, c6; talk 160 (hold 20), wrap-up 10; AHT (110 + 60) / 2 = 85.0;
#   FCR 1 / 2 = 50.0. Logged in 3600 s, paused 900 (lunch). Handling in the hour: c1
#   09:05:10-09:06:50 talk + 10 s wrap-up = 110, c6 60 -> 170; occupancy 170 / (3600 - 900)
#   = 6.3 %.
# 1001 10: c9: AHT 150.0, FCR 100.0; logged in 10:00-10:45 = 2700, paused 10:15-10:45 =
#   1800 (training); handling 120 + 30 = 150; occupancy 150 / 900 = 16.67 %.
# 1002 09: c2: AHT 220.0, FCR 100.0; no session rows: logged in 0, occupancy null.
# 1002 10: c8: AHT 60.0, FCR 0.0.
# CSAT: 1001 09 scores 5, 4 -> 100.0 %, mean 4.5; 1002 09 score 2 -> 0.0 %, mean 2.0.
# QA: 1001 10: 80, 90 -> 85.0; 1002 10: one evaluation without a score -> none, null.
# 1003 09 (the campaign's calls o1, o2): handled 2, AHT 75.0, FCR 50.0 (o2 call-back).
EXPECTED_AGENTS: dict[tuple[str, int], dict[str, Any]] = {
    ("1001", 9): {
        "handled": 2,
        "talk_s": 160.0,
        "hold_s": 20.0,
        "wrapup_s": 10.0,
        "aht_s": 85.0,
        "fcr_pct": 50.0,
        "logged_in_s": 3600.0,
        "paused_s": 900.0,
        "pause_by_reason": {"lunch": 900.0},
        "handling_s": 170.0,
        "occupancy_pct": 6.3,
        "csat_responses": 2,
        "csat_pct": 100.0,
        "csat_mean": 4.5,
    },
    ("1001", 10): {
        "handled": 1,
        "aht_s": 150.0,
        "fcr_pct": 100.0,
        "logged_in_s": 2700.0,
        "paused_s": 1800.0,
        "pause_by_reason": {"training": 1800.0},
        "handling_s": 150.0,
        "occupancy_pct": 16.67,
        "qa_evaluations": 2,
        "qa_score_pct": 85.0,
    },
    ("1002", 9): {
        "handled": 1,
        "aht_s": 220.0,
        "fcr_pct": 100.0,
        "logged_in_s": 0.0,
        "occupancy_pct": None,
        "csat_pct": 0.0,
        "csat_mean": 2.0,
    },
    ("1002", 10): {
        "handled": 1,
        "aht_s": 60.0,
        "fcr_pct": 0.0,
        "qa_evaluations": 0,
        "qa_score_pct": None,
    },
    ("1003", 9): {"handled": 2, "aht_s": 75.0, "fcr_pct": 50.0, "csat_pct": 0.0},
}


def queue_row(queue: str, service_level_s: float) -> dict[str, Any]:
    return {
        "id": queue,
        "name": queue,
        "strategy": "longest_idle",
        "required_skills": {},
        "ring_timeout_s": 15.0,
        "wrapup_s": 5.0,
        "max_wait_s": None,
        "max_len": None,
        "overflow_target": None,
        "no_agents_target": None,
        "service_level_s": service_level_s,
        "max_no_answer": 3,
        "escalate_after_s": None,
        "escalated_skills": {},
        "escalate_to_queue": None,
        "announce_position": False,
        "announce_hold_time": False,
        "announce_every_s": 30.0,
        "callback_key": None,
        "created_at": DAY,
        "updated_at": DAY,
    }


# Campaign winter's attempts, all between 09:01 and 09:07:
# attempts 7; person answered a1, a4, a5 = 3 (a3 is a machine); connected a1, a5 = 2;
# machines 1; abandoned 1 (a4) -> abandon rate 1 / 3 = 33.33 %; no-answer 1, busy 1,
# in flight 1 (a7); dispositions sale 1, call-back 1. Its CDRs o1 (talk 90 + wrap-up 30)
# and o2 (talk 30): handled 2, AHT 150 / 2 = 75.0; FCR: o2's disposition is call-back
# (unresolved), o1 resolved -> 50.0. CSAT: o1 scored 3 -> 0.0 %, mean 3.0.
ATTEMPTS = [
    # (id, started minute, answered, connected, outcome, disposition, linkedid)
    ("a1", 1, True, True, "answered", "sale", "o1"),
    ("a2", 2, False, False, "no-answer", None, None),
    ("a3", 3, True, False, "machine", None, None),
    ("a4", 4, True, False, "abandoned", None, None),
    ("a5", 5, True, True, "answered", "call-back", "o2"),
    ("a6", 6, False, False, "busy", None, None),
    ("a7", 7, False, False, None, None, None),
]
EXPECTED_CAMPAIGN_09 = {
    "attempts": 7,
    "answered": 3,
    "connected": 2,
    "machines": 1,
    "abandoned": 1,
    "no_answer": 1,
    "busy": 1,
    "failed": 0,
    "in_flight": 1,
    "abandon_rate_pct": 33.33,
    "dispositions": {"call-back": 1, "sale": 1},
    "handled": 2,
    "aht_s": 75.0,
    "fcr_pct": 50.0,
    "csat_responses": 1,
    "csat_pct": 0.0,
    "csat_mean": 3.0,
}

SURVEYS = [
    # (linkedid, queue, agent, campaign, question, score, answered_at)
    ("c1", "sales", "1001", None, "agent", 5, at(9, 10)),
    ("c1", "sales", "1001", None, "overall", 4, at(9, 10)),
    ("c2", "sales", "1002", None, "agent", 2, at(9, 20)),
    ("c6", "sales", "1001", None, "agent", None, at(9, 45)),
    ("o1", None, "1003", "winter", "agent", 3, at(9, 30)),
]
EVALUATIONS = [
    # (linkedid, queue, agent, score_pct, evaluated_at)
    ("c1", "sales", "1001", 80.0, at(10, 20)),
    ("c6", "sales", "1001", 90.0, at(10, 25)),
    ("c2", "sales", "1002", None, at(10, 30)),
]


async def insert_rows(engine: AsyncEngine, table: str, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        async with engine.begin() as connection:
            await connection.execute(insert(metadata.tables[table]), list(rows))


async def load_report_fixture(engine: AsyncEngine) -> None:
    """The data set above, into a migrated database."""
    queues = [queue_row("sales", 20.0), queue_row("support", 30.0)]
    # Columns other engineers' migrations add to acd_queues get their defaults.
    await insert_rows(engine, "acd_queues", queues)
    await insert_rows(engine, "cdrs", CDRS)
    await insert_rows(
        engine,
        "acd_agent_sessions",
        [
            {"agent_id": a, "status": s, "reason": r, "call_id": None, "queue_ids": [], "at": t}
            for a, s, r, t in SESSIONS
        ],
    )
    await _load_campaign(engine)
    await insert_rows(
        engine,
        "survey_responses",
        [
            {
                "linkedid": lid,
                "queue": q,
                "agent_id": ag,
                "campaign_id": cp,
                "question": qu,
                "score": sc,
                "answered_at": t,
            }
            for lid, q, ag, cp, qu, sc, t in SURVEYS
        ],
    )
    await insert_rows(
        engine,
        "qa_forms",
        [{"id": "f", "name": "Form", "current_version": 1, "created_at": DAY, "updated_at": DAY}],
    )
    await insert_rows(
        engine,
        "qa_form_versions",
        [
            {
                "form_id": "f",
                "version": 1,
                "name": "Form",
                "sections": [],
                "created_at": DAY,
                "created_by": "t-qa",
            }
        ],
    )
    await insert_rows(
        engine,
        "qa_evaluations",
        [
            {
                "linkedid": lid,
                "agent_id": ag,
                "queue": q,
                "campaign_id": None,
                "recording_ref": None,
                "form_id": "f",
                "form_version": 1,
                "score_pct": sc,
                "critical_failed": False,
                "comments": "",
                "evaluated_at": t,
                "updated_at": t,
                "evaluator_token_id": "t-qa",
                "evaluator_role": "qa",
                "acknowledged_at": None,
                "acknowledgement_comment": None,
            }
            for lid, q, ag, sc, t in EVALUATIONS
        ],
    )


async def _load_campaign(engine: AsyncEngine) -> None:
    store = DialerStore(engine, clock=FakeClock(DAY))
    await store.put_campaign(
        Campaign(id="winter", name="Winter", mode=DialMode.PROGRESSIVE, caller_id="5000")
    )
    contacts = [
        Contact(
            id=f"winter-{n}",
            campaign_id="winter",
            number=f"+1212555900{n}",
            time_zones=("America/New_York",),
        )
        for n in range(1, 8)
    ]
    await store.add_contacts("winter", contacts)
    rows = []
    for n, (_, minute, answered, connected, outcome, disposition, linkedid) in enumerate(
        ATTEMPTS, start=1
    ):
        started = at(9, minute)
        rows.append(
            {
                "campaign_id": "winter",
                "contact_id": f"winter-{n}",
                "number": f"+1212555900{n}",
                "started_at": started,
                "answered_at": started + timedelta(seconds=10) if answered else None,
                "agent_connected_at": started + timedelta(seconds=10) if connected else None,
                "ended_at": None if outcome is None else started + timedelta(seconds=60),
                "agent_id": "1003" if connected else None,
                "outcome": outcome,
                "disposition": disposition,
                "linkedid": linkedid,
                "safe_harbor_played": outcome == "abandoned",
            }
        )
    await insert_rows(engine, "dialer_attempts", rows)


def subset(row: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``row`` that ``expected`` names (for one assert per row)."""
    return {name: row.get(name) for name in expected}
