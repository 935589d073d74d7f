"""Reading and controlling calls, probes, the access log and the 500 path."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from importlib import metadata

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from ccd.ami.actions import HangupAction, OriginateAction
from ccd.ami.protocol import AmiActionFailed, AmiConnectionLost, AmiNotConnected
from ccd.db.audit_store import AuditStore
from ccd.domain.calls import Call, CallState
from ccd.domain.contract import VAR_REQUEST_ID
from ccd.live.control import AmiCallControl
from ccd.live.ports import OriginateRejected, UnknownDestination, UnknownServerName
from tests.clock import T0, FakeClock
from tests.integration.apifakes import FakeCalls, make_call, running_api

CALL_ID = "1700000000.1"


async def test_list_calls_shows_live_calls_with_times_and_durations() -> None:
    ringing = make_call("1700000000.2", state=CallState.RINGING, answered_at=None)
    async with running_api(calls=[make_call(CALL_ID), ringing]) as api:
        response = await api.client.get("/api/v1/calls", headers=api.auth("integrator"))
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.json()
        assert body["count"] == 2
        up, ring = body["calls"]
        assert up["id"] == CALL_ID
        assert up["state"] == "up"
        assert up["started_at"] == "2026-11-25T09:00:00.000Z"
        assert up["answered_at"] == "2026-11-25T09:00:04.000Z"
        assert (up["duration_s"], up["ring_s"], up["talk_s"]) == (30.0, 4.0, 26.0)
        assert up["caller"] == {"number": "5551234", "name": "Alice"}
        assert up["channels"][0]["name"] == "PJSIP/trunk-00000001"
        assert up["channels"][0]["state"] == "up"
        assert ring["state"] == "ringing"
        assert ring["answered_at"] is None
        assert ring["talk_s"] is None


async def test_list_is_empty_without_calls() -> None:
    async with running_api() as api:
        response = await api.client.get("/api/v1/calls", headers=api.auth("admin"))
        assert await response.json() == {"calls": [], "count": 0}


async def test_get_call_by_id() -> None:
    async with running_api(calls=[make_call(CALL_ID)]) as api:
        response = await api.client.get(f"/api/v1/calls/{CALL_ID}", headers=api.auth("admin"))
        assert response.status == 200
        assert (await response.json())["id"] == CALL_ID


async def test_unknown_call_is_404_problem() -> None:
    async with running_api(calls=[make_call(CALL_ID)]) as api:
        for path in ("/api/v1/calls/42.7", "/api/v1/calls/" + "9" * 200):
            response = await api.client.get(path, headers=api.auth("admin"))
            assert response.status == 404
            assert response.content_type == "application/problem+json"


async def test_hangup_known_call_is_202_reaches_call_control_and_is_audited(
    engine: AsyncEngine,
) -> None:
    audit = AuditStore(engine, FakeClock(T0))
    async with running_api(calls=[make_call(CALL_ID)], audit=audit) as api:
        response = await api.client.delete(
            f"/api/v1/calls/{CALL_ID}", headers=api.auth("supervisor")
        )
        assert response.status == 202
        assert api.control.hangups == [CALL_ID]
        trail = await api.client.get(
            "/api/v1/audit?action=call.hangup_requested", headers=api.auth("admin")
        )
        [event] = (await trail.json())["events"]
    assert event["actor"] == {"token_id": "t-sup", "role": "supervisor", "agent_id": None}
    assert (event["target_kind"], event["target_id"]) == ("call", CALL_ID)
    assert event["detail"] == {}


async def test_an_originate_is_audited_with_variable_names_never_their_values(
    engine: AsyncEngine,
) -> None:
    audit = AuditStore(engine, FakeClock(T0))
    async with running_api(audit=audit) as api:
        response = await api.client.post(
            "/api/v1/calls",
            json={
                "endpoint": "PJSIP/1001",
                "destination": "2000",
                "caller_id": '"Jane Customer" <0612345678>',
                "variables": {"CUSTOMER_ID": "cust-secret-42", "ORDER": "o-77"},
            },
            headers=api.auth("admin"),
        )
        assert response.status == 202
        originate_id = (await response.json())["originate_id"]
        trail = await api.client.get("/api/v1/audit", headers=api.auth("admin"))
        shown = await trail.text()
        [event] = (await trail.json())["events"]
    assert event["action"] == "call.originated"
    assert event["actor"]["token_id"] == "t-admin"
    assert (event["target_kind"], event["target_id"]) == ("originate", originate_id)
    assert event["detail"] == {
        "after": {
            "endpoint": "PJSIP/1001",
            "destination": "2000",
            "variable_names": ["CUSTOMER_ID", "ORDER"],
        }
    }
    for value in ("cust-secret-42", "o-77", "0612345678", "Jane Customer"):
        assert value not in shown


async def test_without_an_audit_trail_call_control_is_503_and_nothing_is_sent() -> None:
    async with running_api(calls=[make_call(CALL_ID)]) as api:
        hangup = await api.client.delete(f"/api/v1/calls/{CALL_ID}", headers=api.auth("admin"))
        originate = await api.client.post(
            "/api/v1/calls",
            json={"endpoint": "PJSIP/1001", "destination": "2000"},
            headers=api.auth("admin"),
        )
        for response in (hangup, originate):
            assert response.status == 503
            problem = await response.json()
            assert problem["detail"] == "the audit trail is unavailable; retry later"
        assert api.control.hangups == []
        assert api.control.originates == []


async def test_hangup_unknown_call_is_404(engine: AsyncEngine) -> None:
    async with running_api(calls=[make_call(CALL_ID)], audit=AuditStore(engine)) as api:
        response = await api.client.delete("/api/v1/calls/42.7", headers=api.auth("admin"))
        assert response.status == 404
        assert api.control.hangups == []


async def test_healthz() -> None:
    async with running_api() as api:
        response = await api.client.get("/healthz")
        # The installed package's version, as `ccd --version` prints it.
        assert await response.json() == {"status": "ok", "version": metadata.version("ccd")}


async def test_readyz_ready_and_not_ready_with_reasons() -> None:
    async with running_api() as api:
        response = await api.client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {"status": "ready"}

        api.readiness.reasons = ["AMI not connected", "database unreachable"]
        response = await api.client.get("/readyz")
        assert response.status == 503
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["reasons"] == ["AMI not connected", "database unreachable"]
        assert "AMI not connected" in problem["detail"]

        api.readiness.reasons = []
        assert (await api.client.get("/readyz")).status == 200


async def test_access_log_line_has_no_query_and_names_the_token() -> None:
    async with running_api(calls=[make_call(CALL_ID)]) as api:
        with capture_logs() as logs:
            response = await api.client.get(
                "/api/v1/calls?secret=hunter2",
                headers={**api.auth("admin"), "X-Request-ID": "crm-req-7"},
            )
        assert response.headers["X-Request-ID"] == "crm-req-7"
        [line] = [entry for entry in logs if entry["event"] == "http request"]
        assert line["method"] == "GET"
        assert line["path"] == "/api/v1/calls"
        assert line["status"] == 200
        assert line["token_id"] == "t-admin"
        assert line["request_id"] == "crm-req-7"
        assert isinstance(line["duration_ms"], float)
        assert "hunter2" not in repr(logs)
        assert "tok-admin-secret" not in repr(logs)


async def test_unsafe_request_id_is_replaced() -> None:
    async with running_api() as api:
        response = await api.client.get("/healthz", headers={"X-Request-ID": "a b<script>"})
        assert response.headers["X-Request-ID"] != "a b<script>"
        assert len(response.headers["X-Request-ID"]) == 32


async def test_problem_carries_the_request_id() -> None:
    async with running_api() as api:
        response = await api.client.get("/api/v1/calls", headers={"X-Request-ID": "r-1"})
        assert (await response.json())["request_id"] == "r-1"


class ExplodingDirectory:
    def calls(self) -> Sequence[Call]:
        raise RuntimeError("postgres://ccd:s3cret@db/ccd exploded")

    def call(self, linkedid: str) -> Call | None:
        raise RuntimeError("postgres://ccd:s3cret@db/ccd exploded")


async def test_unexpected_error_is_500_problem_without_internals_and_logged() -> None:
    async with running_api(calls_directory=ExplodingDirectory(), allow_server_errors=True) as api:
        with capture_logs() as logs:
            response = await api.client.get("/api/v1/calls", headers=api.auth("admin"))
        assert response.status == 500
        assert response.content_type == "application/problem+json"
        text = await response.text()
        assert "s3cret" not in text
        assert "RuntimeError" not in text
        [error] = [entry for entry in logs if entry["event"] == "unhandled error in API handler"]
        assert error["exc_info"] is True
        assert error["log_level"] == "error"
        assert api.statuses == [500]


# ---- the call control behind the API (ccd.live.control) over a typed AMI fake -------


class TypedAmi:
    """Records the gateway operations AmiCallControl asks for; ``fail`` raises instead."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.originates: list[OriginateAction] = []
        self.hangups: list[HangupAction] = []
        self.fail = fail

    async def originate(self, action: OriginateAction) -> str:
        if self.fail is not None:
            raise self.fail
        self.originates.append(action)
        return "ccd-originate-1"

    async def hangup(self, action: HangupAction) -> None:
        self.hangups.append(action)
        if self.fail is not None:
            raise self.fail


