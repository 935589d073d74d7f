"""Composition root: every long-lived object is built here, by hand, and nowhere else.

Lifetimes follow aiohttp's ``cleanup_ctx`` (entered in order, left in reverse): the
event-loop lag probe (``/metrics``), the database engine, the CDR writer (which first
replays the spool an earlier run left), the bus dispatcher, the IVR's FastAGI server (with
its HTTP client for lookup nodes), then the AMI connection. On shutdown the AMI connection
closes first, the AGI server stops (calls in the IVR go to the dialplan's default
destination and their paths are published), the bus drains what it already holds (so
every finished call is spooled), the CDR writer flushes the spool to the database within
its time budget, the engine goes, and the lag probe last.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ccd import systemd
from ccd.acd.rings import AGENT_CHANNEL_PREFIX
from ccd.acd.service import AcdServers, AcdService
from ccd.acd.waiting import hold
from ccd.agi.channel import AgiChannel
from ccd.agi.runner import flow_resolver, ivr_agi_handler
from ccd.agi.server import AgiHandler, AgiServer
from ccd.ami.fleet import AmiFleet
from ccd.ami.gateway import AmiGateway
from ccd.ami.recording import AmiRecorder
from ccd.ami.translate import RELEVANT_EVENTS, translate
from ccd.api.app import build_api
from ccd.api.hub import EventHub
from ccd.api.recordings import RecordingApi
from ccd.api.webhooks import WebhookApi
from ccd.backoff import Backoff, BackoffPolicy
from ccd.bus import Bus
from ccd.cdr.builder import CdrBuilder
from ccd.cdr.direction import DirectionRules
from ccd.cdr.service import CdrService
from ccd.cdr.spool import Spool
from ccd.cdr.writer import CdrWriter
from ccd.clock import Clock, SystemClock
from ccd.db import migrate
from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from ccd.db.cdr_queries import CdrQueries
from ccd.db.cdr_store import CdrStore
from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import DialerStore
from ccd.db.engine import create_engine, ping
from ccd.db.forecast_history import ForecastHistory
from ccd.db.quality_store import QualityStore
from ccd.db.recording_store import RecordingStore
from ccd.db.report_queries import ReportQueries
from ccd.db.survey_store import SurveyStore
from ccd.db.tokens import TokenStore
from ccd.db.webhook_store import WebhookStore
from ccd.dialer.service import CHANNEL_PREFIX as DIALER_CHANNEL_PREFIX
from ccd.dialer.service import DialerService
from ccd.domain import contract
from ccd.domain.auth_failures import FailedAuthLimiter
from ccd.domain.cdr import IvrStep
from ccd.domain.client_address import parse_networks
from ccd.domain.events import IvrFinished
from ccd.domain.system_names import server_by_system_name
from ccd.errors import CcdError, ConfigError
from ccd.forecast.config import forecast_defaults
from ccd.ha.election import Election, LeaseTimings
from ccd.ha.legs import UnplacedAgentLegs
from ccd.ha.metrics import HaCollector
from ccd.ha.postgres import PostgresLease
from ccd.ha.runtime import HaRuntime
from ccd.health import Readiness
from ccd.ivr.flows import load_flows
from ccd.ivr.holder import FlowsHolder
from ccd.live.control import AmiCallControl
from ccd.live.model import LiveModel
from ccd.live.service import LiveCalls
from ccd.metrics.collector import CcdCollector, build_registry
from ccd.metrics.dialer import DialerTally
from ccd.metrics.loop_lag import LoopLagProbe
from ccd.monitor.devices import MonitorDevices
from ccd.monitor.service import MonitorService
from ccd.recording.places import RecordingPlace, RecordingPlaces
from ccd.recording.service import LiveChannelRef, RecordingService
from ccd.reports.service import ReportRules, ReportService
from ccd.settings import Settings
from ccd.survey.agi import PostCallSurvey
from ccd.survey.writer import AnswerWriter
from ccd.wallboard.view import ServiceLevelTargets
from ccd.webhooks.schedule import RetryPolicy
from ccd.webhooks.sender import Sender
from ccd.webhooks.service import WebhookService

log = structlog.get_logger("ccd.app")

PIDFILE_NAME = "ccd.pid"
OWN_CHANNEL_PREFIXES = (
    AGENT_CHANNEL_PREFIX,
    DIALER_CHANNEL_PREFIX,
    contract.RECORDER_CHANNEL_PREFIX,
)


def pidfile_path(settings: Settings) -> Path:
    """Where ``ccd run`` records its process id, for ``ccd reload``."""
    return settings.data_dir / PIDFILE_NAME


@dataclass
class Components:
    """Everything ``build`` wires together; tests reach in through this."""

    settings: Settings
    bus: Bus
    live: LiveCalls
    hub: EventHub
    gateway: AmiGateway
    """The first (default) Asterisk server's gateway; ``fleet`` has every server's."""
    tokens: TokenStore
    cdr: CdrService
    cdr_writer: CdrWriter
    ivr: FlowsHolder
    agi: AgiServer
    acd: AcdService
    dialer: DialerService
    audit: AuditStore
    recording: RecordingService
    monitors: MonitorService
    loop_lag: LoopLagProbe
    web_app: web.Application
    ha: HaRuntime | None = None
    """High availability: the election's runtime (None: ``[ha] enabled`` is false)."""
    fleet: AmiFleet | None = None
    """Every configured Asterisk server's gateway, by name."""


