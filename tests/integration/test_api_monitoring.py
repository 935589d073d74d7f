"""Live monitoring over HTTP: the real MonitorService and AuditStore (SQLite) behind the
real API, an in-memory AMI that records what ccd asks of Asterisk, and bus events fed as
Asterisk would send them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.ami.actions import HangupAction, OriginateAction, RedirectAction
from ccd.ami.protocol import AmiActionFailed, AmiNotConnected, AmiTimeout
from ccd.db.audit_store import AuditStore
from ccd.domain.audit import AuditEntry, AuditRecord
from ccd.domain.calls import Call, LiveChannel
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    AgentLegStarted,
    AgentRingStarted,
    ChannelHungUp,
    OriginateResponded,
    ResyncFinished,
)
from ccd.monitor.devices import MonitorDevices
from ccd.monitor.service import MonitorService
from tests.clock import FakeClock
from tests.integration.actionami import ActionAmi
from tests.integration.apifakes import (
    PRINCIPALS,
    T0,
    TOKENS,
    Api,
    FakeCalls,
    error_fields,
    make_call,
    running_api,
    send,
    wait_until,
)
from tests.integration.authmatrix import (
    IDENTITIES,
    MONITOR_ENDPOINTS,
    MONITOR_ID,
    MONITORED_CALL,
    call,
    expected_status,
    headers_for,
)

AGENT_LEG = "ccd-acd-r1"
AGENT_CHANNEL = "PJSIP/1001-0000000a"
SUPERVISOR = PRINCIPALS[TOKENS["supervisor"]]


def with_agent_leg(base: Call, *, answered: bool = True) -> Call:
    leg = LiveChannel(
        snapshot=ChannelSnapshot(
            uniqueid=AGENT_LEG,
            linkedid=base.linkedid,
            name=AGENT_CHANNEL,
            state=ChannelState.UP if answered else ChannelState.RINGING,
        ),
        created_at=T0 + timedelta(seconds=5),
        answered_at=T0 + timedelta(seconds=8) if answered else None,
        bridge_id="b1" if answered else None,
    )
    return replace(base, channels=(*base.channels, leg))


@dataclass
class Rig:
    api: Api
    ami: ActionAmi
    service: MonitorService
    audit: AuditStore
    calls: FakeCalls

    async def actions_audited(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(action, actor role, detail) of every audit row, oldest first."""
        rows = await self.audit.search(limit=1000)
        return [(r.action, r.actor_role, dict(r.detail)) for r in reversed(rows)]


# The devices these tests ring: the supervisors' phones and a Local channel into "phones".
RIG_DEVICES = MonitorDevices(("PJSIP/*", "Local/*@phones"))


@asynccontextmanager
async def monitoring(
    engine: AsyncEngine,
    *,
    answered_agent: bool = True,
    agent_known: bool = True,
    live_uniqueids: Callable[[], Iterable[str]] = lambda: (),
    devices: MonitorDevices = RIG_DEVICES,
) -> AsyncIterator[Rig]:
    calls = FakeCalls([with_agent_leg(make_call(MONITORED_CALL), answered=answered_agent)])
    ami = ActionAmi()
    audit = AuditStore(engine)
    ids = iter(f"m{n}" for n in range(1, 100))
    service = MonitorService(
        ami_for_server=lambda server: ami,
        calls=calls,
        audit=audit,
        clock=FakeClock(T0 + timedelta(seconds=30)),
        # One (untagged) server: every live channel is its.
        live_uniqueids=lambda: dict.fromkeys(live_uniqueids(), ""),
        ring_timeout_s=25,
        devices=devices,
        new_id=lambda: next(ids),
    )
    if agent_known:
        service.handle(
            AgentRingStarted(
                at=T0, linkedid=MONITORED_CALL, leg_linkedid=AGENT_LEG, agent_id="1001", queue="q"
            )
        )
    async with running_api(calls_directory=calls, audit=audit, monitors=service) as api:
        yield Rig(api=api, ami=ami, service=service, audit=audit, calls=calls)


async def start(
    rig: Rig, body: dict[str, object] | None = None, role: str = "supervisor"
) -> tuple[int, Any]:
    body = body if body is not None else {"mode": "listen", "device": "PJSIP/2001"}
    return await send(rig.api, "POST", f"/api/v1/calls/{MONITORED_CALL}/monitor", role, body)


