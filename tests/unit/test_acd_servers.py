"""Queues are per Asterisk server: a caller is offered only agents on its own server.

Two servers, "east" (the default) and "west"; strategies, skills and overflow routes are
the ones of a single server, applied to the agents of the caller's server."""

from dataclasses import replace

import pytest

from ccd.acd.engine import (
    AcdEngine,
    AgentAnswered,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotFree,
    AgentPaused,
    AgentUnpaused,
    CallbackRequested,
    CallEnded,
    CallerConnected,
    CallerJoined,
    CallerMoved,
    OutboundReserved,
    Overflow,
    PlaceCallback,
    RingAgent,
    Tick,
)
from ccd.acd.model import Agent, Queue, Strategy, WaitingCaller
from tests.unit.acdengine import act, rings


def agent(agent_id: str, server: str | None, **skills: int) -> Agent:
    return Agent(agent_id, f"PJSIP/{agent_id}", skills, server=server)


def caller(
    call_id: str, server: str | None, at: float = 0.0, queue: str = "q", **skills: int
) -> WaitingCaller:
    return WaitingCaller(call_id, f"PJSIP/c-{call_id}", queue, at, 0, skills, server=server)


def engine(*queues: Queue) -> AcdEngine:
    return AcdEngine({q.id: q for q in queues or (Queue("q"),)}, default_server="east")


def login(e: AcdEngine, *agents: Agent, queues: frozenset[str] = frozenset({"q"})) -> None:
    for a in agents:
        e.handle(AgentLoggedIn(a, queues), 0)


def test_idle_agent_on_another_server_is_not_rung_the_callers_own_agent_is() -> None:
    e = engine()
    login(e, agent("e1", "east"), agent("w1", "west"))
    e.handle(AgentPaused("e1", "lunch"), 0)

    assert act(e, CallerJoined(caller("c", "east")), 1) == []  # w1 is idle, on west
    assert e.position("c") == 1

    cmds = act(e, AgentUnpaused("e1"), 5)
    assert cmds == [RingAgent("e1", "PJSIP/e1", "c", "PJSIP/c-c", 15.0, "east")]
    assert act(e, AgentAnswered("e1", "c"), 6) == [CallerConnected("c", "e1", 6)]


def test_each_server_rings_its_own_agent() -> None:
    e = engine()
    login(e, agent("e1", "east"), agent("w1", "west"))
    west = act(e, CallerJoined(caller("cw", "west")), 1)
    east = act(e, CallerJoined(caller("ce", "east")), 1)
    assert [(c.agent_id, c.call_id, c.server) for c in west if isinstance(c, RingAgent)] == [
        ("w1", "cw", "west")
    ]
    assert [(c.agent_id, c.call_id, c.server) for c in east if isinstance(c, RingAgent)] == [
        ("e1", "ce", "east")
    ]


def test_none_is_the_default_server_on_either_side() -> None:
    e = engine()
    login(e, agent("w1", "west"), agent("d1", None))
    # A caller without a server is on the default server (east): d1, not w1.
    assert rings(act(e, CallerJoined(caller("c1", None)), 1)) == [("d1", "c1")]
    act(e, AgentAnswered("d1", "c1"), 2)
    act(e, CallEnded("d1"), 3)
    # An agent without a server serves callers of the default server named explicitly.
    cmds = act(e, CallerJoined(caller("c2", "east")), 4)
    assert [(c.agent_id, c.server) for c in cmds if isinstance(c, RingAgent)] == [("d1", "east")]


def test_single_server_engine_without_names_is_unchanged() -> None:
    e = AcdEngine({"q": Queue("q")})
    login(e, agent("a", None))
    cmds = act(e, CallerJoined(caller("c", None)), 1)
    assert cmds == [RingAgent("a", "PJSIP/a", "c", "PJSIP/c-c", 15.0, None)]


def test_ring_all_rings_every_agent_of_the_callers_server_only() -> None:
    e = engine(Queue("q", strategy=Strategy.RING_ALL))
    login(e, agent("e1", "east"), agent("w1", "west"), agent("e2", "east"))
    cmds = act(e, CallerJoined(caller("c", "east")), 1)
    assert sorted(rings(cmds)) == [("e1", "c"), ("e2", "c")]


def test_skills_choose_among_the_callers_servers_agents() -> None:
    e = engine(Queue("q", strategy=Strategy.SKILLS_BASED))
    login(e, agent("w-expert", "west", french=9), agent("e-basic", "east", french=2))
    login(e, agent("e-none", "east"))
    cmds = act(e, CallerJoined(caller("c", "east", french=1)), 1)
    assert rings(cmds) == [("e-basic", "c")]
    # Nobody on east has french 5: the west expert is not rung, the caller waits.
    assert rings(act(e, CallerJoined(caller("c2", "east", french=5)), 2)) == []


def test_caller_joining_with_no_agent_on_its_server_goes_to_no_agents_route() -> None:
    e = engine(Queue("q", no_agents_target="voicemail:100"))
    login(e, agent("w1", "west"))
    assert act(e, CallerJoined(caller("c", "east")), 1) == [
        Overflow("c", "PJSIP/c-c", "voicemail:100", "no_agents", 1.0)
    ]


