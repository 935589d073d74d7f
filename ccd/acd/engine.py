"""ACD decision engine: events in, commands out, no IO (h11 style).

The adapter feeds events with ``now`` (float seconds since the epoch) and executes the
returned commands (RingAgent -> Originate Channel=<interface> Application=Bridge
Data=<caller channel>). Tick drives ring timeouts, wrap-up, max wait, escalation and
callback retries; the adapter sends one every ``TICK_S`` (a quarter of a second).

Behaviours worth knowing (each has a unit test):

- Every agent transition emits exactly one ``AgentStateChanged`` (the agent session log):
  a change of status, pause reason, call, or queue membership.
- Pause while *ringing* (RESERVED) cancels the ring at once and pauses (the caller is
  offered to the next agent). Pause while *on a call* is remembered: when the call ends
  the agent does its wrap-up (if the queue has one), then goes to PAUSED with that
  reason instead of AVAILABLE. Unpause before the call ends forgets it.
- Logout while on a call is deferred: talk time is kept, and when the call ends the agent
  goes straight to LOGGED_OUT (no wrap-up); logging in again before that cancels it.
  Logout while ringing cancels the ring.
- Agent statuses change only along ``TRANSITIONS`` (the table of legal moves); any other
  move is a bug and raises ``IllegalTransition`` before anything changes.
- A device reported busy (``AgentBusy``) leaves the agent AVAILABLE but not offered
  another call for ``BUSY_RETRY_S`` (``busy_until``; app_queue's ``retry`` is 5 s too): the
  caller goes to other agents, and a lone busy agent is tried again on the first Tick
  after that, not at once.
- Ring no answer → the next agent: a caller is offered agents it has not tried first; an
  agent who did not answer it is offered that caller again only ``RING_RETRY_S`` later.
  Meanwhile the caller keeps its place: the first agent to become free takes it, not a
  caller behind it.
- When the last agent of a queue logs out or leaves it, its waiting callers go to the
  no-agents destination, like callers arriving then (virtual-hold callers keep their
  place: they have no channel to send).
- ``AgentLoggedIn(restore=AgentState)`` brings an agent back after a restart as it was
  (on a call, paused, idle since...) without logging a transition.
- Refusals the REST layer must show raise ``AcdError`` subclasses (``UnknownAgent``,
  ``UnknownQueue``, ``UnknownCall``) before any state changes.
- Overflow targets ``queue:<id>`` naming a known queue move the caller inside the engine
  (``CallerMoved``; the caller keeps ``joined_at``, so it is served before that queue's
  later callers). A move never goes back to a queue the caller already visited (that
  would loop): it then overflows with target None (hang up politely). Moves ignore the
  destination's ``max_len`` (turning a moved caller away would drop it); the
  destination's ``max_wait_s`` and escalation timers start at the move.
- Virtual hold: ``CallbackRequested`` keeps the caller's place without a channel. When it
  is first in line for an available eligible agent the engine emits ``PlaceCallback``
  (never more customers being called at once in a queue than it has available eligible
  agents; the agent is not reserved and goes on to the next caller, so nobody idles
  while the customer's phone rings). The customer
  answering comes back as ``CallerJoined`` with the same call_id: it goes to the front
  of its queue (keeping ``joined_at``). ``CallbackFailed``: back in line, retried after
  ``CALLBACK_RETRY_DELAY_S``; after ``CALLBACK_RETRIES`` retries (4 attempts) the
  engine gives up with ``CallbackDropped(reason="no_answer")``. The original channel's
  hang-up (``CallerLeft``) after requesting a callback is ignored; a hang-up after the
  customer came back gives ``CallbackDropped(reason="caller_left")``. Neither is an
  abandon. Max wait and escalation do not apply while the caller has no channel; if its
  queue is removed it is dropped (``CallbackDropped(reason="queue_removed")``) unless the
  queue's overflow target is another queue.
- Outbound (blended; the dialer borrows agents, the engine stays the only owner of
  their states): ``OutboundReserved`` moves an AVAILABLE agent to RESERVED with reason
  ``"outbound"`` (kept through ON_CALL and WRAP_UP so the session log tells outbound work
  apart) and takes it out of inbound distribution. Inbound callers come first: it is
  refused with ``AgentNotFree`` (a reason to show) unless the agent is AVAILABLE, its
  device not busy, and none of its queues has a waiting caller (virtual hold, ringing
  or held back by ``RING_RETRY_S`` included) it has the skills for now. ``claimable``
  lists the agents it would accept, longest idle first.
- ``OutboundReleased`` (no call for the agent after all) gives the agent back its idle
  time from before the reservation: it did no work, so longest-idle fairness keeps its
  place. It is offered a waiting caller at once.
- Pause or logout while reserved for outbound is deferred like during a call (the
  dialer may be connecting a customer to the agent this very moment): it applies at
  ``OutboundReleased``, or after the outbound call and its wrap-up (a logout skips the
  wrap-up, as for inbound calls).
- ``OutboundConnected`` → ON_CALL (counts a call taken and its talk time; no queue
  figures: the call came from no queue). ``OutboundEnded`` → WRAP_UP for ``wrapup_s``
  (Tick ends it), or with None until ``WrapUpDone``; 0 frees the agent at once.
  ``WrapUpDone`` also ends an inbound wrap-up early; it is ignored when the agent is not
  in wrap-up (a disposition posted late).
- Released, Connected or Ended for a call the agent is not reserved for / on (wrong
  call_id, wrong status, not outbound) raise ``NotOutboundCall`` before anything
  changes; for an agent not logged in, ``UnknownAgent``. After a restart outbound work
  is restored like inbound work (RESERVED as AVAILABLE, ON_CALL until CallEnded,
  WRAP_UP for the queues' wrap-up) without the ``"outbound"`` reason.
- Estimated wait: ``position x AHT / max(1, agents of the queue logged in and not
  paused)``, AHT being the queue's EWMA (alpha 0.2) of talk + configured wrap-up,
  180 s before the first call ends.
- Queues are per Asterisk server: a caller (``WaitingCaller.server``) is offered only
  agents whose device is on the same server (``Agent.server``; None on either side is
  the engine's ``default_server``). Everything else is per server too: a caller joining
  a queue with no logged-in agent on its server goes to the no-agents destination (and
  so do a server's callers when its last agent of the queue leaves), a caller moved to
  another queue keeps its server, position and estimated wait count only the callers
  and agents of the caller's server, and an agent is needed by inbound (refused to the
  dialer) only for callers on its server. ``RingAgent.server`` says where to ring.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import NamedTuple

from ccd.acd.model import Agent, AgentState, AgentStatus, Queue, Strategy, WaitingCaller
from ccd.acd.stats import Ewma, QueueCounters, QueueStats, build_stats
from ccd.acd.strategies import Candidate, order_candidates
from ccd.acd.targets import queue_of

# ---- errors -------------------------------------------------------------------------


class AcdError(Exception):
    """A request the ACD refuses; ``str()`` says why and is safe to show to a user."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownQueue(AcdError, KeyError):
    def __init__(self, queue_ids: str | Iterable[str]) -> None:
        ids = [queue_ids] if isinstance(queue_ids, str) else sorted(queue_ids)
        self.queue_ids = tuple(ids)
        super().__init__(f"unknown queue: {', '.join(ids)}")


class UnknownAgent(AcdError, KeyError):
    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"agent {agent_id} is not logged in")


class UnknownCall(AcdError, KeyError):
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        super().__init__(f"call {call_id} is not waiting in a queue")


