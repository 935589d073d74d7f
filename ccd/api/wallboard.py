"""The wallboard over HTTP: the page (public: it holds no data), its data as JSON and as a
websocket that pushes the whole board again whenever the ACD reports a change.

- ``GET /wallboard`` and ``GET /wallboard/{asset}``: the page, packaged in
  ``ccd/wallboard/static``; only the files found there at start are served (no path is
  ever joined from the URL), with an ETag, ``Cache-Control: no-cache`` (revalidate: an
  upgraded ccd serves its new page at once) and a strict Content-Security-Policy (own
  scripts and styles only, no inline code, connections to this origin only).
- ``GET /api/v1/wallboard``: the board (``ccd.wallboard.view.build_board``).
- ``GET /api/v1/wallboard/events``: websocket; the board on connect, then again at most
  ``COALESCE_S`` after each ``agent.*`` / ``queue.*`` message on the event hub, and every
  ``REFRESH_S`` without one (today's counters restart at midnight without any event).
  Browsers cannot set Authorization on a websocket: the token travels in
  Sec-WebSocket-Protocol (``bearer.<token>``, beside ``ccd.v1`` which is the one echoed),
  never in the URL, which lands in access logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import structlog
from aiohttp import WSCloseCode, hdrs, web

from ccd.acd.ports import AcdLive
from ccd.api.acd import ACD_STORE
from ccd.api.context import ACD_LIVE, DEPS, PRINCIPAL
from ccd.api.handlers import model_json, store_problems
from ccd.api.hub import EndReason, EventHub, Subscription, SubscriptionEnded
from ccd.api.models.wallboard import Board
from ccd.api.openapi.operation import operation
from ccd.api.problems import UPSTREAM_UNAVAILABLE, ApiProblem
from ccd.api.static_assets import StaticAsset, load_files, page_headers, serve
from ccd.clock import Clock
from ccd.db.acd_store import AcdStore, StoredAgent, StoredQueue
from ccd.db.stores import StoreUnavailable
from ccd.wallboard.view import (
    AgentInfo,
    CallQueues,
    QueueInfo,
    ServiceLevelTargets,
    build_board,
    is_board_message,
)

log = structlog.get_logger("ccd.api")

WALLBOARD_SOURCE: web.AppKey[BoardSource | None] = web.AppKey("wallboard_source")
WALLBOARD_ASSETS: web.AppKey[dict[str, StaticAsset]] = web.AppKey("wallboard_assets")

SUBPROTOCOL = "ccd.v1"
COALESCE_S = 0.25  # a burst of changes (a call connecting) becomes one push
REFRESH_S = 15.0
SHARED_FOR_S = 0.1  # how old a board another stream built may be and still be pushed
WS_HEARTBEAT_S = 30.0
WS_MAX_CLIENT_MESSAGE = 4096  # the page has nothing to say on this stream
PAGE = "index.html"
# The page runs only its own files; 'self' in connect-src covers the same-origin ws://.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = page_headers(CONTENT_SECURITY_POLICY)


def load_assets() -> dict[str, StaticAsset]:
    """Every file of ``ccd/wallboard/static`` (package data), read once at start."""
    assets = load_files(resources.files("ccd.wallboard").joinpath("static").iterdir())
    if PAGE not in assets:
        raise RuntimeError(f"the wallboard package data has no {PAGE}")
    return assets


def _serve(request: web.Request, asset: StaticAsset) -> web.Response:
    return serve(request, asset, SECURITY_HEADERS)


async def page(request: web.Request) -> web.Response:
    return _serve(request, request.app[WALLBOARD_ASSETS][PAGE])


async def asset(request: web.Request) -> web.Response:
    found = request.app[WALLBOARD_ASSETS].get(request.match_info["asset"])
    if found is None:
        raise web.HTTPNotFound()
    return _serve(request, found)


class BoardSource:
    """Builds the board for every client of this app: names and service-level thresholds
    from the configuration store (read at connect and on every periodic refresh; the last
    ones read stay in use while the database is down), live figures from the ACD, and the
    call -> queue pairs the open streams have seen.

    Screens open at once get the same burst of changes and push at about the same moment:
    ``board_text`` hands them one build (a large floor's board costs milliseconds of event
    loop) as long as nothing was published on the hub since and it is at most
    ``SHARED_FOR_S`` old."""

    def __init__(
        self,
        store: AcdStore,
        live: AcdLive,
        targets: ServiceLevelTargets,
        clock: Clock,
        hub: EventHub,
    ) -> None:
        self._store = store
        self._live = live
        self._targets = targets
        self._clock = clock
        self._hub = hub
        self._calls = CallQueues()
        self._queues: list[QueueInfo] = []
        self._agents: list[AgentInfo] = []
        self._names_read = False
        self._reads: set[asyncio.Future[tuple[list[StoredQueue], list[StoredAgent]]]] = set()
        self._text: str | None = None
        self._text_published = -1
        self._text_built_at = 0.0
        self.built = 0  # boards built for the streams
        self.shared = 0  # pushes that reused one

    @property
    def clock(self) -> Clock:
        return self._clock

    def learn(self, message: dict[str, Any]) -> None:
        self._calls.learn_message(message)

    async def read_names(self) -> None:
        # Shielded, and awaited by ``settle``: a read cancelled halfway would leave the
        # database driver finishing it after the connection handler is gone.
        reading = asyncio.ensure_future(self._read_store())
        self._reads.add(reading)
        reading.add_done_callback(self._reads.discard)
        try:
            queues, agents = await asyncio.shield(reading)
        except StoreUnavailable:
            if not self._names_read:
                raise
            log.warning("wallboard keeps the names it read last: the ACD database is down")
            return
        self._queues = [
            QueueInfo(q.queue.id, q.queue.name, q.queue.service_level_s) for q in queues
        ]
        self._agents = [AgentInfo(a.agent.id, a.agent.name) for a in agents]
        self._names_read = True
        self._text = None  # the next push shows these names

    async def _read_store(self) -> tuple[list[StoredQueue], list[StoredAgent]]:
        return await self._store.list_queues(), await self._store.list_agents()

    async def settle(self) -> None:
        """Wait for store reads still under way (a stream is closing)."""
        if self._reads:
            await asyncio.wait(set(self._reads))

    def board_text(self) -> str:
        """The board as JSON text for a push: the last one built if it is still current
        (nothing published since, at most SHARED_FOR_S old), else a new one."""
        now = self._clock.monotonic()
        if (
            self._text is not None
            and self._text_published == self._hub.published
            and now - self._text_built_at <= SHARED_FOR_S
        ):
            self.shared += 1
            return self._text
        self._text = json.dumps(self.board(), separators=(",", ":"))
        self._text_published = self._hub.published
        self._text_built_at = now
        self.built += 1
        return self._text

    def board(self) -> dict[str, Any]:
        """The board with the names read last (``read_names``)."""
        now = self._clock.now()
        start, end = local_day(now)
        return build_board(
            queues=self._queues,
            agents=self._agents,
            snapshot=self._live.snapshot(),
            calls=self._calls,
            targets=self._targets,
            now=now,
            day_start=start,
            day_end=end,
            hour_marks=local_hour_marks(start, end),
        )


def local_midnight(now: datetime) -> datetime:
    """Where the ACD's "today" counters started (they restart at the host's midnight)."""
    day = now.astimezone().date()
    # Midnight's own offset: on a daylight-saving change day it is not the one of ``now``.
    return datetime(day.year, day.month, day.day).astimezone()


def local_day(now: datetime) -> tuple[datetime, datetime]:
    """Today's local midnight and the next one: 23, 24 or 25 hours apart."""
    start = local_midnight(now)
    following = start.date() + timedelta(days=1)
    return start, datetime(following.year, following.month, following.day).astimezone()


