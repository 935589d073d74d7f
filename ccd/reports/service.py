"""Builds the queue, agent and campaign reports: streams the rows from a ``ReportSource``
in bounded batches, folds them into per-(key, bucket) tallies (``ccd.reports.figures``)
and renders rows. Memory grows with keys x buckets and with the calls of one FCR window,
never with the range."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ccd.reports.buckets import Bucket, BucketIndex, Interval, build_buckets
from ccd.reports.fcr import Contact, FcrTracker
from ccd.reports.figures import (
    AttemptTally,
    CallRow,
    CallTally,
    PresenceTally,
    RatingTally,
    TallyT,
    attempt_figures,
    call_figures,
    merge,
    presence_figures,
    queue_figures,
    rating_figures,
)
from ccd.reports.ports import ReportSource
from ccd.reports.presence import PresenceFold

DEFAULT_SL_TARGET_S = 20.0  # ccd.acd.model.Queue's default, for a queue no longer configured
# How far before ``from`` the agent report looks for calls still being handled (talk or
# wrap-up) when the range begins: longer than any call and its wrap-up.
HANDLING_LOOKBACK = timedelta(hours=8)
Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ReportRules:
    """``[reports]`` settings."""

    zone: str = "UTC"
    short_abandon_s: float = 5.0
    fcr_window: timedelta = timedelta(hours=72)
    unresolved_dispositions: frozenset[str] = frozenset({"call-back"})
    max_buckets: int = 3000
    max_rows: int = 20000


@dataclass(frozen=True, slots=True)
class ReportRequest:
    start: datetime  # aware
    end: datetime  # aware, exclusive
    interval: Interval
    zone: ZoneInfo
    now: datetime  # time past now is not counted as logged in
    key: str | None = None  # the one queue / agent / campaign asked for


class TooManyRows(ValueError):
    def __init__(self, rows: int, limit: int, keys: int, buckets: int) -> None:
        super().__init__(f"{rows} rows ({keys} x {buckets} intervals), at most {limit}")
        self.rows, self.limit, self.keys, self.buckets = rows, limit, keys, buckets


def iso_local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat()


def customer_of(call: CallRow) -> str:
    return call.callee_num if call.direction == "outbound" else call.caller_num


def scope_of(call: CallRow) -> str | None:
    if call.queue is not None:
        return f"queue:{call.queue}"
    if call.campaign_id is not None:
        return f"campaign:{call.campaign_id}"
    return None


class ReportService:
    def __init__(self, source: ReportSource, rules: ReportRules) -> None:
        self._source = source
        self.rules = rules

    def buckets(self, request: ReportRequest) -> list[Bucket]:
        """Raises ``buckets.TooManyBuckets``."""
        return build_buckets(
            request.start,
            request.end,
            request.interval,
            request.zone,
            limit=self.rules.max_buckets,
        )

    # --- shared folds -----------------------------------------------------------------

    async def _fold_calls(
        self,
        request: ReportRequest,
        index: BucketIndex,
        *,
        key_of: Callable[[CallRow], str | None],
        on_call: Callable[[CallRow, int], None],
        tally_of: Callable[[str, int], CallTally],
        queue: str | None = None,
    ) -> None:
        """Every call of [start, end + FCR window): those in range go to ``on_call``; all
        of them feed FCR, whose verdicts count for the in-range handled calls' keys."""
        tracker = FcrTracker(self.rules.fcr_window)
        unresolved = self.rules.unresolved_dispositions

        def count(verdicts: Iterable[tuple[Contact, bool]]) -> None:
            for contact, resolved in verdicts:
                ref = contact.ref
                assert isinstance(ref, tuple)
                tally_of(ref[0], ref[1]).add_fcr(resolved)

        stop = request.end + self.rules.fcr_window
        async for batch in self._source.calls(request.start, stop, queue=queue):
            for call in batch:
                bucket = index.index_of(call.started_at)
                key = key_of(call) if bucket is not None else None
                if bucket is not None:
                    on_call(call, bucket)
                judged = key is not None and bucket is not None and call.handled
                count(
                    tracker.push(
                        Contact(
                            call_id=call.linkedid,
                            customer=customer_of(call),
                            scope=scope_of(call),
                            started_at=call.started_at,
                            handled=judged,
                            unresolved_disposition=call.agent_disposition in unresolved,
                            ref=(key, bucket) if judged else None,
                        )
                    )
                )
        count(tracker.finish())

    async def _fold_ratings(
        self, request: ReportRequest, index: BucketIndex, field: str
    ) -> dict[Key, RatingTally]:
        ratings: dict[Key, RatingTally] = {}

        def tally(key: str | None, bucket: int | None) -> RatingTally | None:
            if key is None or bucket is None:
                return None
            if request.key is not None and key != request.key:
                return None
            return ratings.setdefault((key, bucket), RatingTally())

        async for surveys in self._source.surveys(request.start, request.end):
            for survey in surveys:
                found = tally(getattr(survey, field), index.index_of(survey.answered_at))
                if found is not None:
                    found.add_survey(survey.score)
        async for evaluations in self._source.evaluations(request.start, request.end):
            for evaluation in evaluations:
                found = tally(getattr(evaluation, field), index.index_of(evaluation.evaluated_at))
                if found is not None:
                    found.add_evaluation(evaluation.score_pct)
        return ratings

    def _check_rows(self, keys: int, buckets: int) -> None:
        rows = keys * buckets
        if rows > self.rules.max_rows:
            raise TooManyRows(rows, self.rules.max_rows, keys, buckets)

    def _render(
        self,
        request: ReportRequest,
        index: BucketIndex,
        key_name: str,
        keys: list[str],
        figures: Callable[[str, Pick], dict[str, Any]],
    ) -> dict[str, Any]:
        """A row per key and interval, and per key a total over the whole range (its
        intervals' tallies merged, then the same formulas)."""
        zone = request.zone
        rows: list[dict[str, Any]] = []
        totals: list[dict[str, Any]] = []
        whole = {"start": iso_local(request.start, zone), "end": iso_local(request.end, zone)}
        for key in keys:
            for bucket_no, bucket in enumerate(index.buckets):
                rows.append(
                    {key_name: key, **_span(bucket, zone), **figures(key, _at(key, bucket_no))}
                )
            totals.append({key_name: key, **whole, **figures(key, _over(key, len(index)))})
        return self._envelope(request, rows, totals)

    def _envelope(
        self, request: ReportRequest, rows: list[dict[str, Any]], totals: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "from": iso_local(request.start, request.zone),
            "to": iso_local(request.end, request.zone),
            "interval": request.interval.value,
            "zone": request.zone.key,
            "short_abandon_s": self.rules.short_abandon_s,
            "fcr_window_h": self.rules.fcr_window / timedelta(hours=1),
            "rows": rows,
            "totals": totals,
        }

    # --- reports ----------------------------------------------------------------------

    async def queue_report(self, request: ReportRequest) -> dict[str, Any]:
        index = BucketIndex(self.buckets(request))
        targets = await self._source.service_level_targets()
        tallies: dict[Key, CallTally] = {}

        def tally_of(queue: str, bucket: int) -> CallTally:
            return tallies.setdefault((queue, bucket), CallTally())

        def on_call(call: CallRow, bucket: int) -> None:
            if call.queue is None:
                return
            tally_of(call.queue, bucket).add_queue_call(
                call,
                sl_target_s=targets.get(call.queue, DEFAULT_SL_TARGET_S),
                short_abandon_s=self.rules.short_abandon_s,
            )

        await self._fold_calls(
            request,
            index,
            key_of=lambda call: call.queue,
            on_call=on_call,
            tally_of=tally_of,
            queue=request.key,
        )
        ratings = await self._fold_ratings(request, index, "queue")
        keys = _keys(request.key, targets, tallies, ratings)
        self._check_rows(len(keys), len(index))

        def figures(queue: str, pick: Pick) -> dict[str, Any]:
            target = targets.get(queue, DEFAULT_SL_TARGET_S)
            return queue_figures(pick(tallies, CallTally), target) | rating_figures(
                pick(ratings, RatingTally)
            )

        return self._render(request, index, "queue", keys, figures)

    async def agent_report(self, request: ReportRequest) -> dict[str, Any]:
        index = BucketIndex(self.buckets(request))
        until = max(request.start, min(request.end, request.now))
        presence = PresenceFold(index, until)
        wanted = request.key
        for state in await self._source.opening_states(request.start, agent=wanted):
            if wanted is None or state.agent_id == wanted:
                presence.opening(state, request.start)
        async for changes in self._source.state_changes(request.start, until, agent=wanted):
            for change in changes:
                if wanted is None or change.agent_id == wanted:
                    presence.add(change)
        tallies: dict[Key, CallTally] = {}

        def tally_of(agent: str, bucket: int) -> CallTally:
            return tallies.setdefault((agent, bucket), CallTally())

        def on_call(call: CallRow, bucket: int) -> None:
            if call.agent_id is None or not call.handled:
                return
            if wanted is not None and call.agent_id != wanted:
                return
            tally_of(call.agent_id, bucket).add_handled(call)
            presence.add_handling(call)

        def agent_key(call: CallRow) -> str | None:
            if wanted is not None and call.agent_id != wanted:
                return None
            return call.agent_id

        # Calls started before the range may still be talked or wrapped up in it: that time
        # is in the range's handling (the call itself counts in the interval it started in).
        lookback = request.start - HANDLING_LOOKBACK
        async for earlier in self._source.calls(lookback, request.start):
            for call in earlier:
                if call.handled and (wanted is None or call.agent_id == wanted):
                    presence.add_handling(call)
        # No agent filter in SQL: a repeat call may reach another agent.
        await self._fold_calls(request, index, key_of=agent_key, on_call=on_call, tally_of=tally_of)
        times = presence.finish()
        ratings = await self._fold_ratings(request, index, "agent_id")
        keys = _keys(wanted, {}, tallies, ratings, times)
        self._check_rows(len(keys), len(index))

        def figures(agent: str, pick: Pick) -> dict[str, Any]:
            return (
                call_figures(pick(tallies, CallTally))
                | presence_figures(pick(times, PresenceTally))
                | rating_figures(pick(ratings, RatingTally))
            )

        return self._render(request, index, "agent_id", keys, figures)

    async def campaign_report(self, request: ReportRequest) -> dict[str, Any]:
        index = BucketIndex(self.buckets(request))
        attempts: dict[Key, AttemptTally] = {}
        async for batch in self._source.attempts(request.start, request.end, campaign=request.key):
            for attempt in batch:
                slot = index.index_of(attempt.started_at)
                if slot is not None:
                    attempts.setdefault((attempt.campaign_id, slot), AttemptTally()).add(attempt)
        tallies: dict[Key, CallTally] = {}

        def tally_of(campaign: str, bucket: int) -> CallTally:
            return tallies.setdefault((campaign, bucket), CallTally())

        wanted = request.key

        def campaign_key(call: CallRow) -> str | None:
            if wanted is not None and call.campaign_id != wanted:
                return None
            return call.campaign_id

        def on_call(call: CallRow, bucket: int) -> None:
            key = campaign_key(call)
            if key is not None and call.handled:
                tally_of(key, bucket).add_handled(call)

        # No campaign filter in SQL: a campaign call that went through a queue is judged
        # for FCR against that queue's other calls.
        await self._fold_calls(
            request, index, key_of=campaign_key, on_call=on_call, tally_of=tally_of
        )
        ratings = await self._fold_ratings(request, index, "campaign_id")
        keys = _keys(request.key, {}, attempts, tallies, ratings)
        self._check_rows(len(keys), len(index))

        def figures(campaign: str, pick: Pick) -> dict[str, Any]:
            return (
                attempt_figures(pick(attempts, AttemptTally))
                | call_figures(pick(tallies, CallTally))
                | rating_figures(pick(ratings, RatingTally))
            )

        return self._render(request, index, "campaign_id", keys, figures)


