"""Building blocks for the ACD engine's unit tests: agents, callers, one engine step.

Moved out of test_acd_engine.py (test_acd_callback, test_acd_routing, test_acd_session and
test_acd_stats import these); test_acd_engine.py keeps its own copy until its concurrent
rewrite lands and it imports them from here."""

from __future__ import annotations

from ccd.acd.engine import AcdEngine, AgentStateChanged, Command, Event, RingAgent
from ccd.acd.model import Agent, WaitingCaller


def agent(agent_id: str, **skills: int) -> Agent:
    return Agent(agent_id, f"PJSIP/{agent_id}", skills)


def caller(
    call_id: str, at: float = 0.0, queue: str = "q", priority: int = 0, **skills: int
) -> WaitingCaller:
    return WaitingCaller(call_id, f"PJSIP/c-{call_id}", queue, at, priority, skills)


def act(e: AcdEngine, event: Event, now: float) -> list[Command]:
    """The engine's commands minus the agent session log (tested on its own)."""
    return [c for c in e.handle(event, now) if not isinstance(c, AgentStateChanged)]


def rings(cmds: list[Command]) -> list[tuple[str, str]]:
    """(agent, caller) of every RingAgent in ``cmds``."""
    return [(c.agent_id, c.call_id) for c in cmds if isinstance(c, RingAgent)]