def local_hour_marks(
    start: datetime, end: datetime, every_h: int = 3
) -> list[tuple[datetime, str]]:
    """The chart's time labels: each instant of the day whose local wall clock shows a whole
    hour divisible by ``every_h`` ("03h" sits 2 h after midnight on a 23-hour day), and the
    day's end as "24h"."""
    marks: list[tuple[datetime, str]] = []
    at = start.astimezone(UTC)
    while at < end:
        local = at.astimezone()
        if local.minute == 0 and local.hour % every_h == 0:
            marks.append((local, f"{local.hour:02d}h"))
        at += timedelta(hours=1)
    marks.append((end, "24h"))
    return marks


def _source(request: web.Request) -> BoardSource:
    source = request.app[WALLBOARD_SOURCE]
    if source is None:
        raise ApiProblem(503, "the ACD is not running in this process", type_=UPSTREAM_UNAVAILABLE)
    return source


@operation(
    "The wallboard: today's queue tiles and the logged-in agents",
    responses={200: Board},
    problems=(503,),
    description="What the wallboard page shows; the websocket pushes the same object.",
)
async def get_board(request: web.Request) -> web.Response:
    source = _source(request)
    with store_problems("ACD"):
        await source.read_names()
    return model_json(Board.model_validate(source.board()))