def control(ami: TypedAmi, calls: Sequence[Call] = ()) -> AmiCallControl:
    return AmiCallControl(ami=ami, calls=FakeCalls(calls), context="ccd-originate")


async def test_originate_runs_the_destination_in_the_originate_context_never_an_app() -> None:
    ami = TypedAmi()
    action_id = await control(ami).originate(
        endpoint="PJSIP/1001",
        destination="5551234",
        caller_id='"Sales" <100>',
        variables={"TICKET": "42"},
        ring_timeout_s=30,
    )
    assert action_id == "ccd-originate-1"
    [sent] = ami.originates
    assert (sent.channel, sent.context, sent.exten, sent.priority) == (
        "PJSIP/1001",
        "ccd-originate",
        "5551234",
        1,
    )
    assert sent.timeout_s == 30
    assert sent.caller_id == '"Sales" <100>'  # as given: Asterisk parses it
    # The request id lets ccd recognise the call it placed.
    assert sent.variables["TICKET"] == "42"
    assert len(sent.variables[VAR_REQUEST_ID]) == 32
    # What it becomes on the wire: a context, never an application.
    headers = sent.headers()
    assert "Application" not in headers
    assert headers["Timeout"] == "30000"


async def test_originate_without_caller_id_sends_none() -> None:
    ami = TypedAmi()
    await control(ami).originate(
        endpoint="PJSIP/1001", destination="1", caller_id="", variables={}, ring_timeout_s=5
    )
    assert ami.originates[0].caller_id is None
    assert "CallerID" not in ami.originates[0].headers()