class _AgiRouter:
    """Routes a FastAGI session by script: ``queue`` to the ACD's waiting callers, the
    rest to the IVR. The IVR handler needs the lookup HTTP client, which can only be
    created inside the running loop; the server starts only after ``attach``."""

    def __init__(self, queue: AgiHandler) -> None:
        self._queue = queue
        self._ivr: AgiHandler | None = None
        self._survey: AgiHandler | None = None

    def attach(self, handler: AgiHandler, survey: AgiHandler | None = None) -> None:
        self._ivr = handler
        self._survey = survey

    async def __call__(self, channel: AgiChannel) -> None:
        if channel.network_script == contract.AGI_SCRIPT_QUEUE:
            await self._queue(channel)
            return
        if channel.network_script == contract.AGI_SCRIPT_SURVEY and self._survey is not None:
            await self._survey(channel)
            return
        if self._ivr is None:
            log.warning("agi call before the ivr was ready, default destination")
            return
        await self._ivr(channel)


def build(settings: Settings, *, on_fenced: Callable[[str], None] | None = None) -> Components:
    """Wire ccd. ``on_fenced``: what a fenced leader does (high availability); the daemon
    exits the process at once, tests may watch instead."""
    clock = SystemClock()
    # High availability: built first, everything that acts asks it; its BecomeActive
    # starts the active part (``activate`` below).
    ha = (
        _build_ha(
            settings,
            clock,
            on_active=lambda epoch: activate(epoch),
            on_fenced=on_fenced or _exit_fenced,
        )
        if settings.ha.enabled
        else None
    )

    def when_acting(handler: Callable[[object], None]) -> Callable[[object], None]:
        """A bus handler that only the active instance runs (ACD, dialer, webhooks…)."""
        if ha is None:
            return handler
        acting = ha.acting

        def gated(event: object) -> None:
            if acting():
                handler(event)

        return gated

    # Invalid flows stop ccd here (ConfigError: exit 2 with every problem).
    flows = FlowsHolder(
        settings.ivr.flows_dir,
        functools.partial(load_flows, configured_in=settings.origin("ivr.flows_dir")),
    )
    if not flows.current.flows:
        log.warning(
            "ivr off: no flows directory; calls into ccd-ivr go to the default destination",
            flows_dir=str(settings.ivr.flows_dir),
        )
    engine = create_engine(settings.database_url)
    tokens = TokenStore(engine, clock=clock)
    # One trail for every audited act (monitoring, playbacks…), read by GET /api/v1/audit.
    audit = AuditStore(engine, clock)
    bus = Bus()
    live = LiveCalls(LiveModel())
    hub = EventHub()
    live.add_listener(hub.publish)
    bus.subscribe(live.handle)
    webhook_settings = settings.webhooks
    webhook_store = WebhookStore(engine)
    webhook_sender = Sender(
        allow_private=webhook_settings.allow_private_targets,
        connect_timeout_s=webhook_settings.connect_timeout_s,
        timeout_s=webhook_settings.timeout_s,
        max_response_bytes=webhook_settings.max_response_bytes,
    )
    webhooks = WebhookService(
        store=webhook_store,
        sender=webhook_sender,
        clock=clock,
        calls=live,
        retry=RetryPolicy(
            min_s=webhook_settings.retry_min_s,
            max_s=webhook_settings.retry_max_s,
            give_up_after_s=webhook_settings.give_up_after_h * 3600,
        ),
        per_subscription=webhook_settings.per_subscription_concurrency,
        poll_interval_s=webhook_settings.poll_interval_s,
        log_bodies=webhook_settings.log_bodies,
        keep_delivered_s=webhook_settings.keep_delivered_days * 86_400,
        rng=random.Random(),
    )
    # After the live model: a ring's screen pop reads the call's IVR path from it.
    bus.subscribe(when_acting(webhooks.handle))

    def on_live_message(message: dict[str, Any]) -> None:
        # The ACD's and dialer's messages: websocket clients and webhook subscribers.
        hub.publish_message(message)
        webhooks.on_message(message)

    # call.ended webhook rows commit in the CDR batch's own transaction.
    cdr, cdr_writer = _build_cdr(
        settings, store=CdrStore(engine, clock, outbox=webhooks.cdr_outbox), clock=clock
    )
    # after the live model: same event order, live first
    bus.subscribe(cdr.handle if ha is None else _standby_cdr_events(cdr.handle, ha.acting))

    def frames_of(server: str) -> Callable[[dict[str, str]], None]:
        def on_frame(frame: dict[str, str]) -> None:
            # Most AMI traffic (VarSet, Newexten, ...) is never translated: drop it before
            # reading the clock, which costs more than this set lookup.
            if frame.get("Event") not in RELEVANT_EVENTS:
                return
            event = translate(frame, clock.now(), server)
            if event is not None:
                bus.publish(event)

        return on_frame

    ami = settings.ami
    gateways: list[AmiGateway] = []
    # One gateway per Asterisk server, each with its own connection, backoff and resync;
    # its events carry the server's name.
    for server in settings.servers:
        on_server_frame = frames_of(server.name)
        server_gateway = AmiGateway(
            host=server.host,
            port=server.port,
            username=server.username,
            secret=server.secret.get_secret_value(),
            on_event=on_server_frame,
            on_resync_row=on_server_frame,
            on_connection=bus.publish,
            clock=clock,
            action_timeout_s=ami.action_timeout_s,
            ping_interval_s=ami.ping_interval_s,
            ping_timeout_s=ami.ping_timeout_s,
            backoff=Backoff(
                BackoffPolicy(min_s=ami.reconnect_min_s, max_s=ami.reconnect_max_s),
                random.Random(),
            ),
            server=server.name,
        )
        if ha is not None:
            # A fenced leader (lease lost, or woken from a pause) writes nothing to Asterisk.
            server_gateway.action_gate = ha.acting
        gateways.append(server_gateway)
    fleet = AmiFleet(gateways)
    gateway = fleet.first
    acd_store = AcdStore(engine, clock=clock)
    dialer_store = DialerStore(engine, clock=clock)
    live_channels = _live_channels(live)
    acd = AcdService(
        ami=gateway,
        store=acd_store,
        publish=bus.publish,
        on_message=on_live_message,
        clock=clock,
        interface_busy=_interface_busy(live_channels),
        live_channels=live_channels,
        # Queues are per server: rings, call backs and hangups go to the caller's server.
        servers=AcdServers(
            default=fleet.first.server,
            ami_for=fleet.get,
            caller_server=_caller_server(fleet, live),
            live_channels_on=_live_channels_on(live, default=fleet.first.server),
            interface_busy_on=_interface_busy_on(live, default=fleet.first.server),
            names=fleet.names,
        ),
    )
    bus.subscribe(when_acting(acd.handle))
    attempt_store = AttemptStore(
        engine, clock=clock, epoch=None if ha is None else (lambda: ha.epoch)
    )
    dialer = DialerService(
        store=dialer_store,
        attempts=attempt_store,
        agents=acd,
        # A campaign dials through its own server, with that server's agents only.
        servers={server: fleet.get(server) for server in fleet.names},
        agent_server=_agent_server(acd, default=gateway.server),
        publish=bus.publish,
        on_message=on_live_message,
        clock=clock,
        report_zone=settings.dialer.report_zone,
        max_wrapup_s=settings.dialer.max_wrapup_s,
        resynced=lambda server: fleet.get(server).resynced,
        live_uniqueids=_live_uniqueids_on(live, default=gateway.server),
    )
    bus.subscribe(when_acting(dialer.handle))
    # Post-call survey: answers written with retries; the queue's survey_flow names the flow.
    survey_answers = AnswerWriter(
        SurveyStore(engine),
        clock,
        Backoff(
            BackoffPolicy(min_s=settings.survey.retry_min_s, max_s=settings.survey.retry_max_s),
            random.Random(),
        ),
        max_pending=settings.survey.max_pending,
    )

    def survey_flow_for(queue_id: str) -> str | None:
        queue = acd.engine.queues().get(queue_id)
        return queue.survey_flow if queue is not None else None

    survey = PostCallSurvey(
        flows=lambda: flows.current,
        survey_flow_for=survey_flow_for,
        writer=survey_answers,
        clock=clock,
    )
    bus.subscribe(when_acting(survey.handle))
    recording_settings = settings.recording
    recording_store = RecordingStore(engine)
    recording_places = _recording_places(settings)
    # ChanSpy hears only its own server's channels: a call is recorded on its server.
    recorders = {server: AmiRecorder(fleet.get(server)) for server in fleet.names}
    recording = RecordingService(
        recorders=lambda server: recorders.get(server) or recorders[fleet.first.server],
        store=recording_store,
        publish=bus.publish,
        clock=clock,
        places=recording_places,
        retention_days=recording_settings.retention_days,
        retention_interval_s=recording_settings.retention_interval_s,
        rng=random.Random(),
        channel=_live_channel_ref(live),
    )
    bus.subscribe(when_acting(recording.handle))
    dialer_tally = DialerTally()
    bus.subscribe(dialer_tally.handle)
    loop_lag = LoopLagProbe(clock)
    metrics = build_registry(
        CcdCollector(
            pbx=tuple(fleet),  # every server's AMI connection, labelled server
            cdr_writer=cdr_writer,
            bus=bus,
            acd=acd,
            dialer=dialer_tally,
            loop_lag=loop_lag,
        )
    )
    if ha is not None:
        metrics.register(HaCollector(ha))
    control = AmiCallControl(
        ami=gateway,  # an originate that names no server: the first (default) one
        calls=live,
        context=settings.originate.context,
        ami_for_server=fleet.for_server,  # a hangup goes to the call's own server
    )
    monitors = MonitorService(
        # ChanSpy hears only its own server's channels: the supervisor is rung there.
        ami_for_server=fleet.for_server,
        calls=live,
        audit=audit,
        clock=clock,
        live_uniqueids=_live_channel_servers(live),
        ring_timeout_s=settings.monitor.ring_timeout_s,
        devices=_monitor_devices(settings),
    )
    bus.subscribe(when_acting(monitors.handle))
    readiness = Readiness(
        # One server: its gateway's own reasons, as before; several: the fleet's, per server.
        ami=gateway if len(fleet) == 1 else None,
        database_ping=lambda: ping(engine),
        checks=(
            fleet.not_ready_reasons,
            cdr_writer.not_ready_reasons if ha is None else _when_active(ha, cdr_writer),
            cdr.not_ready_reasons,
            survey_answers.not_ready_reasons,
        ),
    )
    api_settings = settings.api
    web_app = build_api(
        tokens=tokens,
        token_admin=tokens,
        auth_failures=FailedAuthLimiter(
            limit=api_settings.auth_fail_limit,
            window_s=api_settings.auth_fail_window_s,
            capacity=api_settings.auth_fail_max_addresses,
        ),
        trusted_proxies=parse_networks(api_settings.trusted_proxies),
        calls=live,
        control=control,
        readiness=readiness,
        hub=hub,
        cdrs=CdrQueries(engine),
        max_body_bytes=settings.http.max_body_bytes,
        ivr=flows,
        acd_live=acd,
        acd_store=acd_store,
        dialer_store=dialer_store,
        dialer=dialer,
        dialer_attempts=attempt_store,
        dialer_report_zone=settings.dialer.report_zone,
        asterisk_servers=fleet.names,
        metrics=metrics,
        audit=audit,
        quality=QualityStore(engine, clock),
        forecast_history=ForecastHistory(engine),
        forecast_defaults=forecast_defaults(settings),
        reports=ReportService(
            ReportQueries(engine),
            ReportRules(
                zone=settings.reports.zone,
                short_abandon_s=settings.reports.short_abandon_s,
                fcr_window=timedelta(hours=settings.reports.fcr_window_h),
                unresolved_dispositions=frozenset(settings.reports.unresolved_dispositions),
            ),
        ),
        recordings=RecordingApi(
            store=recording_store,
            control=recording,
            audit=audit,
            places=recording_places,
            integrators_may_play=recording_settings.integrators_may_play,
        ),
        wallboard_targets=ServiceLevelTargets(
            settings.wallboard.service_level_target_pct,
            dict(settings.wallboard.queue_targets_pct),
        ),
        monitors=monitors,
        webhooks=WebhookApi(
            store=webhook_store,
            clock=clock,
            changed=webhooks.refresh,
            allow_private_targets=webhook_settings.allow_private_targets,
        ),
        ha=ha,
    )

    async def database(_: web.Application) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    async def token_last_use(_: web.Application) -> AsyncIterator[None]:
        # Left before the database closes: uses noted since the last flush are written.
        task = asyncio.create_task(tokens.flush_every(), name="ccd-token-last-use")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await tokens.flush()
        except Exception:
            log.warning("token last-use not written at shutdown", exc_info=True)

    async def cdr_records(_: web.Application) -> AsyncIterator[None]:
        spool = cdr_writer.spool
        try:
            report = await asyncio.to_thread(spool.open)
        except OSError as exc:
            raise CcdError(f"CDR spool {spool.directory}: {exc.strerror or exc}") from None
        if report.records or report.torn_lines or report.corrupt_lines:
            log.info(
                "cdr spool recovered",
                records=report.records,
                segments=report.segments,
                torn_lines=report.torn_lines,
                corrupt_lines=report.corrupt_lines,
            )
        if ha is None:
            cdr_writer.start()
        else:
            # A standby keeps building and spooling the CDRs of every call (from its own
            # AMI events), fsynced here, written only once it is active — ON CONFLICT DO
            # NOTHING, so a call the old leader wrote is not written twice, and one that
            # ended while nobody was active is not lost.
            standby_sync.append(
                asyncio.create_task(_sync_every(spool, clock), name="ccd-ha-standby-spool")
            )
        yield
        await _stop_standby_sync()
        # Half the budget: serve() allows 2x shutdown_timeout_s for HTTP, bus and this
        # (a standby's writer never started: its spool is synced and kept).
        writing = ha is None or ha.became_active_at is not None
        await cdr_writer.drain(settings.http.shutdown_timeout_s / 2 if writing else 0)

    standby_sync: list[asyncio.Task[None]] = []

    async def _stop_standby_sync() -> None:
        while standby_sync:
            task = standby_sync.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def dispatcher(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(bus.run(), name="ccd-bus")
        yield
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.http.shutdown_timeout_s / 2):
                await bus.drain()
        cdr.flush_waiting()  # no more events: nothing else will settle a call
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def webhook_delivery(_: web.Application) -> AsyncIterator[None]:
        # After the database, before the CDR writer (its batches write call.ended rows
        # for the subscriptions read here); stopped after it.
        await webhooks.refresh()
        await webhook_sender.start()
        webhooks.start()
        yield
        await webhooks.stop(settings.http.shutdown_timeout_s / 2)
        await webhook_sender.close()

    async def loop_lag_probe(_: web.Application) -> AsyncIterator[None]:
        loop_lag.start()
        yield
        await loop_lag.stop()

    async def asterisk(_: web.Application) -> AsyncIterator[None]:
        await fleet.start()
        yield
        await fleet.stop()

    async def queues(_: web.Application) -> AsyncIterator[None]:
        # After the database (configuration, session log) and before the AGI server
        # (waiting callers): stops first, so the last agent transitions are written.
        await acd.start()
        yield
        await acd.stop()

    async def dialing(_: web.Application) -> AsyncIterator[None]:
        # After the ACD (it borrows the ACD's agents), stopped before it.
        await dialer.start()
        yield
        await dialer.stop()

    async def recordings(_: web.Application) -> AsyncIterator[None]:
        # After the database; its retention sweep and file bookkeeping stop before it.
        recording.start()
        yield
        await recording.stop()

    async def survey_writer(_: web.Application) -> AsyncIterator[None]:
        # Entered after the database, left after the AGI server: the answers of surveys
        # cut off at shutdown still get their chance to be written.
        survey_answers.start()
        yield
        await survey_answers.drain(settings.http.shutdown_timeout_s / 2)

    async def monitoring(_: web.Application) -> AsyncIterator[None]:
        # Left before the AMI connection closes: hang-ups and audit rows under way finish.
        yield
        await monitors.stop_all()

    async def hold_caller(channel: AgiChannel) -> None:
        await hold(channel, acd, clock)

    agi_router = _AgiRouter(hold_caller)
    agi = AgiServer(
        settings.agi.host,
        settings.agi.port,
        agi_router,
        header_timeout_s=settings.agi.header_timeout_s,
        max_sessions=settings.agi.max_sessions,
        command_timeout_s=settings.agi.command_timeout_s,
    )

    async def ivr(_: web.Application) -> AsyncIterator[None]:
        # Every lookup is bounded by the session's total timeout, whatever its flow says.
        lookups = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.ivr.lookup_timeout_cap_s)
        )
        try:
            agi_router.attach(
                ivr_agi_handler(
                    flow_resolver(lambda: flows.current),
                    lookups,
                    clock,
                    on_finished=_publish_ivr_path(bus, clock),
                ),
                survey=survey.agi_handler(lookups),
            )
            try:
                await agi.start()
            except OSError as exc:
                raise CcdError(
                    f"cannot listen for FastAGI on {settings.agi.host}:{settings.agi.port}: "
                    f"{exc.strerror or exc}"
                ) from None
            yield
            # Before the bus drains: the paths of calls cut off here still reach their CDRs.
            await agi.stop()
        finally:
            await lookups.close()

    # Only the active instance (always, without [ha]) runs these, in this order.
    active_only = [webhook_delivery, survey_writer, recordings, queues, dialing, ivr, monitoring]
    active_stack = contextlib.AsyncExitStack()

    async def activate(epoch: int) -> None:
        # As a restart would, with AMI already connected: CDRs written (the spool first),
        # the active services started (the ACD brings back agents' states from the
        # database), FastAGI listening (callers come back on their next try), then a
        # resync so the ACD and the dialer settle the calls they did not see.
        await _stop_standby_sync()  # the writer syncs the spool from now on
        cdr_writer.start()
        for lifetime in active_only:
            await active_stack.enter_async_context(
                contextlib.asynccontextmanager(lifetime)(web_app)
            )
        await fleet.resync()  # a server not connected resyncs at its next login

    async def high_availability(_: web.Application) -> AsyncIterator[None]:
        assert ha is not None
        ha.start()
        yield
        # The active part stops while the lease is still renewed (nobody else acts
        # meanwhile); then the lock and lease are given up: a standby takes over at once.
        await ha.stop_activation()
        await active_stack.aclose()
        await ha.stop()

    if ha is None:
        web_app.cleanup_ctx.extend(
            [
                loop_lag_probe,
                database,
                token_last_use,
                webhook_delivery,
                cdr_records,
                survey_writer,
                dispatcher,
                recordings,
                queues,
                dialing,
                ivr,
                asterisk,
                monitoring,
            ]
        )
    else:
        # Every instance keeps AMI connected, its live model, CDR spool and read-only
        # API; the election starts the active part.
        web_app.cleanup_ctx.extend(
            [
                loop_lag_probe,
                database,
                token_last_use,
                cdr_records,
                dispatcher,
                asterisk,
                high_availability,
            ]
        )
    return Components(
        settings=settings,
        bus=bus,
        live=live,
        hub=hub,
        gateway=gateway,
        tokens=tokens,
        cdr=cdr,
        cdr_writer=cdr_writer,
        ivr=flows,
        agi=agi,
        acd=acd,
        dialer=dialer,
        audit=audit,
        recording=recording,
        monitors=monitors,
        loop_lag=loop_lag,
        web_app=web_app,
        ha=ha,
        fleet=fleet,
    )


