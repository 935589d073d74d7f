"""Queue calls in the CDR: the ACD's QueueEntered / QueueConnected / QueueLeft (published on
the bus by the ACD service) decide a queued call's queue fields and disposition, shaped the
way Asterisk 22 reports ccd's ACD: the caller is answered by the queue-wait dialplan long
before an agent, and the agent is originated under its own linkedid and bridged to it.
The ACD says so first (``AgentRingStarted``): every agent leg, answered or not, is a leg of
the customer's one record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from multidict import MultiDict

from ccd.api.cdrs import cdr_filter, parse_query
from ccd.api.problems import ApiProblem
from ccd.cdr.builder import CdrBuilder
from ccd.cdr.codec import decode, encode
from ccd.domain.auth import Principal, Role
from ccd.domain.cdr import CallRecord, Disposition, HungUpBy
from ccd.domain.events import (
    AgentRingStarted,
    DomainEvent,
    QueueConnected,
    QueueEntered,
    QueueExit,
    QueueLeft,
)
from tests.unit.amitraffic import Chan, Traffic
from tests.unit.cdrrun import Run, ts


class Queued(Run):
    """An inbound caller answered by ccd's queue-wait dialplan, then the test drives the ACD
    events and what the channels do."""

    def __init__(self, builder: CdrBuilder | None = None) -> None:
        super().__init__(builder)
        self.t = t = Traffic()
        uid = t.uniqueid()
        self.caller = Chan(
            "PJSIP/trunk-00000001",
            uid,
            uid,
            state=4,
            caller_num="0612345678",
            caller_name="Jane Roe",
            context="ccd-inbound",
            exten="5551234",
        )
        self.start = t.newchannel(self.caller)
        self.frames(self.start)
        t.clock += 1.0
        self.dialplan_answer = t.newstate(self.caller, 6)  # Answer() in the queue-wait context
        self.frames(self.dialplan_answer)

    @property
    def linkedid(self) -> str:
        return self.caller.linkedid

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t.clock, UTC)

    def wait(self, seconds: float) -> None:
        self.t.clock += seconds

    def enter(self, queue: str = "support") -> datetime:
        joined = self.now()
        self.events(QueueEntered(at=joined, linkedid=self.linkedid, queue=queue, joined_at=joined))
        return joined

    def leave(self, reason: QueueExit, wait_s: float, queue: str = "support") -> None:
        self.events(
            QueueLeft(
                at=self.now(), linkedid=self.linkedid, queue=queue, reason=reason, wait_s=wait_s
            )
        )

    def ring_agent(
        self, *, agent_id: str = "a7", queue: str = "support", device: str = "PJSIP/1007"
    ) -> Chan:
        """ccd's ``Originate Channel=<agent> Application=Bridge Data=<caller>``, announced
        by the ACD first; the agent channel has its own linkedid (the ChannelId ccd chose)
        and rings."""
        t = self.t
        agent_uid = f"ccd-acd-{t.uniqueid()}"
        self.events(
            AgentRingStarted(
                at=self.now(),
                linkedid=self.linkedid,
                leg_linkedid=agent_uid,
                agent_id=agent_id,
                queue=queue,
            )
        )
        agent = Chan(f"{device}-0000000{len(self.records) + 2}", agent_uid, agent_uid)
        agent.caller_num = self.caller.caller_num  # ccd presents the customer to the agent
        self.frames(t.newchannel(agent), t.newstate(agent, 5))
        return agent

    def connect_agent(
        self, *, agent_id: str = "a7", queue: str = "support", wait_s: float, wrapup_s: float = 15.0
    ) -> tuple[Chan, str, dict[str, str]]:
        """The agent rings, answers and BridgeEnter gives its channel the caller's
        linkedid. Returns the agent channel, the bridge and the BridgeEnter that joined the
        two parties."""
        t = self.t
        agent = self.ring_agent(agent_id=agent_id, queue=queue)
        t.clock += 3.0
        self.frames(t.newstate(agent, 6))
        self.events(
            QueueConnected(
                at=self.now(),
                linkedid=self.linkedid,
                queue=queue,
                agent_id=agent_id,
                wait_s=wait_s,
                wrapup_s=wrapup_s,
            )
        )
        bridge = t.bridge_id()
        agent.linkedid = self.linkedid
        self.frames(t.bridge_enter(agent, bridge, 1))
        connect = t.bridge_enter(self.caller, bridge, 2)  # now two parties talk
        self.frames(connect)
        return agent, bridge, connect

    def caller_hangs_up(self) -> dict[str, str]:
        end = self.t.hangup(self.caller)
        self.frames(end)
        return end

    def record(self) -> CallRecord:
        """The customer's record: the only one (agent legs are legs of it, never calls)."""
        assert [r.linkedid for r in self.records] == [self.linkedid], self.records
        return self.records[0]


