"""Properties of the report cores on random inputs: the streaming FCR tracker agrees with
the definition checked call by call, and buckets tile the range on the zone's wall clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ccd.reports.buckets import Interval, build_buckets
from ccd.reports.fcr import Contact, is_anonymous, resolve

T0 = datetime(2026, 3, 27, tzinfo=UTC)
WINDOW = timedelta(hours=72)
CUSTOMERS = ["2125550001", "2125550002", "anonymous", ""]
SCOPES = ["queue:sales", "queue:support", "campaign:winter", None]

calls = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=400),  # hours after T0 (repeats, edges, gaps)
        st.sampled_from(CUSTOMERS),
        st.sampled_from(SCOPES),
        st.booleans(),
        st.booleans(),
    ),
    max_size=40,
)


def reference(contacts: list[Contact]) -> dict[str, bool]:
    """The definition, call by call (quadratic)."""
    verdicts = {}
    for c in contacts:
        if not c.handled:
            continue
        repeated = (
            c.scope is not None
            and not is_anonymous(c.customer)
            and any(
                o.customer == c.customer
                and o.scope == c.scope
                and c.started_at < o.started_at <= c.started_at + WINDOW
                for o in contacts
            )
        )
        verdicts[c.call_id] = not (repeated or c.unresolved_disposition)
    return verdicts


@settings(max_examples=300, deadline=None)
@given(calls)
def test_streaming_fcr_matches_the_definition(
    rows: list[tuple[int, str, str | None, bool, bool]],
) -> None:
    contacts = [
        Contact(
            call_id=str(n),
            customer=customer,
            scope=scope,
            started_at=T0 + timedelta(hours=hours),
            handled=handled,
            unresolved_disposition=unresolved,
        )
        for n, (hours, customer, scope, handled, unresolved) in enumerate(
            sorted(rows, key=lambda row: row[0])
        )
    ]
    streamed = {c.call_id: resolved for c, resolved in resolve(contacts, WINDOW)}
    assert streamed == reference(contacts)


ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]


@settings(max_examples=200, deadline=None)
@given(
    start_min=st.integers(min_value=0, max_value=60 * 24 * 400),
    length_min=st.integers(min_value=1, max_value=60 * 24 * 4),
    interval=st.sampled_from(list(Interval)),
    zone_name=st.sampled_from(ZONES),
)
def test_buckets_tile_the_range_on_wall_clock_boundaries(
    start_min: int, length_min: int, interval: Interval, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=start_min)
    end = start + timedelta(minutes=length_min)
    buckets = build_buckets(start, end, interval, zone, limit=10_000)
    assert buckets[0].start == start
    assert buckets[-1].end == end
    for before, after in itertools.pairwise(buckets):
        assert before.end == after.start
    for bucket in buckets:
        assert bucket.start < bucket.end
        if interval.minutes is not None:
            assert bucket.end - bucket.start <= timedelta(minutes=interval.minutes)
    for bucket in buckets[1:]:
        local = bucket.start.astimezone(zone)
        if interval.minutes is None:
            assert (local.hour, local.minute) == (0, 0) or _midnight_skipped(local)
        else:
            assert (local.hour * 60 + local.minute) % interval.minutes == 0
            assert local.second == 0


def _midnight_skipped(local: datetime) -> bool:
    # A zone whose clocks jump over midnight starts that day when they resume.
    midnight = local.replace(hour=0, minute=0)
    return midnight.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) != (
        midnight.replace(tzinfo=None)
    )