class AgentNotFree(AcdError):
    """OutboundReserved refused: ``reason`` says why ("paused (lunch)", "needed by
    inbound queue sales"...)."""

    def __init__(self, agent_id: str, reason: str) -> None:
        self.agent_id = agent_id
        self.reason = reason
        super().__init__(f"agent {agent_id} is not free for an outbound call: {reason}")


class NotOutboundCall(AcdError):
    """The dialer's event names a call the agent is not reserved for / on."""

    def __init__(
        self, agent_id: str, call_id: str, expected: AgentStatus, state: AgentState
    ) -> None:
        self.agent_id = agent_id
        self.call_id = call_id
        expected_text = "on" if expected is AgentStatus.ON_CALL else "reserved for"
        now_doing = state.status.value + (f" for call {state.call_id}" if state.call_id else "")
        super().__init__(
            f"agent {agent_id} is not {expected_text} outbound call {call_id} (it is {now_doing})"
        )


# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    """Log in, or (already logged in) update the profile and queue membership.

    ``restore``: the agent's state before a ccd restart (from the session log), for an
    agent not logged in yet: AVAILABLE (idle since ``since``), PAUSED (reason), ON_CALL
    (``call_id``; send CallEnded when that call ends) or WRAP_UP (the queue's wrap-up
    restarts now). RESERVED and LOGGED_OUT restore as AVAILABLE (a ring in progress
    did not survive). Restoring is not a transition: nothing is logged."""

    agent: Agent
    queue_ids: frozenset[str]
    restore: AgentState | None = None


@dataclass(frozen=True, slots=True)
class AgentLoggedOut:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentPaused:
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentUnpaused:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentJoinedQueue:
    agent_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class AgentLeftQueue:
    agent_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class QueuesConfigured:
    """Replace the queue configuration (after an admin change)."""

    queues: Mapping[str, Queue]


@dataclass(frozen=True, slots=True)
class CallerJoined:
    caller: WaitingCaller


@dataclass(frozen=True, slots=True)
class CallerLeft:
    """The caller hung up while waiting (abandon)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """The waiting caller asked to be called back on ``number``, keeping their place."""

    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class CallbackFailed:
    """The call back (PlaceCallback) was not answered."""

    call_id: str


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class AgentNoAnswer:
    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class AgentBusy:
    """Device busy or agent on a non-ccd call: skip without counting a no-answer."""

    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    agent_id: str


@dataclass(frozen=True, slots=True)
class OutboundReserved:
    """The dialer borrows the agent for its call ``call_id`` (refused: AgentNotFree)."""

    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class OutboundReleased:
    """The reserved agent is not needed for that call after all."""

    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class OutboundConnected:
    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class OutboundEnded:
    """``wrapup_s``: seconds of wrap-up; None: until WrapUpDone (the agent's disposition)."""

    agent_id: str
    call_id: str
    wrapup_s: float | None


@dataclass(frozen=True, slots=True)
class WrapUpDone:
    """The agent finished its wrap-up (inbound or outbound) before its time."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class Tick:
    pass


@dataclass(frozen=True, slots=True)
class ResetDailyStats:
    """Start today's counters from zero (the runtime sends it at local midnight)."""


Event = (
    AgentLoggedIn
    | AgentLoggedOut
    | AgentPaused
    | AgentUnpaused
    | AgentJoinedQueue
    | AgentLeftQueue
    | QueuesConfigured
    | CallerJoined
    | CallerLeft
    | CallbackRequested
    | CallbackFailed
    | AgentAnswered
    | AgentNoAnswer
    | AgentBusy
    | CallEnded
    | OutboundReserved
    | OutboundReleased
    | OutboundConnected
    | OutboundEnded
    | WrapUpDone
    | Tick
    | ResetDailyStats
)

# ---- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingAgent:
    agent_id: str
    interface: str
    call_id: str
    caller_channel: str
    timeout_s: float
    # The server of the caller (and so of the agent): the ring is placed there.
    server: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRing:
    agent_id: str
    call_id: str


@dataclass(frozen=True, slots=True)
class AutoPauseAgent:
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Overflow:
    call_id: str
    caller_channel: str
    target: str | None  # None: no destination configured, adapter hangs up politely
    reason: str  # "max_wait" | "queue_full" | "no_agents" | "queue_removed"
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallerMoved:
    """The caller now waits in ``to_queue`` (nothing to do in Asterisk: it keeps hearing
    music on hold); for the live view and the CDR."""

    call_id: str
    from_queue: str
    to_queue: str
    reason: str  # "escalated" | "max_wait" | "queue_full" | "no_agents" | "queue_removed"


@dataclass(frozen=True, slots=True)
class CallerConnected:
    call_id: str
    agent_id: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    call_id: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class PlaceCallback:
    """Call the customer back; when they answer, send CallerJoined with the same call_id
    (and the new channel); when they don't, CallbackFailed."""

    call_id: str
    queue_id: str
    number: str


@dataclass(frozen=True, slots=True)
class CallbackDropped:
    """A virtual-hold caller given up: ``reason`` "no_answer" (retries exhausted),
    "caller_left" (hung up while waiting again after the call back) or "queue_removed"."""

    call_id: str
    queue_id: str
    reason: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """One per agent transition (status, pause reason, call or queue membership): the
    agent session log. ``queue_ids`` is the membership after the change (for LOGGED_OUT:
    the queues the agent was in)."""

    agent_id: str
    status: AgentStatus
    reason: str | None
    call_id: str | None
    at: float
    queue_ids: frozenset[str]


Command = (
    RingAgent
    | CancelRing
    | AutoPauseAgent
    | Overflow
    | CallerMoved
    | CallerConnected
    | CallerAbandoned
    | PlaceCallback
    | CallbackDropped
    | AgentStateChanged
)

NO_ANSWER_REASON = "no-answer"
# The reason of an agent's RESERVED, ON_CALL and WRAP_UP states while lent to the dialer.
OUTBOUND_REASON = "outbound"
# A device reported busy is not offered another call before this (no Originate storm
# against a phone that is busy outside ccd; the caller goes to other agents meanwhile).
BUSY_RETRY_S = 5.0
# An agent who let a caller's ring time out is not rung for that caller again before this.
RING_RETRY_S = 5.0
CALLBACK_RETRIES = 3
CALLBACK_RETRY_DELAY_S = 60.0

_S = AgentStatus
TRANSITIONS: Mapping[AgentStatus, frozenset[AgentStatus]] = MappingProxyType(
    {
        # Login, or a restore after a restart (as the agent was).
        _S.LOGGED_OUT: frozenset({_S.AVAILABLE, _S.PAUSED, _S.ON_CALL, _S.WRAP_UP}),
        _S.AVAILABLE: frozenset({_S.RESERVED, _S.PAUSED, _S.LOGGED_OUT}),
        # Answered (or outbound connected); no answer, busy, withdrawn or outbound released;
        # paused (also auto) or logged out meanwhile (outbound: at the release).
        _S.RESERVED: frozenset({_S.ON_CALL, _S.AVAILABLE, _S.PAUSED, _S.LOGGED_OUT}),
        # Wrap-up; no wrap-up: free, or the pause asked for during the call; deferred logout.
        _S.ON_CALL: frozenset({_S.WRAP_UP, _S.AVAILABLE, _S.PAUSED, _S.LOGGED_OUT}),
        _S.WRAP_UP: frozenset({_S.AVAILABLE, _S.PAUSED, _S.LOGGED_OUT}),
        _S.PAUSED: frozenset({_S.AVAILABLE, _S.LOGGED_OUT}),
    }
)
"""Legal agent status moves (staying in a status, e.g. a new pause reason, is always legal)."""