def test_connected_queue_call_is_answered_at_the_agent_connect() -> None:
    q = Queued()
    q.wait(2.0)
    q.enter("support")
    q.wait(30.0)
    agent, bridge, connect = q.connect_agent(agent_id="a7", wait_s=33.0, wrapup_s=15.0)
    q.wait(60.0)
    talk_end = q.t.bridge_leave(agent, bridge, 1)
    q.frames(talk_end, q.t.hangup(agent))
    q.frames(q.t.bridge_leave(q.caller, bridge, 0))
    end = q.caller_hangs_up()

    record = q.record()
    assert (record.queue, record.agent_id) == ("support", "a7")
    assert (record.wait_s, record.wrapup_s) == (33.0, 15.0)
    assert record.disposition is Disposition.ANSWERED
    assert record.answered_at == ts(connect)  # not the dialplan's Answer()
    assert record.answered_at != ts(q.dialplan_answer)
    assert record.talk_s == pytest.approx((ts(talk_end) - ts(connect)).total_seconds())
    assert record.ring_s == pytest.approx((ts(connect) - ts(q.start)).total_seconds())
    assert record.ended_at == ts(end)
    # The agent leg is a leg of the customer's call, under its linkedid, naming the agent.
    assert [(leg.uniqueid, leg.agent_id) for leg in record.legs] == [
        (q.caller.uniqueid, None),
        (agent.uniqueid, "a7"),
    ]
    assert {leg.linkedid for leg in record.legs} == {q.linkedid}
    assert record.caller_num == "0612345678"
    assert record.hung_up_by is HungUpBy.CALLEE  # the agent left first
    assert (q.builder.call_count, q.builder.leg_count, q.builder.bridge_count) == (0, 0, 0)


def test_caller_hanging_up_while_waiting_is_abandoned_with_the_wait() -> None:
    q = Queued()
    q.wait(2.0)
    joined = q.enter("sales")
    q.wait(45.0)
    end = q.caller_hangs_up()

    record = q.record()
    assert record.disposition is Disposition.ABANDONED
    assert record.queue == "sales"
    assert record.wait_s == pytest.approx((ts(end) - joined).total_seconds())
    assert record.wait_s == pytest.approx(45.0, abs=0.01)
    assert record.answered_at is None
    assert record.talk_s == 0.0
    assert record.ring_s == pytest.approx((ts(end) - ts(q.start)).total_seconds())
    assert (record.agent_id, record.wrapup_s) == (None, None)
    assert record.hung_up_by is HungUpBy.CALLER


def test_repeated_queue_entered_keeps_the_first_join_and_queue() -> None:
    """ccd restarted while the caller waited: the ACD publishes QueueEntered again."""
    q = Queued()
    joined = q.enter("support")
    q.wait(20.0)
    q.events(QueueEntered(at=q.now(), linkedid=q.linkedid, queue="other", joined_at=q.now()))
    q.wait(10.0)
    end = q.caller_hangs_up()

    record = q.record()
    assert record.queue == "support"
    assert record.disposition is Disposition.ABANDONED
    assert record.wait_s == pytest.approx((ts(end) - joined).total_seconds())
    assert record.wait_s == pytest.approx(30.0, abs=0.01)


@pytest.mark.parametrize(
    ("reason", "disposition"),
    [
        (QueueExit.OVERFLOWED, Disposition.OVERFLOWED),
        (QueueExit.TIMED_OUT, Disposition.TIMED_OUT),
        (QueueExit.CALLBACK, Disposition.CALLBACK),
    ],
)
def test_leaving_the_queue_gives_its_reason(reason: QueueExit, disposition: Disposition) -> None:
    q = Queued()
    q.enter("support")
    q.wait(120.0)
    q.leave(reason, wait_s=120.0)
    q.wait(25.0)  # e.g. leaving a voicemail, or hearing the callback confirmation
    q.caller_hangs_up()

    record = q.record()
    assert record.disposition is disposition
    assert record.queue == "support"
    assert record.wait_s == 120.0  # the queue wait, not the time spent after it
    assert record.answered_at is None  # the dialplan answering is no answer
    assert record.talk_s == 0.0
    assert record.agent_id is None