EXIT_FENCED = 75
"""``ccd run``'s exit status when it was fenced (EX_TEMPFAIL): the service manager starts
it again, as a standby."""


def _exit_fenced(reason: str) -> None:
    """A fenced leader stops at once, as if killed: nothing it would still do (an offer,
    a dial, a session row) may happen after a newer leader took over. Finished CDRs are
    already fsynced in the spool; the next start writes them (idempotently)."""
    log.critical("ha fenced: exiting", reason=reason, exit_status=EXIT_FENCED)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(EXIT_FENCED)


def _build_ha(
    settings: Settings,
    clock: Clock,
    *,
    on_active: Callable[[int], Awaitable[None]],
    on_fenced: Callable[[str], None],
) -> HaRuntime:
    ha = settings.ha
    url = settings.database_url
    if settings.database.url is None or not url.startswith("postgresql"):
        where = settings.origin("ha.enabled") or "defaults"
        raise ConfigError(
            [
                f"{where}: ha.enabled: high availability needs a PostgreSQL database.url "
                "shared by every instance (the embedded SQLite database is this host's own)"
            ]
        )
    timings = LeaseTimings(lease_s=ha.lease_s, renew_interval_s=ha.renew_interval_s)
    return HaRuntime(
        election=Election(timings),
        store=PostgresLease(
            url,
            instance=ha.instance,
            api_url=ha.api_url,
            lease_s=ha.lease_s,
            # A renewal answered later than this is no renewal: the lease must still
            # cover the next try.
            query_timeout_s=ha.renew_interval_s,
            clock=clock,
        ),
        clock=clock,
        instance=ha.instance,
        api_url=ha.api_url,
        on_active=on_active,
        on_fenced=on_fenced,
    )


