"""Blended ACD: the dialer borrows agents (OutboundReserved / Released / Connected /
Ended, WrapUpDone, claimable), inbound callers first. The last tests run the events
through the AcdService over the ACD fakes (no Asterisk, no database)."""

from collections.abc import Callable

import pytest

from ccd.acd.engine import (
    OUTBOUND_REASON,
    AcdEngine,
    AcdError,
    AgentAnswered,
    AgentBusy,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentNotFree,
    AgentPaused,
    AgentStateChanged,
    AgentUnpaused,
    CallbackRequested,
    CallEnded,
    CallerJoined,
    Command,
    NotOutboundCall,
    OutboundConnected,
    OutboundEnded,
    OutboundReleased,
    OutboundReserved,
    PlaceCallback,
    Tick,
    UnknownAgent,
    WrapUpDone,
)
from ccd.acd.model import Agent, AgentState, AgentStatus, Queue
from ccd.db.acd_store import SessionEntry
from ccd.domain.events import ResyncFinished
from tests.integration.acdfakes import T0, make_config, running_acd
from tests.unit.acdengine import act, agent, caller, rings

S = AgentStatus
OUT = OUTBOUND_REASON


def engine(**queue_kw: object) -> AcdEngine:
    return AcdEngine({"q": Queue("q", **queue_kw), "r": Queue("r")})  # type: ignore[arg-type]


def login(e: AcdEngine, *agents: Agent, at: float = 0.0, queue: str = "q") -> None:
    for a in agents:
        e.handle(AgentLoggedIn(a, frozenset({queue})), at)


def state(e: AcdEngine, agent_id: str) -> tuple[AgentStatus, str | None, str | None]:
    current = e.agent_state(agent_id)
    return current.status, current.reason, current.call_id


def changes(cmds: list[Command]) -> list[tuple[str, AgentStatus, str | None, str | None]]:
    return [
        (c.agent_id, c.status, c.reason, c.call_id)
        for c in cmds
        if isinstance(c, AgentStateChanged)
    ]


def reserved(*agent_ids: str, at: float = 0.0, **queue_kw: object) -> AcdEngine:
    """Agents logged in to q (in this order, one second apart), the first reserved for
    outbound call "o1" at ``at``."""
    e = engine(**queue_kw)
    for n, agent_id in enumerate(agent_ids):
        login(e, agent(agent_id), at=n)
    e.handle(OutboundReserved(agent_ids[0], "o1"), at)
    return e


# ---- the life of an outbound call ----------------------------------------------------


def test_reserved_agent_is_logged_once_and_never_offered_an_inbound_caller() -> None:
    e = engine()
    login(e, agent("a"))
    cmds = e.handle(OutboundReserved("a", "o1"), 10)
    assert changes(cmds) == [("a", S.RESERVED, OUT, "o1")]
    assert rings(act(e, CallerJoined(caller("c1", at=11)), 11)) == []
    assert rings(act(e, Tick(), 60)) == []
    assert [w.call_id for w in e.waiting()] == ["c1"]


def test_connected_then_ended_with_timed_wrap_up_counts_the_call() -> None:
    e = reserved("a", at=5)
    history = e.handle(OutboundConnected("a", "o1"), 10)
    history += e.handle(OutboundEnded("a", "o1", 15), 70)
    assert e.agent_counters("a") == (1, 60.0)
    history += e.handle(Tick(), 84.9)
    assert e.agent_state("a").status is S.WRAP_UP
    history += e.handle(Tick(), 85)
    assert changes(history) == [
        ("a", S.ON_CALL, OUT, "o1"),
        ("a", S.WRAP_UP, OUT, None),
        ("a", S.AVAILABLE, None, None),
    ]


def test_wrap_up_without_a_duration_lasts_until_the_agent_is_done() -> None:
    e = reserved("a")
    e.handle(OutboundConnected("a", "o1"), 10)
    e.handle(OutboundEnded("a", "o1", None), 20)
    e.handle(CallerJoined(caller("c1", at=21)), 21)
    assert rings(act(e, Tick(), 3600)) == []
    assert e.agent_state("a").status is S.WRAP_UP
    assert rings(act(e, WrapUpDone("a"), 3601)) == [("a", "c1")]


