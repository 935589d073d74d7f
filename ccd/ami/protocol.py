"""panoramisk's AMI protocol with ccd's framing, routing and connection-loss rules.

What changes against ``panoramisk.ami_protocol.AMIProtocol``:
- ``data_received`` uses the bounded ``FrameDecoder`` (malformed frames are counted and
  skipped; memory stays bounded) instead of an unbounded string split;
- responses still go through panoramisk's ``handle_message`` / ``Action`` matching, but
  events go to one synchronous callback (never panoramisk's dispatch, which turns async
  callbacks into fire-and-forget tasks);
- an exception while handling one frame is counted and logged; the connection lives on;
- on connection loss nothing is queued for re-sending: every pending action fails with
  ``AmiConnectionLost`` (ccd owns retries; an ``Originate`` must never dial twice).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog
from panoramisk.ami_protocol import AMIProtocol

from ccd.ami.framing import Frame, FrameDecoder, to_message

log = structlog.get_logger("ccd.ami")

# Responses that finish an action successfully (panoramisk's own list).
SUCCESS_RESPONSES = frozenset({"Success", "Follows", "Goodbye"})
# Never re-sent after a reconnect. ccd re-sends nothing at all (see ``close``); the list is
# kept for panoramisk's own bookkeeping and states the rule for the dangerous ones.
FORGETABLE_ACTIONS = ("ping", "login", "logoff", "originate")


class AmiError(Exception):
    """Base of every error the AMI adapter raises."""


class AmiNotConnected(AmiError, ConnectionError):
    """Nothing was written: the action can safely be retried later."""

    def __init__(self, detail: str = "not connected to Asterisk AMI") -> None:
        super().__init__(detail)


class AmiConnectionLost(AmiNotConnected):
    """The connection dropped while the action was in flight; it was not re-sent."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"AMI connection lost ({reason}) while {action} was in flight")
        self.action = action
        self.reason = reason


# Asterisk's answer to an Originate whose context lacks the extension (manager.c).
NO_SUCH_EXTENSION = "Extension does not exist."


class AmiActionFailed(AmiError):
    def __init__(self, response: Frame, action: str = "action") -> None:
        message = response.get("Message", response.get("Response", "?"))
        super().__init__(f"AMI {action} failed: {message}")
        self.action = action
        self.response = response

    @property
    def no_such_extension(self) -> bool:
        """An Originate refused because its context has no such extension."""
        return self.response.get("Message") == NO_SUCH_EXTENSION


class AmiTimeout(AmiError, TimeoutError):
    def __init__(self, action: str, timeout_s: float) -> None:
        super().__init__(f"AMI {action} not answered within {timeout_s:g} s")
        self.action = action
        self.timeout_s = timeout_s


class _NoResendOwner:
    """What panoramisk's ``close`` expects from its factory (a ``Manager``)."""

    def __init__(self) -> None:
        self.forgetable_actions = FORGETABLE_ACTIONS
        self.awaiting_actions: deque[Any] = deque()


class GatewayProtocol(AMIProtocol):  # type: ignore[misc]
    def __init__(
        self,
        *,
        decoder: FrameDecoder,
        on_event: Callable[[Frame], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self.decoder = decoder
        self._on_event = on_event
        self._on_lost = on_lost
        # ActionID -> sync callback for list rows, called in wire order with events.
        self.row_listeners: dict[str, Callable[[Frame], None]] = {}
        self.frame_errors = 0
        self.lost_reason: str | None = None
        self.version: str | None = None
        self._drop_reason: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.factory = _NoResendOwner()
        self.encoding = "utf-8"

    # -- inbound ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # Each ~16 KiB batch is routed before the next one is decoded, while its frames
        # are still in the CPU cache (a 256 KiB read is hundreds of frames).
        batches = self.decoder.feed_batches(data)
        route = self._route
        while True:
            try:
                frames = next(batches, None)
            except Exception:  # a decoder bug must not kill the connection
                self.frame_errors += 1
                log.exception("ami frame decoder failed", bytes=len(data))
                return
            if frames is None:
                break
            for frame in frames:
                try:
                    route(frame)
                except Exception:
                    self.frame_errors += 1
                    log.exception(
                        "ami frame handling failed",
                        ami_event=frame.get("Event"),
                        ami_response=frame.get("Response"),
                    )
        if self.version is None and self.decoder.greeting is not None:
            self.version = self.decoder.greeting.partition("/")[2]

    def _route(self, frame: Frame) -> None:
        action_id = frame.get("ActionID")
        if action_id is not None:
            action = self.responses.get(action_id)
            if action is not None:
                if "Response" in frame:
                    self._answer(action, frame)
                    return
                if action.as_list:
                    # Match first, so a failing row listener cannot stall the list.
                    listener = self.row_listeners.get(action_id)
                    self.handle_message(to_message(frame))
                    if listener is not None:
                        listener(frame)
                    return
                # An event that merely carries the ActionID of a single-response action
                # (e.g. a fast ``OriginateResponse``) is an event, not the answer.
        if "Event" in frame:
            self._on_event(frame)
        else:
            # Usually the late answer to an action that already timed out.
            log.debug("ami response without a waiting action", action_id=action_id)

    def _answer(self, action: Any, frame: Frame) -> None:
        if frame["Response"] in SUCCESS_RESPONSES:
            self.handle_message(to_message(frame))
            return
        # panoramisk never resolves a list action whose answer is an error: do it here.
        self.forget(action)
        if not action.future.done():
            action.future.set_exception(AmiActionFailed(frame, str(action.get("Action", "?"))))

    # -- outbound ---------------------------------------------------------------------

    def forget(self, action: Any) -> None:
        """Stop waiting for an action's answer (done, timed out or cancelled)."""
        self.responses.pop(action.id, None)
        if action.action_id:
            self.responses.pop(action.action_id, None)
        self.row_listeners.pop(action.action_id, None)

    def expect_close(self, reason: str) -> None:
        """We are ending the connection (e.g. Logoff): report it as ``reason``."""
        if self._drop_reason is None:
            self._drop_reason = reason

    def drop(self, reason: str) -> None:
        """End the connection by aborting it (a half-open peer never lets close finish)."""
        self.expect_close(reason)
        if not self.closed:
            self.transport.abort()

    # -- connection loss --------------------------------------------------------------

    @property
    def end_reason(self) -> str:
        return self.lost_reason or self._drop_reason or "closed"

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost_reason is not None:
            return
        if self._drop_reason is not None:
            reason = self._drop_reason
        elif exc is not None:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            reason = "closed by peer"
        self.lost_reason = reason
        self.close()
        self._on_lost(reason)

    def close(self) -> None:
        pending = {id(action): action for action in self.responses.values()}
        reason = self.end_reason
        super().close()  # panoramisk: files un-answered actions for re-sending, closes
        # ... and ccd re-sends nothing: every waiting caller learns the action may be lost.
        self.factory.awaiting_actions.clear()
        self.row_listeners.clear()
        for action in pending.values():
            if not action.future.done():
                name = str(action.get("Action", "?"))
                action.future.set_exception(AmiConnectionLost(name, reason))