STANDBY_SPOOL_SYNC_S = 1.0


async def _sync_every(spool: Spool, clock: Clock) -> None:
    """A standby's CDR spool made durable once a second (its writer is not running)."""
    while True:
        await clock.sleep(STANDBY_SPOOL_SYNC_S)
        try:
            await spool.sync()
        except OSError as exc:
            log.warning("cdr spool fsync failed on the standby", error=str(exc))


def _when_active(ha: HaRuntime, writer: CdrWriter) -> Callable[[], list[str]]:
    """The CDR writer's readiness, asked only of the active instance: a standby's spool
    waits for its takeover by design."""

    def reasons() -> list[str]:
        return writer.not_ready_reasons() if ha.acting() else []

    return reasons


def _standby_cdr_events(
    handle: Callable[[object], None], acting: Callable[[], bool]
) -> Callable[[object], None]:
    """The CDR builder's bus handler on an instance that may be a standby: the agent legs
    it cannot place are kept from it (ccd.ha.legs)."""
    legs = UnplacedAgentLegs(AGENT_CHANNEL_PREFIX)

    def handle_admitted(event: object) -> None:
        if legs.admit(event, standby=not acting()):
            handle(event)

    return handle_admitted


def _agent_server(acd: AcdService, *, default: str) -> Callable[[str], str | None]:
    """The server a logged-in agent's device is on (its own, else the default one); None
    for an agent not logged in."""

    def server_of(agent_id: str) -> str | None:
        agent = acd.engine.agent(agent_id)
        return None if agent is None else (agent.server or default)

    return server_of


