"""Dialer attempts per campaign, counted from the bus: each ``DialerAttemptStarted`` is a
call placed (or, after a restart, a call in flight adopted by this process), each
``DialerAttemptSettled`` its outcome (answered, abandoned, machine, no-answer, busy,
failed). Counts start at zero with the process, like every Prometheus counter."""

from __future__ import annotations

from collections import Counter

from ccd.domain.events import DialerAttemptSettled, DialerAttemptStarted

# An attempt settled without a seen start (its start was before this process) counts here.
UNKNOWN_CAMPAIGN = ""


class DialerTally:
    def __init__(self) -> None:
        self.placed: Counter[str] = Counter()
        # (campaign, outcome) -> attempts
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self._campaign_of: dict[str, str] = {}

    def handle(self, event: object) -> None:
        match event:
            case DialerAttemptStarted(linkedid=linkedid, campaign_id=campaign_id):
                if linkedid not in self._campaign_of:
                    self.placed[campaign_id] += 1
                self._campaign_of[linkedid] = campaign_id
            case DialerAttemptSettled(linkedid=linkedid, disposition=disposition):
                campaign_id = self._campaign_of.pop(linkedid, UNKNOWN_CAMPAIGN)
                self.outcomes[campaign_id, disposition] += 1

    @property
    def in_flight(self) -> int:
        """Attempts started and not settled yet (bounded by the calls in flight)."""
        return len(self._campaign_of)
