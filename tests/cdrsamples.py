"""Sample CDRs for tests and the benchmark: every field filled, several time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ccd.domain.cdr import (
    AsteriskCdr,
    CallRecord,
    Direction,
    Disposition,
    HungUpBy,
    IvrStep,
    LegRecord,
)

BASE = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=UTC)


def sample_call(
    linkedid: str = "1764061200.1", *, legs: int = 2, offset_s: float = 0
) -> CallRecord:
    start = BASE + timedelta(seconds=offset_s)
    answered = start + timedelta(seconds=3.25)
    ended = answered + timedelta(seconds=42.5)
    return CallRecord(
        linkedid=linkedid,
        direction=Direction.INBOUND,
        caller_num="+15551230000",
        caller_name='Zoë "quoted" \\ O\'Brien\n',
        callee_num="1000",
        did="+15559870000",
        started_at=start,
        answered_at=answered,
        ended_at=ended,
        ring_s=3.25,
        talk_s=42.5,
        hold_s=0.1 + 0.2,  # a float that is not exactly representable in decimal
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        hung_up_by=HungUpBy.CALLEE,
        disposition=Disposition.ANSWERED,
        legs=tuple(
            LegRecord(
                uniqueid=f"{linkedid}-{n}",
                linkedid=linkedid,
                channel=f"PJSIP/trunk-{n:08x}",
                started_at=start,
                answered_at=answered if n else None,
                ended_at=ended,
                caller_num="+15551230000",
                caller_name="Zoë",
                connected_num="1000",
                context="from-trunk",
                exten="1000",
                hangup_cause=None if n else 16,
                hangup_cause_text="Normal Clearing",
                dial_status="ANSWER" if n else "",
            )
            for n in range(legs)
        ),
        ivr_path=(
            IvrStep(
                node="main-menu",
                entered_at=start.astimezone(timezone(timedelta(hours=-5))),
                digits="1",
                variables={"lang": "en"},
            ),
        ),
        queue="support",
        wait_s=1.5,
        agent_id="agent-7",
        wrapup_s=None,
        campaign_id=None,
        contact_id="c-1",
        recording_ref="rec/2026/11/25/x.wav",
    )


def sample_asterisk_cdr(linkedid: str = "1764061200.1", sequence: str = "7") -> AsteriskCdr:
    return AsteriskCdr(
        linkedid=linkedid,
        sequence=sequence,
        uniqueid=linkedid,
        received_at=BASE.astimezone(timezone(timedelta(hours=5, minutes=30))),
        fields={"Disposition": "ANSWERED", "BillableSeconds": "42", "Empty": ""},
    )