def _channels_on(live: LiveCalls, server: str, default: str) -> dict[str, str]:
    """uniqueid -> channel name of one server's live channels (untagged: the default's)."""
    return {
        snap.uniqueid: snap.name for snap in live.channels() if (snap.server or default) == server
    }


def _live_uniqueids_on(live: LiveCalls, *, default: str) -> Callable[[str], set[str]]:
    """The uniqueids of one server's live channels (an untagged one is the default's)."""
    return lambda server: set(_channels_on(live, server, default))


def _caller_server(fleet: AmiFleet, live: LiveCalls) -> Callable[[str, str], str | None]:
    """The server a queue caller's channel is on, from its uniqueid (and linkedid).

    The systemname prefix first: Asterisk writes it into the uniqueid, so it is known
    when the AGI connects, even if ccd has not yet read the channel's first AMI event
    (the AGI and AMI connections race). Then the live model's channel (a server whose
    systemname ccd may not read), then its call. One server: that one."""
    if len(fleet) == 1:
        only = fleet.first.server
        return lambda _uniqueid, _linkedid: only

    def server_of(uniqueid: str, linkedid: str) -> str | None:
        system_names = {gateway.server: gateway.system_name for gateway in fleet}
        server = server_by_system_name(uniqueid, system_names)
        if server is not None:
            return server
        for known in (live.channel(uniqueid), live.channel(linkedid)):
            if known is not None and known.server:
                return known.server
        return None

    return server_of