async def test_originate_lost_in_flight_is_rejected_and_not_connected_stays_retryable() -> None:
    lost = control(TypedAmi(fail=AmiConnectionLost("Originate", "reset")))
    with pytest.raises(OriginateRejected, match="check /api/v1/calls before retrying"):
        await lost.originate(
            endpoint="PJSIP/1001", destination="1", caller_id=None, variables={}, ring_timeout_s=5
        )
    down = control(TypedAmi(fail=AmiNotConnected()))
    with pytest.raises(AmiNotConnected):
        await down.originate(
            endpoint="PJSIP/1001", destination="1", caller_id=None, variables={}, ring_timeout_s=5
        )


async def test_originate_to_an_extension_the_context_lacks_is_an_unknown_destination() -> None:
    missing = AmiActionFailed({"Response": "Error", "Message": "Extension does not exist."})
    with pytest.raises(UnknownDestination) as refused:
        await control(TypedAmi(fail=missing)).originate(
            endpoint="PJSIP/1001", destination="Zr", caller_id=None, variables={}, ring_timeout_s=5
        )
    assert (refused.value.destination, refused.value.context) == ("Zr", "ccd-originate")
    other = AmiActionFailed({"Response": "Error", "Message": "Originate failed"})
    with pytest.raises(OriginateRejected) as rejected:
        await control(TypedAmi(fail=other)).originate(
            endpoint="PJSIP/1001", destination="1", caller_id=None, variables={}, ring_timeout_s=5
        )
    assert not isinstance(rejected.value, UnknownDestination)
    assert str(rejected.value) == "AMI action failed: Originate failed"


