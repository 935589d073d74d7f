"""The one adapter between ccd and Asterisk's AMI (over panoramisk 1.4).

One supervisor task owns the connection: connect, log in, resync, then wait for the
connection to end; reconnect with backoff and jitter. Per connection a watchdog sends our
own ``Ping`` and drops the transport when no answer arrives in time (panoramisk never
checks its pings, so a half-open TCP connection would otherwise go unnoticed forever).

Events are handed to a synchronous callback in wire order (the app translates and
publishes them onto the bus). Connection lifecycle goes to ``on_connection`` as domain
events; each ``CoreShowChannel`` row of a resync goes to ``on_resync_row`` in wire order
between ``ResyncStarted`` and ``ResyncFinished``.

ccd acts on calls through typed operations (``ccd.ami.actions``: ``ring_agent``,
``originate``, ``hangup``, ``redirect``); their AMI fields are built and checked (CR/LF/NUL) here.
``send_action`` stays for generic requests (Ping, CoreShowChannels).

Nothing is ever re-sent after a reconnect: an action in flight when the connection drops
fails with ``AmiConnectionLost``. ccd owns retries (an Originate must never dial twice).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Literal, overload

import structlog
from panoramisk.actions import Action

from ccd.ami.actions import (
    HangupAction,
    OriginateAction,
    RedirectAction,
    RingAgentAction,
    SetVariableAction,
)
from ccd.ami.framing import DEFAULT_MAX_HEADERS, MIB, Frame, FrameDecoder, message_to_frame
from ccd.ami.protocol import (
    AmiActionFailed,
    AmiConnectionLost,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
    GatewayProtocol,
)
from ccd.backoff import Backoff
from ccd.clock import Clock
from ccd.domain.events import AmiConnected, AmiDisconnected, ResyncFinished, ResyncStarted
from ccd.domain.safety import check_ami_fields

__all__ = [
    "AmiActionFailed",
    "AmiConnectionLost",
    "AmiError",
    "AmiFenced",
    "AmiGateway",
    "AmiLoginFailed",
    "AmiNotConnected",
    "AmiTimeout",
]

log = structlog.get_logger("ccd.ami")


class AmiFenced(AmiNotConnected):
    """Nothing was written: this instance is not the active one (high availability)."""

    def __init__(self) -> None:
        super().__init__("not the active ccd instance: AMI actions refused")


def _always() -> bool:
    return True


class AmiLoginFailed(AmiError):
    def __init__(self, username: str, message: str) -> None:
        super().__init__(f"AMI login as {username!r} rejected: {message}")
        self.message = message


class AmiGateway:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: Callable[[Frame], None],
        on_connection: Callable[[object], None],
        on_resync_row: Callable[[Frame], None],
        clock: Clock,
        action_timeout_s: float = 10.0,
        ping_interval_s: float = 5.0,
        ping_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        resync_timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        events: str = "on",
        max_frame_bytes: int = MIB,
        max_headers: int = DEFAULT_MAX_HEADERS,
        server: str = "",
    ) -> None:
        self.server = server
        """The configured name of this Asterisk server, set on its connection events."""
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self._on_event = on_event
        self._on_connection = on_connection
        self._on_resync_row = on_resync_row
        self._clock = clock
        self.action_timeout_s = action_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.resync_timeout_s = resync_timeout_s
        self.backoff = backoff or Backoff()
        self._events = events
        self._max_frame_bytes = max_frame_bytes
        self._max_headers = max_headers

        self._protocol: GatewayProtocol | None = None
        self._decoder: FrameDecoder | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._logged_in = False
        self._resynced = False
        self._resynced_event = asyncio.Event()
        self._asterisk_version: str | None = None
        self._system_name: str | None = None
        self._ami_version: str | None = None
        self._fully_booted = False
        self.last_error: str | None = None
        # Counters (cumulative over every connection).
        self.connect_attempts = 0
        self.logins = 0
        self.events_received = 0
        self.ping_timeouts = 0
        self.last_backoff_delay_s: float | None = None
        self._past_malformed: Counter[str] = Counter()
        self._past_frame_errors = 0
        # High availability (ccd.ha): actions are written only while this says so — a
        # fenced leader's late Originate is refused here (AmiFenced), nothing written.
        self.action_gate: Callable[[], bool] = _always

    # -- readiness and counters -------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._protocol is not None and not self._protocol.closed

    @property
    def logged_in(self) -> bool:
        return self.connected and self._logged_in

    @property
    def resynced(self) -> bool:
        """True once a resync finished on the current connection."""
        return self.logged_in and self._resynced

    @property
    def asterisk_version(self) -> str | None:
        """From ``CoreSettings`` when the AMI user may read it, else None."""
        return self._asterisk_version

    @property
    def system_name(self) -> str | None:
        """``systemname`` of asterisk.conf from ``CoreSettings`` ("" when unset; None when
        not read yet or the AMI user may not read it). Asterisk prefixes every uniqueid
        and linkedid with it."""
        return self._system_name

    @property
    def ami_version(self) -> str | None:
        """The AMI protocol version from the greeting (``Asterisk Call Manager/x.y.z``)."""
        return self._ami_version

    @property
    def fully_booted(self) -> bool:
        return self._fully_booted

    @property
    def reconnects(self) -> int:
        """Successful logins after the first one."""
        return max(0, self.logins - 1)

    @property
    def malformed_by_reason(self) -> dict[str, int]:
        counts = Counter(self._past_malformed)
        if self._decoder is not None:
            counts.update(self._decoder.malformed_by_reason)
        return dict(counts)

    @property
    def malformed_frames(self) -> int:
        return sum(self.malformed_by_reason.values())

    @property
    def frame_errors(self) -> int:
        """Frames whose handling raised (e.g. in ``on_event``); the connection lived on."""
        current = self._protocol.frame_errors if self._protocol is not None else 0
        return self._past_frame_errors + current

    async def wait_resynced(self, timeout_s: float) -> None:
        """Wait until the current connection is logged in and resynced."""
        async with asyncio.timeout(timeout_s):
            while not self.resynced:
                await self._resynced_event.wait()
                if not self.resynced:
                    self._resynced_event.clear()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection supervisor; returns at once (watch ``resynced``)."""
        if any(not task.done() for task in self._tasks):
            raise RuntimeError("AmiGateway already started")
        self._stopping = False
        self._spawn(self._supervise(), "ami-supervisor")

    async def stop(self) -> None:
        """Log off, close the connection and cancel every task this gateway created."""
        self._stopping = True
        proto = self._protocol
        if proto is not None and self._logged_in and not proto.closed:
            proto.expect_close("stopped")
            try:
                await self._send(proto, Action({"Action": "Logoff"}, as_list=False), 2.0)
            except AmiError as exc:
                log.info("ami logoff not acknowledged", error=str(exc))
        if proto is not None:
            proto.drop("stopped")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _supervise(self) -> None:
        while not self._stopping:
            self.connect_attempts += 1
            try:
                await self._session()
            except AmiLoginFailed as exc:
                self.last_error = str(exc)
                log.error("ami login failed", username=self._username, error=exc.message)
            except (AmiError, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "ami connection failed",
                    host=self._host,
                    port=self._port,
                    error=self.last_error,
                )
            except Exception as exc:  # a bug in one session must not end reconnecting
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("ami session crashed")
            if self._stopping:
                return
            delay = self.backoff.next_delay()
            self.last_backoff_delay_s = delay
            log.warning(
                "ami reconnect scheduled",
                attempt=self.backoff.attempt,
                delay_s=round(delay, 3),
                host=self._host,
                port=self._port,
            )
            await self._clock.sleep(delay)

    async def _session(self) -> None:
        """One connection, from connect to loss. Raises when it fails before login ends."""
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        decoder = FrameDecoder(self._max_frame_bytes, self._max_headers)

        def on_lost(reason: str) -> None:
            if not lost.done():
                lost.set_result(reason)

        log.info(
            "ami connecting",
            host=self._host,
            port=self._port,
            attempt=self.backoff.attempt + 1,
        )
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, proto = await loop.create_connection(
                    lambda: GatewayProtocol(
                        decoder=decoder, on_event=self._deliver_event, on_lost=on_lost
                    ),
                    self._host,
                    self._port,
                )
        except TimeoutError:
            raise AmiTimeout("connect", self.connect_timeout_s) from None
        self._protocol = proto
        self._decoder = decoder
        connected_at = self._clock.monotonic()
        announced = False
        watchdog: asyncio.Task[None] | None = None
        try:
            await self._login(proto)
            self._logged_in = True
            self.logins += 1
            self.last_error = None
            self._ami_version = proto.version
            self._asterisk_version = await self._read_asterisk_version(proto)
            log.info(
                "ami logged in",
                host=self._host,
                port=self._port,
                ami_version=self._ami_version,
                asterisk_version=self._asterisk_version,
                reconnects=self.reconnects,
            )
            self._emit(
                AmiConnected(
                    at=self._clock.now(),
                    asterisk_version=self._asterisk_version or f"unknown (AMI {proto.version})",
                    server=self.server,
                )
            )
            announced = True
            watchdog = self._spawn(self._watchdog(proto), "ami-watchdog")
            await self._resync(proto)
            reason = await lost
            if self._stopping:
                log.info("ami connection closed", reason=reason)
            else:
                log.warning("ami connection lost", reason=reason)
                self.last_error = f"connection lost: {reason}"
        except asyncio.CancelledError:
            proto.drop("stopped")
            raise
        except Exception as exc:
            proto.drop(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            proto.drop("stopped" if self._stopping else "session ended")
            self._logged_in = False
            self._resynced = False
            self._resynced_event.clear()
            self._past_malformed.update(decoder.malformed_by_reason)
            self._past_frame_errors += proto.frame_errors
            self._decoder = None
            self._protocol = None
            self.backoff.connection_ended(self._clock.monotonic() - connected_at)
            if announced:
                self._emit(
                    AmiDisconnected(
                        at=self._clock.now(), reason=proto.end_reason, server=self.server
                    )
                )

    async def _login(self, proto: GatewayProtocol) -> None:
        login = Action(
            {
                "Action": "Login",
                "Username": self._username,
                "Secret": self._secret,
                "Events": self._events,
            },
            as_list=False,
        )
        try:
            await self._send(proto, login, self.action_timeout_s)
        except AmiActionFailed as exc:
            raise AmiLoginFailed(self._username, exc.response.get("Message", "rejected")) from None

    async def _read_asterisk_version(self, proto: GatewayProtocol) -> str | None:
        # CoreSettings needs 'system' or 'reporting' in the user's write classes; another user
        # may not have it, which is fine: the version is informational.
        action = Action({"Action": "CoreSettings"}, as_list=False)
        try:
            response = await self._send(proto, action, self.action_timeout_s)
        except (AmiActionFailed, AmiTimeout) as exc:
            log.info("ami asterisk version unavailable", error=str(exc))
            self._system_name = None
            return None
        assert isinstance(response, dict)
        self._system_name = response.get("SystemName", "")
        return response.get("AsteriskVersion") or None

    async def _resync(self, proto: GatewayProtocol) -> None:
        rows = 0

        def on_row(frame: Frame) -> None:
            nonlocal rows
            event = frame.get("Event")
            if event == "CoreShowChannel":
                rows += 1
                self._on_resync_row(frame)
            elif event == "CoreShowChannelsComplete":
                # In wire order: events after this line are newer than the snapshot.
                self._resynced = True
                self._resynced_event.set()
                self._emit(
                    ResyncFinished(at=self._clock.now(), channel_count=rows, server=self.server)
                )

        action = Action({"Action": "CoreShowChannels"}, as_list=True)
        self._resynced = False
        self._emit(ResyncStarted(at=self._clock.now(), server=self.server))
        proto.row_listeners[action.action_id] = on_row
        await self._send(proto, action, self.resync_timeout_s)
        log.info("ami resync finished", channels=rows)

    async def resync(self) -> None:
        """Read Asterisk's channels again, as after a reconnect (``ResyncStarted``, a row
        per channel, ``ResyncFinished`` through the callbacks): a standby that takes over
        settles what it did not own. ``AmiNotConnected`` when not logged in (the next
        login resyncs anyway)."""
        proto = self._protocol
        if proto is None or proto.closed or not self._logged_in:
            raise AmiNotConnected()
        await self._resync(proto)

    async def _watchdog(self, proto: GatewayProtocol) -> None:
        while not proto.closed:
            await self._clock.sleep(self.ping_interval_s)
            ping = Action({"Action": "Ping"}, as_list=False)
            try:
                await self._send(proto, ping, self.ping_timeout_s)
            except AmiTimeout:
                self.ping_timeouts += 1
                log.warning(
                    "ami ping unanswered, dropping connection",
                    timeout_s=self.ping_timeout_s,
                )
                proto.drop(f"no answer to ping within {self.ping_timeout_s:g} s")
                return
            except AmiActionFailed:
                continue  # any answer proves the peer is alive
            except AmiNotConnected:
                return

    # -- inbound events ---------------------------------------------------------------

    def _deliver_event(self, frame: Frame) -> None:
        self.events_received += 1
        name = frame.get("Event")
        if name == "FullyBooted":
            # panoramisk re-sends its queued actions here; ccd keeps no such queue.
            self._fully_booted = True
            log.info("asterisk fully booted")
        self._on_event(frame)
        if name == "Shutdown":
            log.warning(
                "asterisk is shutting down",
                shutdown=frame.get("Shutdown", ""),
                restart=frame.get("Restart", ""),
            )
            self._fully_booted = False
            if self._protocol is not None:
                self._protocol.drop("asterisk shutdown")

    def _emit(self, event: object) -> None:
        try:
            self._on_connection(event)
        except Exception:
            log.exception("ami connection callback failed", event_type=type(event).__name__)

    # -- actions ----------------------------------------------------------------------

    @overload
    async def send_action(
        self,
        fields: Mapping[str, str],
        *,
        as_list: Literal[True],
        timeout_s: float | None = None,
    ) -> list[Frame]: ...

    @overload
    async def send_action(
        self,
        fields: Mapping[str, str],
        *,
        as_list: Literal[False],
        timeout_s: float | None = None,
    ) -> Frame: ...

    async def send_action(
        self,
        fields: Mapping[str, str],
        *,
        as_list: bool,
        timeout_s: float | None = None,
    ) -> list[Frame] | Frame:
        """Send one action and wait for its answer (all list rows when ``as_list``).

        Raises ``UnsafeAmiValue`` (nothing written), ``AmiNotConnected``,
        ``AmiConnectionLost``, ``AmiActionFailed`` or ``AmiTimeout``.
        """
        return await self._write(fields, as_list=as_list, timeout_s=timeout_s)

    def _write(
        self, fields: Mapping[str, str], *, as_list: bool, timeout_s: float | None
    ) -> Coroutine[Any, Any, list[Frame] | Frame]:
        """Check and write the action now (before returning); the coroutine returned
        waits for its answer. Raises at once what means nothing was written."""
        check_ami_fields(fields)
        if not fields.get("Action"):
            raise ValueError("an AMI action needs an 'Action' field")
        proto = self._protocol
        if proto is None or proto.closed or not self._logged_in:
            raise AmiNotConnected()
        if not self.action_gate():
            raise AmiFenced()
        action = Action(dict(fields), as_list=as_list)
        timeout = self.action_timeout_s if timeout_s is None else timeout_s
        return self._answer(proto, action, proto.send(action, as_list=as_list), timeout)

    async def originate(self, action: OriginateAction) -> str:
        """Queue an asynchronous Originate to a context; returns its ActionID.

        The outcome arrives later as an ``OriginateResponse`` event (same ActionID) through
        ``on_event``. Never re-sent: if the connection drops first this raises
        ``AmiConnectionLost`` and the caller decides (reconcile by ActionID/variables).
        """
        return await self._originate_now(action.headers())

    def ring_agent(self, action: RingAgentAction) -> asyncio.Task[str]:
        """Ring an agent into a bridge with a waiting caller, the Originate written
        before this returns — in the caller's own loop iteration, not after whatever else
        the loop has queued. Raises at once when nothing was written (``AmiNotConnected``,
        ``UnsafeAmiValue``); the task gives the ActionID once Asterisk queued the
        Originate, or ``originate``'s errors."""
        return self._originate_now(action.headers())

    async def hangup(self, action: HangupAction) -> None:
        """Hang up one channel; ``AmiActionFailed`` when Asterisk has no such channel."""
        await self.send_action(action.headers(), as_list=False)

    async def redirect(self, action: RedirectAction) -> None:
        """Send one channel elsewhere in the dialplan; ``AmiActionFailed`` when Asterisk
        has no such channel (it answers ``Channel does not exist``)."""
        await self.send_action(action.headers(), as_list=False)

    async def set_variable(self, action: SetVariableAction) -> None:
        """Set one variable on a channel; ``AmiActionFailed`` when Asterisk has no such
        channel."""
        await self.send_action(action.headers(), as_list=False)

    def _originate_now(self, fields: Mapping[str, str]) -> asyncio.Task[str]:
        payload = {
            key: value for key, value in fields.items() if key.lower() not in ("action", "async")
        }
        action_id = next(
            (value for key, value in payload.items() if key.lower() == "actionid"), None
        )
        if action_id is None:
            action_id = f"ccd-originate-{uuid.uuid4().hex}"
            payload["ActionID"] = action_id
        payload["Action"] = "Originate"
        payload["Async"] = "true"
        answer = self._write(payload, as_list=False, timeout_s=None)

        async def queued() -> str:
            await answer
            return action_id

        return asyncio.ensure_future(queued())

    async def _send(
        self, proto: GatewayProtocol, action: Any, timeout_s: float
    ) -> list[Frame] | Frame:
        if proto.closed:
            raise AmiNotConnected()
        return await self._answer(
            proto, action, proto.send(action, as_list=action.as_list), timeout_s
        )

    async def _answer(
        self, proto: GatewayProtocol, action: Any, answer: Awaitable[Any], timeout_s: float
    ) -> list[Frame] | Frame:
        name = str(action.get("Action", "?"))
        try:
            async with asyncio.timeout(timeout_s):
                result = await answer
        except TimeoutError:
            raise AmiTimeout(name, timeout_s) from None
        finally:
            proto.forget(action)
        if isinstance(result, list):
            return [message_to_frame(message) for message in result]
        return message_to_frame(result)