def _live_channels_on(live: LiveCalls, *, default: str) -> Callable[[str], dict[str, str]]:
    """uniqueid -> channel name of one server's live channels (untagged: the default's)."""
    return lambda server: _channels_on(live, server, default)


def _interface_busy_on(live: LiveCalls, *, default: str) -> Callable[[str, str], bool]:
    """``_interface_busy`` of one server: a device named the same on another server is
    another device."""

    def busy(interface: str, server: str) -> bool:
        return _interface_busy(lambda: _channels_on(live, server, default))(interface)

    return busy


def _live_channels(live: LiveCalls) -> Callable[[], dict[str, str]]:
    """uniqueid -> channel name of every live channel."""
    return lambda: {snap.uniqueid: snap.name for snap in live.channels()}


def _live_channel_ref(live: LiveCalls) -> Callable[[str], LiveChannelRef | None]:
    """A live channel's name and server, by uniqueid."""

    def find(uniqueid: str) -> LiveChannelRef | None:
        snap = live.channel(uniqueid)
        return None if snap is None else LiveChannelRef(snap.name, snap.server)

    return find


def _live_channel_servers(live: LiveCalls) -> Callable[[], dict[str, str]]:
    """uniqueid -> server of every live channel."""
    return lambda: {snap.uniqueid: snap.server for snap in live.channels()}