def test_last_agent_of_a_server_leaving_sends_only_that_servers_callers_away() -> None:
    e = engine(Queue("q", no_agents_target="voicemail:100"))
    login(e, agent("e1", "east"), agent("w1", "west"))
    for a in ("e1", "w1"):
        e.handle(AgentPaused(a, "x"), 0)
    act(e, CallerJoined(caller("ce", "east")), 1)
    act(e, CallerJoined(caller("cw", "west")), 1)
    cmds = act(e, AgentLoggedOut("e1"), 2)
    assert cmds == [Overflow("ce", "PJSIP/c-ce", "voicemail:100", "no_agents", 2.0)]
    assert [c.call_id for c in e.waiting_in("q")] == ["cw"]


def test_agent_moved_to_another_server_releases_its_old_servers_callers() -> None:
    e = engine(Queue("q", no_agents_target="voicemail:100"))
    login(e, agent("a", "east"))
    e.handle(AgentPaused("a", "x"), 0)
    act(e, CallerJoined(caller("c", "east")), 1)
    cmds = act(e, AgentLoggedIn(agent("a", "west"), frozenset({"q"})), 2)
    assert cmds == [Overflow("c", "PJSIP/c-c", "voicemail:100", "no_agents", 2.0)]


def test_overflow_target_queue_keeps_the_callers_server() -> None:
    e = engine(
        Queue("q", max_wait_s=10, overflow_target="queue:backup"),
        Queue("backup"),
    )
    login(e, agent("e1", "east"))
    login(e, agent("e2", "east"), agent("w2", "west"), queues=frozenset({"backup"}))
    for a in ("e1", "e2"):
        e.handle(AgentPaused(a, "x"), 0)
    act(e, CallerJoined(caller("c", "east")), 0)
    # Moved to backup where w2 is idle: still not rung, w2 is on west.
    assert act(e, Tick(), 10) == [CallerMoved("c", "q", "backup", "max_wait")]
    cmds = act(e, AgentUnpaused("e2"), 11)
    assert [(c.agent_id, c.server) for c in cmds if isinstance(c, RingAgent)] == [("e2", "east")]


def test_overflow_into_a_queue_without_agents_on_the_callers_server() -> None:
    e = engine(
        Queue("q", max_wait_s=10, overflow_target="queue:backup"),
        Queue("backup", no_agents_target="voicemail:200"),
    )
    login(e, agent("e1", "east"))
    login(e, agent("w2", "west"), queues=frozenset({"backup"}))
    e.handle(AgentPaused("e1", "x"), 0)
    act(e, CallerJoined(caller("c", "east")), 0)
    assert act(e, Tick(), 10) == [
        CallerMoved("c", "q", "backup", "max_wait"),
        Overflow("c", "PJSIP/c-c", "voicemail:200", "no_agents", 10.0),
    ]


def test_position_and_estimated_wait_count_the_callers_server_only() -> None:
    e = engine()
    login(e, agent("e1", "east"), agent("w1", "west"), agent("w2", "west"))
    for a in ("e1", "w1", "w2"):
        e.handle(AgentPaused(a, "x"), 0)
    for i, (call_id, server) in enumerate([("e-a", "east"), ("w-a", "west"), ("e-b", "east")]):
        e.handle(CallerJoined(caller(call_id, server, at=float(i))), float(i))
    assert [e.position(c) for c in ("e-a", "w-a", "e-b")] == [1, 1, 2]
    # Paused agents do not serve: max(1, 0) on both servers.
    e.handle(AgentUnpaused("w1"), 3)  # rings w1 for w-a: serving on west is 1
    assert e.estimated_wait_s("e-b", 3) == pytest.approx(2 * 180.0)


def test_outbound_may_take_an_agent_whose_server_has_no_waiting_caller() -> None:
    e = engine()
    login(e, agent("e1", "east"), agent("w1", "west"))
    e.handle(AgentPaused("e1", "x"), 0)
    act(e, CallerJoined(caller("c", "east")), 1)
    e.handle(AgentUnpaused("e1"), 2)  # rings e1
    login(e, agent("e2", "east"))
    assert e.claimable(["e2", "w1"], 3) == ["w1"]
    with pytest.raises(AgentNotFree, match="needed by inbound queue q"):
        e.handle(OutboundReserved("e2", "out-1"), 3)
    e.handle(OutboundReserved("w1", "out-2"), 3)


def test_a_call_back_is_placed_only_when_an_agent_of_the_callers_server_is_free() -> None:
    e = engine()
    login(e, agent("e1", "east"), agent("w1", "west"))
    e.handle(AgentPaused("e1", "x"), 0)
    e.handle(AgentPaused("w1", "x"), 0)
    act(e, CallerJoined(replace(caller("c", "east"), number="5551234")), 0)
    e.handle(CallbackRequested("c", "5551234"), 1)
    assert act(e, AgentUnpaused("w1"), 2) == []
    assert act(e, AgentUnpaused("e1"), 3) == [PlaceCallback("c", "q", "5551234")]
