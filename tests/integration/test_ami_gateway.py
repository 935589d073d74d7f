"""AmiGateway against a fake AMI server on 127.0.0.1 (port 0), over real TCP."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from structlog.testing import capture_logs

from ccd.ami.actions import (
    CallerId,
    HangupAction,
    OriginateAction,
    RedirectAction,
    RingAgentAction,
    SetVariableAction,
    UnsafeAmiVariable,
)
from ccd.ami.framing import Frame
from ccd.ami.gateway import (
    AmiActionFailed,
    AmiConnectionLost,
    AmiGateway,
    AmiNotConnected,
    AmiTimeout,
)
from ccd.backoff import Backoff, BackoffPolicy
from ccd.clock import SystemClock
from ccd.domain.events import AmiConnected, AmiDisconnected, ResyncFinished, ResyncStarted
from ccd.domain.safety import UnsafeAmiValue
from tests.clock import FakeClock
from tests.fakeami import FakeAmi, frame

SECRET = "s3cret"


@dataclass
class Recorder:
    events: list[Frame] = field(default_factory=list)
    lifecycle: list[object] = field(default_factory=list)
    rows: list[Frame] = field(default_factory=list)

    def of_type(self, kind: type) -> list[Any]:
        return [item for item in self.lifecycle if isinstance(item, kind)]

    def names(self) -> list[str]:
        return [event.get("Event", "") for event in self.events]


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll a condition on gateway counters (they have no events to wait on)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret=SECRET)
    server.channels = [
        {
            "Channel": "Local/100@agents-00000001;1",
            "Uniqueid": "1700000000.1",
            "Linkedid": "1700000000.1",
            "ChannelState": "6",
            "BridgeId": "",
            "Duration": "00:00:05",
        },
        {
            "Channel": "Local/100@agents-00000001;2",
            "Uniqueid": "1700000000.2",
            "Linkedid": "1700000000.1",
            "ChannelState": "6",
            "BridgeId": "",
            "Duration": "00:00:05",
        },
    ]
    await server.start()
    yield server
    await server.close()


GatewayFactory = Callable[..., tuple[AmiGateway, Recorder]]


@pytest.fixture
async def make_gateway(fake: FakeAmi) -> AsyncIterator[GatewayFactory]:
    made: list[AmiGateway] = []

    def factory(**overrides: Any) -> tuple[AmiGateway, Recorder]:
        recorder = Recorder()
        options: dict[str, Any] = {
            "host": fake.host,
            "port": fake.port,
            "username": "ccd",
            "secret": SECRET,
            "on_event": recorder.events.append,
            "on_connection": recorder.lifecycle.append,
            "on_resync_row": recorder.rows.append,
            "clock": SystemClock(),
            "action_timeout_s": 2.0,
            "ping_interval_s": 0.5,
            "ping_timeout_s": 0.5,
            "backoff": Backoff(
                BackoffPolicy(min_s=0.01, max_s=0.05, jitter="full"), random.Random(1)
            ),
        }
        options.update(overrides)
        gateway = AmiGateway(**options)
        made.append(gateway)
        return gateway, recorder

    yield factory
    for gateway in made:
        await gateway.stop()


async def test_logs_in_resyncs_and_reports_readiness(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway()
    assert not gateway.connected
    await gateway.start()
    await gateway.wait_resynced(5)

    assert gateway.connected
    assert gateway.logged_in
    assert gateway.resynced
    assert gateway.asterisk_version == "22.10.0"
    assert gateway.ami_version == "11.0.0"
    login = next(a for a in fake.actions if a["Action"] == "Login")
    assert login["Username"] == "ccd"
    assert login["Events"] == "on"
    kinds = [type(item) for item in seen.lifecycle]
    assert kinds == [AmiConnected, ResyncStarted, ResyncFinished]
    assert seen.lifecycle[0].asterisk_version == "22.10.0"
    assert seen.lifecycle[2].channel_count == 2
    assert [row["Channel"] for row in seen.rows] == [
        "Local/100@agents-00000001;1",
        "Local/100@agents-00000001;2",
    ]
    # List rows are answers to our resync, not events.
    assert "CoreShowChannel" not in seen.names()


async def test_resync_rows_and_live_events_keep_wire_order(fake: FakeAmi) -> None:
    fake.events_during_resync = [{"Event": "Hangup", "Uniqueid": "1700000000.9"}]
    timeline: list[str] = []
    gateway = AmiGateway(
        host=fake.host,
        port=fake.port,
        username="ccd",
        secret=SECRET,
        on_event=lambda frame: timeline.append(f"event {frame['Event']}"),
        on_connection=lambda event: timeline.append(type(event).__name__),
        on_resync_row=lambda row: timeline.append(f"row {row['Uniqueid']}"),
        clock=SystemClock(),
    )
    await gateway.start()
    try:
        await gateway.wait_resynced(5)
    finally:
        await gateway.stop()
    assert timeline[timeline.index("ResyncStarted") :] == [
        "ResyncStarted",
        "row 1700000000.1",
        "event Hangup",
        "row 1700000000.2",
        "ResyncFinished",
        "AmiDisconnected",
    ]


async def test_failed_resync_drops_the_connection_and_retries(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    fake.silent_actions = {"coreshowchannels"}
    gateway, seen = make_gateway(resync_timeout_s=0.2)
    await gateway.start()
    await eventually(lambda: fake.count("CoreShowChannels") >= 2)
    assert not gateway.resynced
    disconnected = seen.of_type(AmiDisconnected)
    assert "CoreShowChannels not answered" in disconnected[0].reason
    assert seen.of_type(ResyncFinished) == []

    fake.silent_actions = set()
    await gateway.wait_resynced(5)
    assert seen.of_type(ResyncFinished)[-1].channel_count == 2


async def test_version_unknown_when_coresettings_is_denied(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    fake.asterisk_version = None
    gateway, seen = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    assert gateway.asterisk_version is None
    assert seen.of_type(AmiConnected)[0].asterisk_version == "unknown (AMI 11.0.0)"


async def test_events_are_delivered_in_wire_order(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    for seq in range(300):
        await fake.send_event({"Event": "UserEvent", "UserEvent": "CcdTest", "Seq": str(seq)})
    await eventually(lambda: sum(1 for e in seen.events if e.get("Seq")) == 300)
    assert [e["Seq"] for e in seen.events if "Seq" in e] == [str(n) for n in range(300)]
    assert gateway.events_received == len(seen.events)


async def test_failing_event_callback_is_counted_and_delivery_continues(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    delivered: list[str] = []

    def on_event(frame: Frame) -> None:
        if frame.get("Seq") == "1":
            raise RuntimeError("translator bug")
        delivered.append(frame.get("Seq", ""))

    gateway, _ = make_gateway(on_event=on_event)
    await gateway.start()
    await gateway.wait_resynced(5)
    for seq in range(3):
        await fake.send_event({"Event": "UserEvent", "Seq": str(seq)})
    await eventually(lambda: "2" in delivered)
    assert [seq for seq in delivered if seq] == ["0", "2"]
    assert gateway.frame_errors == 1
    assert gateway.reconnects == 0


async def test_a_burst_larger_than_a_decoder_slice_is_delivered_whole_and_in_order(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    # One write of ~300 KiB: the decoder hands it over in ~16 KiB batches; a callback
    # failing in a later batch costs that frame only.
    delivered: list[str] = []

    def on_event(frame: Frame) -> None:
        if frame.get("Seq") == "1500":
            raise RuntimeError("translator bug")
        delivered.append(frame.get("Seq", ""))

    gateway, _ = make_gateway(on_event=on_event)
    await gateway.start()
    await gateway.wait_resynced(5)
    padding = "x" * 150
    burst = b"".join(
        frame({"Event": "UserEvent", "UserEvent": "CcdTest", "Seq": str(seq), "Pad": padding})
        for seq in range(2000)
    )
    assert len(burst) > 256 * 1024
    await fake.send_raw(burst)
    await eventually(lambda: "1999" in delivered)
    assert [seq for seq in delivered if seq] == [str(n) for n in range(2000) if n != 1500]
    assert gateway.frame_errors == 1
    assert gateway.reconnects == 0


async def test_send_action_returns_single_and_list_answers(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)

    pong = await gateway.send_action({"Action": "Ping"}, as_list=False)
    assert pong["Ping"] == "Pong"
    listing = await gateway.send_action({"Action": "CoreShowChannels"}, as_list=True)
    assert [frame.get("Event") for frame in listing] == [
        None,
        "CoreShowChannel",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
    ]
    # Only the gateway's own resync feeds on_resync_row.
    assert len(seen.rows) == 2


async def test_failed_action_raises_with_the_response(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    with pytest.raises(AmiActionFailed, match="Invalid/unknown command") as failed:
        await gateway.send_action({"Action": "NoSuchThing"}, as_list=False)
    assert failed.value.response["Response"] == "Error"
    # panoramisk alone never resolves a list action answered with an error.
    with pytest.raises(AmiActionFailed):
        await gateway.send_action({"Action": "NoSuchList"}, as_list=True, timeout_s=5)


async def test_action_timeout_raises_and_connection_stays(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    fake.silent_actions = {"queuestatus"}
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    with pytest.raises(AmiTimeout, match=r"QueueStatus not answered within 0\.2 s"):
        await gateway.send_action({"Action": "QueueStatus"}, as_list=True, timeout_s=0.2)
    assert gateway.resynced
    assert (await gateway.send_action({"Action": "Ping"}, as_list=False))["Ping"] == "Pong"


async def test_send_before_connecting_raises_not_connected(make_gateway: GatewayFactory) -> None:
    gateway, _ = make_gateway()
    with pytest.raises(AmiNotConnected):
        await gateway.send_action({"Action": "Ping"}, as_list=False)


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\0b", "x\r\nAction: Originate"])
async def test_unsafe_field_raises_before_anything_is_written(
    fake: FakeAmi, make_gateway: GatewayFactory, bad: str
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    before = len(fake.actions)
    with pytest.raises(UnsafeAmiValue):
        await gateway.send_action(
            {"Action": "Setvar", "Variable": "X", "Value": bad}, as_list=False
        )
    with pytest.raises(UnsafeAmiValue):
        await gateway.send_action({"Action": "Ping", bad: "1"}, as_list=False)
    with pytest.raises(UnsafeAmiValue):
        await gateway.originate(to_context(caller_id=bad))
    with pytest.raises(UnsafeAmiValue):
        await gateway.originate(to_context(variables={"NOTE": bad}))
    with pytest.raises(UnsafeAmiValue):
        gateway.ring_agent(ring(caller_channel=bad))
    with pytest.raises(UnsafeAmiValue):
        await gateway.hangup(HangupAction(bad))
    with pytest.raises(UnsafeAmiValue):
        await gateway.redirect(RedirectAction(bad, "ccd-dialer-message", "safe-harbor"))
    with pytest.raises(UnsafeAmiValue):
        await gateway.redirect(RedirectAction("Local/6001@ccd-dialer-00000001;1", "ctx", bad))
    with pytest.raises(UnsafeAmiValue):
        await gateway.set_variable(SetVariableAction("ccd-dial-7", "CCD_DIALER_AGENT", bad))
    with pytest.raises(UnsafeAmiValue):
        await gateway.set_variable(SetVariableAction(bad, "CCD_DIALER_AGENT", "PJSIP/1001"))
    # A round trip proves the fake has read everything we wrote: only this Ping.
    await gateway.send_action({"Action": "Ping"}, as_list=False)
    assert [a["Action"] for a in fake.actions[before:]] == ["Ping"]


def to_context(
    *, caller_id: CallerId | str | None = None, variables: dict[str, str] | None = None
) -> OriginateAction:
    return OriginateAction(
        channel="Local/100@agents",
        context="ccd-originate",
        exten="5551234",
        caller_id=caller_id,
        variables=variables or {},
    )


def ring(*, caller_channel: str = "PJSIP/trunk-0001") -> RingAgentAction:
    return RingAgentAction(
        action_id="ring-1",
        interface="PJSIP/1001",
        caller_channel=caller_channel,
        caller_after_context="ccd-queue-after",
        timeout_s=15,
        channel_id="ccd-acd-1234",
        variables={"CCD_ACD_CALL": "1764064000.10", "CCD_QUEUE": "sales"},
        caller_id=CallerId("5551234", 'Jane "JD" Doe'),
    )


async def test_ring_agent_is_an_async_originate_into_a_bridge_with_the_caller(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    assert await gateway.ring_agent(ring()) == "ring-1"
    sent = next(a for a in fake.actions if a["Action"] == "Originate")
    assert sent == {
        "Action": "Originate",
        "Async": "true",
        "ActionID": "ring-1",
        "Channel": "PJSIP/1001",
        "Application": "Bridge",
        # When the agent hangs up first, the caller goes on in ccd-queue-after.
        "Data": "PJSIP/trunk-0001,F(ccd-queue-after^s^1)",
        "Timeout": "15000",
        "ChannelId": "ccd-acd-1234",
        "OtherChannelId": "ccd-acd-1234-2",
        "Variable": "CCD_ACD_CALL=1764064000.10,CCD_QUEUE=sales",
        # The only thing a caller controls is their name: quotes dropped, never in Data.
        "CallerID": '"Jane JD Doe" <5551234>',
    }


async def test_originate_to_a_context_carries_what_a_dialer_leg_needs(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    action_id = await gateway.originate(
        OriginateAction(
            channel="PJSIP/trunk/sip:+33140000000@carrier",
            context="ccd-dialer",
            exten="s",
            priority=2,
            timeout_s=25,
            caller_id=CallerId("+33100000000", "ACME"),
            variables={"CCD_CAMPAIGN": "spring", "CCD_CONTACT": "42"},
            channel_id="ccd-dialer-7",
        )
    )
    assert action_id.startswith("ccd-originate-")
    sent = next(a for a in fake.actions if a["Action"] == "Originate")
    assert sent == {
        "Action": "Originate",
        "Async": "true",
        "ActionID": action_id,
        "Channel": "PJSIP/trunk/sip:+33140000000@carrier",
        "Context": "ccd-dialer",
        "Exten": "s",
        "Priority": "2",
        "Timeout": "25000",
        "ChannelId": "ccd-dialer-7",
        "CallerID": '"ACME" <+33100000000>',
        "Variable": "CCD_CAMPAIGN=spring,CCD_CONTACT=42",
    }
    # Caller id text from the REST API goes as given; no application is ever set.
    await gateway.originate(to_context(caller_id='"Sales" <100>'))
    api = [a for a in fake.actions if a["Action"] == "Originate"][-1]
    assert api["CallerID"] == '"Sales" <100>'
    assert "Application" not in api
    assert "Data" not in api


@pytest.mark.parametrize(
    "variables",
    [{"NOTE": "a,CCD_QUEUE=vip"}, {"A,B": "1"}, {"A=B": "1"}, {"": "1"}],
    ids=["comma-in-value", "comma-in-name", "equals-in-name", "empty-name"],
)
async def test_a_variable_asterisk_would_split_is_refused_before_anything_is_written(
    fake: FakeAmi, make_gateway: GatewayFactory, variables: dict[str, str]
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    before = len(fake.actions)
    with pytest.raises(UnsafeAmiVariable):
        await gateway.originate(to_context(variables=variables))
    await gateway.send_action({"Action": "Ping"}, as_list=False)
    assert [a["Action"] for a in fake.actions[before:]] == ["Ping"]


async def test_hangup_sends_the_channel_and_the_cause(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    # The fake knows no channel: Asterisk's "No such channel" is an AmiActionFailed.
    with pytest.raises(AmiActionFailed):
        await gateway.hangup(HangupAction("ccd-acd-1234"))
    with pytest.raises(AmiActionFailed):
        await gateway.hangup(HangupAction("PJSIP/1001-00000001", cause=17))
    hangups = [a for a in fake.actions if a["Action"] == "Hangup"]
    assert [{k: v for k, v in a.items() if k != "ActionID"} for a in hangups] == [
        {"Action": "Hangup", "Channel": "ccd-acd-1234", "Cause": "16"},
        {"Action": "Hangup", "Channel": "PJSIP/1001-00000001", "Cause": "17"},
    ]


async def test_redirect_sends_the_channel_and_where_it_goes(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    # The fake knows no channel: Asterisk's "Channel does not exist" is an AmiActionFailed.
    with pytest.raises(AmiActionFailed):
        await gateway.redirect(
            RedirectAction("Local/6001@ccd-dialer-00000001;1", "ccd-dialer-message", "machine")
        )
    with pytest.raises(AmiActionFailed):
        await gateway.redirect(RedirectAction("ccd-dial-7", "ccd-after", "s", priority=3))
    redirects = [a for a in fake.actions if a["Action"] == "Redirect"]
    assert [{k: v for k, v in a.items() if k != "ActionID"} for a in redirects] == [
        {
            "Action": "Redirect",
            "Channel": "Local/6001@ccd-dialer-00000001;1",
            "Context": "ccd-dialer-message",
            "Exten": "machine",
            "Priority": "1",
        },
        {
            "Action": "Redirect",
            "Channel": "ccd-dial-7",
            "Context": "ccd-after",
            "Exten": "s",
            "Priority": "3",
        },
    ]


async def test_set_variable_names_the_channel_the_variable_and_its_value(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    with contextlib.suppress(AmiActionFailed):  # the fake knows no channel
        await gateway.set_variable(SetVariableAction("ccd-dial-7", "CCD_DIALER_AGENT", "PJSIP/1"))
    with pytest.raises(UnsafeAmiVariable):
        await gateway.set_variable(SetVariableAction("ccd-dial-7", "A=B", "x"))
    setvars = [a for a in fake.actions if a["Action"] == "Setvar"]
    assert [{k: v for k, v in a.items() if k != "ActionID"} for a in setvars] == [
        {
            "Action": "Setvar",
            "Channel": "ccd-dial-7",
            "Variable": "CCD_DIALER_AGENT",
            "Value": "PJSIP/1",
        }
    ]


async def test_originate_is_async_and_its_outcome_arrives_as_an_event(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    action_id = await gateway.originate(to_context())
    sent = next(a for a in fake.actions if a["Action"] == "Originate")
    assert sent["Async"] == "true"
    assert sent["ActionID"] == action_id
    await fake.send_event(
        {
            "Event": "OriginateResponse",
            "ActionID": action_id,
            "Response": "Success",
            "Channel": "Local/100@agents-00000002;1",
            "Reason": "4",
            "Uniqueid": "1700000000.5",
        }
    )
    await eventually(lambda: "OriginateResponse" in seen.names())
    response = next(e for e in seen.events if e.get("Event") == "OriginateResponse")
    assert response["ActionID"] == action_id


async def test_ring_agent_writes_before_returning_and_refuses_at_once(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway()
    with pytest.raises(AmiNotConnected):  # nothing written, raised at the call itself
        gateway.ring_agent(ring())
    await gateway.start()
    await gateway.wait_resynced(5)
    with pytest.raises(UnsafeAmiValue):
        gateway.ring_agent(ring(caller_channel="a\r\nb"))
    before = len(fake.actions)
    queued = gateway.ring_agent(ring())
    # Already on the wire: the other end reads it without this task ever being awaited.
    await eventually(lambda: len(fake.actions) > before)
    assert fake.actions[before]["Action"] == "Originate"
    assert await queued == "ring-1"


async def test_originate_in_flight_at_disconnect_is_never_sent_again(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    fake.silent_actions = {"originate"}  # in flight: read, not yet answered
    gateway, seen = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    originate = asyncio.create_task(gateway.originate(to_context()))
    await fake.wait_for_action("Originate")
    fake.drop_connections()

    with pytest.raises(AmiConnectionLost, match="Originate"):
        await originate
    # Reconnect; the fake sends FullyBooted after login (panoramisk re-sends there).
    await eventually(lambda: gateway.reconnects == 1 and gateway.resynced)
    assert gateway.fully_booted
    await gateway.send_action({"Action": "Ping"}, as_list=False)
    assert fake.count("Originate") == 1
    assert len(seen.of_type(ResyncFinished)) == 2


async def test_connection_drop_reconnects_with_backoff_and_resyncs(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    backoff = Backoff(
        BackoffPolicy(min_s=0.02, max_s=0.2, factor=2, jitter="full"), random.Random(7)
    )
    gateway, seen = make_gateway(backoff=backoff)
    await gateway.start()
    await gateway.wait_resynced(5)

    with capture_logs() as logs:
        await fake.stop_listening()
        fake.drop_connections()
        await eventually(lambda: backoff.attempt >= 4)
        await fake.start()  # same port again
        await eventually(lambda: gateway.reconnects == 1 and gateway.resynced)

    scheduled = [entry for entry in logs if entry["event"] == "ami reconnect scheduled"]
    assert [entry["attempt"] for entry in scheduled[:4]] == [1, 2, 3, 4]
    assert all(0.02 <= entry["delay_s"] <= 0.2 for entry in scheduled)
    assert any(entry["event"] == "ami connection failed" for entry in logs)
    assert gateway.connect_attempts >= 5
    kinds = [type(item).__name__ for item in seen.lifecycle]
    assert kinds == [
        "AmiConnected",
        "ResyncStarted",
        "ResyncFinished",
        "AmiDisconnected",
        "AmiConnected",
        "ResyncStarted",
        "ResyncFinished",
    ]
    assert fake.count("CoreShowChannels") == 2
    assert len(seen.rows) == 4


async def test_reconnect_waits_its_backoff_on_the_injected_clock(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    """Time has one owner: the reconnect delay passes when the clock says so, not before."""
    clock = FakeClock()
    policy = BackoffPolicy(min_s=30.0, max_s=30.0, jitter="decorrelated")
    backoff = Backoff(policy, random.Random(1))
    gateway, _ = make_gateway(backoff=backoff, clock=clock, ping_interval_s=3600.0)
    await gateway.start()
    await gateway.wait_resynced(5)
    fake.drop_connections()
    await eventually(lambda: gateway.last_backoff_delay_s == 30.0 and clock.sleepers > 0)
    await clock.step(29.9)
    assert gateway.reconnects == 0
    assert len(fake.connections) == 1
    await clock.step(0.1)
    await eventually(lambda: gateway.reconnects == 1 and gateway.resynced)
    assert len(fake.connections) == 2


async def test_half_open_peer_is_detected_by_the_ping_watchdog(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway(ping_interval_s=0.1, ping_timeout_s=0.2)
    await gateway.start()
    await gateway.wait_resynced(5)
    await fake.wait_for_action("Ping")  # the watchdog pings on its own
    fake.freeze()  # reads our pings, never answers: like a half-open TCP connection

    await eventually(lambda: gateway.ping_timeouts == 1 and gateway.reconnects == 1)
    await gateway.wait_resynced(5)
    disconnected = seen.of_type(AmiDisconnected)
    assert len(disconnected) == 1
    assert "ping" in disconnected[0].reason
    assert len(fake.connections) == 2


async def test_unanswered_pings_with_live_socket_also_reconnect(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, _ = make_gateway(ping_interval_s=0.05, ping_timeout_s=0.1)
    await gateway.start()
    await gateway.wait_resynced(5)
    fake.answer_pings = False
    await eventually(lambda: gateway.ping_timeouts >= 1)
    fake.answer_pings = True
    await eventually(lambda: gateway.resynced and gateway.reconnects >= 1)


async def test_bad_secret_is_logged_and_retried_with_backoff(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    fake.secret = "other"
    gateway, seen = make_gateway()
    with capture_logs() as logs:
        await gateway.start()
        await eventually(lambda: fake.count("Login") >= 3)
    assert not gateway.logged_in
    assert gateway.last_error is not None
    assert "Authentication failed" in gateway.last_error
    failures = [entry for entry in logs if entry["event"] == "ami login failed"]
    assert failures
    assert failures[0]["log_level"] == "error"
    assert all(SECRET not in str(entry) for entry in logs)
    assert seen.of_type(AmiConnected) == []

    fake.secret = SECRET  # the admin fixed manager.conf
    await gateway.wait_resynced(5)
    assert gateway.last_error is None


async def test_asterisk_shutdown_event_reconnects(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway()
    await gateway.start()
    await gateway.wait_resynced(5)
    await fake.send_event({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"})
    await eventually(lambda: gateway.reconnects == 1 and gateway.resynced)
    assert "Shutdown" in seen.names()
    assert seen.of_type(AmiDisconnected)[0].reason == "asterisk shutdown"


async def test_stop_logs_off_and_leaves_no_task_behind(
    fake: FakeAmi, make_gateway: GatewayFactory
) -> None:
    gateway, seen = make_gateway(ping_interval_s=0.05)
    await gateway.start()
    await gateway.wait_resynced(5)
    await gateway.stop()
    assert fake.count("Logoff") == 1
    assert not gateway.connected
    assert isinstance(seen.lifecycle[-1], AmiDisconnected)
    assert seen.lifecycle[-1].reason == "stopped"
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("ami-")]
    assert leftover == []
    with pytest.raises(AmiNotConnected):
        await gateway.send_action({"Action": "Ping"}, as_list=False)
