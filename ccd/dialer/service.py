"""The outbound dialer at run time: paces each running campaign, claims contacts in the
database, originates customer legs, connects agents borrowed from the ACD, and records
every attempt. The decisions are the pure cores' (``Pacer``, ``CallTracker``, ``retries``,
``windows``, ``AbandonLedger``); this module only carries them out.

Rules it keeps (each with a test):

- **No evidence, no call.** A contact is claimed in the database (its attempt row written,
  its do-not-call status re-checked) before its Originate is written: when the database
  fails nothing is dialed. Nothing is dialed either while the AMI connection is down or
  not yet resynchronised, or before the campaign's 30-day tallies are loaded.
- **One call per contact at a time**, across restarts: the claim is a compare-and-set on
  the contact's status.
- **Agents come from the ACD**, inbound first: only agents the ACD says are claimable (idle,
  and not needed by a caller waiting in one of their queues) are reserved. Progressive
  (and predictive near its cap) reserves the agent before dialing; predictive reserves one
  when a person answers.
- **Calling windows** are checked per contact at dial time (the callee's zones); a contact
  outside them is moved to its next open instant instead of being dialed.
- **After a restart** (or ``kill -9``) attempts left open are settled from Asterisk once
  the AMI resync is done, before anything is dialed: a call still up is adopted where the
  records left it (a conversation goes on and ends normally; a person still waiting is
  long past the 2 s: safe harbor, abandoned; a machine is hung up on; a call still
  ringing is followed to its answer or hang-up, its agent reserved again: the ACD
  restored it as available, or it finds one at the answer); an attempt whose call is gone ends with
  what the records prove (connected: answered; answered: abandoned, or machine; else
  ``failed``) and its contact follows its retry rule. Contacts are claimed with a
  compare-and-set, so none is dialed twice at once.
- **Several Asterisk servers.** A campaign dials through its own server (``server``; None:
  the first configured): every Originate, Setvar, Redirect and Hangup of its calls goes to
  that server's connection, and only agents logged in on that server are reserved or
  counted for its pacing. Everything above holds per server: a campaign dials only while
  its server is connected and resynced and that server's previous-run attempts are
  settled; a resync of one server settles only the calls placed on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from ccd.acd.engine import AcdError
from ccd.ami.actions import (
    CallerId,
    HangupAction,
    OriginateAction,
    RedirectAction,
    SetVariableAction,
    local_channel,
)
from ccd.ami.protocol import AmiActionFailed, AmiConnectionLost, AmiNotConnected
from ccd.clock import Clock
from ccd.db.dialer_attempts import AttemptStore, ClaimedAttempt, StoredAttempt
from ccd.db.dialer_store import DialerStore, StoredCampaign, StoredContact
from ccd.db.stores import StoreConflict, StoreUnavailable
from ccd.dialer import calls as c
from ccd.dialer.compliance import AbandonLedger, AnsweredCall
from ccd.dialer.model import ROLLING_DAYS, AmdMode, Campaign, CampaignState, DialMode, Outcome
from ccd.dialer.pacing import Decision, Floor, Pacer
from ccd.dialer.ports import DialerAgents, DialerAmi
from ccd.dialer.retries import after_attempt, after_disposition
from ccd.dialer.servers import agents_on_server, campaign_server, missed_hangups
from ccd.dialer.windows import may_call, next_open
from ccd.domain import contract
from ccd.domain.events import (
    AgentLegStarted,
    ChannelCreated,
    ChannelHungUp,
    DialEnded,
    DialerAttemptSettled,
    DialerAttemptStarted,
    DialStarted,
    OriginateResponded,
    ResyncFinished,
    UserEventReceived,
)

log = structlog.get_logger("ccd.dialer")

CHANNEL_PREFIX = "ccd-dial-"
"""Uniqueids of the channels the dialer originates (customer legs and agents' rings)."""
TICK_S = 0.1  # the 2-second rule is checked this often
PACE_EVERY_S = 0.5  # pacing decisions
BUFFER_LOW = 20  # contacts kept ready per campaign
BUFFER_FETCH = 100
REFILL_IDLE_S = 2.0
CAMPAIGN_POLL_S = 5.0
# A call placed this recently may not be in Asterisk's channel list yet.
RESYNC_SETTLE_S = 2.0
# An attempt's record is written again this often while the database is down, this long.
WRITE_RETRY_S = 1.0
WRITE_RETRY_FOR_S = 300.0


class DialerRefused(Exception):
    """An API request the dialer cannot carry out (the API answers 409 with it)."""


@dataclass(frozen=True, slots=True)
class PreviewOffer:
    campaign_id: str
    agent_id: str
    channel_id: str
    contact: StoredContact


@dataclass
class _Campaign:
    campaign: Campaign
    pacer: Pacer
    ledger: AbandonLedger | None = None  # None until loaded from the attempt records
    # Calls answered before this were in the records the ledger was loaded from (a call
    # adopted after a restart, say): not counted again when they end.
    ledger_from: float = 0.0
    buffer: deque[StoredContact] = field(default_factory=deque)
    placing: bool = False
    last_decision: Decision | None = None
    offered: set[str] = field(default_factory=set)  # contact ids offered in preview
    last_paced: float = 0.0
    refill_at: float = 0.0  # when the contact buffer may be refilled from the database
    updated_at: datetime | None = None  # the stored version followed


class DialerService:
    def __init__(
        self,
        *,
        store: DialerStore,
        attempts: AttemptStore,
        agents: DialerAgents,
        servers: Mapping[str, DialerAmi],
        agent_server: Callable[[str], str | None],
        publish: Callable[[object], None],
        on_message: Callable[[dict[str, Any]], None],
        clock: Clock,
        report_zone: str = "UTC",
        max_wrapup_s: float = c.DEFAULT_MAX_WRAPUP_S,
        resynced: Callable[[str], bool],
        live_uniqueids: Callable[[str], set[str]],
    ) -> None:
        """``servers``: each configured Asterisk server's connection by name, the default
        (a campaign without a server) first. ``agent_server``: the server a logged-in
        agent's device is on (None: not logged in). ``resynced`` and ``live_uniqueids``:
        per server name."""
        if not servers:
            raise ValueError("the dialer needs at least one Asterisk server")
        self._store = store
        self._attempts = attempts
        self._agents = agents
        self._servers = dict(servers)
        self._default_server = next(iter(self._servers))
        self._agent_server = agent_server
        self._publish = publish
        self._on_message = on_message
        self._clock = clock
        self._report_zone = report_zone
        self._resynced = resynced
        self._live_uniqueids = live_uniqueids
        self.calls = c.CallTracker(deadline_margin_s=TICK_S, max_wrapup_s=max_wrapup_s)
        self._names: dict[str, str] = {}  # customer leg uniqueid -> channel name
        # Agents' rings: customer leg -> ring being dialed; the agent's Dial leg <-> ring.
        self._connecting: dict[str, str] = {}
        self._agent_legs: dict[str, str] = {}
        self._ring_legs: dict[str, str] = {}
        self._campaigns: dict[str, _Campaign] = {}
        self._previews: dict[str, PreviewOffer] = {}  # agent id -> offer
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.Task[None] | None = None
        # Servers whose previous-run attempts are settled / being settled.
        self._reconciled: set[str] = set()
        self._reconciling: set[str] = set()
        # Channel ids of customer legs and agents' rings -> the server they are on.
        self._placed_on: dict[str, str] = {}
        self._unknown_servers_logged: set[str] = set()
        self._next_poll = 0.0
        self._reloads = 0  # reload() calls: a campaign list read before one is stale
        self.started = False

    # ---- lifetime ----------------------------------------------------------------

    async def start(self) -> None:
        await self._load_campaigns()
        self._loop = asyncio.create_task(self._tick_loop(), name="ccd-dialer-tick")
        self.started = True
        log.info("dialer started", running=len(self._campaigns))

    async def stop(self) -> None:
        self.started = False
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=f"ccd-dialer-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("dialer task failed", task=task.get_name(), exc_info=task.exception())

    # ---- campaigns ---------------------------------------------------------------

    def _adopt(self, stored: StoredCampaign) -> None:
        """Follow a campaign's stored version. Every campaign is kept, paused and stopped
        ones too: their calls in flight still need its agents, caller id and prompts. A
        version older than the one followed (a poll read before a ``reload``) is ignored."""
        campaign = stored.campaign
        known = self._campaigns.get(campaign.id)
        if known is None:
            self._campaigns[campaign.id] = _Campaign(
                campaign, Pacer.for_campaign(campaign), updated_at=stored.updated_at
            )
            if campaign.state is CampaignState.RUNNING:
                log.info("campaign dialing", campaign=campaign.id, mode=campaign.mode.value)
            return
        if known.updated_at is not None and stored.updated_at < known.updated_at:
            return
        known.updated_at = stored.updated_at
        if known.campaign == campaign:
            return
        was_running = known.campaign.state is CampaignState.RUNNING
        known.campaign = campaign
        known.pacer.mode = campaign.mode
        known.pacer.cap = campaign.abandon_cap_pct / 100.0
        known.buffer.clear()  # chosen under the old rules
        if campaign.state is not CampaignState.RUNNING or campaign.mode is not DialMode.PREVIEW:
            # Offers that can be neither dialed nor skipped now: they must not hold agents.
            self._withdraw_previews(campaign.id)
        if campaign.state is CampaignState.RUNNING:
            if not was_running:
                log.info("campaign dialing", campaign=campaign.id, mode=campaign.mode.value)
        elif was_running:
            log.info("campaign no longer dialing", campaign=campaign.id)

    async def _load_campaigns(self) -> None:
        """Follow the campaigns' stored states (the API tells the service at once with
        ``reload``; this also catches changes made elsewhere, e.g. another ccd's API)."""
        reloads = self._reloads
        try:
            stored = await self._store.list_campaigns()
        except StoreUnavailable as exc:
            log.warning("dialer: campaigns not loaded, retrying", error=str(exc))
            return
        for item in stored:
            self._adopt(item)
        if self._reloads != reloads:
            return  # a campaign created meanwhile may be missing from the list: next poll
        known = {item.campaign.id for item in stored}
        for campaign_id in [cid for cid in self._campaigns if cid not in known]:
            del self._campaigns[campaign_id]
            self._withdraw_previews(campaign_id)

    async def reload(self, campaign_id: str) -> None:
        """The campaign changed in the database (the API calls this after a write)."""
        self._reloads += 1
        stored = await self._store.get_campaign(campaign_id)
        if stored is None:
            self._campaigns.pop(campaign_id, None)
            self._withdraw_previews(campaign_id)
            return
        self._adopt(stored)
        self._message(
            "campaign.state",
            campaign_id=campaign_id,
            state=stored.campaign.state.value,
            server=self.server_of(stored.campaign),
        )

    def campaign_agents(self, campaign: Campaign) -> list[str]:
        """Every agent named by the campaign (its own and its queue's), on any server."""
        agents = dict.fromkeys(sorted(campaign.agent_ids))
        if campaign.queue_id is not None:
            agents.update(dict.fromkeys(self._agents.queue_members(campaign.queue_id)))
        return list(agents)

    def server_of(self, campaign: Campaign) -> str:
        """The server the campaign's calls are placed on."""
        return campaign_server(campaign, self._default_server)

    def agents_on_server(self, campaign: Campaign, agent_ids: Iterable[str]) -> list[str]:
        """Those of ``agent_ids`` logged in on the campaign's server: the only ones its
        calls can reach (a Dial on one server cannot ring a device on another)."""
        return agents_on_server(self.server_of(campaign), agent_ids, self._agent_server)

    def _free_agents(self, campaign: Campaign) -> list[str]:
        return self._agents.claimable(
            self.agents_on_server(campaign, self.campaign_agents(campaign))
        )

    def _server_ready(self, campaign: Campaign) -> bool:
        """The campaign's server is configured, connected, resynced and its previous-run
        attempts settled: its calls may be placed."""
        server = self.server_of(campaign)
        if server not in self._servers:
            if server not in self._unknown_servers_logged:
                self._unknown_servers_logged.add(server)
                log.error(
                    "campaign's Asterisk server is not configured: not dialing",
                    campaign=campaign.id,
                    server=server,
                )
            return False
        return self._resynced(server) and server in self._reconciled

    def _forget_ended_channels(self) -> None:
        """Servers and names of channels no longer followed (a call ended, a ring over),
        whichever server's hang-up was missed: nothing piles up per server."""
        for channel_id in [
            ch
            for ch in self._placed_on
            if ch not in self.calls
            and self.calls.ring_of(ch) is None
            and ch not in self._ring_legs
            and ch not in self._connecting
        ]:
            del self._placed_on[channel_id]
        for channel_id in [ch for ch in self._names if ch not in self.calls]:
            del self._names[channel_id]  # only a followed call's leg is redirected by name

    def _ami_for(self, channel_id: str) -> DialerAmi:
        """The connection of the server ``channel_id`` (a customer leg or a ring) is on."""
        return self._servers[self._placed_on.get(channel_id, self._default_server)]

    # ---- the clock ---------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await self._clock.sleep(TICK_S)
            try:
                self._tick()
            except Exception:
                log.exception("dialer tick failed")

    def _tick(self) -> None:
        now = self._now()
        self._carry_out(self.calls.handle(c.Tick(), now))
        self._withdraw_left_previews()
        if now >= self._next_poll:
            self._next_poll = now + CAMPAIGN_POLL_S
            self._spawn(self._load_campaigns(), "campaigns")
        self._forget_ended_channels()
        for server in self._servers:
            # The previous run's calls on a server first: nothing is dialed there before
            # they are settled, and nothing while it is down or not resynchronised.
            if (
                self._resynced(server)
                and server not in self._reconciled
                and server not in self._reconciling
            ):
                self._reconciling.add(server)
                self._spawn(self._reconcile(server), f"reconcile-{server}")
        for running in list(self._campaigns.values()):
            if running.campaign.state is not CampaignState.RUNNING:
                continue
            if not self._server_ready(running.campaign):
                continue
            if running.ledger is None and not running.placing:
                running.placing = True
                self._spawn(self._load_ledger(running), "ledger")
                continue
            if running.placing or now - running.last_paced < PACE_EVERY_S:
                continue
            running.last_paced = now
            if running.campaign.mode is not DialMode.PREVIEW:
                self._pace(running, now)

    async def _load_ledger(self, running: _Campaign) -> None:
        try:
            now = self._now()
            ledger = AbandonLedger(self._report_zone)
            since = now - ROLLING_DAYS * 86400.0
            tallies = await self._attempts.daily_tallies(
                running.campaign.id, since=since, report_zone=self._report_zone
            )
            for day, tally in tallies.items():
                ledger.load(day, tally)
            running.ledger = ledger
            running.ledger_from = now
        except StoreUnavailable as exc:
            log.warning("dialer: tallies not loaded", campaign=running.campaign.id, error=str(exc))
        finally:
            running.placing = False

    # ---- pacing and placing ------------------------------------------------------

    def floor(self, running: _Campaign, now: float) -> tuple[Floor, list[str]]:
        """The campaign's live state for the pacer, and the agents free to reserve."""
        campaign_id = running.campaign.id
        free = self._free_agents(running.campaign)  # on the campaign's server only
        reserved = 0
        ringing: list[float] = []
        waiting = 0
        busy: list[float] = []
        for call in self.calls.calls():
            if call.request.campaign_id != campaign_id:
                continue
            if call.stage is c.Stage.DIALING:
                ringing.append(now - call.placed_at)
                reserved += call.agent_id is not None
            elif call.stage is c.Stage.WAITING:
                waiting += 1
                reserved += call.agent_id is not None
            elif call.stage is c.Stage.CONNECTED and call.connected_at is not None:
                busy.append(now - call.connected_at)
        busy.extend(now - at for campaign, at in self.calls.wrapping() if campaign == campaign_id)
        return Floor(len(free) + reserved, tuple(busy), tuple(ringing), waiting), free

    def _pace(self, running: _Campaign, now: float) -> None:
        ledger = running.ledger
        assert ledger is not None
        floor, free = self.floor(running, now)
        decision = running.pacer.decide(floor, ledger.today(now), ledger.rolling(now), now)
        running.last_decision = decision
        if decision.place <= 0 and (len(running.buffer) >= BUFFER_LOW or now < running.refill_at):
            return
        # Progressive (or predictive fallen back near its cap): an agent per call, first.
        reserve = decision.mode is DialMode.PROGRESSIVE
        count = min(decision.place, len(free)) if reserve else decision.place
        running.placing = True
        self._spawn(self._place(running, max(0, count), free if reserve else None), "place")

    async def _place(self, running: _Campaign, count: int, free: list[str] | None) -> None:
        """Dial ``count`` contacts; with ``free`` agents (not None), each call reserves one
        first. A call back owned by an agent is dialed only with that agent reserved."""
        try:
            campaign = running.campaign
            if len(running.buffer) < BUFFER_LOW and self._now() >= running.refill_at:
                await self._refill(running)
            agents = deque(free or ())
            held: list[StoredContact] = []
            placed = 0
            while placed < count and running.buffer and self._dialing(campaign.id):
                stored = running.buffer.popleft()
                if not may_call(stored.contact, campaign, self._now()):
                    await self._postpone(campaign, stored, self._now())  # closed meanwhile
                    continue
                owner = stored.callback_owner
                agent: str | None = None
                if owner is not None:
                    if not self._agents.claimable(self.agents_on_server(campaign, [owner])):
                        held.append(stored)  # waits for its owner
                        continue
                    agent = owner
                    if owner in agents:
                        agents.remove(owner)
                elif free is not None:
                    if not agents:
                        running.buffer.appendleft(stored)
                        break
                    agent = agents.popleft()
                if await self._dial(running, stored, agent):
                    placed += 1
            running.buffer.extendleft(reversed(held))
        except StoreUnavailable as exc:
            log.warning("dialer: database unavailable, not dialing", error=str(exc))
        finally:
            running.placing = False

    def _dialing(self, campaign_id: str) -> bool:
        known = self._campaigns.get(campaign_id)
        return (
            self.started
            and known is not None
            and known.campaign.state is CampaignState.RUNNING
            and self._server_ready(known.campaign)
        )

    async def _refill(self, running: _Campaign) -> None:
        due = await self._store.due_contacts(
            running.campaign.id, now=self._clock.now(), limit=BUFFER_FETCH
        )
        now = self._now()
        # Nothing (more) due: ask the database again a little later, not every tick.
        running.refill_at = now + (REFILL_IDLE_S if len(due) < BUFFER_FETCH else 0.0)
        # Read after the database answered: another refill (two agents asking for a
        # preview at once) may have buffered the same contacts meanwhile.
        have = self._taken(running)
        for stored in due:
            if stored.contact.id in have:
                continue
            if not may_call(stored.contact, running.campaign, now):
                await self._postpone(running.campaign, stored, now)
                have = self._taken(running)
                continue
            running.buffer.append(stored)
            have.add(stored.contact.id)

    def _taken(self, running: _Campaign) -> set[str]:
        """The contacts buffered, offered or in a call: not to be buffered again."""
        have = {stored.contact.id for stored in running.buffer} | running.offered
        have.update(call.request.contact_id for call in self.calls.calls())
        return have

    async def _postpone(self, campaign: Campaign, stored: StoredContact, now: float) -> None:
        """Outside every calling window now: not dialed, moved to the next open instant."""
        at = next_open(stored.contact, campaign, now)
        await self._store.reschedule(
            stored.contact.id, at=None if at is None else datetime.fromtimestamp(at, UTC)
        )
        log.info("contact outside calling hours", contact=stored.contact.id, next_at=at)

    async def _dial(self, running: _Campaign, stored: StoredContact, agent_id: str | None) -> bool:
        """Claim ``stored`` (with ``agent_id`` reserved first, if given) and place the call.
        False when it was not dialed (claimed elsewhere, do-not-call, agent taken)."""
        campaign = running.campaign
        channel_id = f"{CHANNEL_PREFIX}{uuid.uuid4().hex}"
        if agent_id is not None:
            try:
                self._agents.reserve_outbound(agent_id, channel_id)
            except AcdError as exc:
                log.info("agent not reserved", agent_id=agent_id, reason=str(exc))
                return False
        try:
            claimed = await self._attempts.claim(
                stored.contact.id, channel_id=channel_id, now=self._now(), agent_id=agent_id
            )
        except StoreConflict as exc:
            log.info("contact not dialed", contact=stored.contact.id, reason=str(exc))
            self._release(agent_id, channel_id)
            return False
        except BaseException:
            self._release(agent_id, channel_id)
            raise
        self._place_call(campaign, claimed, channel_id, agent_id)
        return True

    def _release(self, agent_id: str | None, channel_id: str) -> None:
        if agent_id is None:
            return
        try:
            self._agents.release_outbound(agent_id, channel_id)
        except AcdError as exc:
            log.warning("agent not released", agent_id=agent_id, reason=str(exc))

    def _request(
        self,
        campaign: Campaign,
        attempt_id: int,
        channel_id: str,
        contact_id: str,
        number: str,
        agent_id: str | None,
    ) -> c.DialRequest:
        return c.DialRequest(
            attempt_id=attempt_id,
            channel_id=channel_id,
            campaign_id=campaign.id,
            contact_id=contact_id,
            number=number,
            ring_timeout_s=campaign.ring_timeout_s,
            amd=campaign.amd,
            safe_harbor=bool(campaign.safe_harbor_prompt),
            machine_message=bool(campaign.machine_message_prompt),
            agent_id=agent_id,
            server=self.server_of(campaign),
        )

    def _place_call(
        self, campaign: Campaign, claimed: ClaimedAttempt, channel_id: str, agent_id: str | None
    ) -> None:
        request = self._request(
            campaign,
            claimed.attempt_id,
            channel_id,
            claimed.contact.id,
            claimed.contact.number,
            agent_id,
        )
        self._publish(
            DialerAttemptStarted(
                at=self._clock.now(),
                linkedid=channel_id,
                campaign_id=campaign.id,
                contact_id=claimed.contact.id,
                attempt_id=str(claimed.attempt_id),
            )
        )
        log.info(
            "dialing",
            campaign=campaign.id,
            contact=claimed.contact.id,
            attempt=claimed.attempt_id,
            agent_id=agent_id,
            server=request.server,
        )
        self._placed_on[channel_id] = request.server
        self._carry_out(self.calls.handle(c.Placed(request), self._now()))
        self._message(
            "campaign.attempt",
            campaign_id=campaign.id,
            contact_id=claimed.contact.id,
            attempt_id=claimed.attempt_id,
            stage="dialing",
            server=request.server,
        )

    # ---- preview -----------------------------------------------------------------

    async def preview_next(self, campaign_id: str, agent_id: str) -> PreviewOffer | None:
        """Offer ``agent_id`` the campaign's next contact; the agent is reserved until it
        dials or skips. None when no contact is due now; ``DialerRefused`` while nothing
        may be dialed (see the module docstring: before the resync, the previous run's
        attempts settled and the tallies loaded)."""
        running = self._preview_campaign(campaign_id)
        current = self._previews.get(agent_id)
        if current is not None:
            if current.campaign_id == campaign_id:
                return current
            raise DialerRefused(f"agent {agent_id} has an offer of campaign {current.campaign_id}")
        self._ready_to_dial(running)
        server = self.server_of(running.campaign)
        if self._agent_server(agent_id) not in (None, server):
            raise DialerRefused(
                f"agent {agent_id} is on Asterisk server {self._agent_server(agent_id)!r};"
                f" campaign {campaign_id} calls through {server!r}"
            )
        if len(running.buffer) < BUFFER_LOW:
            await self._refill(running)
        stored = next(
            (
                s
                for s in running.buffer
                if s.callback_owner in (None, agent_id) and s.contact.id not in running.offered
            ),
            None,
        )
        if stored is None:
            return None
        channel_id = f"{CHANNEL_PREFIX}{uuid.uuid4().hex}"
        try:
            self._agents.reserve_outbound(agent_id, channel_id)
        except AcdError as exc:
            raise DialerRefused(f"agent {agent_id} cannot take a call now: {exc}") from None
        running.buffer.remove(stored)
        running.offered.add(stored.contact.id)
        offer = PreviewOffer(campaign_id, agent_id, channel_id, stored)
        self._previews[agent_id] = offer
        self._message(
            "campaign.preview",
            campaign_id=campaign_id,
            agent_id=agent_id,
            contact_id=stored.contact.id,
            server=self.server_of(running.campaign),
        )
        return offer

    async def preview_dial(self, campaign_id: str, agent_id: str, contact_id: str) -> None:
        running = self._preview_campaign(campaign_id)
        offer = self._offer(campaign_id, agent_id, contact_id)
        self._ready_to_dial(running)
        del self._previews[agent_id]
        running.offered.discard(contact_id)
        if not may_call(offer.contact.contact, running.campaign, self._now()):
            # The window closed while the agent read the contact: not dialed, moved on.
            self._release(agent_id, offer.channel_id)
            await self._postpone(running.campaign, offer.contact, self._now())
            raise DialerRefused(
                f"contact {contact_id} is outside the calling hours of its time zone now"
            )
        try:
            claimed = await self._attempts.claim(
                contact_id, channel_id=offer.channel_id, now=self._now(), agent_id=agent_id
            )
        except StoreConflict as exc:
            self._release(agent_id, offer.channel_id)
            raise DialerRefused(f"contact {contact_id} cannot be dialed: {exc}") from None
        except BaseException:
            self._release(agent_id, offer.channel_id)
            raise
        self._place_call(running.campaign, claimed, offer.channel_id, agent_id)

    async def preview_skip(self, campaign_id: str, agent_id: str, contact_id: str) -> None:
        running = self._preview_campaign(campaign_id)
        offer = self._offer(campaign_id, agent_id, contact_id)
        del self._previews[agent_id]
        running.offered.discard(contact_id)
        self._release(agent_id, offer.channel_id)
        # Behind the contacts due now: the next offer is another one.
        await self._store.reschedule(contact_id, at=self._clock.now() + timedelta(seconds=1))
        self._message(
            "campaign.preview_skipped",
            campaign_id=campaign_id,
            agent_id=agent_id,
            contact_id=contact_id,
            server=self.server_of(running.campaign),
        )

    def preview_of(self, agent_id: str) -> PreviewOffer | None:
        return self._previews.get(agent_id)

    def _preview_campaign(self, campaign_id: str) -> _Campaign:
        running = self._campaigns.get(campaign_id)
        if running is None or running.campaign.state is not CampaignState.RUNNING:
            raise DialerRefused(f"campaign {campaign_id} is not running")
        if running.campaign.mode is not DialMode.PREVIEW:
            raise DialerRefused(f"campaign {campaign_id} is not a preview campaign")
        return running

    def _ready_to_dial(self, running: _Campaign) -> None:
        """The rules of the module docstring for a preview call (the tick keeps them for
        the others)."""
        server = self.server_of(running.campaign)
        if server not in self._servers:
            raise DialerRefused(f"the campaign's Asterisk server {server!r} is not configured")
        if not self._resynced(server):
            raise DialerRefused(
                f"Asterisk server {server!r} is not connected: nothing can be dialed now"
            )
        if server not in self._reconciled or running.ledger is None:
            raise DialerRefused(
                "the dialer is not ready yet (settling the previous run's calls, or loading"
                " the campaign's abandonment tallies): try again in a moment"
            )

    def _offer(self, campaign_id: str, agent_id: str, contact_id: str) -> PreviewOffer:
        offer = self._previews.get(agent_id)
        if (
            offer is None
            or offer.campaign_id != campaign_id
            or offer.contact.contact.id != contact_id
        ):
            raise DialerRefused(f"contact {contact_id} is not offered to agent {agent_id}")
        return offer

    def _withdraw_left_previews(self) -> None:
        """An agent who asked to pause or log out while reading an offer gets its pause:
        the offer goes back (a reserved agent's pause waits for the release)."""
        for agent_id, offer in list(self._previews.items()):
            if self._agents.wants_out(agent_id):
                self._withdraw(agent_id, offer)
                log.info("preview offer withdrawn: the agent is leaving", agent_id=agent_id)

    def _withdraw_previews(self, campaign_id: str) -> None:
        for agent_id, offer in list(self._previews.items()):
            if offer.campaign_id == campaign_id:
                self._withdraw(agent_id, offer)

    def _withdraw(self, agent_id: str, offer: PreviewOffer) -> None:
        del self._previews[agent_id]
        running = self._campaigns.get(offer.campaign_id)
        if running is not None:  # offered again later, like any due contact
            running.offered.discard(offer.contact.contact.id)
        self._release(agent_id, offer.channel_id)

    # ---- dispositions ------------------------------------------------------------

    async def dispose(
        self,
        campaign_id: str,
        attempt_id: int,
        *,
        agent_id: str,
        disposition: str,
        call_back_at: float | None = None,
        call_back_anyone: bool = False,
    ) -> None:
        """The agent's disposition of an answered attempt: the contact's next step (done,
        a call back, or do-not-call: the number goes on the list at once), and the end of
        the agent's wrap-up. ``ValueError`` for a disposition the campaign does not list,
        or a call back without a time."""
        stored = await self._store.get_campaign(campaign_id)
        if stored is None:
            raise DialerRefused(f"campaign {campaign_id} does not exist")
        campaign = stored.campaign
        attempt = await self._attempts.get(attempt_id)
        if attempt is None or attempt.campaign_id != campaign_id:
            raise DialerRefused(f"attempt {attempt_id} is not one of campaign {campaign_id}")
        if attempt.agent_id != agent_id:
            raise DialerRefused(f"attempt {attempt_id} was not answered by agent {agent_id}")
        contact = await self._store.get_contact(attempt.contact_id)
        if contact is None:
            raise DialerRefused(f"contact {attempt.contact_id} no longer exists")
        now = self._now()
        owner = None if call_back_anyone else agent_id
        next_step = after_disposition(
            contact.contact, campaign, disposition, now, call_back_at, owner
        )
        await self._attempts.dispose(
            attempt_id,
            disposition=disposition,
            agent_id=agent_id,
            next=next_step,
            now=now,
            do_not_call=disposition == "do-not-call",
        )
        if attempt.action_id is not None:
            self._carry_out(self.calls.handle(c.Disposed(attempt.action_id), now))
        self._agents.wrap_up_done(agent_id)
        self._message(
            "campaign.disposition",
            campaign_id=campaign_id,
            attempt_id=attempt_id,
            agent_id=agent_id,
            disposition=disposition,
            server=self.server_of(campaign),
        )

    # ---- what Asterisk reports ---------------------------------------------------

    def handle(self, event: object) -> None:
        """Bus handler: the events of the dialer's channels."""
        now = self._now()
        match event:
            case UserEventReceived(name=contract.USER_EVENT_DIALER_ANSWERED, fields=fields):
                channel_id = fields.get("Attempt", "")
                if channel_id in self.calls:
                    amd = fields.get("Amd") or contract.AmdStatus.OFF
                    self._carry_out(self.calls.handle(c.Answered(channel_id, amd), now))
            case UserEventReceived(name=contract.USER_EVENT_DIALER_MESSAGE, fields=fields):
                channel_id = fields.get("Attempt", "")
                self._carry_out(self.calls.handle(c.MessageStarted(channel_id), now))
            case OriginateResponded(action_id=action_id, success=False, reason=reason):
                if action_id in self.calls:
                    self._carry_out(self.calls.handle(c.OriginateFailed(action_id, reason), now))
            case ChannelCreated(channel=channel) if channel.uniqueid in self.calls:
                self._names[channel.uniqueid] = channel.name
            case DialStarted(caller=caller, destination=leg) if caller is not None:
                self._agent_dialed(caller.uniqueid, leg.uniqueid)
            case DialEnded(destination=leg, status=status) if leg.uniqueid in self._agent_legs:
                ring_id = self._agent_legs[leg.uniqueid]
                answered = status == contract.DIAL_ANSWERED
                ended = c.AgentConnected(ring_id) if answered else c.AgentRingFailed(ring_id)
                self._carry_out(self.calls.handle(ended, now))
            case ChannelHungUp(channel=channel):
                uniqueid = channel.uniqueid
                self._names.pop(uniqueid, None)
                if uniqueid in self.calls:
                    self._connecting.pop(uniqueid, None)
                    self._carry_out(self.calls.handle(c.CustomerGone(uniqueid), now))
                elif uniqueid in self._agent_legs:
                    ring_id = self._agent_legs.pop(uniqueid)
                    self._ring_legs.pop(ring_id, None)
                    self._carry_out(self.calls.handle(c.AgentLegGone(ring_id), now))
            case ResyncFinished(server=server):
                self._settle_after_resync(server or self._default_server, now)

    def _settle_after_resync(self, server: str, now: float) -> None:
        """Calls on ``server`` whose hang-up its AMI outage hid; other servers' calls are
        left alone (their connections did not drop)."""
        live = self._live_uniqueids(server)

        def on_server(channel_id: str) -> bool:
            return self._placed_on.get(channel_id, self._default_server) == server

        placed = {
            call.channel_id: (
                self._placed_on.get(call.channel_id, self._default_server),
                call.placed_at,
            )
            for call in self.calls.calls()
        }
        for channel_id in missed_hangups(server, placed, live, now, RESYNC_SETTLE_S):
            self._names.pop(channel_id, None)
            self._connecting.pop(channel_id, None)
            self._carry_out(self.calls.handle(c.CustomerGone(channel_id), now))
        for uniqueid in [
            u for u in self._names if on_server(u) and u not in live and u not in self.calls
        ]:
            del self._names[uniqueid]  # a call ended before its hang-up was missed
        for uniqueid, ring_id in list(self._agent_legs.items()):
            if on_server(ring_id) and uniqueid not in live:
                del self._agent_legs[uniqueid]
                self._ring_legs.pop(ring_id, None)
                self._carry_out(self.calls.handle(c.AgentLegGone(ring_id), now))

    # ---- commands ----------------------------------------------------------------

    def _carry_out(self, commands: Iterable[c.CallCommand]) -> None:
        for command in commands:
            try:
                self._execute(command)
            except Exception:
                log.exception("dialer command failed", command=type(command).__name__)

    def _execute(self, command: c.CallCommand) -> None:
        match command:
            case c.Originate(request=request):
                self._spawn(self._originate(request), "originate")
            case c.FindAgent(channel_id=channel_id, campaign_id=campaign_id):
                self._find_agent(channel_id, campaign_id)
            case c.RingAgent():
                self._ring_agent(command)
            case c.HangUp(channel_id=channel_id):
                # An agent's ring is its Dial leg, once the Dial began; before, moving or
                # hanging up the customer leg cancels the Dial.
                leg = self._ring_legs.get(channel_id)
                if leg is not None or self.calls.ring_of(channel_id) is None:
                    ami = self._ami_for(channel_id)
                    self._spawn(self._hangup(ami, leg or channel_id), "hangup")
            case c.PlayMessage(channel_id=channel_id, message=message):
                self._spawn(self._play(self._ami_for(channel_id), channel_id, message), "message")
            case c.ReleaseAgent(agent_id=agent_id, channel_id=channel_id):
                self._release(agent_id, channel_id)
            case c.AgentOnCall(agent_id=agent_id, channel_id=channel_id):
                self._agents.outbound_connected(agent_id, channel_id)
            case c.AgentCallEnded(agent_id=agent_id, channel_id=channel_id, wrapup_s=wrapup_s):
                try:
                    self._agents.outbound_ended(agent_id, channel_id, wrapup_s)
                except AcdError as exc:
                    # A call adopted after a restart: the ACD restored the agent on a call
                    # of its own and ends it itself.
                    log.info("agent's outbound call not ended", agent_id=agent_id, reason=str(exc))
            case c.RecordAnswered(attempt_id=attempt_id, at=at, amd_status=amd):
                self._record(
                    attempt_id,
                    "answer",
                    functools.partial(self._attempts.answered, attempt_id, at=at, amd_status=amd),
                )
            case c.RecordConnected(attempt_id=attempt_id, agent_id=agent_id, at=at):
                self._record(
                    attempt_id,
                    "agent connected",
                    functools.partial(
                        self._attempts.connected, attempt_id, agent_id=agent_id, at=at
                    ),
                )
            case c.RecordMessage(attempt_id=attempt_id, at=at):
                self._record(
                    attempt_id,
                    "message played",
                    functools.partial(self._attempts.safe_harbor, attempt_id, at=at),
                )
            case c.Settled(channel_id=channel_id, outcome=outcome):
                self._publish(
                    DialerAttemptSettled(
                        at=self._clock.now(), linkedid=channel_id, disposition=outcome.value
                    )
                )
            case c.Finished():
                self._finished(command)
            case c.Pace(campaign_id=campaign_id, event=event):
                running = self._campaigns.get(campaign_id)
                if running is not None:
                    running.pacer.handle(event, self._now())

    def _find_agent(self, channel_id: str, campaign_id: str) -> None:
        running = self._campaigns.get(campaign_id)
        call = self.calls.call(channel_id)
        if running is None or call is None:
            return
        free = self._free_agents(running.campaign)  # on the campaign's server only
        # An agent whose phone did not take this call is tried again only when no other
        # agent is free (a failed Dial comes back in milliseconds: no ringing in a loop).
        for agent_id in sorted(free, key=lambda agent: agent in call.tried):
            try:
                self._agents.reserve_outbound(agent_id, channel_id)
            except AcdError as exc:  # taken in the meantime: the next one
                log.debug("agent not reserved", agent_id=agent_id, reason=str(exc))
                continue
            self._carry_out(self.calls.handle(c.AgentFound(channel_id, agent_id), self._now()))
            return

    async def _originate(self, request: c.DialRequest) -> None:
        running = self._campaigns.get(request.campaign_id)
        campaign = running.campaign if running is not None else None
        variables = {
            contract.VAR_DIALER_ATTEMPT: request.channel_id,
            contract.VAR_DIALER_NUMBER: request.number,
            contract.VAR_DIALER_CALLERID: campaign.caller_id if campaign else "",
            contract.VAR_DIALER_AMD: "1" if request.amd is not AmdMode.OFF else "0",
        }
        if campaign is not None and campaign.safe_harbor_prompt:
            variables[contract.VAR_DIALER_SAFE_HARBOR] = campaign.safe_harbor_prompt
        if campaign is not None and campaign.machine_message_prompt:
            variables[contract.VAR_DIALER_MACHINE_MESSAGE] = campaign.machine_message_prompt
        action = OriginateAction(
            # /n: bridged with the agent, the pair would be optimised out and the
            # customer leg ccd follows (its uniqueid is the attempt's) would vanish.
            channel=local_channel(request.number, contract.DIALER_CONTEXT, keep=True),
            context=contract.DIALER_ANSWERED_CONTEXT,
            exten="s",
            timeout_s=request.ring_timeout_s,
            caller_id=CallerId(campaign.caller_id) if campaign else None,
            variables=variables,
            channel_id=request.channel_id,
            action_id=request.channel_id,
        )
        ami = self._servers.get(request.server)
        try:
            if ami is None:  # the campaign's server left the configuration meanwhile
                raise AmiNotConnected(f"no Asterisk server named {request.server!r}")
            await ami.originate(action)
        except Exception as exc:
            if _maybe_written(exc):
                # The call may ring all the same: followed like an Originate whose answer
                # was lost (its answer handled, else hung up after its ring time).
                log.warning(
                    "dialer originate unanswered", attempt=request.attempt_id, error=str(exc)
                )
                return
            log.warning("dialer originate failed", attempt=request.attempt_id, error=str(exc))
            self._carry_out(
                self.calls.handle(c.OriginateFailed(request.channel_id, None), self._now())
            )

    def _ring_agent(self, ring: c.RingAgent) -> None:
        """Dial the agent from the customer's own leg (``ccd-dialer-connect``): the agent's
        interface and ring time set on it, then a Redirect there."""
        interface = self._agents.agent_interface(ring.agent_id)
        if interface is None:
            self._carry_out(self.calls.handle(c.AgentRingFailed(ring.ring_id), self._now()))
            return
        channel_id = ring.request.channel_id
        self._connecting[channel_id] = ring.ring_id
        self._placed_on[ring.ring_id] = ring.request.server  # rung from the customer's leg
        self._spawn(self._connect(ring, interface), "connect")

    async def _connect(self, ring: c.RingAgent, interface: str) -> None:
        channel = self._names.get(ring.request.channel_id, ring.request.channel_id)
        ami = self._ami_for(ring.request.channel_id)
        try:
            await ami.set_variable(SetVariableAction(channel, contract.VAR_DIALER_AGENT, interface))
            await ami.set_variable(
                SetVariableAction(
                    channel, contract.VAR_DIALER_AGENT_RING_S, str(max(1, round(ring.timeout_s)))
                )
            )
            call = self.calls.call(ring.request.channel_id)
            if call is None or call.ring_id != ring.ring_id or call.stage is not c.Stage.WAITING:
                return  # given up on meanwhile (the 2 s, a hang-up): leave the customer be
            await ami.redirect(RedirectAction(channel, contract.DIALER_CONNECT_CONTEXT, "s"))
        except Exception as exc:
            log.warning("agent not dialed", agent_id=ring.agent_id, error=str(exc))
            self._connecting.pop(ring.request.channel_id, None)
            self._carry_out(self.calls.handle(c.AgentRingFailed(ring.ring_id), self._now()))

    def _agent_dialed(self, customer: str, leg: str) -> None:
        """``ccd-dialer-connect``'s Dial began: ``leg`` is the agent's side of the ring."""
        ring_id = self._connecting.pop(customer, None)
        call = self.calls.call(customer)
        if ring_id is None or call is None or call.ring_id != ring_id or call.agent_id is None:
            return
        self._agent_legs[leg] = ring_id
        self._ring_legs[ring_id] = leg
        self._publish(
            AgentLegStarted(
                at=self._clock.now(), linkedid=customer, uniqueid=leg, agent_id=call.agent_id
            )
        )

    @staticmethod
    async def _hangup(ami: DialerAmi, channel_id: str) -> None:
        with contextlib.suppress(Exception):
            await ami.hangup(HangupAction(channel_id))

    async def _play(self, ami: DialerAmi, channel_id: str, message: c.Message) -> None:
        exten = (
            contract.DIALER_SAFE_HARBOR_EXTEN
            if message is c.Message.SAFE_HARBOR
            else contract.DIALER_MACHINE_EXTEN
        )
        try:
            await ami.redirect(RedirectAction(channel_id, contract.DIALER_MESSAGE_CONTEXT, exten))
        except Exception as exc:
            log.warning("dialer message not played", channel=channel_id, error=str(exc))
            await self._hangup(ami, channel_id)

    def _finished(self, finished: c.Finished) -> None:
        request = finished.request
        running = self._campaigns.get(request.campaign_id)
        if (
            running is not None
            and running.ledger is not None
            and finished.outcome in _PERSON
            and finished.answered_at is not None
            and finished.answered_at >= running.ledger_from
        ):
            running.ledger.record(
                AnsweredCall(
                    attempt_id=str(request.attempt_id),
                    contact_id=request.contact_id,
                    number=request.number,
                    answered_at=finished.answered_at,
                    connected_at=finished.connected_at,
                )
            )
        self._record(
            request.attempt_id, "outcome", functools.partial(self._record_finish, finished)
        )
        self._message(
            "campaign.attempt",
            campaign_id=request.campaign_id,
            contact_id=request.contact_id,
            attempt_id=request.attempt_id,
            stage="ended",
            outcome=finished.outcome.value,
            server=request.server,
        )

    def _record(self, attempt_id: int, what: str, write: Callable[[], Awaitable[object]]) -> None:
        self._spawn(self._durably(attempt_id, what, write), "record")

    async def _durably(
        self, attempt_id: int, what: str, write: Callable[[], Awaitable[object]]
    ) -> None:
        """Write part of an attempt's record, again and again while the database is down:
        the call goes on, its evidence must not be lost. After ``WRITE_RETRY_FOR_S`` (or
        at shutdown) the attempt is left open: the next start closes it from the records
        and Asterisk."""
        give_up_at = self._clock.monotonic() + WRITE_RETRY_FOR_S
        while True:
            try:
                await write()
                return
            except StoreUnavailable as exc:
                if not self.started or self._clock.monotonic() >= give_up_at:
                    log.error("dialer record not written", attempt=attempt_id, what=what)
                    return
                log.warning(
                    "dialer record not written yet, retrying",
                    attempt=attempt_id,
                    what=what,
                    error=str(exc),
                )
            await self._clock.sleep(WRITE_RETRY_S)

    async def _record_finish(self, finished: c.Finished) -> None:
        request = finished.request
        await self._end_attempt(
            request.attempt_id,
            request.campaign_id,
            request.contact_id,
            finished.outcome,
            finished.at,
        )

    async def _end_attempt(
        self, attempt_id: int, campaign_id: str, contact_id: str, outcome: Outcome, at: float
    ) -> bool:
        """Write the attempt's outcome and its contact's next step (the retry rules);
        False when the contact or its campaign is gone."""
        known = self._campaigns.get(campaign_id)
        campaign = known.campaign if known is not None else None
        if campaign is None:  # not followed by this run (yet): the stored one
            stored = await self._store.get_campaign(campaign_id)
            campaign = stored.campaign if stored is not None else None
        contact = await self._store.get_contact(contact_id)
        if contact is None or campaign is None:
            return False
        history = await self._attempts.history(contact_id)
        history.append((at, outcome))
        next_step = after_attempt(contact.contact, campaign, history)
        await self._attempts.finish(attempt_id, outcome=outcome, ended_at=at, next=next_step)
        return True

    # ---- live view ---------------------------------------------------------------

    def live(self, campaign_id: str) -> dict[str, Any] | None:
        """The in-memory part of the campaign's live view (the API adds the counts kept
        in the database)."""
        running = self._campaigns.get(campaign_id)
        now = self._now()
        stages = {stage.value: 0 for stage in c.Stage}
        for call in self.calls.calls():
            if call.request.campaign_id == campaign_id:
                stages[call.stage.value] += 1
        dialing = running is not None and running.campaign.state is CampaignState.RUNNING
        view: dict[str, Any] = {"dialing": dialing, "calls": stages}
        if running is None:
            return view
        agents: dict[str, int] = {}
        server = self.server_of(running.campaign)
        for agent_id in self.campaign_agents(running.campaign):
            if self._agent_server(agent_id) not in (None, server):
                continue  # logged in on another server: not the campaign's
            status = self._agents.agent_status(agent_id).status.value
            agents[status] = agents.get(status, 0) + 1
        view["agents"] = agents
        decision = running.last_decision
        if decision is not None:
            view["pacing"] = {
                "mode": decision.mode.value,
                "reason": decision.reason,
                "dial_ratio": round(decision.dial_ratio, 3),
                "answer_rate": round(decision.answer_rate, 4),
            }
        if running.ledger is not None:
            today, rolling = running.ledger.today(now), running.ledger.rolling(now)
            view["abandonment"] = {
                "today": {
                    "answered": today.answered,
                    "abandoned": today.abandoned,
                    "rate_pct": round(today.rate_pct, 3),
                },
                "rolling_30_days": {
                    "answered": rolling.answered,
                    "abandoned": rolling.abandoned,
                    "rate_pct": round(rolling.rate_pct, 3),
                },
                "cap_pct": running.campaign.abandon_cap_pct,
            }
        return view

    def _message(self, kind: str, **fields: Any) -> None:
        self._on_message({"type": kind, "at": self._clock.now().isoformat(), **fields})

    # ---- after a restart ---------------------------------------------------------

    async def _reconcile(self, server: str) -> None:
        """Settle the attempts a previous run left open on ``server`` (see the module
        docstring): those of the campaigns that dial through it. A campaign's server
        changes only while none of its attempts is open (the API's rule), so its
        attempts are on the server it names now."""
        try:
            open_attempts = await self._attempts.open_attempts()
            live = self._live_uniqueids(server)
            now = self._now()
            campaigns: dict[str, Campaign | None] = {}
            for attempt in open_attempts:
                channel_id = attempt.action_id
                if channel_id is None or channel_id in self.calls:
                    continue  # this run's own call
                if attempt.campaign_id not in campaigns:
                    campaigns[attempt.campaign_id] = await self._campaign_now(attempt.campaign_id)
                campaign = campaigns[attempt.campaign_id]
                on = self.server_of(campaign) if campaign is not None else self._default_server
                unreachable = on not in self._servers  # its server left the configuration
                if on != server and not (unreachable and server == self._default_server):
                    continue  # settled when its own server is resynced
                if (
                    campaign is None
                    or unreachable
                    or not await self._adopt_call(attempt, live, campaign)
                ):
                    # Gone, or on a server ccd no longer reaches: closed with what the
                    # records prove (else it would stay open, its contact taken, and the
                    # campaign could not be moved to a configured server).
                    await self._close_attempt(attempt, now)
            self._reconciled.add(server)
            log.info("dialer: previous calls settled", server=server)
        except StoreUnavailable as exc:
            log.warning(
                "dialer: previous calls not settled yet, retrying", server=server, error=str(exc)
            )
        finally:
            self._reconciling.discard(server)

    async def _campaign_now(self, campaign_id: str) -> Campaign | None:
        """The campaign as followed, else as stored (None: it no longer exists)."""
        known = self._campaigns.get(campaign_id)
        if known is not None:
            return known.campaign
        stored = await self._store.get_campaign(campaign_id)
        return stored.campaign if stored is not None else None

    async def _adopt_call(self, attempt: StoredAttempt, live: set[str], campaign: Campaign) -> bool:
        """Track a call of a previous run that is still up in Asterisk; False if it is gone."""
        channel_id = attempt.action_id
        assert channel_id is not None
        if channel_id not in live:
            return False
        # The ACD restores a reserved agent as available: a call still ringing takes its
        # agent again (else it finds one at the answer, like a predictive call); a person
        # long past the 2 s or a machine needs none. A conversation keeps its agent.
        agent_id = attempt.agent_id if attempt.connected_at is not None else None
        if attempt.agent_id is not None and attempt.answered_at is None:
            try:
                self._agents.reserve_outbound(attempt.agent_id, channel_id)
                agent_id = attempt.agent_id
            except AcdError as exc:
                log.info(
                    "adopted call's agent not reserved", agent_id=attempt.agent_id, reason=str(exc)
                )
        request = self._request(
            campaign,
            attempt.attempt_id,
            channel_id,
            attempt.contact_id,
            attempt.number,
            agent_id,
        )
        # This run's CDR builder did not see the call start: tell it what the call is.
        self._publish(
            DialerAttemptStarted(
                at=self._clock.now(),
                linkedid=channel_id,
                campaign_id=campaign.id,
                contact_id=attempt.contact_id,
                attempt_id=str(attempt.attempt_id),
            )
        )
        self._placed_on[channel_id] = request.server
        adopted = c.Adopted(
            request,
            placed_at=attempt.started_at,
            answered_at=attempt.answered_at,
            person=attempt.amd_status != contract.AmdStatus.MACHINE,
            connected_at=attempt.connected_at,
        )
        self._carry_out(self.calls.handle(adopted, self._now()))
        call = self.calls.call(channel_id)
        log.warning(
            "dialer call adopted after restart",
            attempt=attempt.attempt_id,
            stage=call.stage.value if call is not None else None,
        )
        return True

    async def _close_attempt(self, attempt: StoredAttempt, now: float) -> None:
        """An attempt whose call is gone: ended with what the records say happened."""
        if attempt.connected_at is not None:
            outcome = Outcome.ANSWERED
        elif attempt.answered_at is not None and attempt.amd_status != contract.AmdStatus.MACHINE:
            outcome = Outcome.ABANDONED  # a person answered and no agent came
        elif attempt.answered_at is not None:
            outcome = Outcome.MACHINE
        else:
            outcome = Outcome.FAILED  # what happened is not known: retried by the rules
        if not await self._end_attempt(
            attempt.attempt_id, attempt.campaign_id, attempt.contact_id, outcome, now
        ):
            return
        log.warning(
            "dialer attempt closed after restart", attempt=attempt.attempt_id, outcome=outcome.value
        )


_PERSON = frozenset({Outcome.ANSWERED, Outcome.ABANDONED})


def _maybe_written(exc: Exception) -> bool:
    """Could the Originate be dialing? Not when it was refused (not connected, an unsafe
    value, Asterisk's error answer); after a lost connection or a timeout it may be."""
    if isinstance(exc, AmiConnectionLost):  # an AmiNotConnected that came after the write
        return True
    return not isinstance(exc, AmiNotConnected | AmiActionFailed | ValueError)