class IllegalTransition(RuntimeError):
    """The engine tried a move ``TRANSITIONS`` does not allow: a bug, never user input."""


class _LineKey(NamedTuple):
    """A waiter's place in its queue's line, in service order."""

    priority: float  # -priority; -inf for a customer back from a call back: the front
    joined_at: float
    call_id: str


class _Callback(enum.Enum):
    NONE = enum.auto()  # an ordinary caller
    WAITING = enum.auto()  # channel gone, waiting for its turn to be called back
    CALLING = enum.auto()  # PlaceCallback sent, waiting for the answer
    RETURNED = enum.auto()  # answered the call back and waits again with a channel


@dataclass(slots=True)
class _AgentSlot:
    agent: Agent
    queue_ids: frozenset[str]
    position: int
    state: AgentState
    idle_since: float
    calls_taken: int = 0
    talk_time_s: float = 0.0
    no_answers: int = 0
    call_started: float | None = None
    call_queue: str | None = None
    pending_pause: str | None = None
    logout_pending: bool = False
    # agent.server, None resolved to the engine's default server.
    server: str | None = None


@dataclass(slots=True)
class _Waiter:
    caller: WaitingCaller
    key: _LineKey
    # When the caller entered its current queue (max wait and escalation timers).
    entered_at: float
    # caller.server, None resolved to the engine's default server (kept across moves).
    server: str | None = None
    ringing: set[str] = field(default_factory=set)
    # Agents offered this caller without success -> when they may be offered it again.
    tried: dict[str, float] = field(default_factory=dict)
    # Skills required before escalation (queue's merged with the caller's), and the same
    # as a hashable set; kept up to date by _refresh_need (join, move, reconfiguration).
    required: Mapping[str, int] = field(default_factory=dict)
    need: frozenset[tuple[str, int]] = frozenset()
    visited: set[str] = field(default_factory=set)
    callback: _Callback = _Callback.NONE
    callback_number: str = ""
    callback_failures: int = 0
    callback_not_before: float = 0.0


def _key(caller: WaitingCaller) -> _LineKey:
    return _LineKey(float(-caller.priority), caller.joined_at, caller.call_id)


# Hot paths (a pass over 1,000 waiters) compare these by identity: on Python 3.11 every
# `_Callback.X` lookup goes through the Enum's descriptor (~0.1 µs), `==` adds as much.
_CALLBACK_WAITING = _Callback.WAITING
_CALLBACK_CALLING = _Callback.CALLING


def _on_hold(waiter: _Waiter) -> bool:
    """Virtual hold, not back yet: the caller keeps a place in line but has no channel."""
    callback = waiter.callback
    return callback is _CALLBACK_WAITING or callback is _CALLBACK_CALLING