def answer(rig: Rig, session_id: str) -> None:
    rig.service.handle(
        OriginateResponded(
            at=T0,
            action_id=f"ccd-mon-{session_id}",
            success=True,
            reason=4,
            channel="PJSIP/2001-0000000b",
            uniqueid=f"ccd-mon-{session_id}",
        )
    )


def hung_up(uniqueid: str, name: str = "x") -> ChannelHungUp:
    return ChannelHungUp(
        at=T0,
        channel=ChannelSnapshot(uniqueid=uniqueid, linkedid="l", name=name, state=ChannelState.UP),
        cause=16,
        cause_text="Normal Clearing",
    )


# ---- the auth matrix --------------------------------------------------------------------


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(MONITOR_ENDPOINTS))
async def test_auth_matrix(route: str, identity: str, engine: AsyncEngine) -> None:
    endpoint = MONITOR_ENDPOINTS[route]
    async with monitoring(engine) as rig:
        status, _ = await start(rig)
        assert status == 201
        assert rig.service.session(MONITOR_ID) is not None
        before = list(rig.ami.actions)
        status = await call(rig.api, endpoint, headers_for(identity))
        assert status == expected_status(endpoint, identity)
        if status in (401, 403):
            # A refused caller did nothing to Asterisk.
            assert rig.ami.actions == before


# ---- start ------------------------------------------------------------------------------


async def test_start_rings_the_supervisor_into_chanspy_on_the_agents_channel(
    engine: AsyncEngine,
) -> None:
    async with monitoring(engine) as rig:
        status, body = await start(rig, {"mode": "whisper", "device": "Local/2001@phones"})
        assert status == 201, body
        assert body["id"] == "m1"
        assert body["call_id"] == MONITORED_CALL
        assert body["agent_id"] == "1001"
        assert body["agent_channel"] == AGENT_CHANNEL
        assert body["mode"] == "whisper"
        assert body["state"] == "ringing"
        assert body["answered_at"] is None
        assert body["started_by"] == "t-sup"
        [ring] = rig.ami.of(OriginateAction)
        assert ring.channel == "Local/2001@phones"
        assert (ring.context, ring.exten) == ("ccd-monitor", "whisper")
        assert ring.variables == {"CCD_MONITOR_TARGET": AGENT_CHANNEL, "CCD_MONITOR_ID": "m1"}
        assert ring.channel_id == ring.action_id == "ccd-mon-m1"
        assert ring.timeout_s == 25
        assert await rig.actions_audited() == [
            (
                "monitor.started",
                "supervisor",
                {
                    "mode": "whisper",
                    "device": "Local/2001@phones",
                    "agent_id": "1001",
                    "monitor_id": "m1",
                },
            )
        ]
        answer(rig, "m1")
        status, listed = await send(rig.api, "GET", "/api/v1/monitors", "supervisor")
        assert status == 200
        assert listed["count"] == 1
        assert listed["monitors"][0]["state"] == "active"
        assert listed["monitors"][0]["answered_at"] == "2026-11-25T09:00:30.000Z"


async def test_no_such_live_call_is_404_and_nothing_rings(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        status, problem = await send(
            rig.api,
            "POST",
            "/api/v1/calls/1700000099.9/monitor",
            "supervisor",
            {"device": "PJSIP/2001"},
        )
        assert status == 404
        assert "1700000099.9" in problem["detail"]
        assert rig.ami.actions == []
        assert await rig.actions_audited() == []


@pytest.mark.parametrize(
    ("answered_agent", "agent_known"), [(False, True), (True, False)], ids=["ringing", "unknown"]
)
async def test_a_call_without_an_answered_agent_leg_is_409(
    engine: AsyncEngine, answered_agent: bool, agent_known: bool
) -> None:
    async with monitoring(engine, answered_agent=answered_agent, agent_known=agent_known) as rig:
        status, problem = await start(rig)
        assert status == 409
        assert "no answered agent leg" in problem["detail"]
        assert rig.ami.actions == []
        assert await rig.actions_audited() == []


async def test_one_device_one_session(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        assert (await start(rig))[0] == 201
        status, problem = await start(rig)
        assert status == 409
        assert "already in monitor session 'm1'" in problem["detail"]
        assert len(rig.ami.of(OriginateAction)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "listen"}, "device"),
        ({"device": "PJSIP/2001", "mode": "spy"}, "mode"),
        ({"device": "2001"}, "device"),
        ({"device": "PJSIP/2001,1001"}, "device"),
        ({"device": "PJSIP/20 01"}, "device"),
        ({"device": "PJSIP/2001\r\nAction: Command"}, "device"),
        ({"device": "PJSIP/2001\x00"}, "device"),
        ({"device": "Local/listen@ccd-monitor"}, "device"),
        ({"device": "PJSIP/" + "1" * 200}, "device"),
        ({"device": "PJSIP/2001", "application": "System"}, "application"),
        ({"device": "PJSIP/2001", "mode": "listen\n"}, "mode"),
    ],
)
async def test_bad_start_bodies_are_422_naming_the_field(
    engine: AsyncEngine, body: dict[str, object], field: str
) -> None:
    async with monitoring(engine) as rig:
        status, problem = await start(rig, body)
        assert status == 422, problem
        assert field in error_fields(problem)
        assert rig.ami.actions == []


