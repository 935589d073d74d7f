"""The event types a webhook subscription may ask for, and how its patterns match them.

Pure. A pattern is an event type (``call.ringing``), a family (``queue.*``) or ``*``;
a pattern that matches no event ccd sends is refused, so a typo is not a silent
subscription to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

EVENT_TYPES: tuple[str, ...] = (
    "call.ringing",  # an inbound caller offered to an agent: the CRM screen pop
    "call.answered",  # the agent answered and the caller is being bridged
    "call.ended",  # the call's CDR, once it is in the database
    "agent.state",
    "queue.caller_joined",
    "queue.caller_connected",
    "queue.caller_abandoned",
    "queue.caller_overflowed",
    "queue.caller_moved",
    "queue.callback_requested",
    "campaign.state",
    "campaign.attempt",
    "campaign.preview",
    "campaign.preview_skipped",
    "campaign.disposition",
)
WILDCARD = "*"
MAX_PATTERNS = 50


def matches(pattern: str, event_type: str) -> bool:
    if pattern == WILDCARD:
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def subscribed(patterns: Iterable[str], event_type: str) -> bool:
    return any(matches(pattern, event_type) for pattern in patterns)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be subscribed to, or None."""
    if not any(matches(pattern, event_type) for event_type in EVENT_TYPES):
        return f"{pattern!r} matches no event type; known: {', '.join(EVENT_TYPES)}"
    return None