def _subprotocols(request: web.Request) -> tuple[str, ...]:
    offered = [p.strip() for p in request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "").split(",")]
    if SUBPROTOCOL in offered:
        return (SUBPROTOCOL,)
    # A client that offered only bearer.<token> fails the handshake unless it gets it back.
    return tuple(p for p in offered if p.startswith("bearer."))[:1]


async def _next_change(subscription: Subscription, source: BoardSource, clock: Clock) -> bool:
    """Return once a board message arrived (its burst absorbed): False, or REFRESH_S
    passed: True."""
    refresh = asyncio.ensure_future(clock.sleep(REFRESH_S))
    try:
        while True:
            reading = asyncio.ensure_future(subscription.get())
            done, _ = await asyncio.wait({reading, refresh}, return_when=asyncio.FIRST_COMPLETED)
            if reading not in done:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
                return True
            message = json.loads(reading.result())
            if not is_board_message(str(message.get("type", ""))):
                continue
            source.learn(message)
            await clock.sleep(COALESCE_S)
            while subscription.pending:
                source.learn(json.loads(await subscription.get()))
            return False
    finally:
        refresh.cancel()


async def _push(ws: web.WebSocketResponse, subscription: Subscription, source: BoardSource) -> None:
    clock = source.clock
    try:
        while True:
            await ws.send_str(source.board_text())
            if await _next_change(subscription, source, clock):
                # Names and thresholds change rarely: read again on the periodic refresh.
                with store_problems("ACD"):
                    await source.read_names()
    except SubscriptionEnded as ended:
        code = (
            WSCloseCode.POLICY_VIOLATION
            if ended.reason is EndReason.TOO_SLOW
            else WSCloseCode.GOING_AWAY
        )
        await ws.close(code=code, message=ended.reason.value.encode())
    except ApiProblem as problem:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=problem.detail.encode()[:120])
    except ConnectionError:
        return


@operation(
    "The wallboard, pushed on every change (websocket, subprotocol ccd.v1)",
    responses={},
    problems=(426, 503),
    websocket=True,
    description=(
        "Each text message is the board, as `GET /api/v1/wallboard` answers it: on connect,"
        f" at most {COALESCE_S} s after an agent or queue change, and every {REFRESH_S:g} s"
        " without one. Browsers send the token in Sec-WebSocket-Protocol as"
        " `bearer.<token>` beside `ccd.v1`. A plain GET without `Upgrade: websocket` is"
        " answered 426."
    ),
)
async def board_events(request: web.Request) -> web.WebSocketResponse:
    source = _source(request)
    principal = request[PRINCIPAL]
    ws = web.WebSocketResponse(
        protocols=_subprotocols(request),
        heartbeat=WS_HEARTBEAT_S,
        max_msg_size=WS_MAX_CLIENT_MESSAGE,
    )
    if not ws.can_prepare(request).ok:
        raise ApiProblem(
            426,
            "this endpoint is a websocket; send an Upgrade: websocket request",
            headers={hdrs.UPGRADE: "websocket"},
        )
    with store_problems("ACD"):
        await source.read_names()  # before the upgrade: a database outage is a plain 503
    await ws.prepare(request)
    with request.app[DEPS].hub.subscribe(client=principal.token_id) as subscription:
        pusher = asyncio.create_task(_push(ws, subscription, source))
        try:
            # Reading keeps ping/pong and the close handshake going; client text is ignored.
            async for _message in ws:
                continue
        finally:
            pusher.cancel()
            (outcome,) = await asyncio.gather(pusher, return_exceptions=True)
            await source.settle()
            if isinstance(outcome, Exception):
                log.error("wallboard stream failed", exc_info=outcome)
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
    return ws


def add_routes(app: web.Application, targets: ServiceLevelTargets) -> None:
    """After ``ccd.api.acd.add_routes`` (the board reads its store and live ACD)."""
    store, live, deps = app[ACD_STORE], app[ACD_LIVE], app[DEPS]
    app[WALLBOARD_SOURCE] = (
        None
        if store is None or live is None
        else BoardSource(store, live, targets, deps.clock, deps.hub)
    )
    app[WALLBOARD_ASSETS] = load_assets()
    r = app.router
    r.add_get("/wallboard", page, name="wallboard.page")
    r.add_get("/wallboard/{asset}", asset, name="wallboard.asset")
    r.add_get("/api/v1/wallboard", get_board, name="wallboard.get")
    r.add_get("/api/v1/wallboard/events", board_events, name="wallboard.events")