class Pick(Protocol):
    """A key's tally of one kind: of one interval, or merged over the range."""

    def __call__(self, tallies: Mapping[Key, TallyT], empty: Callable[[], TallyT]) -> TallyT: ...


def _at(key: str, bucket: int) -> Pick:
    def pick(tallies: Mapping[Key, TallyT], empty: Callable[[], TallyT]) -> TallyT:
        found = tallies.get((key, bucket))
        return found if found is not None else empty()

    return pick


def _over(key: str, buckets: int) -> Pick:
    def pick(tallies: Mapping[Key, TallyT], empty: Callable[[], TallyT]) -> TallyT:
        found = (tallies.get((key, n)) for n in range(buckets))
        return merge((t for t in found if t is not None), empty())

    return pick


def _span(bucket: Bucket, zone: ZoneInfo) -> dict[str, str]:
    return {"start": iso_local(bucket.start, zone), "end": iso_local(bucket.end, zone)}


def _keys(
    wanted: str | None, configured: Mapping[str, object], *seen: Mapping[Key, object]
) -> list[str]:
    """The one key asked for, else every configured key and every key with data."""
    if wanted is not None:
        return [wanted]
    found = set(configured)
    for tallies in seen:
        found.update(key for key, _ in tallies)
    return sorted(found)
