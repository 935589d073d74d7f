"""In-memory implementations of the API ports (fakes, not mocks) and a harness that
runs ``build_api`` on a real 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.registry import CollectorRegistry

from ccd.acd.ports import AcdLive, AcdRefused
from ccd.acd.stats import QueueStats
from ccd.api.app import build_api
from ccd.api.dialer_runtime import DialerRuntime
from ccd.api.hub import EventHub
from ccd.api.recordings import RecordingApi
from ccd.api.tokens import TokenAdmin
from ccd.api.webhooks import WebhookApi
from ccd.cdr.queries import CdrDetail, CdrFilter, CdrPosition, CdrReader, CdrSort, StoredCdr
from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import DialerStore
from ccd.db.quality_store import QualityStore
from ccd.domain.auth import Principal, Role, TokenVerifier
from ccd.domain.auth_failures import FailedAuthLimiter
from ccd.domain.calls import Call, CallState, LiveChannel
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.client_address import Network
from ccd.forecast.parameters import ForecastDefaults
from ccd.forecast.run import HistoryReader
from ccd.ha.api import HaView
from ccd.ivr.holder import FlowsHolder
from ccd.ivr.ports import IvrFlows
from ccd.live.ports import CallDirectory, OriginateRejected
from ccd.monitor.service import MonitorService
from ccd.reports.service import ReportService
from ccd.wallboard.view import ServiceLevelTargets
from tests.clock import FakeClock

T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
SAMPLE_FLOWS = Path(__file__).resolve().parents[2] / "config" / "ivr"

TOKENS = {
    "admin": "tok-admin-secret",
    "supervisor": "tok-supervisor-secret",
    "agent": "tok-agent-secret",
    "integrator": "tok-integrator-secret",
    "qa": "tok-qa-secret",
    "analyst": "tok-analyst-secret",
}
PRINCIPALS = {
    TOKENS["admin"]: Principal("t-admin", Role.ADMIN, None),
    TOKENS["supervisor"]: Principal("t-sup", Role.SUPERVISOR, None),
    TOKENS["agent"]: Principal("t-agent", Role.AGENT, "1001"),
    TOKENS["integrator"]: Principal("t-int", Role.INTEGRATOR, None),
    TOKENS["qa"]: Principal("t-qa", Role.QA, None),
    TOKENS["analyst"]: Principal("t-analyst", Role.ANALYST, None),
}


# The name test_acd_store.py still imports (it is the ACD's file, switched over there).
FixedClock = FakeClock


class FakeTokens:
    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = dict(principals)
        self.verified: list[str] = []
        self.uses: list[tuple[str, str]] = []  # (token id, source address)

    async def verify(self, token: str) -> Principal | None:
        self.verified.append(token)
        return self.principals.get(token)

    def record_use(self, token_id: str, source: str) -> None:
        self.uses.append((token_id, source))


class FakeCalls:
    def __init__(self, calls: Sequence[Call] = ()) -> None:
        self.by_id = {call.linkedid: call for call in calls}

    def calls(self) -> Sequence[Call]:
        return list(self.by_id.values())

    def call(self, linkedid: str) -> Call | None:
        return self.by_id.get(linkedid)


class FakeReadiness:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def not_ready_reasons(self) -> list[str]:
        return list(self.reasons)


@dataclass
class FakeControl:
    """Records what the API asked for; hangs up calls present in ``directory``."""

    directory: FakeCalls
    originates: list[dict[str, object]] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)
    reject_with: str | None = None
    # Raised as is (e.g. UnknownDestination), where reject_with is a plain refusal.
    rejection: OriginateRejected | None = None
    servers: list[str | None] = field(default_factory=list)  # each originate's server

    async def originate(
        self,
        *,
        endpoint: str,
        destination: str,
        caller_id: str | None,
        variables: dict[str, str],
        ring_timeout_s: int,
        server: str | None = None,
    ) -> str:
        self.servers.append(server)
        if self.reject_with is not None:
            raise OriginateRejected(self.reject_with)
        if self.rejection is not None:
            raise self.rejection
        self.originates.append(
            {
                "endpoint": endpoint,
                "destination": destination,
                "caller_id": caller_id,
                "variables": variables,
                "ring_timeout_s": ring_timeout_s,
            }
        )
        return f"ccd-orig-{len(self.originates)}"

    async def hangup(self, linkedid: str) -> bool:
        if linkedid not in self.directory.by_id:
            return False
        self.hangups.append(linkedid)
        return True


class FakeAcdLive:
    """The running ACD as the API sees it: records every call in ``calls`` (method, args),
    keeps a tiny agent state so live views change, refuses with ``refuse_with`` when set."""

    def __init__(self, queues: Sequence[str] = ()) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.queues = set(queues)
        self.agents: dict[str, dict[str, Any]] = {}
        self.refuse_with: str | None = None

    def _record(self, *call: object) -> None:
        self.calls.append(call)
        if self.refuse_with is not None:
            raise AcdRefused(self.refuse_with)

    def queue_live(self, queue_id: str) -> dict[str, Any] | None:
        """The running ACD's view (``AcdService.queue_live``'s keys): no caller, no traffic."""
        if queue_id not in self.queues:
            return None
        members = sorted(a for a, s in self.agents.items() if queue_id in s["queues"])
        statuses = {agent_id: self.agents[agent_id]["state"] for agent_id in members}
        view = QueueStats(
            queue_id=queue_id,
            offered=0,
            answered=0,
            answered_within_sl=0,
            abandoned=0,
            abandoned_within_sl=0,
            overflowed=0,
            timed_out=0,
            escalated=0,
            callbacks=0,
            callbacks_dropped=0,
            total_wait_answered_s=0.0,
            waiting=0,
            longest_wait_s=0.0,
            agents=dict(Counter(statuses.values())),
            service_level_s=20.0,
            service_level=None,
            asa_s=None,
            aht_s=0.0,
        ).as_dict()
        return {**view, "callers": [], "agents_by_id": statuses}

    def agent_live(self, agent_id: str) -> dict[str, Any] | None:
        """The running ACD's view (``AcdService.agent_live``'s keys) of the tiny state."""
        state = self.agents.get(agent_id)
        if state is None:
            return None
        view: dict[str, Any] = {
            "status": state["state"],
            "since": T0.isoformat(),
            "in_state_s": 0.0,
            "reason": state["reason"],
            "call_id": None,
            "queues": sorted(state["queues"]),
            "calls_taken": 0,
            "talk_s": 0.0,
            "pending_pause": None,
            "logout_pending": False,
            "server": "default",  # one [ami]: the API's name for its server
        }
        if state["state"] == "paused":
            view.update(billable=False, pause_over_limit=False)
        return view

    def snapshot(self) -> dict[str, Any]:
        return {
            "queues": {q: self.queue_live(q) for q in sorted(self.queues)},
            "agents": {a: self.agent_live(a) for a in sorted(self.agents)},
        }

    async def login(self, agent_id: str, queue_ids: Sequence[str] | None) -> None:
        self._record("login", agent_id, None if queue_ids is None else tuple(queue_ids))
        self.agents[agent_id] = {
            "state": "available",
            "reason": None,
            "queues": set(queue_ids or ()),
        }

    async def logout(self, agent_id: str) -> None:
        self._record("logout", agent_id)
        self.agents.pop(agent_id, None)

    def _logged_in(self, agent_id: str) -> dict[str, Any]:
        state = self.agents.get(agent_id)
        if state is None:
            raise AcdRefused(f"agent {agent_id!r} is not logged in")
        return state

    async def pause(self, agent_id: str, reason: str) -> None:
        self._record("pause", agent_id, reason)
        self._logged_in(agent_id).update(state="paused", reason=reason)

    async def unpause(self, agent_id: str) -> None:
        self._record("unpause", agent_id)
        self._logged_in(agent_id).update(state="available", reason=None)

    async def join(self, agent_id: str, queue_id: str) -> None:
        self._record("join", agent_id, queue_id)
        self._logged_in(agent_id)["queues"].add(queue_id)

    async def leave(self, agent_id: str, queue_id: str) -> None:
        self._record("leave", agent_id, queue_id)
        self._logged_in(agent_id)["queues"].discard(queue_id)

    async def reload_config(self) -> None:
        self.calls.append(("reload_config",))

    @property
    def reloads(self) -> int:
        return self.calls.count(("reload_config",))


class FakeCdrs:
    """Stored CDRs in memory, filtered and keyset-paged like the database reader (the
    real reader is tested against SQLite and PostgreSQL in test_api_cdrs and tests/system)."""

    def __init__(self, details: Sequence[CdrDetail] = ()) -> None:
        self.by_id = {detail.cdr.linkedid: detail for detail in details}

    @staticmethod
    def _matches(cdr: StoredCdr, f: CdrFilter) -> bool:
        numbers = (cdr.caller_num, cdr.callee_num, cdr.did)
        if f.number is not None and not any(
            n.startswith(f.number) if f.number_is_prefix else n == f.number for n in numbers
        ):
            return False
        exact = (
            (cdr.direction, f.direction),
            (cdr.disposition, f.disposition),
            (cdr.queue, f.queue),
            (cdr.agent_id, f.agent_id),
            (cdr.campaign_id, f.campaign_id),
            (cdr.server, f.server),
        )
        return (
            all(want is None or have == want for have, want in exact)
            and (f.started_from is None or cdr.started_at >= f.started_from)
            and (f.started_before is None or cdr.started_at < f.started_before)
        )

    async def page(
        self, filters: CdrFilter, *, sort: CdrSort, after: CdrPosition | None, limit: int
    ) -> Sequence[StoredCdr]:
        newest_first = sort is CdrSort.NEWEST_FIRST
        rows = sorted(
            (d.cdr for d in self.by_id.values() if self._matches(d.cdr, filters)),
            key=lambda c: (c.started_at, c.linkedid),
            reverse=newest_first,
        )
        if after is not None:
            key = (after.started_at, after.linkedid)
            rows = [
                c
                for c in rows
                if ((c.started_at, c.linkedid) < key) == newest_first
                and (c.started_at, c.linkedid) != key
            ]
        return rows[:limit]

    async def get(self, linkedid: str) -> CdrDetail | None:
        return self.by_id.get(linkedid)


def make_cdr(
    linkedid: str = "1700000000.1",
    *,
    started_at: datetime = T0,
    agent_id: str | None = None,
    caller_num: str = "5551234",
    callee_num: str = "100",
    server: str = "default",
) -> StoredCdr:
    return StoredCdr(
        linkedid=linkedid,
        direction="inbound",
        caller_num=caller_num,
        caller_name="Alice",
        callee_num=callee_num,
        did="18005550100",
        started_at=started_at,
        answered_at=started_at + timedelta(seconds=4),
        ended_at=started_at + timedelta(seconds=64),
        ring_s=4.0,
        talk_s=60.0,
        hold_s=0.0,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        hung_up_by="caller",
        disposition="answered",
        ivr_path=[],
        queue=None,
        wait_s=None,
        agent_id=agent_id,
        wrapup_s=None,
        campaign_id=None,
        contact_id=None,
        recording_ref=None,
        written_at=started_at + timedelta(seconds=65),
        server=server,
    )


def make_call(
    linkedid: str = "1700000000.1",
    *,
    state: CallState = CallState.UP,
    caller_num: str = "5551234",
    caller_name: str = "Alice",
    started_at: datetime = T0,
    answered_at: datetime | None = T0 + timedelta(seconds=4),
) -> Call:
    channel = LiveChannel(
        snapshot=ChannelSnapshot(
            uniqueid=linkedid,
            linkedid=linkedid,
            name="PJSIP/trunk-00000001",
            state=ChannelState.UP if answered_at else ChannelState.RING,
            caller_num=caller_num,
            caller_name=caller_name,
            context="ccd-inbound",
            exten="100",
        ),
        created_at=started_at,
        answered_at=answered_at,
        bridge_id=None,
    )
    return Call(
        linkedid=linkedid,
        state=state,
        started_at=started_at,
        answered_at=answered_at,
        caller_num=caller_num,
        caller_name=caller_name,
        callee_num="100",
        channels=(channel,),
    )


def with_state(call: Call, state: CallState) -> Call:
    return replace(call, state=state)


async def wait_until(condition: Callable[[], bool], *, what: str, attempts: int = 500) -> None:
    """Poll server-side state that has no event to await (bounded, not a timing check)."""
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


@dataclass
class Api:
    client: TestClient[web.Request, web.Application]
    tokens: FakeTokens
    calls: FakeCalls
    control: FakeControl
    readiness: FakeReadiness
    hub: EventHub
    clock: FakeClock
    max_body_bytes: int
    statuses: list[int]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}"}


@contextlib.asynccontextmanager
async def running_api(
    *,
    max_body_bytes: int = 4096,
    queue_size: int = 64,
    calls: Sequence[Call] = (),
    allow_server_errors: bool = False,
    tokens: TokenVerifier | None = None,
    calls_directory: CallDirectory | None = None,
    cdrs: CdrReader | None = None,
    ivr: IvrFlows | None = None,
    acd_live: AcdLive | None = None,
    acd_store: AcdStore | None = None,
    dialer_store: DialerStore | None = None,
    dialer: DialerRuntime | None = None,
    dialer_attempts: AttemptStore | None = None,
    dialer_report_zone: str = "UTC",
    asterisk_servers: tuple[str, ...] = ("default",),
    metrics: CollectorRegistry | None = None,
    audit: AuditStore | None = None,
    quality: QualityStore | None = None,
    wallboard_targets: ServiceLevelTargets | None = None,
    reports: ReportService | None = None,
    forecast_history: HistoryReader | None = None,
    forecast_defaults: ForecastDefaults | None = None,
    monitors: MonitorService | None = None,
    recordings: RecordingApi | None = None,
    webhooks: WebhookApi | None = None,
    token_admin: TokenAdmin | None = None,
    auth_failures: FailedAuthLimiter | None = None,
    trusted_proxies: tuple[Network, ...] = (),
    ha: HaView | None = None,
) -> AsyncIterator[Api]:
    """The real app on 127.0.0.1:<free port>. Every response status is recorded, and
    unless ``allow_server_errors`` a 5xx other than the ones a test asks for fails it."""
    directory = FakeCalls(calls)
    fake_tokens = FakeTokens(PRINCIPALS)
    control = FakeControl(directory)
    readiness = FakeReadiness()
    hub = EventHub(queue_size=queue_size)
    clock = FakeClock(T0 + timedelta(seconds=30))
    app = build_api(
        tokens=tokens if tokens is not None else fake_tokens,
        calls=calls_directory if calls_directory is not None else directory,
        control=control,
        readiness=readiness,
        hub=hub,
        cdrs=cdrs if cdrs is not None else FakeCdrs(),
        max_body_bytes=max_body_bytes,
        clock=clock,
        # The real holder over the shipped sample flows unless a test brings its own.
        ivr=ivr if ivr is not None else FlowsHolder(SAMPLE_FLOWS),
        acd_live=acd_live,
        acd_store=acd_store,
        dialer_store=dialer_store,
        dialer=dialer,
        dialer_attempts=dialer_attempts,
        dialer_report_zone=dialer_report_zone,
        asterisk_servers=asterisk_servers,
        metrics=metrics,
        audit=audit,
        quality=quality,
        wallboard_targets=wallboard_targets,
        reports=reports,
        forecast_history=forecast_history,
        forecast_defaults=forecast_defaults,
        monitors=monitors,
        recordings=recordings,
        webhooks=webhooks,
        token_admin=token_admin,
        auth_failures=auth_failures,
        trusted_proxies=trusted_proxies,
        ha=ha,
    )
    statuses: list[int] = []

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        statuses.append(response.status)

    app.on_response_prepare.append(record)
    # Named first: TestServer's __aenter__ is typed as returning the base class, which would
    # make the client a TestClient[Request, None].
    server = TestServer(app, host="127.0.0.1", port=0)
    async with server, TestClient(server) as client:
        yield Api(
            client=client,
            tokens=fake_tokens,
            calls=directory,
            control=control,
            readiness=readiness,
            hub=hub,
            clock=clock,
            max_body_bytes=max_body_bytes,
            statuses=statuses,
        )
    if not allow_server_errors:
        assert 500 not in statuses, f"the API answered 500: {statuses}"


async def send(
    api: Api, method: str, path: str, role: str = "admin", body: object = None
) -> tuple[int, Any]:
    """One JSON request as ``role``: (status, decoded body or None for 204). Every API
    answer must forbid caching."""
    kwargs: dict[str, Any] = {"headers": api.auth(role)}
    if body is not None:
        kwargs["json"] = body
    response = await api.client.request(method, path, **kwargs)
    assert response.headers.get("Cache-Control") == "no-store", path
    if response.status == 204:
        return 204, None
    return response.status, await response.json()


def error_fields(problem: dict[str, Any]) -> set[str]:
    """The fields a 422 problem body names."""
    return {error["field"] for error in problem.get("errors", [])}
