"""Who may call what: the one role table for every authenticated route.

Pure (no aiohttp) so the policy can be unit-tested without a server. ``build_api``
refuses to start if an ``/api/`` route has no entry here, so a new route cannot be
left open by accident.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccd.api.problems import forbidden
from ccd.domain.auth import Principal, Role

CALL_READERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.INTEGRATOR})
CALL_CONTROLLERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
EVERYONE = frozenset(Role)
# Agents included: the CDR handlers narrow an agent to calls with their own agent_id.
CDR_READERS = EVERYONE

ACD_ADMIN = frozenset({Role.ADMIN})
ACD_VIEWERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
# Agents included: these handlers call ``require_agent_self``, so an agent reaches only
# their own id.
ACD_AGENT_SELF = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
# Dialer (ccd.api.campaigns, ccd.api.dnc): campaigns and their lists are run by admins and
# supervisors.
DIALER_MANAGERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
# An agent may ask whether a number is blocked (before a manual call back), never read or
# change a list.
DNC_CHECKERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
# Agents working a campaign (ccd.api.dialing): preview and dispositions. Agents included:
# the handlers pin an agent to their own id (``acting_agent`` → ``require_agent_self``).
DIALER_AGENT_SELF = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
# The abandonment report and its evidence (ccd.api.compliance): who reads live calls —
# integrators included, for reporting systems; never agents (customers' numbers of the
# whole campaign).
COMPLIANCE_READERS = CALL_READERS
# Prometheus (ccd.api.metrics): operational counts only — no numbers, no agent ids — read by
# the monitoring system with an integrator token of its own, and by admins.
METRICS_SCRAPERS = frozenset({Role.ADMIN, Role.INTEGRATOR})
AUDIT_READERS = frozenset({Role.ADMIN})
# Webhook subscriptions (ccd.api.webhooks): they hold a signing secret and send call data
# anywhere the URL says, so only admins create, read and replay them.
WEBHOOK_ADMINS = frozenset({Role.ADMIN})
# Live monitoring (ccd.api.monitoring): listening to a conversation is a supervisory act,
# so supervisors only — admins run the PBX, not the floor, and an admin token is often a
# deployment's or an integration's; whoever needs to listen gets a supervisor token.
MONITORS = frozenset({Role.SUPERVISOR})
# Reports (ccd.api.reports): aggregates, no customer numbers. Integrators included (BI
# systems read them as they read CDRs); agents only their own agent report (the handler
# pins the agent parameter to their id); not QA (they score calls, not staffing).
REPORT_READERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.ANALYST, Role.INTEGRATOR})
AGENT_REPORT_READERS = REPORT_READERS | {Role.AGENT}
# Recordings (ccd.api.recordings): QA scores calls from them, supervisors coach; agents
# included (the handlers narrow them to recordings of their own calls) and integrators
# (refused unless recording.integrators_may_play); never analysts.
RECORDING_LISTENERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.QA, Role.AGENT, Role.INTEGRATOR})
# PCI pause/resume of a live call's recording: its own agent (checked by the handler),
# supervisors and admins.
RECORDING_PAUSERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
# The wallboard (ccd.api.wallboard): queue and agent states for a wall screen, no caller
# numbers. Supervisors run the floor, analysts watch service level; not agents (a
# colleague's pauses) nor integrators (they have the call routes and /metrics).
WALLBOARD_VIEWERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
# The staffing forecast (ccd.api.forecast): planning figures, no customer data.
FORECAST_READERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
# Quality evaluation (ccd.api.quality_*). Evaluators score calls and keep the forms they
# score with: the QA team, and supervisors and admins who coach.
QA_EVALUATORS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.QA})
# Forms are read by everyone who evaluates, reports on or is evaluated (agents read the
# questions they are scored on); not integrators (no quality data leaves for other systems).
QA_FORM_READERS = QA_EVALUATORS | {Role.ANALYST, Role.AGENT}
# Evaluations: agents included — the handlers narrow an agent to evaluations of their own
# calls (another agent's is 403, the list is pinned to their id); analysts read.
QA_EVALUATION_READERS = QA_EVALUATORS | {Role.ANALYST, Role.AGENT}
# Acknowledging is the evaluated agent's own act (the handler checks it is theirs): no
# other role may acknowledge on an agent's behalf.
QA_ACKNOWLEDGERS = frozenset({Role.AGENT})
# Averages compare agents with each other: evaluators and analysts, never agents.
QA_AVERAGE_READERS = QA_EVALUATORS | {Role.ANALYST}
# route name -> roles allowed to call it. Agents are kept off the call routes until
# agent-scoped views exist; routes that take an agent id must also call
# ``require_agent_self``.
ROUTE_ROLES: Mapping[str, frozenset[Role]] = {
    "calls.list": CALL_READERS,
    "calls.get": CALL_READERS,
    "events.stream": CALL_READERS,
    "calls.originate": CALL_CONTROLLERS,
    "calls.hangup": CALL_CONTROLLERS,
    "me": EVERYONE,
    "cdrs.list": CDR_READERS,
    "cdrs.get": CDR_READERS,
    "cdrs.csv": CDR_READERS,
    "ivr.flows": frozenset({Role.ADMIN, Role.SUPERVISOR}),
    # Changes what every new caller hears: the PBX admin's decision.
    "ivr.reload": frozenset({Role.ADMIN}),
    # ACD (ccd.api.acd): configuration is the admin's; supervisors watch and act on agents.
    "agents.list": ACD_VIEWERS,
    "agents.create": ACD_ADMIN,
    "agents.get": ACD_AGENT_SELF,
    "agents.update": ACD_ADMIN,
    "agents.delete": ACD_ADMIN,
    "agents.login": ACD_AGENT_SELF,
    "agents.logout": ACD_AGENT_SELF,
    "agents.pause": ACD_AGENT_SELF,
    "agents.unpause": ACD_AGENT_SELF,
    "agents.join": ACD_AGENT_SELF,
    "agents.leave": ACD_AGENT_SELF,
    "agents.sessions": ACD_AGENT_SELF,
    "queues.list": ACD_VIEWERS,
    "queues.create": ACD_ADMIN,
    "queues.get": ACD_VIEWERS,
    "queues.update": ACD_ADMIN,
    "queues.delete": ACD_ADMIN,
    # Agents choose a reason when they pause, so they may read the list.
    "pause_reasons.list": ACD_AGENT_SELF,
    "pause_reasons.create": ACD_ADMIN,
    "pause_reasons.update": ACD_ADMIN,
    "pause_reasons.delete": ACD_ADMIN,
    "campaigns.list": DIALER_MANAGERS,
    "campaigns.create": DIALER_MANAGERS,
    "campaigns.get": DIALER_MANAGERS,
    "campaigns.update": DIALER_MANAGERS,
    "campaigns.delete": DIALER_MANAGERS,
    "campaigns.start": DIALER_MANAGERS,
    "campaigns.pause": DIALER_MANAGERS,
    "campaigns.resume": DIALER_MANAGERS,
    "campaigns.stop": DIALER_MANAGERS,
    "campaigns.contacts": DIALER_MANAGERS,
    "campaigns.contact": DIALER_MANAGERS,
    "campaigns.preview": DIALER_AGENT_SELF,
    "campaigns.preview_dial": DIALER_AGENT_SELF,
    "campaigns.preview_skip": DIALER_AGENT_SELF,
    "campaigns.dispositions": DIALER_AGENT_SELF,
    "campaigns.compliance": COMPLIANCE_READERS,
    "campaigns.compliance_csv": COMPLIANCE_READERS,
    "dnc.list": DIALER_MANAGERS,
    "dnc.add": DIALER_MANAGERS,
    "dnc.remove": DIALER_MANAGERS,
    "dnc.upload": DIALER_MANAGERS,
    "dnc.check": DNC_CHECKERS,
    "metrics": METRICS_SCRAPERS,
    "forecast": FORECAST_READERS,
    "reports.queues": REPORT_READERS,
    "reports.agents": AGENT_REPORT_READERS,
    "reports.campaigns": REPORT_READERS,
    "recordings.list": RECORDING_LISTENERS,
    "recordings.get": RECORDING_LISTENERS,
    "recordings.play": RECORDING_LISTENERS,
    "recordings.pause": RECORDING_PAUSERS,
    "recordings.resume": RECORDING_PAUSERS,
    # Which calls are recorded: queue configuration is the admin's, campaigns are run by
    # their managers.
    "queues.recording_get": ACD_VIEWERS,
    "queues.recording_set": ACD_ADMIN,
    "campaigns.recording_get": DIALER_MANAGERS,
    "campaigns.recording_set": DIALER_MANAGERS,
    "wallboard.get": WALLBOARD_VIEWERS,
    "wallboard.events": WALLBOARD_VIEWERS,
    # Who listened to which call, who played which recording: the PBX admin's record (and
    # the supervisors it is about may not read or filter it).
    "audit.list": AUDIT_READERS,
    "monitors.start": MONITORS,
    "monitors.list": MONITORS,
    "monitors.get": MONITORS,
    "monitors.switch": MONITORS,
    "monitors.stop": MONITORS,
    "quality.forms.list": QA_FORM_READERS,
    "quality.forms.get": QA_FORM_READERS,
    "quality.forms.version": QA_FORM_READERS,
    "quality.forms.create": QA_EVALUATORS,
    "quality.forms.update": QA_EVALUATORS,
    "quality.evaluations.list": QA_EVALUATION_READERS,
    "quality.evaluations.get": QA_EVALUATION_READERS,
    "quality.evaluations.create": QA_EVALUATORS,
    "quality.evaluations.update": QA_EVALUATORS,
    "quality.evaluations.acknowledge": QA_ACKNOWLEDGERS,
    "quality.averages": QA_AVERAGE_READERS,
    # Token listing (expiry, last use; never a secret) and revocation: the admin's.
    "tokens.list": frozenset({Role.ADMIN}),
    "tokens.revoke": frozenset({Role.ADMIN}),
    "webhooks.list": WEBHOOK_ADMINS,
    "webhooks.create": WEBHOOK_ADMINS,
    "webhooks.get": WEBHOOK_ADMINS,
    "webhooks.update": WEBHOOK_ADMINS,
    "webhooks.delete": WEBHOOK_ADMINS,
    "webhooks.deliveries": WEBHOOK_ADMINS,
    "webhooks.replay": WEBHOOK_ADMINS,
}


# Routes reachable without a token (probes for orchestrators and load balancers).
# The wallboard's page and its files hold no data: every figure comes from the routes above.
PUBLIC_ROUTES = frozenset(
    {
        "healthz",
        "readyz",
        "wallboard.page",
        "wallboard.asset",
        "openapi.document",
        "docs.page",
        "docs.asset",
    }
)
# The only public routes under /api/: the API's own description (``ccd.api.openapi``) —
# the shape of the API, never its data.
PUBLIC_API_ROUTES = frozenset({"openapi.document", "docs.page", "docs.asset"})


def require_role(principal: Principal, route_name: str) -> None:
    """Raise 403 unless the principal's role may call ``route_name`` (unknown → 403)."""
    allowed = ROUTE_ROLES.get(route_name, frozenset())
    if principal.role not in allowed:
        raise forbidden(f"role {principal.role.value!r} may not call {route_name}")


def require_agent_self(principal: Principal, agent_id: str) -> None:
    """Agents may act only on their own agent id; other roles pass (the route's role
    table already decided they may call it)."""
    if principal.role is not Role.AGENT:
        return
    if principal.agent_id is None or principal.agent_id != agent_id:
        raise forbidden("agents may only act on their own agent id")