def test_overflow_to_a_person_stays_overflowed_but_shows_the_bridge() -> None:
    q = Queued()
    q.enter("support")
    q.wait(90.0)
    q.leave(QueueExit.OVERFLOWED, wait_s=90.0)
    t = q.t
    person = Chan("PJSIP/2001-00000003", t.uniqueid(), q.linkedid, state=0, caller_num="2001")
    q.frames(t.newchannel(person), t.dial_begin(q.caller, person, "PJSIP/2001"))
    t.clock += 5.0
    bridge = t.bridge_id()
    q.frames(t.newstate(person, 6), t.dial_end(q.caller, person, "ANSWER"))
    q.frames(t.bridge_enter(q.caller, bridge, 1))
    answer = t.bridge_enter(person, bridge, 2)
    q.frames(answer)
    t.clock += 40.0
    talk_end = t.bridge_leave(person, bridge, 1)
    q.frames(talk_end, t.hangup(person), t.bridge_leave(q.caller, bridge, 0))
    q.caller_hangs_up()

    record = q.record()
    assert record.disposition is Disposition.OVERFLOWED
    assert record.wait_s == 90.0
    assert record.answered_at == ts(answer)
    assert record.talk_s == pytest.approx((ts(talk_end) - ts(answer)).total_seconds())
    assert record.talk_s == pytest.approx(40.0, abs=0.01)


def test_overflow_into_another_queue_then_connected_is_answered_there() -> None:
    q = Queued()
    q.enter("support")
    q.wait(60.0)
    q.leave(QueueExit.OVERFLOWED, wait_s=60.0)
    q.enter("backup")
    q.wait(10.0)
    agent, _bridge, connect = q.connect_agent(agent_id="b2", queue="backup", wait_s=73.0)
    q.wait(30.0)
    q.frames(q.t.hangup(agent))
    q.caller_hangs_up()

    record = q.record()
    assert record.disposition is Disposition.ANSWERED
    assert (record.queue, record.agent_id, record.wait_s) == ("backup", "b2", 73.0)
    assert record.answered_at == ts(connect)


def test_overflow_into_another_queue_then_hanging_up_is_abandoned_from_the_first_join() -> None:
    q = Queued()
    joined = q.enter("support")
    q.wait(60.0)
    q.leave(QueueExit.OVERFLOWED, wait_s=60.0)
    q.enter("backup")
    q.wait(15.0)
    end = q.caller_hangs_up()

    record = q.record()
    assert record.disposition is Disposition.ABANDONED
    assert record.queue == "support"
    assert record.wait_s == pytest.approx((ts(end) - joined).total_seconds())


def test_connected_but_hung_up_before_the_bridge_is_answered_at_the_connect() -> None:
    """The caller hangs up in the instant between the agent answering and the bridge."""
    q = Queued()
    q.enter("support")
    q.wait(12.0)
    connected_at = q.now()
    q.events(
        QueueConnected(
            at=connected_at,
            linkedid=q.linkedid,
            queue="support",
            agent_id="a7",
            wait_s=12.0,
            wrapup_s=5.0,
        )
    )
    q.caller_hangs_up()

    record = q.record()
    assert record.disposition is Disposition.ANSWERED
    assert record.answered_at == connected_at
    assert record.talk_s == 0.0
    assert (record.agent_id, record.wait_s, record.wrapup_s) == ("a7", 12.0, 5.0)


def test_queue_events_for_unknown_or_finished_calls_are_counted_not_raised() -> None:
    q = Queued()
    q.enter("support")
    q.wait(5.0)
    q.caller_hangs_up()
    before = q.record()
    assert q.builder.late_queue_events == 0

    late: list[DomainEvent] = [
        QueueEntered(at=q.now(), linkedid="no.such", queue="support", joined_at=q.now()),
        QueueConnected(
            at=q.now(), linkedid=q.linkedid, queue="support", agent_id="a7", wait_s=5, wrapup_s=0
        ),
        QueueLeft(at=q.now(), linkedid=q.linkedid, queue="s", reason=QueueExit.TIMED_OUT, wait_s=5),
    ]
    assert q.events(*late) == []
    assert q.builder.late_queue_events == 3
    assert q.record() == before
    assert q.builder.call_count == 0