def test_zero_wrap_up_frees_the_agent_at_once() -> None:
    e = reserved("a")
    e.handle(OutboundConnected("a", "o1"), 10)
    cmds = e.handle(OutboundEnded("a", "o1", 0), 20)
    assert changes(cmds) == [("a", S.AVAILABLE, None, None)]


def test_wrap_up_done_ends_an_inbound_wrap_up_early_and_is_ignored_otherwise() -> None:
    e = engine(wrapup_s=30)
    login(e, agent("a"))
    e.handle(CallerJoined(caller("c1")), 0)
    e.handle(AgentAnswered("a", "c1"), 1)
    e.handle(CallEnded("a"), 60)
    e.handle(CallerJoined(caller("c2", at=61)), 61)
    assert rings(act(e, WrapUpDone("a"), 62)) == [("a", "c2")]
    # Ringing, or not logged in: a disposition posted late changes nothing.
    assert e.handle(WrapUpDone("a"), 63) == []
    assert e.handle(WrapUpDone("nobody"), 63) == []
    assert state(e, "a") == (S.RESERVED, None, "c2")


def test_release_dispatches_a_waiting_caller_at_once() -> None:
    e = reserved("a")
    e.handle(CallerJoined(caller("c1", at=1)), 1)
    cmds = e.handle(OutboundReleased("a", "o1"), 2)
    assert changes(cmds) == [("a", S.AVAILABLE, None, None), ("a", S.RESERVED, None, "c1")]
    assert rings(cmds) == [("a", "c1")]


def test_release_keeps_the_idle_time_from_before_the_reservation() -> None:
    # a idle since 0, b since 1: a reserved and released is still the longest idle.
    e = reserved("a", "b", at=10)
    e.handle(OutboundReleased("a", "o1"), 20)
    assert e.agent_state("a").since == 20
    assert e.claimable(["b", "a"], 25) == ["a", "b"]
    assert rings(act(e, CallerJoined(caller("c1", at=30)), 30)) == [("a", "c1")]


# ---- pause and logout while lent -----------------------------------------------------


def test_pause_while_reserved_applies_at_release() -> None:
    e = reserved("a")
    assert changes(e.handle(AgentPaused("a", "lunch"), 5)) == []
    assert state(e, "a") == (S.RESERVED, OUT, "o1")
    assert e.pending_pause("a") == "lunch"
    cmds = e.handle(OutboundReleased("a", "o1"), 6)
    assert changes(cmds) == [("a", S.PAUSED, "lunch", None)]


def test_pause_while_reserved_applies_after_the_call_and_its_wrap_up() -> None:
    e = reserved("a")
    e.handle(AgentPaused("a", "lunch"), 5)
    e.handle(OutboundConnected("a", "o1"), 6)
    e.handle(OutboundEnded("a", "o1", 10), 60)
    assert e.agent_state("a").status is S.WRAP_UP
    e.handle(Tick(), 70)
    assert state(e, "a") == (S.PAUSED, "lunch", None)


def test_unpause_while_reserved_forgets_the_pause() -> None:
    e = reserved("a")
    e.handle(AgentPaused("a", "lunch"), 5)
    e.handle(AgentUnpaused("a"), 6)
    e.handle(OutboundReleased("a", "o1"), 7)
    assert state(e, "a") == (S.AVAILABLE, None, None)


def test_logout_while_reserved_applies_at_release() -> None:
    e = reserved("a")
    assert changes(e.handle(AgentLoggedOut("a"), 5)) == []
    assert e.logout_pending("a")
    cmds = e.handle(OutboundReleased("a", "o1"), 6)
    assert changes(cmds) == [("a", S.LOGGED_OUT, None, None)]
    assert e.logged_in() == []


def test_logout_while_reserved_applies_when_the_call_ends_without_wrap_up() -> None:
    e = reserved("a")
    e.handle(AgentLoggedOut("a"), 5)
    e.handle(OutboundConnected("a", "o1"), 6)
    cmds = e.handle(OutboundEnded("a", "o1", 30), 60)
    assert changes(cmds) == [("a", S.LOGGED_OUT, None, None)]


