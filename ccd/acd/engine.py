"""ACD decision engine: events in, commands out, no IO (h11 style).

The adapter feeds events with ``now`` (float seconds, monotonic) and executes the
returned commands (RingAgent -> Originate Channel=<interface> Application=Bridge
Data=<caller channel>). Tick(now) drives ring timeouts, wrap-up, max wait and escalation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccd.acd.model import Agent, AgentState, AgentStatus, Queue, Strategy, WaitingCaller
from ccd.acd.strategies import Candidate, order_candidates

# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    agent: Agent
    queue_ids: frozenset[str]


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
class CallerJoined:
    caller: WaitingCaller


@dataclass(frozen=True, slots=True)
class CallerLeft:
    """The caller hung up while waiting (abandon)."""

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
class Tick:
    pass


Event = (
    AgentLoggedIn
    | AgentLoggedOut
    | AgentPaused
    | AgentUnpaused
    | CallerJoined
    | CallerLeft
    | AgentAnswered
    | AgentNoAnswer
    | AgentBusy
    | CallEnded
    | Tick
)

# ---- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RingAgent:
    agent_id: str
    interface: str
    call_id: str
    caller_channel: str
    timeout_s: float


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
    reason: str  # "max_wait" | "queue_full" | "no_agents"
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallerConnected:
    call_id: str
    agent_id: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    call_id: str
    waited_s: float


Command = RingAgent | CancelRing | AutoPauseAgent | Overflow | CallerConnected | CallerAbandoned

NO_ANSWER_REASON = "no-answer"


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
    ring_deadline: float | None = None
    call_started: float | None = None
    wrapup_until: float | None = None


@dataclass(slots=True)
class _Waiter:
    caller: WaitingCaller
    ringing: set[str] = field(default_factory=set)
    tried: set[str] = field(default_factory=set)


class UnknownQueue(KeyError):
    pass


class AcdEngine:
    def __init__(self, queues: Mapping[str, Queue], rng: random.Random | None = None) -> None:
        self._queues = dict(queues)
        self._rng = rng or random.Random(0)
        self._agents: dict[str, _AgentSlot] = {}
        self._waiting: dict[str, _Waiter] = {}
        self._rr_last: dict[str, str] = {}
        self._next_position = 0

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

    def waiting(self) -> list[WaitingCaller]:
        return [w.caller for w in self._waiting.values()]

    def ringing_for(self, call_id: str) -> frozenset[str]:
        waiter = self._waiting.get(call_id)
        return frozenset(waiter.ringing) if waiter else frozenset()

    def required_skills(self, call_id: str, now: float) -> Mapping[str, int]:
        return self._required(self._waiting[call_id].caller, now)

    # ---- write side ----

    def handle(self, event: Event, now: float) -> list[Command]:
        out: list[Command] = []
        match event:
            case AgentLoggedIn(agent=agent, queue_ids=queue_ids):
                self._login(agent, queue_ids, now)
            case AgentLoggedOut(agent_id=agent_id):
                self._release_agent(agent_id, now, out, AgentStatus.LOGGED_OUT, None)
                self._agents.pop(agent_id, None)
            case AgentPaused(agent_id=agent_id, reason=reason):
                self._pause(agent_id, reason, now, out)
            case AgentUnpaused(agent_id=agent_id):
                slot = self._agents.get(agent_id)
                if slot is not None and slot.state.status is AgentStatus.PAUSED:
                    slot.no_answers = 0
                    self._set(slot, AgentStatus.AVAILABLE, now)
            case CallerJoined(caller=caller):
                self._join(caller, now, out)
            case CallerLeft(call_id=call_id):
                waiter = self._waiting.pop(call_id, None)
                if waiter is not None:
                    self._cancel_rings(waiter, now, out, except_agent=None)
                    out.append(CallerAbandoned(call_id, now - waiter.caller.joined_at))
            case AgentAnswered(agent_id=agent_id, call_id=call_id):
                self._answered(agent_id, call_id, now, out)
            case AgentNoAnswer(agent_id=agent_id, call_id=call_id):
                self._ring_failed(agent_id, call_id, now, out, count_no_answer=True)
            case AgentBusy(agent_id=agent_id, call_id=call_id):
                self._ring_failed(agent_id, call_id, now, out, count_no_answer=False)
            case CallEnded(agent_id=agent_id):
                self._call_ended(agent_id, now)
            case Tick():
                self._tick(now, out)
        self._dispatch(now, out)
        return out

    # ---- transitions ----

    def _set(
        self,
        slot: _AgentSlot,
        status: AgentStatus,
        now: float,
        reason: str | None = None,
        call_id: str | None = None,
    ) -> None:
        if status is AgentStatus.AVAILABLE:
            slot.idle_since = now
        if status is not AgentStatus.RESERVED:
            slot.ring_deadline = None
        slot.state = AgentState(status, since=now, reason=reason, call_id=call_id)

    def _login(self, agent: Agent, queue_ids: frozenset[str], now: float) -> None:
        unknown = queue_ids - self._queues.keys()
        if unknown:
            raise UnknownQueue(sorted(unknown))
        slot = self._agents.get(agent.id)
        if slot is not None:
            # Re-login (e.g. queue membership change) keeps state and counters.
            slot.agent = agent
            slot.queue_ids = queue_ids
            return
        self._agents[agent.id] = _AgentSlot(
            agent=agent,
            queue_ids=queue_ids,
            position=self._next_position,
            state=AgentState(AgentStatus.AVAILABLE, since=now),
            idle_since=now,
        )
        self._next_position += 1

    def _pause(self, agent_id: str, reason: str, now: float, out: list[Command]) -> None:
        slot = self._agents.get(agent_id)
        if slot is None:
            return
        status = slot.state.status
        if status is AgentStatus.RESERVED:
            self._release_agent(agent_id, now, out, AgentStatus.PAUSED, reason)
        elif status in (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP, AgentStatus.PAUSED):
            slot.wrapup_until = None
            self._set(slot, AgentStatus.PAUSED, now, reason=reason)
        # On call: the pause is refused; the agent pauses again after the call.

    def _release_agent(
        self,
        agent_id: str,
        now: float,
        out: list[Command],
        status: AgentStatus,
        reason: str | None,
    ) -> None:
        """Cancel any ring for the agent and move it to `status`."""
        slot = self._agents.get(agent_id)
        if slot is None:
            return
        call_id = slot.state.call_id
        if slot.state.status is AgentStatus.RESERVED and call_id is not None:
            out.append(CancelRing(agent_id, call_id))
            waiter = self._waiting.get(call_id)
            if waiter is not None:
                waiter.ringing.discard(agent_id)
        self._set(slot, status, now, reason=reason)

    def _join(self, caller: WaitingCaller, now: float, out: list[Command]) -> None:
        queue = self._queues.get(caller.queue_id)
        if queue is None:
            raise UnknownQueue(caller.queue_id)
        in_queue = sum(1 for w in self._waiting.values() if w.caller.queue_id == queue.id)
        if queue.max_len is not None and in_queue >= queue.max_len:
            out.append(
                Overflow(caller.call_id, caller.channel, queue.overflow_target, "queue_full", 0.0)
            )
            return
        if not any(queue.id in s.queue_ids for s in self._agents.values()):
            out.append(
                Overflow(caller.call_id, caller.channel, queue.overflow_target, "no_agents", 0.0)
            )
            return
        self._waiting[caller.call_id] = _Waiter(caller)

    def _answered(self, agent_id: str, call_id: str, now: float, out: list[Command]) -> None:
        slot = self._agents.get(agent_id)
        waiter = self._waiting.get(call_id)
        if slot is None or waiter is None or agent_id not in waiter.ringing:
            # Stale answer (caller gone or ring cancelled): adapter must hang the agent leg up.
            if slot is not None and slot.state.call_id == call_id:
                self._set(slot, AgentStatus.AVAILABLE, now)
            out.append(CancelRing(agent_id, call_id))
            return
        del self._waiting[call_id]
        waiter.ringing.discard(agent_id)
        self._cancel_rings(waiter, now, out, except_agent=agent_id)
        slot.no_answers = 0
        slot.calls_taken += 1
        slot.call_started = now
        self._set(slot, AgentStatus.ON_CALL, now, call_id=call_id)
        self._rr_last[waiter.caller.queue_id] = agent_id
        out.append(CallerConnected(call_id, agent_id, now - waiter.caller.joined_at))

    def _cancel_rings(
        self, waiter: _Waiter, now: float, out: list[Command], except_agent: str | None
    ) -> None:
        for other in sorted(waiter.ringing):
            if other == except_agent:
                continue
            out.append(CancelRing(other, waiter.caller.call_id))
            other_slot = self._agents.get(other)
            if other_slot is not None and other_slot.state.status is AgentStatus.RESERVED:
                self._set(other_slot, AgentStatus.AVAILABLE, now)
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
            waiter.tried.add(agent_id)
        if not count_no_answer:
            self._set(slot, AgentStatus.AVAILABLE, now)
            return
        slot.no_answers += 1
        limit = min(
            (self._queues[q].max_no_answer for q in slot.queue_ids if q in self._queues),
            default=0,
        )
        if limit and slot.no_answers >= limit:
            self._set(slot, AgentStatus.PAUSED, now, reason=NO_ANSWER_REASON)
            out.append(AutoPauseAgent(agent_id, NO_ANSWER_REASON))
        else:
            self._set(slot, AgentStatus.AVAILABLE, now)

    def _call_ended(self, agent_id: str, now: float) -> None:
        slot = self._agents.get(agent_id)
        if slot is None or slot.state.status is not AgentStatus.ON_CALL:
            return
        if slot.call_started is not None:
            slot.talk_time_s += now - slot.call_started
        slot.call_started = None
        wrapup = max(
            (self._queues[q].wrapup_s for q in slot.queue_ids if q in self._queues), default=0.0
        )
        if wrapup > 0:
            slot.wrapup_until = now + wrapup
            self._set(slot, AgentStatus.WRAP_UP, now)
        else:
            self._set(slot, AgentStatus.AVAILABLE, now)

    def _tick(self, now: float, out: list[Command]) -> None:
        for slot in self._agents.values():
            wrapup_until = slot.wrapup_until
            if slot.state.status is AgentStatus.WRAP_UP and wrapup_until is not None:
                if now < wrapup_until:
                    continue
                slot.wrapup_until = None
                self._set(slot, AgentStatus.AVAILABLE, now)
        for slot in list(self._agents.values()):
            call_id = slot.state.call_id
            if (
                slot.state.status is AgentStatus.RESERVED
                and slot.ring_deadline is not None
                and now >= slot.ring_deadline
                and call_id is not None
            ):
                out.append(CancelRing(slot.agent.id, call_id))
                self._ring_failed(slot.agent.id, call_id, now, out, count_no_answer=True)
        for call_id, waiter in list(self._waiting.items()):
            caller = waiter.caller
            queue = self._queues[caller.queue_id]
            waited = now - caller.joined_at
            if queue.max_wait_s is not None and waited >= queue.max_wait_s:
                del self._waiting[call_id]
                self._cancel_rings(waiter, now, out, except_agent=None)
                out.append(
                    Overflow(call_id, caller.channel, queue.overflow_target, "max_wait", waited)
                )

    # ---- distribution ----

    def _required(self, caller: WaitingCaller, now: float) -> Mapping[str, int]:
        queue = self._queues[caller.queue_id]
        if queue.escalate_after_s is not None and now - caller.joined_at >= queue.escalate_after_s:
            return queue.escalated_skills
        return {**queue.required_skills, **caller.required_skills}

    def _dispatch(self, now: float, out: list[Command]) -> None:
        pending = sorted(
            (w for w in self._waiting.values() if not w.ringing),
            key=lambda w: (-w.caller.priority, w.caller.joined_at, w.caller.call_id),
        )
        for waiter in pending:
            caller = waiter.caller
            queue = self._queues[caller.queue_id]
            required = self._required(caller, now)
            eligible = [
                s
                for s in self._agents.values()
                if s.state.status is AgentStatus.AVAILABLE
                and queue.id in s.queue_ids
                and s.agent.has_skills(required)
            ]
            if not eligible:
                continue
            # Ring no answer -> next agent: untried agents first, retry the tried ones after.
            untried = [s for s in eligible if s.agent.id not in waiter.tried]
            if not untried:
                waiter.tried.clear()
                untried = eligible
            ordered = order_candidates(
                queue.strategy,
                [_candidate(s) for s in untried],
                required,
                self._rr_last.get(queue.id),
                self._rng,
            )
            chosen = ordered if queue.strategy is Strategy.RING_ALL else ordered[:1]
            for cand in chosen:
                slot = self._agents[cand.agent_id]
                self._set(slot, AgentStatus.RESERVED, now, call_id=caller.call_id)
                slot.ring_deadline = now + queue.ring_timeout_s
                waiter.ringing.add(cand.agent_id)
                out.append(
                    RingAgent(
                        cand.agent_id,
                        slot.agent.interface,
                        caller.call_id,
                        caller.channel,
                        queue.ring_timeout_s,
                    )
                )


def _candidate(slot: _AgentSlot) -> Candidate:
    return Candidate(
        agent_id=slot.agent.id,
        skills=slot.agent.skills,
        idle_since=slot.idle_since,
        calls_taken=slot.calls_taken,
        talk_time_s=slot.talk_time_s,
        position=slot.position,
    )