def test_a_call_that_never_entered_a_queue_keeps_its_plain_rules() -> None:
    """Answered by the dialplan, nobody dialed, no queue: answered, no queue fields."""
    q = Queued()
    q.wait(40.0)
    q.caller_hangs_up()
    record = q.record()
    assert record.disposition is Disposition.ANSWERED
    assert record.answered_at == ts(q.dialplan_answer)
    assert (record.queue, record.wait_s, record.agent_id, record.wrapup_s) == (None,) * 4


def test_queue_fields_and_callback_survive_the_spool_codec() -> None:
    q = Queued()
    q.enter("support")
    q.wait(50.0)
    q.leave(QueueExit.CALLBACK, wait_s=50.0)
    q.caller_hangs_up()
    record = q.record()
    back = decode(encode(record))
    assert back == record
    assert isinstance(back, CallRecord)
    assert back.disposition is Disposition.CALLBACK
    assert (back.queue, back.wait_s) == ("support", 50.0)
    assert b'"disposition":"callback"' in encode(record)


def test_rest_disposition_filter_accepts_callback() -> None:
    query = parse_query(MultiDict({"disposition": "callback"}))
    assert query.disposition is Disposition.CALLBACK
    supervisor = Principal(token_id="t1", role=Role.SUPERVISOR, agent_id=None)
    assert cdr_filter(query, supervisor).disposition == "callback"
    with pytest.raises(ApiProblem):
        parse_query(MultiDict({"disposition": "call-back"}))


def test_rings_nobody_answered_are_attempts_of_the_one_customer_record() -> None:
    """One agent busy, one never answering, then one answers (the real-phone run that wrote
    a record per ring): one record, answered by the third, the rings kept as its legs."""
    q = Queued()
    q.enter("support")
    q.wait(1.0)
    busy = q.ring_agent(agent_id="busy", device="PJSIP/1003")
    q.frames(q.t.hangup(busy, 17, "User busy"))
    q.wait(1.0)
    silent = q.ring_agent(agent_id="silent", device="PJSIP/1002")
    q.wait(15.0)  # the ring timeout: ccd hangs the agent channel up
    q.frames(q.t.hangup(silent, 19, "No answer"))
    agent, bridge, connect = q.connect_agent(agent_id="a7", wait_s=20.0)
    q.wait(30.0)
    q.frames(q.t.bridge_leave(agent, bridge, 1), q.t.hangup(agent))
    q.frames(q.t.bridge_leave(q.caller, bridge, 0))
    end = q.caller_hangs_up()

    record = q.record()
    assert record.disposition is Disposition.ANSWERED
    assert (record.agent_id, record.wait_s) == ("a7", 20.0)
    assert record.answered_at == ts(connect)
    # The agents' busy / no-answer causes are not the customer's; the agent hung up first.
    assert (record.hangup_cause, record.hung_up_by) == (16, HungUpBy.CALLEE)
    assert record.ended_at == ts(end)
    legs = {leg.agent_id: leg for leg in record.legs}
    assert set(legs) == {None, "busy", "silent", "a7"}
    assert (legs["busy"].answered_at, legs["busy"].hangup_cause) == (None, 17)
    assert (legs["silent"].answered_at, legs["silent"].hangup_cause) == (None, 19)
    assert legs["a7"].answered_at is not None
    assert (q.builder.call_count, q.builder.leg_count) == (0, 0)


def connect_local_agent(q: Queued) -> tuple[Chan, Chan, str]:
    """The caller queued, then agent a7 reached through ``Local/1007@ccd-agents`` (its
    ``;1`` runs ``Bridge()``), connected and talking for 30 s. Returns ``;1``, ``;2`` and
    the bridge."""
    q.enter("support")
    t = q.t
    agent_uid = f"ccd-acd-{t.uniqueid()}"
    q.events(
        AgentRingStarted(
            at=q.now(), linkedid=q.linkedid, leg_linkedid=agent_uid, agent_id="a7", queue="support"
        )
    )
    one, two = t.local_pair("1007@ccd-agents", agent_uid)
    q.frames(t.newchannel(one), t.newchannel(two))
    t.clock += 2.0
    q.frames(t.newstate(two, 6), t.newstate(one, 6))
    q.events(
        QueueConnected(
            at=q.now(), linkedid=q.linkedid, queue="support", agent_id="a7", wait_s=2.0, wrapup_s=0
        )
    )
    bridge = t.bridge_id()
    one.linkedid = q.linkedid
    q.frames(t.bridge_enter(one, bridge, 1), t.bridge_enter(q.caller, bridge, 2))
    t.clock += 30.0
    return one, two, bridge