def _monitor_devices(settings: Settings) -> MonitorDevices:
    """The supervisors' devices: ``[monitor] devices``, per server its ``[[asterisk]]
    monitor_devices`` when set (with one server, just ``[monitor] devices``)."""
    patterns = settings.monitor.devices
    per_server = {
        server.name: server.monitor_devices or patterns
        for server in settings.asterisk
        if len(settings.asterisk) > 1 or server.monitor_devices is not None
    }
    return MonitorDevices(patterns, per_server)


def _recording_places(settings: Settings) -> RecordingPlaces:
    """Each server's recording directories: its ``[[asterisk]]`` keys, else ``[recording]``
    (Asterisk's view for every server; ccd's view for the first server only — another
    server without ``recording_dir`` records nothing, see README "Recording")."""
    recording = settings.recording
    first = settings.servers[0].name
    if not settings.asterisk:
        return RecordingPlaces.single(first, recording.asterisk_dir, recording.local_dir)
    places: dict[str, RecordingPlace | None] = {}
    for index, server in enumerate(settings.asterisk):
        asterisk_dir = server.recording_asterisk_dir or recording.asterisk_dir
        local_dir = server.recording_dir
        if local_dir is None and index == 0:
            local_dir = recording.dir if recording.dir is not None else Path(asterisk_dir)
        if local_dir is None:
            log.warning(
                "recording off on this server: no recording_dir",
                server=server.name,
                key=f"asterisk.{server.name}.recording_dir",
            )
        places[server.name] = None if local_dir is None else RecordingPlace(asterisk_dir, local_dir)
    return RecordingPlaces(first, places)


def _interface_busy(channels: Callable[[], dict[str, str]]) -> Callable[[str], bool]:
    """Device state from the live channels: ``PJSIP/1001`` is busy while a channel
    ``PJSIP/1001-…`` exists that ccd did not place (its own agent legs, the ACD's and the
    dialer's, e.g. one still hanging up after a missed ring, are the engine's business)."""

    def busy(interface: str) -> bool:
        prefix = interface + "-"
        return any(
            name.startswith(prefix) and not uniqueid.startswith(OWN_CHANNEL_PREFIXES)
            for uniqueid, name in channels().items()
        )

    return busy


