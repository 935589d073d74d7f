"""The auth matrix shared by test_api_auth and test_api_acd: who may call which route, and
how a test calls it as each kind of caller."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from ccd.dialer.contacts import contact_id
from tests.integration.apifakes import TOKENS, Api

IDENTITIES = [
    "anonymous",
    "bad-token",
    "admin",
    "supervisor",
    "agent",
    "integrator",
    "qa",
    "analyst",
]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    success: int
    allowed: frozenset[str]
    body: dict[str, object] | None = None
    websocket: bool = False
    csv: str | None = None  # a text/csv body instead of JSON


READERS = frozenset({"admin", "supervisor", "integrator"})
CONTROLLERS = frozenset({"admin", "supervisor"})
ALL_ROLES = frozenset({"admin", "supervisor", "agent", "integrator", "qa", "analyst"})

ADMIN_ONLY = frozenset({"admin"})
VIEWERS = frozenset({"admin", "supervisor"})
AGENT_SELF = frozenset({"admin", "supervisor", "agent"})

# Every ACD route, for the auth matrix of test_api_acd (test_api_auth checks that together
# with its own they cover every route). The agent token is agent 1001's; the sample seed
# defines 1001-1003, queues sales and support (support overflows to sales) and pause reasons
# lunch, training, no-answer.
ACD_ENDPOINTS = {
    "agents.list": Endpoint("GET", "/api/v1/agents", 200, VIEWERS),
    "agents.create": Endpoint(
        "POST", "/api/v1/agents", 201, ADMIN_ONLY, body={"id": "2001", "interface": "PJSIP/2001"}
    ),
    "agents.get": Endpoint("GET", "/api/v1/agents/1001", 200, AGENT_SELF),
    "agents.update": Endpoint(
        "PUT", "/api/v1/agents/1001", 200, ADMIN_ONLY, body={"interface": "PJSIP/1001"}
    ),
    "agents.delete": Endpoint("DELETE", "/api/v1/agents/1002", 204, ADMIN_ONLY),
    "agents.login": Endpoint("POST", "/api/v1/agents/1001/login", 200, AGENT_SELF),
    "agents.logout": Endpoint("POST", "/api/v1/agents/1001/logout", 200, AGENT_SELF),
    "agents.pause": Endpoint(
        "POST", "/api/v1/agents/1001/pause", 200, AGENT_SELF, body={"reason": "lunch"}
    ),
    "agents.unpause": Endpoint("POST", "/api/v1/agents/1001/unpause", 200, AGENT_SELF),
    "agents.join": Endpoint("PUT", "/api/v1/agents/1001/queues/sales", 200, AGENT_SELF),
    "agents.leave": Endpoint("DELETE", "/api/v1/agents/1001/queues/sales", 200, AGENT_SELF),
    "agents.sessions": Endpoint("GET", "/api/v1/agents/1001/sessions", 200, AGENT_SELF),
    "queues.list": Endpoint("GET", "/api/v1/queues", 200, VIEWERS),
    "queues.create": Endpoint("POST", "/api/v1/queues", 201, ADMIN_ONLY, body={"id": "billing"}),
    "queues.get": Endpoint("GET", "/api/v1/queues/sales", 200, VIEWERS),
    "queues.update": Endpoint(
        "PUT", "/api/v1/queues/sales", 200, ADMIN_ONLY, body={"max_wait_s": 60}
    ),
    "queues.delete": Endpoint("DELETE", "/api/v1/queues/support", 204, ADMIN_ONLY),
    "pause_reasons.list": Endpoint("GET", "/api/v1/pause-reasons", 200, AGENT_SELF),
    "pause_reasons.create": Endpoint(
        "POST", "/api/v1/pause-reasons", 201, ADMIN_ONLY, body={"code": "meeting"}
    ),
    "pause_reasons.update": Endpoint(
        "PUT", "/api/v1/pause-reasons/lunch", 200, ADMIN_ONLY, body={"label": "Lunch"}
    ),
    "pause_reasons.delete": Endpoint("DELETE", "/api/v1/pause-reasons/training", 204, ADMIN_ONLY),
}


# Every dialer route, for the auth matrix of test_api_dialer. The database holds the
# campaigns "draft" (a draft, runnable), "running" and "paused" (the store fixture there).
DIALER_ENDPOINTS = {
    "campaigns.list": Endpoint("GET", "/api/v1/campaigns", 200, VIEWERS),
    "campaigns.create": Endpoint(
        "POST",
        "/api/v1/campaigns",
        201,
        VIEWERS,
        body={"id": "winter", "mode": "progressive", "caller_id": "+12125550100"},
    ),
    "campaigns.get": Endpoint("GET", "/api/v1/campaigns/draft", 200, VIEWERS),
    "campaigns.update": Endpoint(
        "PUT",
        "/api/v1/campaigns/draft",
        200,
        VIEWERS,
        body={"mode": "preview", "caller_id": "+12125550100", "queue_id": "sales"},
    ),
    "campaigns.delete": Endpoint("DELETE", "/api/v1/campaigns/draft", 204, VIEWERS),
    "campaigns.start": Endpoint("POST", "/api/v1/campaigns/draft/start", 200, VIEWERS),
    "campaigns.pause": Endpoint("POST", "/api/v1/campaigns/running/pause", 200, VIEWERS),
    "campaigns.resume": Endpoint("POST", "/api/v1/campaigns/paused/resume", 200, VIEWERS),
    "campaigns.stop": Endpoint("POST", "/api/v1/campaigns/running/stop", 200, VIEWERS),
    "campaigns.contacts": Endpoint(
        "POST", "/api/v1/campaigns/draft/contacts", 200, VIEWERS, csv="phone\n2125550177\n"
    ),
    # The global do-not-call list holds +12125550111.
    "dnc.list": Endpoint("GET", "/api/v1/dnc", 200, VIEWERS),
    "dnc.add": Endpoint("POST", "/api/v1/dnc", 201, VIEWERS, body={"number": "2125550199"}),
    "dnc.remove": Endpoint("DELETE", "/api/v1/dnc/+12125550111", 204, VIEWERS),
    "dnc.check": Endpoint("GET", "/api/v1/dnc/check?number=2125550111", 200, AGENT_SELF),
    "dnc.upload": Endpoint("POST", "/api/v1/dnc/import", 200, VIEWERS, csv="phone\n2125550198\n"),
}


# Every route of agents working a campaign, compliance and contact history, for the auth
# matrix of test_api_dialing. Its database holds the running preview campaign "preview"
# with contacts PREVIEW_NUMBERS; the first one's attempt 1 was answered by agent 1001 (the
# agent token's). A fake dialer (dialerfakes.FakeDialer) stands in for the running one.
PREVIEW_NUMBERS = ("+12125550123", "+12125550124", "+12125550125")
ANSWERED_CONTACT = contact_id("preview", PREVIEW_NUMBERS[0])
OFFERED_CONTACT = contact_id("preview", PREVIEW_NUMBERS[1])
AS_AGENT_1001: dict[str, object] = {"agent_id": "1001"}
DIALING_ENDPOINTS = {
    "campaigns.preview": Endpoint(
        "POST", "/api/v1/campaigns/preview/preview", 200, AGENT_SELF, body=AS_AGENT_1001
    ),
    "campaigns.preview_dial": Endpoint(
        "POST",
        f"/api/v1/campaigns/preview/preview/{OFFERED_CONTACT}/dial",
        202,
        AGENT_SELF,
        body=AS_AGENT_1001,
    ),
    "campaigns.preview_skip": Endpoint(
        "POST",
        f"/api/v1/campaigns/preview/preview/{OFFERED_CONTACT}/skip",
        204,
        AGENT_SELF,
        body=AS_AGENT_1001,
    ),
    "campaigns.dispositions": Endpoint(
        "POST",
        "/api/v1/campaigns/preview/dispositions",
        200,
        AGENT_SELF,
        body={"attempt_id": 1, "disposition": "sale", "agent_id": "1001"},
    ),
    "campaigns.contact": Endpoint(
        "GET", f"/api/v1/campaigns/preview/contacts/{ANSWERED_CONTACT}", 200, VIEWERS
    ),
    # Reporting systems read compliance as they read live calls; agents never.
    "campaigns.compliance": Endpoint("GET", "/api/v1/campaigns/preview/compliance", 200, READERS),
    "campaigns.compliance_csv": Endpoint(
        "GET", "/api/v1/campaigns/preview/compliance.csv", 200, READERS
    ),
}
# Every report route, for the auth matrix of test_api_reports. Agents read their own agent
# report only (the agent token is 1001's: the report is pinned to it).
REPORT_READERS = frozenset({"admin", "supervisor", "analyst", "integrator"})
_REPORT_RANGE = "from=2026-11-24&to=2026-11-24"
REPORT_ENDPOINTS = {
    "reports.queues": Endpoint(
        "GET", f"/api/v1/reports/queues?{_REPORT_RANGE}", 200, REPORT_READERS
    ),
    "reports.agents": Endpoint(
        "GET", f"/api/v1/reports/agents?{_REPORT_RANGE}", 200, REPORT_READERS | {"agent"}
    ),
    "reports.campaigns": Endpoint(
        "GET", f"/api/v1/reports/campaigns?{_REPORT_RANGE}", 200, REPORT_READERS
    ),
}
# The routes where an agent acts for an agent: another agent's id is 403 for an agent.
AGENT_ACTIONS = (
    "campaigns.preview",
    "campaigns.preview_dial",
    "campaigns.preview_skip",
    "campaigns.dispositions",
)


# The audit trail, for the auth matrix of test_api_audit (it needs a database): admins only.
AUDIT_ENDPOINTS = {
    "audit.list": Endpoint("GET", "/api/v1/audit?action=monitor.started", 200, ADMIN_ONLY),
}


# API tokens, for the auth matrix of test_api_tokens (it needs a database; that test stores
# a token with this id): admins only.
MATRIX_TOKEN_ID = "0123456789ab"
TOKEN_ENDPOINTS = {
    "tokens.list": Endpoint("GET", "/api/v1/tokens", 200, ADMIN_ONLY),
    "tokens.revoke": Endpoint("DELETE", f"/api/v1/tokens/{MATRIX_TOKEN_ID}", 200, ADMIN_ONLY),
}


# The wallboard's data, for the auth matrix of test_api_wallboard (it needs a database).
WALLBOARD_VIEWERS = frozenset({"admin", "supervisor", "analyst"})
WALLBOARD_ENDPOINTS = {
    "wallboard.get": Endpoint("GET", "/api/v1/wallboard", 200, WALLBOARD_VIEWERS),
    "wallboard.events": Endpoint(
        "GET", "/api/v1/wallboard/events", 101, WALLBOARD_VIEWERS, websocket=True
    ),
}


# The staffing forecast, for the auth matrix of test_api_forecast (it reads CDR history).
FORECAST_READERS = frozenset({"admin", "supervisor", "analyst"})
FORECAST_ENDPOINTS = {
    "forecast": Endpoint(
        "GET", "/api/v1/forecast?queue=sales&date=2026-11-30", 200, FORECAST_READERS
    ),
}


# Quality evaluation, for the auth matrix of test_api_quality (it needs a database). Its
# database holds form "basic" (version 1: yes/no "greeting", scale 1-5 "empathy") and
# evaluation 1, unacknowledged, of call QA_CALL_ID, agent 1001's (the agent token's).
QA_CALL_ID = "1700000100.7"
QA_EVALUATORS = frozenset({"admin", "supervisor", "qa"})
QA_READERS = QA_EVALUATORS | {"analyst", "agent"}
QA_ANSWERS: dict[str, object] = {"greeting": "yes", "empathy": 4}
QA_FORM: dict[str, object] = {
    "name": "Basic",
    "sections": [
        {
            "title": "Opening",
            "questions": [{"id": "greeting", "text": "Greeted?", "kind": "yes_no"}],
        }
    ],
}
QUALITY_ENDPOINTS = {
    "quality.forms.list": Endpoint("GET", "/api/v1/quality/forms", 200, QA_READERS),
    "quality.forms.create": Endpoint(
        "POST", "/api/v1/quality/forms", 201, QA_EVALUATORS, body={"id": "outbound", **QA_FORM}
    ),
    "quality.forms.get": Endpoint("GET", "/api/v1/quality/forms/basic", 200, QA_READERS),
    "quality.forms.update": Endpoint(
        "PUT", "/api/v1/quality/forms/basic", 200, QA_EVALUATORS, body=QA_FORM
    ),
    "quality.forms.version": Endpoint(
        "GET", "/api/v1/quality/forms/basic/versions/1", 200, QA_READERS
    ),
    "quality.evaluations.list": Endpoint("GET", "/api/v1/quality/evaluations", 200, QA_READERS),
    "quality.evaluations.get": Endpoint("GET", "/api/v1/quality/evaluations/1", 200, QA_READERS),
    "quality.evaluations.create": Endpoint(
        "POST",
        "/api/v1/quality/evaluations",
        201,
        QA_EVALUATORS,
        body={"linkedid": QA_CALL_ID, "form_id": "basic", "answers": QA_ANSWERS},
    ),
    "quality.evaluations.update": Endpoint(
        "PUT", "/api/v1/quality/evaluations/1", 200, QA_EVALUATORS, body={"answers": QA_ANSWERS}
    ),
    # Only the evaluated agent acknowledges.
    "quality.evaluations.acknowledge": Endpoint(
        "POST", "/api/v1/quality/evaluations/1/acknowledge", 200, frozenset({"agent"})
    ),
    "quality.averages": Endpoint(
        "GET", "/api/v1/quality/averages?by=agent", 200, QA_EVALUATORS | {"analyst"}
    ),
}


# Live monitoring, for the auth matrix of test_api_monitoring: supervisors only. The live
# call MONITORED_CALL has agent 1001's leg up; the supervisor token already monitors it in
# session MONITOR_ID from PJSIP/2001.
MONITORED_CALL = "1700000000.1"
MONITOR_ID = "m1"
SUPERVISOR_ONLY = frozenset({"supervisor"})
MONITOR_ENDPOINTS = {
    "monitors.start": Endpoint(
        "POST",
        f"/api/v1/calls/{MONITORED_CALL}/monitor",
        201,
        SUPERVISOR_ONLY,
        body={"mode": "listen", "device": "PJSIP/2002"},
    ),
    "monitors.list": Endpoint("GET", "/api/v1/monitors", 200, SUPERVISOR_ONLY),
    "monitors.get": Endpoint("GET", f"/api/v1/monitors/{MONITOR_ID}", 200, SUPERVISOR_ONLY),
    "monitors.switch": Endpoint(
        "PATCH", f"/api/v1/monitors/{MONITOR_ID}", 200, SUPERVISOR_ONLY, body={"mode": "barge"}
    ),
    "monitors.stop": Endpoint("DELETE", f"/api/v1/monitors/{MONITOR_ID}", 200, SUPERVISOR_ONLY),
}


# Recordings, for the auth matrix of test_api_recordings (it needs a database). Its database
# holds recording RECORDED (agent 1001's: the agent token's), queue "sales" and campaign
# "spring"; live call RECORDED_CALL (agent 1001's) is being recorded. Integrators are
# refused unless recording.integrators_may_play (off there); analysts always.
RECORDED = "rec-" + "a" * 32
RECORDED_CALL = "1700000200.1"
RECORDING_LISTENERS = frozenset({"admin", "supervisor", "qa", "agent"})
RECORDING_ENDPOINTS = {
    "recordings.list": Endpoint("GET", "/api/v1/recordings", 200, RECORDING_LISTENERS),
    "recordings.get": Endpoint(
        "GET", f"/api/v1/recordings/{RECORDED}/metadata", 200, RECORDING_LISTENERS
    ),
    "recordings.play": Endpoint("GET", f"/api/v1/recordings/{RECORDED}", 200, RECORDING_LISTENERS),
    "recordings.pause": Endpoint(
        "POST", f"/api/v1/calls/{RECORDED_CALL}/recording/pause", 200, AGENT_SELF
    ),
    "recordings.resume": Endpoint(
        "POST", f"/api/v1/calls/{RECORDED_CALL}/recording/resume", 200, AGENT_SELF
    ),
    "queues.recording_get": Endpoint("GET", "/api/v1/queues/sales/recording", 200, VIEWERS),
    "queues.recording_set": Endpoint(
        "PUT", "/api/v1/queues/sales/recording", 200, ADMIN_ONLY, body={"mode": "all"}
    ),
    "campaigns.recording_get": Endpoint("GET", "/api/v1/campaigns/spring/recording", 200, VIEWERS),
    "campaigns.recording_set": Endpoint(
        "PUT",
        "/api/v1/campaigns/spring/recording",
        200,
        VIEWERS,
        body={"mode": "percent", "percent": 10},
    ),
}


# Webhook subscriptions, for the auth matrix of test_api_webhooks (it needs a database):
# admins only. The test's database holds subscription WEBHOOK_ID with delivery DELIVERY_ID.
WEBHOOK_ID = "wh_matrix"
DELIVERY_ID = "msg_matrix"
WEBHOOK_ENDPOINTS = {
    "webhooks.list": Endpoint("GET", "/api/v1/webhooks", 200, ADMIN_ONLY),
    "webhooks.create": Endpoint(
        "POST",
        "/api/v1/webhooks",
        201,
        ADMIN_ONLY,
        body={"url": "http://127.0.0.1:9/hook", "event_types": ["call.*"]},
    ),
    "webhooks.get": Endpoint("GET", f"/api/v1/webhooks/{WEBHOOK_ID}", 200, ADMIN_ONLY),
    "webhooks.update": Endpoint(
        "PATCH", f"/api/v1/webhooks/{WEBHOOK_ID}", 200, ADMIN_ONLY, body={"enabled": False}
    ),
    "webhooks.delete": Endpoint("DELETE", f"/api/v1/webhooks/{WEBHOOK_ID}", 204, ADMIN_ONLY),
    "webhooks.deliveries": Endpoint(
        "GET", f"/api/v1/webhooks/{WEBHOOK_ID}/deliveries?status=dead", 200, ADMIN_ONLY
    ),
    "webhooks.replay": Endpoint(
        "POST",
        f"/api/v1/webhooks/{WEBHOOK_ID}/deliveries/{DELIVERY_ID}/replay",
        202,
        ADMIN_ONLY,
    ),
}


def expected_status(endpoint: Endpoint, identity: str) -> int:
    if identity in ("anonymous", "bad-token"):
        return 401
    return endpoint.success if identity in endpoint.allowed else 403


def headers_for(identity: str) -> dict[str, str]:
    if identity == "anonymous":
        return {}
    if identity == "bad-token":
        return {"Authorization": "Bearer not-a-real-token"}
    return {"Authorization": f"Bearer {TOKENS[identity]}"}


async def call(api: Api, endpoint: Endpoint, headers: dict[str, str]) -> int:
    if endpoint.websocket:
        try:
            ws = await api.client.ws_connect(endpoint.path, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101
    if endpoint.csv is not None:
        response = await api.client.request(
            endpoint.method,
            endpoint.path,
            headers=headers | {"Content-Type": "text/csv"},
            data=endpoint.csv.encode(),
        )
    else:
        response = await api.client.request(
            endpoint.method, endpoint.path, headers=headers, json=endpoint.body
        )
    await response.read()
    return response.status