@pytest.mark.parametrize("agent_asked_first", [True, False])
@pytest.mark.parametrize("asked", ["ccd", "trunk"])
def test_the_caller_hanging_up_a_local_agent_is_the_caller_in_either_order(
    agent_asked_first: bool, asked: str
) -> None:
    """The agent reached through a Local channel (``Local/1007@ccd-agents``, as the sandbox
    and follow-me setups do): when the caller's channel goes, the bridge puts the agent's
    ``;1`` out, its ``Bridge()`` returns and its ``;2`` is asked to hang up — in the same
    millisecond as the caller's own request, from another Asterisk thread, in either order
    (seen on Asterisk 22: the test_survey flake). A caller hung up by ccd over AMI (or a
    supervisor's DELETE) asks nothing of its own channel at all."""
    q = Queued()
    one, two, bridge = connect_local_agent(q)
    t = q.t
    caller_asked = [t.hangup_request(q.caller)] if asked == "trunk" else []
    agent_asked = [t.hangup_request(two), t.hangup(one)]
    q.frames(*caller_asked, t.bridge_leave(q.caller, bridge, 1), t.bridge_leave(one, bridge, 0))
    if agent_asked_first:
        q.frames(*agent_asked, t.hangup(q.caller))
    else:
        q.frames(t.hangup(q.caller), *agent_asked)
    q.frames(t.soft_hangup_request(two), t.hangup(two))

    record = q.record()
    assert record.disposition is Disposition.ANSWERED
    assert record.hung_up_by is HungUpBy.CALLER
    assert (q.builder.call_count, q.builder.leg_count, q.builder.bridge_count) == (0, 0, 0)


@pytest.mark.parametrize("caller_asked_first", [True, False])
def test_a_local_agent_hanging_up_is_the_callee_in_either_order(caller_asked_first: bool) -> None:
    """The other way round: the agent's ``;2`` (their phone) ends; the caller, put out of
    the bridge, is asked to hang up too (here: ccd's dialplan after the bridge)."""
    q = Queued()
    one, two, bridge = connect_local_agent(q)
    t = q.t
    agent_ends = [t.soft_hangup_request(two), t.hangup_request(one)]
    left = [t.bridge_leave(one, bridge, 1), t.bridge_leave(q.caller, bridge, 0)]
    caller_asked = [t.soft_hangup_request(q.caller)]
    if caller_asked_first:
        q.frames(*left, *caller_asked, *agent_ends)
    else:
        q.frames(*agent_ends, *left, *caller_asked)
    q.frames(t.hangup(two), t.hangup(one), t.hangup(q.caller))

    assert q.record().hung_up_by is HungUpBy.CALLEE


def test_caller_hanging_up_while_an_agent_rings_is_one_abandoned_record() -> None:
    q = Queued()
    joined = q.enter("support")
    q.wait(4.0)
    ringing = q.ring_agent(agent_id="a7")
    q.wait(2.0)
    end = q.caller_hangs_up()
    assert q.records == []  # the ring still has a channel: the record waits for it
    q.wait(0.05)
    q.frames(q.t.hangup(ringing, 16))  # ccd cancels the ring

    record = q.record()
    assert record.disposition is Disposition.ABANDONED
    assert record.wait_s == pytest.approx((ts(end) - joined).total_seconds())
    assert record.ended_at == ts(end)  # the cancelled ring does not lengthen the call
    assert record.hung_up_by is HungUpBy.CALLER
    assert [leg.agent_id for leg in record.legs] == [None, "a7"]


def test_hold_time_is_the_time_a_party_held_the_call() -> None:
    """The agent presses hold twice (Asterisk's Hold/Unhold on the agent's channel); the
    second hold is still on when the agent hangs up."""
    q = Queued()
    q.enter("support")
    agent, bridge, _connect = q.connect_agent(agent_id="a7", wait_s=3.0)
    q.wait(10.0)
    q.frames(q.t.frame("Hold", agent))
    q.wait(20.0)
    q.frames(q.t.frame("Unhold", agent))
    q.wait(5.0)
    q.frames(q.t.frame("Hold", agent))
    q.wait(7.5)
    q.frames(q.t.bridge_leave(agent, bridge, 1), q.t.hangup(agent))
    q.frames(q.t.bridge_leave(q.caller, bridge, 0))
    q.caller_hangs_up()

    record = q.record()
    assert record.hold_s == pytest.approx(27.5, abs=0.01)
    assert record.talk_s == pytest.approx(
        42.5, abs=0.01
    )  # hold is part of the talk time, as in AHT