def _publish_ivr_path(bus: Bus, clock: Clock) -> Callable[[str, str, tuple[IvrStep, ...]], None]:
    def publish(uniqueid: str, linkedid: str, path: tuple[IvrStep, ...]) -> None:
        bus.publish(IvrFinished(at=clock.now(), uniqueid=uniqueid, linkedid=linkedid, path=path))

    return publish


def _build_cdr(
    settings: Settings, *, store: CdrStore, clock: Clock
) -> tuple[CdrService, CdrWriter]:
    cdr = settings.cdr
    spool = Spool(settings.cdr_spool_dir, segment_max_records=cdr.segment_max_records, clock=clock)
    writer = CdrWriter(
        spool,
        store,
        batch_size=cdr.batch_size,
        flush_interval_s=cdr.flush_interval_s,
        retry_max_s=cdr.retry_max_s,
        clock=clock,
    )
    rules = DirectionRules(
        inbound_contexts=frozenset(cdr.inbound_contexts),
        outbound_contexts=frozenset(cdr.outbound_contexts),
        trunk_prefixes=cdr.trunk_prefixes,
    )
    return CdrService(CdrBuilder(rules), spool, writer), writer


class Daemon:
    """ccd as a running service: HTTP listening, AMI connected, bus delivering."""

    def __init__(self, settings: Settings) -> None:
        self.components = build(settings)
        self._settings = settings
        self._runner = web.AppRunner(
            self.components.web_app,
            access_log=None,  # the API writes its own structured access log
            shutdown_timeout=settings.http.shutdown_timeout_s,
        )
        self.http_port: int | None = None

    async def start(self) -> None:
        http = self._settings.http
        await self._runner.setup()
        site = web.TCPSite(self._runner, http.host, http.port)
        await site.start()
        self.http_port = int(self._runner.addresses[0][1])
        log.info("http listening", host=http.host, port=self.http_port)

    @property
    def agi_port(self) -> int:
        """The FastAGI port actually listened on (``agi.port = 0`` picks one)."""
        return self.components.agi.port

    async def stop(self) -> None:
        await self._runner.cleanup()


async def prepare_database(settings: Settings) -> None:
    """The embedded SQLite database is migrated on start; a configured database must
    already be current (``ccd db upgrade``), so schema changes stay an operator's decision."""
    await migrate.prepare(settings.database_url, embedded=settings.database.url is None)


async def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then shut down within ``http.shutdown_timeout_s``."""
    await prepare_database(settings)
    daemon = Daemon(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # SIGHUP (`ccd reload`): new IVR flows for new calls; a bad set is logged and refused.
    loop.add_signal_handler(signal.SIGHUP, daemon.components.ivr.reload)
    log.info(
        "ccd starting",
        database=_database_kind(settings),
        # [ami] host is not used once [[asterisk]] servers are configured.
        asterisk={server.name: f"{server.host}:{server.port}" for server in settings.servers},
    )
    pidfile = pidfile_path(settings)
    await daemon.start()
    _write_pidfile(pidfile)
    try:
        agi: object = daemon.agi_port
    except RuntimeError:  # a standby listens for FastAGI only once it takes over
        agi = "not listening (ha standby)"
    _notify_systemd(f"READY=1\nSTATUS=HTTP port {daemon.http_port}, FastAGI {agi}")
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
    log.info("ccd stopping")
    _notify_systemd("STOPPING=1")
    try:
        async with asyncio.timeout(settings.http.shutdown_timeout_s * 2):
            await daemon.stop()
    except TimeoutError:
        log.error("shutdown did not finish in time; exiting anyway")
        return 1
    log.info("ccd stopped")
    return 0


def _notify_systemd(state: str) -> None:
    """Type=notify (the shipped systemd unit): READY=1 once HTTP and FastAGI listen."""
    try:
        sent = systemd.notify(state)
    except OSError as exc:
        log.warning("systemd notification not sent", state=state, error=str(exc))
        return
    if sent:
        log.info("systemd notified", state=state.split("\n", 1)[0])


def _write_pidfile(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed, so `ccd reload` never reads a half-written file.
        partial = path.with_name(path.name + ".tmp")
        partial.write_text(f"{os.getpid()}\n", encoding="ascii")
        partial.replace(path)
    except OSError as exc:
        # Only `ccd reload` needs it (SIGHUP still works); not worth refusing to run.
        log.warning("pidfile not written", path=str(path), error=str(exc))


def run(settings: Settings) -> int:
    return asyncio.run(serve(settings))


def _database_kind(settings: Settings) -> str:
    return "embedded sqlite" if settings.database.url is None else "configured"