async def test_the_default_device_list_allows_a_pjsip_endpoint(engine: AsyncEngine) -> None:
    async with monitoring(engine, devices=MonitorDevices()) as rig:
        status, body = await start(rig, {"device": "PJSIP/2001"})
        assert status == 201, body
        assert body["device"] == "PJSIP/2001"
        [ring] = rig.ami.of(OriginateAction)
        assert ring.channel == "PJSIP/2001"


@pytest.mark.parametrize(
    "device",
    ["PJSIP/+15551234@trunk", "PJSIP/trunk/sip:+15551234@carrier.example", "Local/2001@phones"],
)
async def test_a_device_outside_the_list_is_422_naming_device_and_nothing_rings(
    engine: AsyncEngine, device: str
) -> None:
    async with monitoring(engine, devices=MonitorDevices()) as rig:
        status, problem = await start(rig, {"device": device})
        assert status == 422, problem
        assert error_fields(problem) == {"device"}
        [error] = problem["errors"]
        assert "is not an allowed monitoring device" in error["message"]
        assert "'PJSIP/*'" in error["message"]
        assert rig.ami.actions == []
        assert await rig.actions_audited() == []
        assert (await send(rig.api, "GET", "/api/v1/monitors", "supervisor"))[1]["count"] == 0


async def test_a_pattern_with_at_allows_a_local_channel_into_that_context(
    engine: AsyncEngine,
) -> None:
    async with monitoring(engine, devices=MonitorDevices(("Local/*@phones",))) as rig:
        status, problem = await start(rig, {"device": "Local/2001@from-trunk"})
        assert status == 422, problem
        assert error_fields(problem) == {"device"}
        assert "'Local/*@phones'" in problem["errors"][0]["message"]
        status, body = await start(rig, {"device": "Local/2001@phones"})
        assert status == 201, body
        [ring] = rig.ami.of(OriginateAction)
        assert ring.channel == "Local/2001@phones"


async def test_asterisk_unreachable_is_503_and_the_session_ends_audited(
    engine: AsyncEngine,
) -> None:
    async with monitoring(engine) as rig:
        rig.ami.refuse = AmiNotConnected()
        status, problem = await start(rig)
        assert status == 503
        assert "Asterisk" in problem["detail"]
        assert rig.service.sessions() == []
        assert [(a, d.get("reason")) for a, _, d in await rig.actions_audited()] == [
            ("monitor.started", None),
            ("monitor.ended", "not-answered"),
        ]


async def test_asterisk_refusing_the_ring_is_502(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        rig.ami.refuse = AmiActionFailed({"Response": "Error", "Message": "Extension bad"})
        status, problem = await start(rig)
        assert status == 502
        assert problem["type"] == "urn:ccd:problem:originate-rejected"
        assert rig.service.sessions() == []


async def test_no_audit_trail_no_monitoring(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TABLE audit_events")
        status, problem = await start(rig)
        assert status == 503
        assert "audit trail" in problem["detail"]
        assert rig.ami.actions == []
        assert rig.service.sessions() == []


# ---- switch, stop, ends -------------------------------------------------------------------


async def test_switching_redirects_the_supervisor_without_hanging_up(
    engine: AsyncEngine,
) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        answer(rig, "m1")
        status, body = await send(
            rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "barge"}
        )
        assert status == 200, body
        assert body["mode"] == "barge"
        assert body["state"] == "active"
        assert rig.ami.of(RedirectAction) == [RedirectAction("ccd-mon-m1", "ccd-monitor", "barge")]
        assert rig.ami.of(HangupAction) == []
        # The same mode again: nothing to do, nothing audited.
        await send(rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "barge"})
        assert len(rig.ami.of(RedirectAction)) == 1
        audited = await rig.actions_audited()
        assert [a for a, _, _ in audited] == ["monitor.started", "monitor.switched"]
        assert audited[1][2] == {
            "mode": "barge",
            "previous_mode": "listen",
            "device": "PJSIP/2001",
            "monitor_id": "m1",
        }


