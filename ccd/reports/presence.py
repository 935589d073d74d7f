"""Agents' time by state per bucket, from the session log, and their handling time
spread over the buckets it fell in (pure).

The session log has one row per state change. An agent's state from one row lasts until
their next row, or until the report's end (``until``: the end of the range, or now if
sooner). The state an agent was in when the range began is given with ``opening``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ccd.reports.buckets import BucketIndex
from ccd.reports.figures import CallRow, PresenceTally


@dataclass(frozen=True, slots=True)
class StateChange:
    agent_id: str
    status: str  # an AgentStatus value
    reason: str | None
    at: datetime


class PresenceFold:
    def __init__(self, index: BucketIndex, until: datetime) -> None:
        self._index = index
        self._until = until
        self._current: dict[str, StateChange] = {}
        self.tallies: dict[tuple[str, int], PresenceTally] = {}

    def _tally(self, agent_id: str, bucket: int) -> PresenceTally:
        key = (agent_id, bucket)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = PresenceTally()
        return tally

    def opening(self, change: StateChange, range_start: datetime) -> None:
        """The agent's state when the range began (their last row before it)."""
        self._current[change.agent_id] = StateChange(
            change.agent_id, change.status, change.reason, range_start
        )

    def add(self, change: StateChange) -> None:
        """The next row of the log (rows of one agent in time order)."""
        previous = self._current.get(change.agent_id)
        if previous is not None:
            self._close(previous, min(change.at, self._until))
        self._current[change.agent_id] = change

    def add_handling(self, call: CallRow) -> None:
        """The call's talk (from its answer) and wrap-up (from its end) for its agent."""
        if not call.handled or call.agent_id is None or call.answered_at is None:
            return
        spans = [(call.answered_at, call.answered_at + timedelta(seconds=call.talk_s))]
        if call.wrapup_s:
            spans.append((call.ended_at, call.ended_at + timedelta(seconds=call.wrapup_s)))
        for start, end in spans:
            for bucket, seconds in self._index.spread(start, min(end, self._until)):
                self._tally(call.agent_id, bucket).handling_s += seconds

    def _close(self, state: StateChange, end: datetime) -> None:
        for bucket, seconds in self._index.spread(state.at, end):
            self._tally(state.agent_id, bucket).add_state(state.status, state.reason, seconds)

    def finish(self) -> dict[tuple[str, int], PresenceTally]:
        for state in self._current.values():
            self._close(state, self._until)
        self._current.clear()
        return self.tallies