# ---- refusals --------------------------------------------------------------------------


def _paused(e: AcdEngine) -> None:
    e.handle(AgentPaused("a", "lunch"), 1)


def _ringing(e: AcdEngine) -> None:
    e.handle(CallerJoined(caller("c1")), 1)


def _on_call(e: AcdEngine) -> None:
    _ringing(e)
    e.handle(AgentAnswered("a", "c1"), 1)


def _wrapping_up(e: AcdEngine) -> None:
    _on_call(e)
    e.handle(CallEnded("a"), 1)


def _lent(e: AcdEngine) -> None:
    e.handle(OutboundReserved("a", "o1"), 1)


def _device_busy(e: AcdEngine) -> None:
    # A device reported busy is kept out of every call for BUSY_RETRY_S.
    _ringing(e)
    e.handle(AgentBusy("a", "c1"), 1)


def _held_back_by_ring_retry(e: AcdEngine) -> None:
    # a let c1's ring time out: c1 is not offered to a for RING_RETRY_S, yet needs it.
    _ringing(e)
    e.handle(AgentNoAnswer("a", "c1"), 1)


def _calling_back(e: AcdEngine) -> None:
    # Virtual hold: the customer is being called back for a, who stays available.
    _ringing(e)
    assert PlaceCallback("c1", "q", "0600") in e.handle(CallbackRequested("c1", "0600"), 1)


def _logged_out(e: AcdEngine) -> None:
    e.handle(AgentLoggedOut("a"), 1)


@pytest.mark.parametrize(
    ("situation", "reason"),
    [
        (_logged_out, "not logged in"),
        (_paused, "paused (lunch)"),
        (_ringing, "ringing for a queue caller"),
        (_on_call, "on a call"),
        (_wrapping_up, "in wrap-up"),
        (_lent, "reserved for outbound call o1"),
        (_device_busy, "device busy for another 4.0 s"),
        (_held_back_by_ring_retry, "needed by inbound queue q"),
        (_calling_back, "needed by inbound queue q"),
    ],
)
def test_reservation_refused_with_the_reason_and_nothing_changes(
    situation: Callable[[AcdEngine], None], reason: str
) -> None:
    e = engine(wrapup_s=30)
    login(e, agent("a"))
    situation(e)
    before = e.agent_state("a")
    with pytest.raises(AgentNotFree) as refused:
        e.handle(OutboundReserved("a", "o2"), 2)
    assert (refused.value.agent_id, refused.value.reason) == ("a", reason)
    assert isinstance(refused.value, AcdError)
    assert e.agent_state("a") == before
    assert e.claimable(["a"], 2) == []


def test_inbound_first_only_for_callers_the_agent_could_take() -> None:
    e = engine(escalate_after_s=30)
    login(e, agent("a"))
    # c1 needs French, which a lacks: it waits for someone else, a may dial out.
    e.handle(CallerJoined(caller("c1", at=0, french=1)), 0)
    assert e.claimable(["a"], 10) == ["a"]
    # After 30 s c1 needs no skill any more (escalation): a is needed, even before the
    # Tick that would ring it.
    assert e.claimable(["a"], 30) == []
    with pytest.raises(AgentNotFree, match="needed by inbound queue q"):
        e.handle(OutboundReserved("a", "o1"), 30)


def test_callers_of_queues_the_agent_is_not_in_do_not_hold_it() -> None:
    e = engine()
    login(e, agent("a"))
    login(e, agent("b"), queue="r")
    e.handle(OutboundReserved("a", "o1"), 1)
    e.handle(CallerJoined(caller("c1", at=2)), 2)
    e.handle(OutboundReserved("b", "o2"), 3)
    assert state(e, "b") == (S.RESERVED, OUT, "o2")


@pytest.mark.parametrize(
    "event",
    [
        OutboundReleased("a", "o9"),  # another call
        OutboundConnected("a", "o9"),
        OutboundEnded("a", "o1", 5),  # not connected yet
    ],
)
def test_events_for_another_call_or_state_are_refused_before_any_change(
    event: OutboundReleased | OutboundConnected | OutboundEnded,
) -> None:
    e = reserved("a")
    with pytest.raises(NotOutboundCall):
        e.handle(event, 5)
    assert state(e, "a") == (S.RESERVED, OUT, "o1")