async def test_hangup_hangs_up_every_channel_of_the_call_with_normal_clearing() -> None:
    ami = TypedAmi()
    assert await control(ami, [make_call(CALL_ID)]).hangup(CALL_ID)
    assert ami.hangups == [HangupAction("PJSIP/trunk-00000001", cause=16)]
    assert not await control(ami).hangup("42.7")
    # A channel gone between the lookup and the action is not an error.
    gone = TypedAmi(fail=AmiActionFailed({"Response": "Error", "Message": "No such channel"}))
    assert await control(gone, [make_call(CALL_ID)]).hangup(CALL_ID)


async def test_a_hangup_the_trail_fails_to_record_is_503_saying_it_was_done(
    engine: AsyncEngine,
) -> None:
    async with running_api(calls=[make_call(CALL_ID)], audit=AuditStore(engine)) as api:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE audit_events"))
        with capture_logs() as logs:
            response = await api.client.delete(
                f"/api/v1/calls/{CALL_ID}", headers=api.auth("admin")
            )
        assert response.status == 503
        assert (await response.json())["detail"] == (
            f"call.hangup_requested {CALL_ID!r} was done, but the audit trail is unavailable:"
            " it was not recorded"
        )
        assert api.control.hangups == [CALL_ID]
    [error] = [entry for entry in logs if entry["event"] == "api change not audited"]
    assert (error["action"], error["target_id"]) == ("call.hangup_requested", CALL_ID)


async def test_a_hangup_goes_to_the_server_each_channel_is_on() -> None:
    paris, lyon = TypedAmi(), TypedAmi()
    call = make_call(CALL_ID)
    on_lyon = dataclasses.replace(
        call,
        channels=tuple(
            dataclasses.replace(
                channel, snapshot=dataclasses.replace(channel.snapshot, server="lyon")
            )
            for channel in call.channels
        ),
    )
    servers = {"paris": paris, "lyon": lyon}
    routed = AmiCallControl(
        ami=paris,
        calls=FakeCalls([on_lyon]),
        context="ccd-originate",
        ami_for_server=servers.__getitem__,
    )
    assert await routed.hangup(CALL_ID)
    assert lyon.hangups == [HangupAction("PJSIP/trunk-00000001", cause=16)]
    assert paris.hangups == []


async def test_an_originate_goes_to_the_server_it_names_else_the_first() -> None:
    paris, lyon = TypedAmi(), TypedAmi()
    servers = {"paris": paris, "lyon": lyon}
    routed = AmiCallControl(
        ami=paris, calls=FakeCalls([]), context="ccd-originate", ami_for_server=servers.__getitem__
    )

    async def place(server: str | None) -> str:
        return await routed.originate(
            endpoint="PJSIP/1001",
            destination="2000",
            caller_id=None,
            variables={},
            ring_timeout_s=30,
            server=server,
        )

    await place("lyon")
    await place(None)
    assert [action.channel for action in lyon.originates] == ["PJSIP/1001"]
    assert [action.channel for action in paris.originates] == ["PJSIP/1001"]
    with pytest.raises(UnknownServerName, match="no Asterisk server named 'rome'"):
        await place("rome")
    assert len(paris.originates) == len(lyon.originates) == 1


async def test_the_originate_server_is_validated_and_audited(engine: AsyncEngine) -> None:
    audit = AuditStore(engine, FakeClock(T0))
    async with running_api(audit=audit) as api:
        call = {"endpoint": "PJSIP/1001", "destination": "2000"}
        malformed = await api.client.post(
            "/api/v1/calls", json={**call, "server": "Lyon\r\n"}, headers=api.auth("admin")
        )
        assert malformed.status == 422
        assert [error["field"] for error in (await malformed.json())["errors"]] == ["server"]
        placed = await api.client.post(
            "/api/v1/calls", json={**call, "server": "lyon"}, headers=api.auth("admin")
        )
        assert placed.status == 202
        assert api.control.servers == ["lyon"]
        api.control.rejection = UnknownServerName("no Asterisk server named 'rome'")
        unknown = await api.client.post(
            "/api/v1/calls", json={**call, "server": "rome"}, headers=api.auth("admin")
        )
        assert unknown.status == 422
        problem = await unknown.json()
        assert problem["errors"] == [
            {"field": "server", "message": "no Asterisk server named 'rome'"}
        ]
        trail = await api.client.get("/api/v1/audit", headers=api.auth("admin"))
        [event] = (await trail.json())["events"]
    assert event["detail"]["after"]["server"] == "lyon"