class AcdEngine:
    def __init__(
        self,
        queues: Mapping[str, Queue],
        rng: random.Random | None = None,
        default_server: str | None = None,
    ) -> None:
        # What an agent's or caller's server None means (the first configured server).
        self._default_server = default_server
        self._queues: dict[str, Queue] = {}
        self._rng = rng or random.Random(0)
        self._agents: dict[str, _AgentSlot] = {}
        self._waiting: dict[str, _Waiter] = {}
        # Per queue: waiters in service order, logged-in member agents, AVAILABLE members.
        self._lines: dict[str, list[_LineKey]] = {}
        self._members: dict[str, set[str]] = {}
        self._available: dict[str, set[str]] = {}
        self._counters: dict[str, QueueCounters] = {}
        self._aht: dict[str, Ewma] = {}
        self._rr_last: dict[str, str] = {}
        self._ring_deadline: dict[str, float] = {}
        self._wrapup_until: dict[str, float] = {}
        # Agents whose device was busy: AVAILABLE but kept out of _available until then.
        self._busy_until: dict[str, float] = {}
        # Virtual-hold callers whose PlaceCallback is out (few: bounded by free agents).
        self._calling_back: set[str] = set()
        # Servers callers have come from: with more than one, places in line are counted
        # per server (else a bisect of the line says it).
        self._caller_servers: set[str | None] = set()
        self._next_position = 0
        self._configure(queues)

    # ---- read side ----

    def agent_state(self, agent_id: str) -> AgentState:
        slot = self._agents.get(agent_id)
        if slot is None:
            return AgentState(AgentStatus.LOGGED_OUT, since=0.0)
        return slot.state

    def agent_queues(self, agent_id: str) -> frozenset[str]:
        slot = self._agents.get(agent_id)
        return slot.queue_ids if slot else frozenset()

    def agent(self, agent_id: str) -> Agent | None:
        slot = self._agents.get(agent_id)
        return slot.agent if slot else None

    def logged_in(self) -> list[str]:
        """Ids of logged-in agents, in login order."""
        return list(self._agents)

    def pending_pause(self, agent_id: str) -> str | None:
        """Pause reason to apply when the agent's current call ends."""
        slot = self._agents.get(agent_id)
        return slot.pending_pause if slot else None

    def busy_until(self, agent_id: str) -> float | None:
        """When an agent whose device was reported busy may be offered calls again."""
        return self._busy_until.get(agent_id)

    def offerable(self, call_id: str, agent_id: str, now: float) -> bool:
        """False while ``agent_id`` let this caller's ring time out less than
        ``RING_RETRY_S`` ago (it is offered the caller again after that)."""
        waiter = self._waiting.get(call_id)
        return waiter is None or waiter.tried.get(agent_id, now) <= now

    def claimable(self, agent_ids: Iterable[str], now: float) -> list[str]:
        """Those of ``agent_ids`` OutboundReserved would accept now, longest idle first
        (then login order). Cheap enough for every dialer tick: a queue's waiting callers
        are looked at once per call, and only for an available agent of that queue."""
        needs: dict[tuple[str, str | None], list[Mapping[str, int]]] = {}
        free = [a for a in dict.fromkeys(agent_ids) if self._not_free(a, now, needs) is None]
        return sorted(free, key=lambda a: (self._agents[a].idle_since, self._agents[a].position))

    def queue_members(self, queue_id: str) -> list[str]:
        """Logged-in agents of a queue, in login order."""
        members = self._members.get(queue_id, set())
        return [agent_id for agent_id in self._agents if agent_id in members]

    def logout_pending(self, agent_id: str) -> bool:
        slot = self._agents.get(agent_id)
        return slot.logout_pending if slot else False

    def agent_counters(self, agent_id: str) -> tuple[int, float]:
        """(calls taken, talk time in seconds) since login."""
        slot = self._agents.get(agent_id)
        return (slot.calls_taken, slot.talk_time_s) if slot else (0, 0.0)

    def queues(self) -> Mapping[str, Queue]:
        # A read-only view, no copy: _configure replaces the dict, never changes it.
        return MappingProxyType(self._queues)

    def waiting(self) -> list[WaitingCaller]:
        return [w.caller for w in self._waiting.values()]

    def waiting_in(self, queue_id: str) -> list[WaitingCaller]:
        """Callers of one queue in service order (virtual-hold callers included)."""
        return [self._waiting[key.call_id].caller for key in self._lines.get(queue_id, ())]

    def callback_pending(self, call_id: str) -> bool:
        """True while the caller waits without a channel (virtual hold, not yet back)."""
        waiter = self._waiting.get(call_id)
        return waiter is not None and _on_hold(waiter)

    def ringing_for(self, call_id: str) -> frozenset[str]:
        waiter = self._waiting.get(call_id)
        return frozenset(waiter.ringing) if waiter else frozenset()

    def required_skills(self, call_id: str, now: float) -> Mapping[str, int]:
        return self._required(self._waiting[call_id], now)

    def position(self, call_id: str) -> int | None:
        """1-based place in its queue (priority, then join order); None if not waiting."""
        waiter = self._waiting.get(call_id)
        if waiter is None:
            return None
        line = self._lines[waiter.caller.queue_id]
        index = bisect.bisect_left(line, waiter.key)
        if len(self._caller_servers) > 1:
            # Only the callers of the same server are ahead of it: the others wait for
            # other agents.
            server = waiter.server
            return 1 + sum(1 for key in line[:index] if self._waiting[key.call_id].server == server)
        return index + 1

    def estimated_wait_s(self, call_id: str, now: float) -> float | None:
        """position x recent AHT / max(1, agents of the queue logged in and not paused).

        ``now`` is accepted for a future refinement (e.g. remaining talk time); the
        estimate currently depends only on the line and the staffing."""
        position = self.position(call_id)
        if position is None:
            return None
        waiter = self._waiting[call_id]
        queue_id = waiter.caller.queue_id
        serving = sum(
            1
            for agent_id in self._members.get(queue_id, ())
            if self._agents[agent_id].state.status is not AgentStatus.PAUSED
            and self._agents[agent_id].server == waiter.server
        )
        return position * self._aht[queue_id].value / max(1, serving)

    def queue_stats(self, queue_id: str, now: float) -> QueueStats:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise UnknownQueue(queue_id)
        line = self._lines[queue_id]
        longest = max((now - self._waiting[k[2]].caller.joined_at for k in line), default=0.0)
        agents: dict[str, int] = {}
        for agent_id in self._members[queue_id]:
            status = self._agents[agent_id].state.status.value
            agents[status] = agents.get(status, 0) + 1
        return build_stats(
            queue_id,
            self._counters[queue_id],
            waiting=len(line),
            longest_wait_s=max(0.0, longest),
            agents=agents,
            service_level_s=queue.service_level_s,
            aht_s=self._aht[queue_id].value,
        )

    # ---- write side ----

    def handle(self, event: Event, now: float) -> list[Command]:
        out: list[Command] = []
        match event:
            case AgentLoggedIn(agent=agent, queue_ids=queue_ids, restore=restore):
                self._login(agent, frozenset(queue_ids), now, out, restore)
            case AgentLoggedOut(agent_id=agent_id):
                self._logout(self._slot(agent_id), now, out)
            case AgentPaused(agent_id=agent_id, reason=reason):
                self._pause(self._slot(agent_id), reason, now, out)
            case AgentUnpaused(agent_id=agent_id):
                self._unpause(self._slot(agent_id), now, out)
            case AgentJoinedQueue(agent_id=agent_id, queue_id=queue_id):
                slot = self._slot(agent_id)
                self._check_queues({queue_id})
                self._set_membership(slot, slot.queue_ids | {queue_id}, now, out)
            case AgentLeftQueue(agent_id=agent_id, queue_id=queue_id):
                slot = self._slot(agent_id)
                self._check_queues({queue_id})
                self._set_membership(slot, slot.queue_ids - {queue_id}, now, out)
            case QueuesConfigured(queues=queues):
                self._reconfigure(queues, now, out)
            case CallerJoined(caller=caller):
                self._join(caller, now, out)
            case CallerLeft(call_id=call_id):
                self._caller_left(call_id, now, out)
            case CallbackRequested(call_id=call_id, number=number):
                self._callback_requested(call_id, number, now, out)
            case CallbackFailed(call_id=call_id):
                self._callback_failed(call_id, now, out)
            case AgentAnswered(agent_id=agent_id, call_id=call_id):
                self._answered(agent_id, call_id, now, out)
            case AgentNoAnswer(agent_id=agent_id, call_id=call_id):
                self._ring_failed(agent_id, call_id, now, out, count_no_answer=True)
            case AgentBusy(agent_id=agent_id, call_id=call_id):
                self._ring_failed(agent_id, call_id, now, out, count_no_answer=False)
            case CallEnded(agent_id=agent_id):
                self._call_ended(agent_id, now, out)
            case OutboundReserved(agent_id=agent_id, call_id=call_id):
                self._reserve_outbound(agent_id, call_id, now, out)
            case OutboundReleased(agent_id=agent_id, call_id=call_id):
                slot = self._outbound_slot(agent_id, call_id, AgentStatus.RESERVED)
                self._release_outbound(slot, now, out)
            case OutboundConnected(agent_id=agent_id, call_id=call_id):
                slot = self._outbound_slot(agent_id, call_id, AgentStatus.RESERVED)
                slot.calls_taken += 1
                slot.call_started = now
                self._set(slot, AgentStatus.ON_CALL, now, out, OUTBOUND_REASON, call_id)
            case OutboundEnded(agent_id=agent_id, call_id=call_id, wrapup_s=wrapup_s):
                slot = self._outbound_slot(agent_id, call_id, AgentStatus.ON_CALL)
                self._end_talk(slot, now)
                self._after_call(slot, wrapup_s, now, out, OUTBOUND_REASON)
            case WrapUpDone(agent_id=agent_id):
                wrapping = self._agents.get(agent_id)
                if wrapping is not None and wrapping.state.status is AgentStatus.WRAP_UP:
                    self._after_work(wrapping, now, out)
            case Tick():
                self._tick(now, out)
            case ResetDailyStats():
                for queue_id in self._counters:
                    self._counters[queue_id] = QueueCounters()
        self._dispatch(now, out)
        return out

    # ---- configuration ----

    def _configure(self, queues: Mapping[str, Queue]) -> None:
        self._queues = dict(queues)
        for queue_id in self._queues:
            self._lines.setdefault(queue_id, [])
            self._members.setdefault(queue_id, set())
            self._available.setdefault(queue_id, set())
            self._counters.setdefault(queue_id, QueueCounters())
            self._aht.setdefault(queue_id, Ewma())

    def _reconfigure(self, queues: Mapping[str, Queue], now: float, out: list[Command]) -> None:
        old = self._queues
        self._configure(queues)
        for waiter in self._waiting.values():
            if waiter.caller.queue_id in self._queues:
                self._refresh_need(waiter)
        removed = old.keys() - self._queues.keys()
        for queue_id in sorted(removed):
            for key in list(self._lines[queue_id]):
                waiter = self._waiting[key.call_id]
                self._send_away(waiter, old[queue_id], "queue_removed", now, out)
            for agent_id in sorted(self._members[queue_id]):
                slot = self._agents[agent_id]
                self._set_membership(slot, slot.queue_ids - {queue_id}, now, out)
            del self._lines[queue_id], self._members[queue_id], self._available[queue_id]
            del self._counters[queue_id], self._aht[queue_id]
            self._rr_last.pop(queue_id, None)

    def _check_queues(self, queue_ids: Iterable[str]) -> None:
        unknown = set(queue_ids) - self._queues.keys()
        if unknown:
            raise UnknownQueue(unknown)

    def _longest_wrapup(self, slot: _AgentSlot) -> float:
        return max((self._queues[q].wrapup_s for q in slot.queue_ids), default=0.0)

    def _slot(self, agent_id: str) -> _AgentSlot:
        slot = self._agents.get(agent_id)
        if slot is None:
            raise UnknownAgent(agent_id)
        return slot

    # ---- agent transitions ----

    def _set(
        self,
        slot: _AgentSlot,
        status: AgentStatus,
        now: float,
        out: list[Command],
        reason: str | None = None,
        call_id: str | None = None,
    ) -> None:
        old = slot.state
        agent_id = slot.agent.id
        if status is not old.status and status not in TRANSITIONS[old.status]:
            raise IllegalTransition(f"agent {agent_id}: {old.status.value} -> {status.value}")
        if status is AgentStatus.AVAILABLE and old.status is not AgentStatus.AVAILABLE:
            slot.idle_since = now
        if status is not AgentStatus.RESERVED:
            self._ring_deadline.pop(agent_id, None)
        if status is not AgentStatus.WRAP_UP:
            self._wrapup_until.pop(agent_id, None)
        if (old.status is AgentStatus.AVAILABLE) != (status is AgentStatus.AVAILABLE):
            if status is not AgentStatus.AVAILABLE:
                for queue_id in slot.queue_ids:
                    self._available[queue_id].discard(agent_id)
            elif agent_id not in self._busy_until:
                for queue_id in slot.queue_ids:
                    self._available[queue_id].add(agent_id)
        if (old.status, old.reason, old.call_id) == (status, reason, call_id):
            return
        slot.state = AgentState(status, since=now, reason=reason, call_id=call_id)
        out.append(AgentStateChanged(agent_id, status, reason, call_id, now, slot.queue_ids))

    def _set_membership(
        self, slot: _AgentSlot, queue_ids: frozenset[str], now: float, out: list[Command]
    ) -> None:
        agent_id = slot.agent.id
        if queue_ids == slot.queue_ids:
            return
        left = slot.queue_ids - queue_ids
        # Ringing for a caller of a queue the agent leaves: that offer is withdrawn.
        call_id = slot.state.call_id
        if slot.state.status is AgentStatus.RESERVED and call_id is not None:
            waiter = self._waiting.get(call_id)
            if waiter is not None and waiter.caller.queue_id in left:
                self._withdraw_ring(slot, waiter, out)
                self._set(slot, AgentStatus.AVAILABLE, now, out)
        available = slot.state.status is AgentStatus.AVAILABLE and agent_id not in self._busy_until
        for queue_id in left:
            self._members[queue_id].discard(agent_id)
            self._available[queue_id].discard(agent_id)
        for queue_id in queue_ids - slot.queue_ids:
            self._members[queue_id].add(agent_id)
            if available:
                self._available[queue_id].add(agent_id)
        slot.queue_ids = queue_ids
        state = slot.state
        out.append(
            AgentStateChanged(agent_id, state.status, state.reason, state.call_id, now, queue_ids)
        )
        self._release_emptied_queues(left, now, out)

    def _release_emptied_queues(
        self, queue_ids: Iterable[str], now: float, out: list[Command]
    ) -> None:
        """A queue whose last agent left holds nobody: its callers go where callers
        arriving now would go (the no-agents destination). Virtual-hold callers have no
        channel to send: they keep their place for when an agent comes back."""
        for queue_id in sorted(queue_ids):
            queue = self._queues.get(queue_id)
            if queue is None or not self._lines[queue_id]:
                continue
            # Per server: a caller is served only by agents on its own server.
            served = {self._agents[agent_id].server for agent_id in self._members[queue_id]}
            for key in list(self._lines[queue_id]):
                waiter = self._waiting[key.call_id]
                if waiter.server not in served and not _on_hold(waiter):
                    self._send_away(waiter, queue, "no_agents", now, out)

    def _login(
        self,
        agent: Agent,
        queue_ids: frozenset[str],
        now: float,
        out: list[Command],
        restore: AgentState | None = None,
    ) -> None:
        self._check_queues(queue_ids)
        slot = self._agents.get(agent.id)
        server = agent.server or self._default_server
        if slot is not None:
            # Re-login: profile and membership update; state and counters are kept.
            slot.agent = agent
            slot.logout_pending = False
            moved = slot.server != server
            slot.server = server
            self._set_membership(slot, queue_ids, now, out)
            if moved:
                # Its old server's callers may have nobody left to serve them.
                self._release_emptied_queues(slot.queue_ids, now, out)
            return
        slot = _AgentSlot(
            agent=agent,
            queue_ids=queue_ids,
            position=self._next_position,
            state=AgentState(AgentStatus.LOGGED_OUT, since=now),
            idle_since=now,
            server=server,
        )
        self._next_position += 1
        self._agents[agent.id] = slot
        for queue_id in queue_ids:
            self._members[queue_id].add(agent.id)
        if restore is None:
            self._set(slot, AgentStatus.AVAILABLE, now, out)
        else:
            self._restore(slot, restore, now)

    def _restore(self, slot: _AgentSlot, restore: AgentState, now: float) -> None:
        # Built through _set for the indexes; the entries it emits are dropped (restoring
        # is not a transition, the session log already has it).
        scratch: list[Command] = []
        status = restore.status
        if status is AgentStatus.ON_CALL and restore.call_id is not None:
            self._set(slot, AgentStatus.ON_CALL, now, scratch, call_id=restore.call_id)
            slot.call_started = restore.since
        elif status is AgentStatus.PAUSED:
            self._set(slot, AgentStatus.PAUSED, now, scratch, reason=restore.reason)
        elif status is AgentStatus.WRAP_UP:
            wrapup = self._longest_wrapup(slot)
            self._set(slot, AgentStatus.WRAP_UP, now, scratch)
            self._wrapup_until[slot.agent.id] = now + wrapup
        else:
            self._set(slot, AgentStatus.AVAILABLE, now, scratch)
            slot.idle_since = restore.since
        slot.state = replace(slot.state, since=restore.since)

    def _logout(self, slot: _AgentSlot, now: float, out: list[Command]) -> None:
        if _defers_changes(slot.state):
            slot.logout_pending = True
            return
        self._release(slot, now, out)
        self._remove_agent(slot, now, out)

    def _remove_agent(self, slot: _AgentSlot, now: float, out: list[Command]) -> None:
        agent_id = slot.agent.id
        self._set(slot, AgentStatus.LOGGED_OUT, now, out)
        self._busy_until.pop(agent_id, None)
        for queue_id in slot.queue_ids:
            self._members[queue_id].discard(agent_id)
            self._available[queue_id].discard(agent_id)
        del self._agents[agent_id]
        self._release_emptied_queues(slot.queue_ids, now, out)

    def _pause(self, slot: _AgentSlot, reason: str, now: float, out: list[Command]) -> None:
        if _defers_changes(slot.state):
            slot.pending_pause = reason
            return
        slot.pending_pause = None
        self._release(slot, now, out)
        self._set(slot, AgentStatus.PAUSED, now, out, reason=reason)

    def _unpause(self, slot: _AgentSlot, now: float, out: list[Command]) -> None:
        slot.pending_pause = None
        if slot.state.status is AgentStatus.PAUSED:
            slot.no_answers = 0
            self._set(slot, AgentStatus.AVAILABLE, now, out)

    def _release(self, slot: _AgentSlot, now: float, out: list[Command]) -> None:
        """Withdraw a ring in progress (the agent is about to change status)."""
        call_id = slot.state.call_id
        if slot.state.status is AgentStatus.RESERVED and call_id is not None:
            waiter = self._waiting.get(call_id)
            if waiter is not None:
                self._withdraw_ring(slot, waiter, out)
            else:
                out.append(CancelRing(slot.agent.id, call_id))

    def _withdraw_ring(self, slot: _AgentSlot, waiter: _Waiter, out: list[Command]) -> None:
        out.append(CancelRing(slot.agent.id, waiter.caller.call_id))
        waiter.ringing.discard(slot.agent.id)

    def _answered(self, agent_id: str, call_id: str, now: float, out: list[Command]) -> None:
        slot = self._agents.get(agent_id)
        waiter = self._waiting.get(call_id)
        if slot is None or waiter is None or agent_id not in waiter.ringing:
            # Stale answer (caller gone or ring cancelled): adapter must hang the agent leg up.
            if slot is not None and slot.state.call_id == call_id:
                self._set(slot, AgentStatus.AVAILABLE, now, out)
            out.append(CancelRing(agent_id, call_id))
            return
        queue_id = waiter.caller.queue_id
        self._remove_waiter(waiter)
        waiter.ringing.discard(agent_id)
        self._cancel_rings(waiter, now, out)
        slot.no_answers = 0
        slot.calls_taken += 1
        slot.call_started = now
        slot.call_queue = queue_id
        self._set(slot, AgentStatus.ON_CALL, now, out, call_id=call_id)
        self._rr_last[queue_id] = agent_id
        waited = now - waiter.caller.joined_at
        counters = self._counters[queue_id]
        counters.answered += 1
        counters.total_wait_answered_s += waited
        if waited <= self._queues[queue_id].service_level_s:
            counters.answered_within_sl += 1
        out.append(CallerConnected(call_id, agent_id, waited))

    def _cancel_rings(self, waiter: _Waiter, now: float, out: list[Command]) -> None:
        for other in sorted(waiter.ringing):
            out.append(CancelRing(other, waiter.caller.call_id))
            other_slot = self._agents.get(other)
            if other_slot is not None and other_slot.state.status is AgentStatus.RESERVED:
                self._set(other_slot, AgentStatus.AVAILABLE, now, out)
        waiter.ringing.clear()

    def _ring_failed(
        self, agent_id: str, call_id: str, now: float, out: list[Command], count_no_answer: bool
    ) -> None:
        slot = self._agents.get(agent_id)
        if slot is None or slot.state.status is not AgentStatus.RESERVED:
            return
        if slot.state.call_id != call_id:
            return
        waiter = self._waiting.get(call_id)
        if waiter is not None:
            waiter.ringing.discard(agent_id)
            # Busy: the agent's busy_until already keeps it away from every caller.
            waiter.tried[agent_id] = now + RING_RETRY_S if count_no_answer else now
        if not count_no_answer:
            self._busy_until[agent_id] = now + BUSY_RETRY_S
            self._set(slot, AgentStatus.AVAILABLE, now, out)
            return
        slot.no_answers += 1
        limit = min((self._queues[q].max_no_answer for q in slot.queue_ids), default=0)
        if limit and slot.no_answers >= limit:
            self._set(slot, AgentStatus.PAUSED, now, out, reason=NO_ANSWER_REASON)
            out.append(AutoPauseAgent(agent_id, NO_ANSWER_REASON))
        else:
            self._set(slot, AgentStatus.AVAILABLE, now, out)

    def _call_ended(self, agent_id: str, now: float, out: list[Command]) -> None:
        slot = self._agents.get(agent_id)
        if slot is None or slot.state.status is not AgentStatus.ON_CALL:
            return
        talk = self._end_talk(slot, now)
        call_queue = slot.call_queue
        slot.call_queue = None
        # The wrap-up of the queue the call came from (its CDR says the same); the
        # longest of the agent's queues when that is unknown (a call across a restart).
        if call_queue in self._queues:
            wrapup = self._queues[call_queue].wrapup_s
        else:
            wrapup = self._longest_wrapup(slot)
        if call_queue in self._aht:
            self._aht[call_queue].add(talk + wrapup)
        self._after_call(slot, wrapup, now, out)

    def _end_talk(self, slot: _AgentSlot, now: float) -> float:
        """Add the call's talk time to the agent's and return it."""
        talk = now - slot.call_started if slot.call_started is not None else 0.0
        slot.talk_time_s += talk
        slot.call_started = None
        return talk

    def _after_call(
        self,
        slot: _AgentSlot,
        wrapup_s: float | None,
        now: float,
        out: list[Command],
        reason: str | None = None,
    ) -> None:
        """A deferred logout (no wrap-up), else ``wrapup_s`` of wrap-up (None: until
        WrapUpDone), else free (or the deferred pause) at once."""
        if slot.logout_pending:
            self._remove_agent(slot, now, out)
        elif wrapup_s is not None and wrapup_s <= 0:
            self._after_work(slot, now, out)
        else:
            self._set(slot, AgentStatus.WRAP_UP, now, out, reason=reason)
            if wrapup_s is not None:
                self._wrapup_until[slot.agent.id] = now + wrapup_s

    def _after_work(self, slot: _AgentSlot, now: float, out: list[Command]) -> None:
        reason = slot.pending_pause
        slot.pending_pause = None
        if reason is not None:
            self._set(slot, AgentStatus.PAUSED, now, out, reason=reason)
        else:
            self._set(slot, AgentStatus.AVAILABLE, now, out)

    # ---- outbound (agents lent to the dialer) ----

    def _not_free(
        self,
        agent_id: str,
        now: float,
        needs: dict[tuple[str, str | None], list[Mapping[str, int]]],
    ) -> str | None:
        """Why OutboundReserved refuses the agent now (None: it accepts). ``needs``
        caches each queue's _inbound_needs across the agents of one call."""
        slot = self._agents.get(agent_id)
        if slot is None:
            return "not logged in"
        state = slot.state
        if state.status is not AgentStatus.AVAILABLE:
            return _occupation(state)
        until = self._busy_until.get(agent_id)
        if until is not None:
            return f"device busy for another {max(0.0, until - now):.1f} s"
        for queue_id in sorted(slot.queue_ids):
            if not self._lines[queue_id]:
                continue
            cache_key = (queue_id, slot.server)
            if cache_key not in needs:
                needs[cache_key] = self._inbound_needs(queue_id, slot.server, now)
            if any(slot.agent.has_skills(required) for required in needs[cache_key]):
                return f"needed by inbound queue {queue_id}"
        return None

    def _inbound_needs(
        self, queue_id: str, server: str | None, now: float
    ) -> list[Mapping[str, int]]:
        """The distinct skill requirements of the callers on ``server`` waiting in the
        queue now, the ring retry ignored (a caller held back from an agent for a few
        seconds still needs the queue's agents) and virtual-hold callers included."""
        needs: dict[frozenset[tuple[str, int]], Mapping[str, int]] = {}
        for key in self._lines[queue_id]:
            waiter = self._waiting[key.call_id]
            if waiter.server != server:
                continue
            required, need = self._need(waiter, now)
            needs.setdefault(need, required)
        return list(needs.values())

    def _reserve_outbound(
        self, agent_id: str, call_id: str, now: float, out: list[Command]
    ) -> None:
        refusal = self._not_free(agent_id, now, {})
        if refusal is not None:
            raise AgentNotFree(agent_id, refusal)
        slot = self._agents[agent_id]
        self._set(slot, AgentStatus.RESERVED, now, out, OUTBOUND_REASON, call_id)

    def _outbound_slot(self, agent_id: str, call_id: str, status: AgentStatus) -> _AgentSlot:
        """The agent, if it is ``status`` for the outbound call ``call_id``."""
        slot = self._slot(agent_id)
        state = slot.state
        if (state.status, state.reason, state.call_id) != (status, OUTBOUND_REASON, call_id):
            raise NotOutboundCall(agent_id, call_id, status, state)
        return slot

    def _release_outbound(self, slot: _AgentSlot, now: float, out: list[Command]) -> None:
        if slot.logout_pending:
            self._remove_agent(slot, now, out)
            return
        idle_since = slot.idle_since
        self._after_work(slot, now, out)
        # The reservation gave the agent no work: it keeps its place in longest-idle order.
        slot.idle_since = idle_since

    # ---- callers ----

    def _join(self, caller: WaitingCaller, now: float, out: list[Command]) -> None:
        queue = self._queues.get(caller.queue_id)
        existing = self._waiting.get(caller.call_id)
        if existing is not None:
            if _on_hold(existing):
                self._callback_returned(existing, caller.channel, now)
            # Otherwise a repeat (e.g. a resync after reconnect): already waiting.
            return
        if queue is None:
            raise UnknownQueue(caller.queue_id)
        self._counters[queue.id].offered += 1
        server = caller.server or self._default_server
        self._caller_servers.add(server)
        waiter = _Waiter(caller, _key(caller), entered_at=now, visited={queue.id}, server=server)
        if queue.max_len is not None and len(self._lines[queue.id]) >= queue.max_len:
            self._send_away(waiter, queue, "queue_full", now, out)
        elif not self._serves(queue.id, server):
            self._send_away(waiter, queue, "no_agents", now, out)
        else:
            self._add_waiter(waiter)

    def _serves(self, queue_id: str, server: str | None) -> bool:
        """Whether an agent of the queue is logged in on ``server``."""
        agents = self._agents
        return any(agents[agent_id].server == server for agent_id in self._members[queue_id])

    def _add_waiter(self, waiter: _Waiter) -> None:
        self._refresh_need(waiter)
        self._waiting[waiter.caller.call_id] = waiter
        bisect.insort(self._lines[waiter.caller.queue_id], waiter.key)

    def _remove_waiter(self, waiter: _Waiter) -> None:
        del self._waiting[waiter.caller.call_id]
        self._calling_back.discard(waiter.caller.call_id)
        line = self._lines[waiter.caller.queue_id]
        index = bisect.bisect_left(line, waiter.key)
        del line[index]

    def _caller_left(self, call_id: str, now: float, out: list[Command]) -> None:
        waiter = self._waiting.get(call_id)
        if waiter is None or _on_hold(waiter):
            # Virtual hold: the original channel hangs up after asking for the call back.
            return
        self._remove_waiter(waiter)
        self._cancel_rings(waiter, now, out)
        queue_id = waiter.caller.queue_id
        waited = now - waiter.caller.joined_at
        counters = self._counters[queue_id]
        if waiter.callback == _Callback.RETURNED:
            counters.callbacks_dropped += 1
            out.append(CallbackDropped(call_id, queue_id, "caller_left", waited))
            return
        counters.abandoned += 1
        if waited < self._queues[queue_id].service_level_s:
            counters.abandoned_within_sl += 1
        out.append(CallerAbandoned(call_id, waited))

    def _callback_requested(
        self, call_id: str, number: str, now: float, out: list[Command]
    ) -> None:
        waiter = self._waiting.get(call_id)
        if waiter is None:
            raise UnknownCall(call_id)
        if _on_hold(waiter):
            waiter.callback_number = number
            return
        self._cancel_rings(waiter, now, out)
        waiter.callback = _Callback.WAITING
        waiter.callback_number = number
        waiter.callback_failures = 0
        waiter.callback_not_before = now
        self._counters[waiter.caller.queue_id].callbacks += 1

    def _callback_returned(self, waiter: _Waiter, channel: str, now: float) -> None:
        self._remove_waiter(waiter)
        caller = replace(waiter.caller, channel=channel)
        waiter.caller = caller
        waiter.key = _LineKey(float("-inf"), caller.joined_at, caller.call_id)
        waiter.callback = _Callback.RETURNED
        self._calling_back.discard(caller.call_id)
        # Timers restart: the customer has just answered, not waited on the line.
        waiter.entered_at = now
        waiter.tried.clear()
        self._add_waiter(waiter)

    def _callback_failed(self, call_id: str, now: float, out: list[Command]) -> None:
        waiter = self._waiting.get(call_id)
        if waiter is None or waiter.callback != _Callback.CALLING:
            return
        waiter.callback_failures += 1
        if waiter.callback_failures > CALLBACK_RETRIES:
            self._remove_waiter(waiter)
            queue_id = waiter.caller.queue_id
            self._counters[queue_id].callbacks_dropped += 1
            waited = now - waiter.caller.joined_at
            out.append(CallbackDropped(call_id, queue_id, "no_answer", waited))
            return
        waiter.callback = _Callback.WAITING
        self._calling_back.discard(call_id)
        waiter.callback_not_before = now + CALLBACK_RETRY_DELAY_S

    def _send_away(
        self, waiter: _Waiter, queue: Queue, reason: str, now: float, out: list[Command]
    ) -> None:
        """Move the caller to its queue's destination for ``reason``: another queue inside
        the engine when the target is ``queue:<known id>``, else an Overflow command."""
        in_line = waiter.caller.call_id in self._waiting
        counters = self._counters.get(queue.id)
        if counters is not None:
            if reason == "max_wait":
                counters.timed_out += 1
            elif reason == "escalated":
                counters.escalated += 1
            else:
                counters.overflowed += 1
        if reason == "escalated":
            target: str | None = f"queue:{queue.escalate_to_queue}"
        elif reason == "no_agents" and queue.no_agents_target is not None:
            target = queue.no_agents_target
        else:
            target = queue.overflow_target
        caller = waiter.caller
        if target == "callback" and in_line and caller.number and waiter.callback == _Callback.NONE:
            # The call-back offer: the caller hangs up (thanked) and keeps their place.
            self._callback_requested(caller.call_id, caller.number, now, out)
            out.append(
                Overflow(caller.call_id, caller.channel, target, reason, now - caller.joined_at)
            )
            return
        if in_line:
            self._cancel_rings(waiter, now, out)
            self._remove_waiter(waiter)
        dest_id = queue_of(target)
        dest = self._queues.get(dest_id) if dest_id is not None else None
        if dest is None or dest.id in waiter.visited:
            if dest is not None:
                target = None  # back to a queue already tried: stop the loop
            waited = now - caller.joined_at
            if _on_hold(waiter):
                # No channel to send anywhere: the promised call back is given up.
                if counters is not None:
                    counters.callbacks_dropped += 1
                out.append(CallbackDropped(caller.call_id, queue.id, reason, waited))
                return
            out.append(Overflow(caller.call_id, caller.channel, target, reason, waited))
            return
        waiter.caller = replace(caller, queue_id=dest.id)
        waiter.visited.add(dest.id)
        waiter.entered_at = now
        waiter.tried.clear()
        out.append(CallerMoved(caller.call_id, queue.id, dest.id, reason))
        self._counters[dest.id].offered += 1
        if not self._serves(dest.id, waiter.server) and waiter.callback == _Callback.NONE:
            self._send_away(waiter, dest, "no_agents", now, out)
            return
        self._add_waiter(waiter)
        if waiter.callback == _Callback.CALLING:
            self._calling_back.add(caller.call_id)

    # ---- time ----

    def _tick(self, now: float, out: list[Command]) -> None:
        for agent_id, until in list(self._busy_until.items()):
            if now >= until:
                del self._busy_until[agent_id]
                slot = self._agents[agent_id]
                if slot.state.status is AgentStatus.AVAILABLE:
                    for queue_id in slot.queue_ids:
                        self._available[queue_id].add(agent_id)
        for agent_id, until in list(self._wrapup_until.items()):
            if now >= until:
                self._after_work(self._agents[agent_id], now, out)
        for agent_id, deadline in list(self._ring_deadline.items()):
            slot = self._agents[agent_id]
            call_id = slot.state.call_id
            if now >= deadline and call_id is not None:
                out.append(CancelRing(agent_id, call_id))
                self._ring_failed(agent_id, call_id, now, out, count_no_answer=True)
        for queue_id, queue in self._queues.items():
            if queue.max_wait_s is None and queue.escalate_to_queue is None:
                continue
            for key in list(self._lines[queue_id]):
                waiter = self._waiting[key.call_id]
                if _on_hold(waiter):
                    continue  # no channel to send anywhere; its place is kept
                in_queue = now - waiter.entered_at
                if queue.max_wait_s is not None and in_queue >= queue.max_wait_s:
                    self._send_away(waiter, queue, "max_wait", now, out)
                elif (
                    queue.escalate_to_queue is not None
                    and queue.escalate_after_s is not None
                    and in_queue >= queue.escalate_after_s
                    and queue.escalate_to_queue in self._queues
                    and queue.escalate_to_queue not in waiter.visited
                    and not waiter.ringing
                ):
                    self._send_away(waiter, queue, "escalated", now, out)

    # ---- distribution ----

    def _refresh_need(self, waiter: _Waiter) -> None:
        caller = waiter.caller
        queue = self._queues[caller.queue_id]
        if caller.required_skills:
            waiter.required = {**queue.required_skills, **caller.required_skills}
        else:
            waiter.required = queue.required_skills
        waiter.need = frozenset(waiter.required.items())

    def _escalated(self, waiter: _Waiter, now: float) -> bool:
        queue = self._queues[waiter.caller.queue_id]
        return (
            queue.escalate_after_s is not None
            and queue.escalate_to_queue is None
            and now - waiter.entered_at >= queue.escalate_after_s
        )

    def _required(self, waiter: _Waiter, now: float) -> Mapping[str, int]:
        if self._escalated(waiter, now):
            return self._queues[waiter.caller.queue_id].escalated_skills
        return waiter.required

    def _need(
        self, waiter: _Waiter, now: float
    ) -> tuple[Mapping[str, int], frozenset[tuple[str, int]]]:
        """The skills the caller needs now, and the same as a hashable set."""
        if self._escalated(waiter, now):
            required = self._queues[waiter.caller.queue_id].escalated_skills
            return required, frozenset(required.items())
        return waiter.required, waiter.need

    def _dispatch(self, now: float, out: list[Command]) -> None:
        # Only queues with an available agent and a waiting caller can make progress.
        active = [q for q, free in self._available.items() if free and self._lines[q]]
        if not active:
            return
        lines = [self._lines[q] for q in active]
        # Global service order across the queues an agent may serve (lines are not
        # mutated while iterating: ringing and callbacks keep callers in line).
        ordered: Iterable[_LineKey] = lines[0] if len(lines) == 1 else heapq.merge(*lines)
        hopeless: set[tuple[str, str | None, frozenset[tuple[str, int]]]] = set()
        agents = self._agents
        for key in ordered:
            waiter = self._waiting[key.call_id]
            if waiter.ringing or waiter.callback is _CALLBACK_CALLING:
                continue
            queue_id = waiter.caller.queue_id
            free = self._available[queue_id]
            if not free:
                if not any(self._available[q] for q in active):
                    return
                continue
            # _need, inlined: one call less per waiter is ~10% of a pass over 1,000.
            server = waiter.server
            if self._escalated(waiter, now):
                required = self._queues[queue_id].escalated_skills
                need = (queue_id, server, frozenset(required.items()))
            else:
                required = waiter.required
                need = (queue_id, server, waiter.need)
            if need in hopeless:
                continue
            # Queues are per server: only agents on the caller's server.
            eligible = [
                slot
                for slot in (agents[a] for a in free)
                if slot.server == server and slot.agent.has_skills(required)
            ]
            if not eligible:
                # Availability only shrinks during a pass: same need, same answer.
                hopeless.add(need)
                continue
            if waiter.callback is _CALLBACK_WAITING:
                self._offer_callback(waiter, len(eligible), now, out)
                continue
            self._ring(waiter, eligible, required, now, out)

    def _offer_callback(
        self, waiter: _Waiter, eligible: int, now: float, out: list[Command]
    ) -> None:
        if now < waiter.callback_not_before:
            return
        # One customer being called per available eligible agent: more would have them
        # wait on the line again, fewer would leave the agent idle for no one.
        queue_id = waiter.caller.queue_id
        calling = sum(
            1
            for call_id in self._calling_back
            if self._waiting[call_id].caller.queue_id == queue_id
            and self._waiting[call_id].server == waiter.server
        )
        if calling >= eligible:
            return
        waiter.callback = _Callback.CALLING
        self._calling_back.add(waiter.caller.call_id)
        out.append(PlaceCallback(waiter.caller.call_id, queue_id, waiter.callback_number))

    def _ring(
        self,
        waiter: _Waiter,
        eligible: list[_AgentSlot],
        required: Mapping[str, int],
        now: float,
        out: list[Command],
    ) -> None:
        caller = waiter.caller
        queue = self._queues[caller.queue_id]
        # Ring no answer -> next agent: untried agents first; one who let this caller's ring
        # time out only after RING_RETRY_S (the caller stays first for whoever frees up).
        tried = waiter.tried
        offered = [s for s in eligible if s.agent.id not in tried]
        if not offered:
            offered = [s for s in eligible if tried[s.agent.id] <= now]
            if not offered:
                return
        ordered = order_candidates(
            queue.strategy,
            [_candidate(s) for s in offered],
            required,
            self._rr_last.get(queue.id),
            self._rng,
        )
        chosen = ordered if queue.strategy is Strategy.RING_ALL else ordered[:1]
        for cand in chosen:
            slot = self._agents[cand.agent_id]
            self._set(slot, AgentStatus.RESERVED, now, out, call_id=caller.call_id)
            self._ring_deadline[cand.agent_id] = now + queue.ring_timeout_s
            waiter.ringing.add(cand.agent_id)
            out.append(
                RingAgent(
                    cand.agent_id,
                    slot.agent.interface,
                    caller.call_id,
                    caller.channel,
                    queue.ring_timeout_s,
                    waiter.server,
                )
            )


def _defers_changes(state: AgentState) -> bool:
    """On a call, or reserved for one the dialer may be connecting this very moment: a
    pause or logout waits for the end of it."""
    status = state.status
    return status is AgentStatus.ON_CALL or (
        status is AgentStatus.RESERVED and state.reason == OUTBOUND_REASON
    )


def _occupation(state: AgentState) -> str:
    """What a logged-in agent who is not AVAILABLE is doing, for AgentNotFree."""
    match state.status:
        case AgentStatus.PAUSED:
            return f"paused ({state.reason})"
        case AgentStatus.RESERVED if state.reason == OUTBOUND_REASON:
            return f"reserved for outbound call {state.call_id}"
        case AgentStatus.RESERVED:
            return "ringing for a queue caller"
        case AgentStatus.WRAP_UP:
            return "in wrap-up"
        case _:
            return "on a call"


def _candidate(slot: _AgentSlot) -> Candidate:
    return Candidate(
        agent_id=slot.agent.id,
        skills=slot.agent.skills,
        idle_since=slot.idle_since,
        calls_taken=slot.calls_taken,
        talk_time_s=slot.talk_time_s,
        position=slot.position,
    )