def test_an_inbound_ring_is_not_an_outbound_reservation() -> None:
    e = engine()
    login(e, agent("a"))
    e.handle(CallerJoined(caller("c1")), 0)
    with pytest.raises(NotOutboundCall, match=r"not reserved for outbound call c1 \(it is re"):
        e.handle(OutboundConnected("a", "c1"), 1)
    with pytest.raises(UnknownAgent):
        e.handle(OutboundReleased("b", "o1"), 1)


# ---- claimable -------------------------------------------------------------------------


def test_claimable_lists_the_free_agents_longest_idle_first() -> None:
    e = engine()
    for name, at in (("a", 3), ("b", 1), ("c", 2), ("d", 4), ("p", 0)):
        login(e, agent(name), at=at)
    login(e, agent("f", french=2), at=0)
    e.handle(AgentPaused("p", "lunch"), 5)
    # f let c1 (French) ring out: c1 waits for f, the others cannot take it.
    e.handle(CallerJoined(caller("c1", at=6, french=1)), 6)
    e.handle(AgentNoAnswer("f", "c1"), 7)
    e.handle(OutboundReserved("d", "o1"), 8)
    asked = ["a", "b", "c", "d", "p", "f", "nobody", "a"]
    assert e.claimable(asked, 9) == ["b", "c", "a"]
    assert e.claimable([], 9) == []


# ---- the service ---------------------------------------------------------------------

ADA = Agent("1001", "PJSIP/1001", name="Ada")
BOB = Agent("1002", "PJSIP/1002", name="Bob")


async def test_service_lends_an_agent_and_logs_every_transition() -> None:
    config = make_config([Queue("sales", wrapup_s=5)], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"]) as rig:
        service = rig.service
        assert service.queue_members("sales") == ["1001", "1002"]
        assert service.agent_interface("1001") == "PJSIP/1001"
        assert service.agent_interface("1003") is None
        assert service.claimable(["1002", "1001"]) == ["1001", "1002"]
        service.reserve_outbound("1001", "o1")
        assert service.agent_status("1001").reason == OUT
        with pytest.raises(AgentNotFree, match="reserved for outbound call o1"):
            service.reserve_outbound("1001", "o2")
        service.outbound_connected("1001", "o1")
        service.outbound_ended("1001", "o1", None)
        service.wrap_up_done("1001")
        assert rig.agent_states("1001") == [
            ("available", None),
            ("reserved", OUT),
            ("on_call", OUT),
            ("wrap_up", OUT),
            ("available", None),
        ]
        service.reserve_outbound("1002", "o3")
        assert not service.wants_out("1002")
        await service.pause("1002", "lunch")  # kept for the release
        assert service.wants_out("1002")
        service.release_outbound("1002", "o3")
        assert rig.status("1002") == "paused"
        assert not service.wants_out("1002")
    assert [r.status for r in rig.store.rows if r.agent_id == "1001"][1:] == [
        "reserved",
        "on_call",
        "wrap_up",
        "available",
    ]


async def test_a_resync_leaves_outbound_calls_to_the_dialer() -> None:
    config = make_config([Queue("sales")], [ADA])
    async with running_acd(config, login=["1001"], live_channels=dict) as rig:
        rig.service.reserve_outbound("1001", "o1")
        rig.service.outbound_connected("1001", "o1")
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=0))
        assert rig.status("1001") == "on_call"


async def test_outbound_states_restore_as_inbound_ones_after_a_restart() -> None:
    config = make_config([Queue("sales", wrapup_s=5)], [ADA, BOB])
    latest = {
        "1001": SessionEntry("1001", "reserved", OUT, "o1", ("sales",), T0),
        "1002": SessionEntry("1002", "wrap_up", OUT, None, ("sales",), T0),
    }
    async with running_acd(config, latest=latest) as rig:
        assert rig.status("1001") == "available"
        assert rig.service.engine.agent_state("1002") == AgentState(S.WRAP_UP, since=T0.timestamp())
        await rig.clock.step(5)
        assert rig.status("1002") == "available"
        rig.service.reserve_outbound("1002", "o2")