async def test_a_switch_before_the_answer_is_applied_when_answered(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        status, body = await send(
            rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "whisper"}
        )
        assert (status, body["mode"], body["state"]) == (200, "whisper", "ringing")
        assert rig.ami.of(RedirectAction) == []
        answer(rig, "m1")
        await wait_until(lambda: bool(rig.ami.of(RedirectAction)), what="redirect at answer")
        assert rig.ami.of(RedirectAction) == [
            RedirectAction("ccd-mon-m1", "ccd-monitor", "whisper")
        ]


@pytest.mark.parametrize(
    ("method", "body"), [("PATCH", {"mode": "barge"}), ("DELETE", None), ("GET", None)]
)
async def test_unknown_sessions_are_404(
    engine: AsyncEngine, method: str, body: dict[str, object] | None
) -> None:
    async with monitoring(engine) as rig:
        status, problem = await send(rig.api, method, "/api/v1/monitors/nope", "supervisor", body)
        assert status == 404
        assert problem["status"] == 404


async def test_bad_switch_bodies_are_422(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        for body, field_name in (({"mode": "shout"}, "mode"), ({}, "mode"), ({"x": 1}, "x")):
            status, problem = await send(
                rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", body
            )
            assert status == 422
            assert field_name in error_fields(problem)
        assert rig.ami.of(RedirectAction) == []


async def test_another_supervisors_session_is_theirs(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        other = "tok-other-supervisor"
        rig.api.tokens.principals[other] = replace(SUPERVISOR, token_id="t-sup-2")
        headers = {"Authorization": f"Bearer {other}"}
        for method, body in (("PATCH", {"mode": "barge"}), ("DELETE", None)):
            response = await rig.api.client.request(
                method, "/api/v1/monitors/m1", headers=headers, json=body
            )
            assert response.status == 403
        # ...but they see it listed.
        response = await rig.api.client.get("/api/v1/monitors", headers=headers)
        assert (await response.json())["count"] == 1
        assert rig.ami.of(RedirectAction) == rig.ami.of(HangupAction) == []


async def test_stop_hangs_up_the_supervisor_and_audits_the_end(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        answer(rig, "m1")
        status, body = await send(rig.api, "DELETE", "/api/v1/monitors/m1", "supervisor")
        assert status == 200
        assert (body["id"], body["state"], body["reason"]) == ("m1", "ended", "stopped")
        assert rig.ami.of(HangupAction) == [HangupAction("ccd-mon-m1")]
        assert (await send(rig.api, "GET", "/api/v1/monitors", "supervisor"))[1]["count"] == 0
        ended = (await rig.actions_audited())[-1]
        assert ended == (
            "monitor.ended",
            "supervisor",
            {"mode": "listen", "device": "PJSIP/2001", "reason": "stopped", "monitor_id": "m1"},
        )


async def test_a_stop_the_trail_cannot_take_says_the_session_ended(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        answer(rig, "m1")
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TABLE audit_events")
        status, problem = await send(rig.api, "DELETE", "/api/v1/monitors/m1", "supervisor")
        assert status == 503
        # Not "refused, retry later": the supervisor was hung up and a retry would be a 404.
        assert "ended" in problem["detail"]
        assert "not recorded" in problem["detail"]
        assert "refused" not in problem["detail"]
        assert rig.ami.of(HangupAction) == [HangupAction("ccd-mon-m1")]
        assert rig.service.sessions() == []


async def test_the_call_ending_ends_the_session_and_it_is_audited(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        answer(rig, "m1")
        rig.service.handle(hung_up(AGENT_LEG, AGENT_CHANNEL))
        await wait_until(lambda: not rig.service.sessions(), what="session over")
        await rig.service.stop_all()
        assert rig.ami.of(HangupAction) == [HangupAction("ccd-mon-m1")]
        audited = await rig.actions_audited()
        # Nobody asked: the session's own supervisor is the actor.
        assert audited[-1][0] == "monitor.ended"
        assert audited[-1][1] == "supervisor"
        assert audited[-1][2]["reason"] == "call-ended"
        # The agent leg is forgotten: the call cannot be monitored any more.
        rig.calls.by_id[MONITORED_CALL] = with_agent_leg(make_call(MONITORED_CALL))
        assert (await start(rig, {"device": "PJSIP/2002"}))[0] == 409


async def test_the_supervisor_hanging_up_ends_the_session(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        answer(rig, "m1")
        rig.service.handle(hung_up("ccd-mon-m1", "PJSIP/2001-0000000b"))
        await rig.service.stop_all()
        assert rig.service.sessions() == []
        assert rig.ami.of(HangupAction) == []
        assert (await rig.actions_audited())[-1][2]["reason"] == "supervisor-hung-up"


async def test_without_monitoring_the_routes_are_503() -> None:
    async with running_api(allow_server_errors=True) as api:
        status, problem = await send(api, "GET", "/api/v1/monitors", "supervisor")
        assert status == 503
        assert "monitoring" in problem["detail"]


async def test_a_dialer_agent_leg_can_be_monitored(engine: AsyncEngine) -> None:
    async with monitoring(engine, agent_known=False) as rig:
        rig.service.handle(
            AgentLegStarted(at=T0, linkedid=MONITORED_CALL, uniqueid=AGENT_LEG, agent_id="1001")
        )
        status, body = await start(rig)
        assert status == 201, body
        assert (body["agent_id"], body["agent_channel"]) == ("1001", AGENT_CHANNEL)


async def test_a_device_that_does_not_answer_ends_the_session(engine: AsyncEngine) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        rig.service.handle(
            OriginateResponded(
                at=T0, action_id="ccd-mon-m1", success=False, reason=3, channel="", uniqueid=""
            )
        )
        await rig.service.stop_all()
        assert rig.service.sessions() == []
        assert (await rig.actions_audited())[-1][2]["reason"] == "not-answered"


async def test_after_an_ami_outage_sessions_whose_channels_went_are_ended(
    engine: AsyncEngine,
) -> None:
    live: set[str] = {AGENT_LEG, "ccd-mon-m1", "ccd-mon-m2"}
    async with monitoring(engine, live_uniqueids=lambda: live) as rig:
        await start(rig)
        await start(rig, {"device": "PJSIP/2002"})
        answer(rig, "m1")
        answer(rig, "m2")
        live.discard("ccd-mon-m2")  # hung up while ccd was not listening
        rig.service.handle(ResyncFinished(at=T0, channel_count=2))
        await rig.service.stop_all()
        assert [s.id for s in rig.service.sessions()] == ["m1"]
        assert (await rig.actions_audited())[-1][2] == {
            "mode": "listen",
            "device": "PJSIP/2002",
            "reason": "lost",
            "monitor_id": "m2",
        }
        # The agent's channel gone too: the last one ends, its supervisor is hung up.
        live.discard(AGENT_LEG)
        rig.service.handle(ResyncFinished(at=T0, channel_count=1))
        await rig.service.stop_all()
        assert rig.service.sessions() == []
        assert rig.ami.of(HangupAction) == [HangupAction("ccd-mon-m1")]


async def test_a_supervisor_channel_left_by_an_earlier_ccd_is_hung_up_at_the_resync(
    engine: AsyncEngine,
) -> None:
    live: set[str] = {AGENT_LEG, "ccd-mon-0f3a"}  # from the ccd process before a restart
    async with monitoring(engine, live_uniqueids=lambda: live) as rig:
        rig.service.handle(ResyncFinished(at=T0, channel_count=2))
        await rig.service.stop_all()
        assert rig.ami.of(HangupAction) == [HangupAction("ccd-mon-0f3a")]
        assert await rig.actions_audited() == []


async def test_a_supervisor_who_answered_during_an_ami_outage_is_active_after_it(
    engine: AsyncEngine,
) -> None:
    live: set[str] = {AGENT_LEG, "ccd-mon-m1"}
    async with monitoring(engine, live_uniqueids=lambda: live) as rig:
        await start(rig)
        await send(rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "whisper"})
        # The AMI connection dropped while the device rang: the OriginateResponse of the
        # answer never arrived. The resync shows the supervisor's channel up.
        supervisor_call = make_call("ccd-mon-m1")
        assert supervisor_call.channels[0].snapshot.state is ChannelState.UP
        rig.calls.by_id["ccd-mon-m1"] = supervisor_call
        rig.service.handle(ResyncFinished(at=T0, channel_count=2))
        await rig.service.stop_all()
        _, shown = await send(rig.api, "GET", "/api/v1/monitors/m1", "supervisor")
        assert (shown["state"], shown["mode"]) == ("active", "whisper")
        # The switch asked while it rang is applied now, not never.
        assert rig.ami.of(RedirectAction) == [
            RedirectAction("ccd-mon-m1", "ccd-monitor", "whisper")
        ]
        # A session still ringing (its channel not up) stays ringing.
        await start(rig, {"device": "PJSIP/2002"})
        live.add("ccd-mon-m2")
        ringing = make_call("ccd-mon-m2", answered_at=None)
        rig.calls.by_id["ccd-mon-m2"] = ringing
        rig.service.handle(ResyncFinished(at=T0, channel_count=3))
        await rig.service.stop_all()
        _, shown = await send(rig.api, "GET", "/api/v1/monitors/m2", "supervisor")
        assert shown["state"] == "ringing"


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (AmiActionFailed({"Response": "Error", "Message": "No such channel"}), 502),
        (AmiTimeout("Redirect", 10), 502),
        (AmiNotConnected(), 503),
    ],
)
async def test_a_switch_asterisk_did_not_apply_is_said_so(
    engine: AsyncEngine, failure: Exception, status: int
) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        answer(rig, "m1")
        rig.ami.refuse = failure
        code, problem = await send(
            rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "whisper"}
        )
        assert code == status
        assert problem["status"] == status
        # The trail, which took the switch before it was tried, says it did not happen.
        audited = await rig.actions_audited()
        assert [a for a, _, _ in audited] == [
            "monitor.started",
            "monitor.switched",
            "monitor.switch_failed",
        ]
        assert audited[-1][2] == {
            "mode": "whisper",
            "mode_kept": "listen",
            "device": "PJSIP/2001",
            "monitor_id": "m1",
        }
        # The session says what the supervisor's channel really runs: still listen (a
        # barge that failed to become listen must not be shown as listen).
        _, shown = await send(rig.api, "GET", "/api/v1/monitors/m1", "supervisor")
        assert shown["mode"] == "listen"
        # ...so the same switch asked again is tried again, not answered "done" at once.
        rig.ami.refuse = None
        code, body = await send(
            rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "whisper"}
        )
        assert (code, body["mode"]) == (200, "whisper")
        assert rig.ami.of(RedirectAction) == [
            RedirectAction("ccd-mon-m1", "ccd-monitor", "whisper")
        ]


async def test_a_redirect_at_the_answer_that_fails_shows_the_mode_dialed(
    engine: AsyncEngine,
) -> None:
    async with monitoring(engine) as rig:
        await start(rig)
        await send(rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "barge"})
        rig.ami.refuse = AmiActionFailed({"Response": "Error", "Message": "No such channel"})
        answer(rig, "m1")
        await wait_until(lambda: not rig.service._tasks, what="the answer's redirect tried")
        _, shown = await send(rig.api, "GET", "/api/v1/monitors/m1", "supervisor")
        assert (shown["state"], shown["mode"]) == ("active", "listen")
        audited = await rig.actions_audited()
        assert audited[-1] == (
            "monitor.switch_failed",
            "supervisor",
            {"mode": "barge", "mode_kept": "listen", "device": "PJSIP/2001", "monitor_id": "m1"},
        )


async def test_a_call_ending_while_the_start_is_audited_rings_nobody(
    engine: AsyncEngine,
) -> None:
    async with monitoring(engine) as rig:
        service = rig.service

        class HangsUpWhileWriting:
            """The audit write takes a moment; the call ends meanwhile."""

            async def record(self, entry: AuditEntry) -> AuditRecord:
                if entry.action == "monitor.started":
                    service.handle(hung_up(AGENT_LEG, AGENT_CHANNEL))
                return await rig.audit.record(entry)

            async def search(self, **query: Any) -> Sequence[AuditRecord]:
                return await rig.audit.search(**query)

        service._audit = HangsUpWhileWriting()
        code, problem = await start(rig)
        assert code == 409, problem
        assert "ended" in problem["detail"]
        await wait_until(lambda: not service._tasks, what="the end audited")
        assert rig.ami.of(OriginateAction) == []
        assert service.sessions() == []
