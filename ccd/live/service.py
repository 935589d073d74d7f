"""``LiveCalls``: the live model as a bus subscriber and the API's ``CallDirectory``.

``handle`` is synchronous (the bus calls it in event order): it applies the event to the
model and hands every resulting call change to the registered listeners (the API event
hub, ...). While it does, ``linkedid`` is bound in structlog's context, so whatever a
listener logs about the change carries it. It writes one line when a call starts and one
canonical line when it ends (caller, callee, answered, duration, talk time).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from structlog.contextvars import bound_contextvars

from ccd.domain.calls import Call, CallChange, CallEnded, CallStarted
from ccd.domain.channels import ChannelSnapshot
from ccd.domain.events import (
    AgentRingStarted,
    AmiConnected,
    AmiDisconnected,
    ChannelCreated,
    ChannelEnteredBridge,
    ChannelHungUp,
    ChannelLeftBridge,
    ChannelUpdated,
    DialEnded,
    DialStarted,
    DomainEvent,
    IvrFinished,
    OriginateResponded,
    ResyncChannel,
    ResyncFinished,
    ResyncStarted,
    UserEventReceived,
)
from ccd.live.model import LiveModel

log = structlog.get_logger("ccd.live")

Listener = Callable[[CallChange], object]

_DOMAIN_EVENTS: tuple[type[object], ...] = (
    ChannelCreated,
    ChannelUpdated,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    ChannelHungUp,
    DialStarted,
    DialEnded,
    OriginateResponded,
    UserEventReceived,
    AmiConnected,
    AmiDisconnected,
    ResyncStarted,
    ResyncChannel,
    ResyncFinished,
    IvrFinished,
    AgentRingStarted,
)


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else round((end - start).total_seconds(), 3)


class LiveCalls:
    """Live calls for the rest of ccd (implements ``ccd.live.ports.CallDirectory``)."""

    def __init__(self, model: LiveModel | None = None) -> None:
        self._model = model if model is not None else LiveModel()
        self._listeners: list[Listener] = []
        self.listener_errors = 0

    def add_listener(self, listener: Listener) -> None:
        """``listener(change)`` is called synchronously for every change, in order."""
        self._listeners.append(listener)

    # ---- CallDirectory -------------------------------------------------------------

    def calls(self) -> list[Call]:
        return self._model.calls()

    def call(self, linkedid: str) -> Call | None:
        return self._model.call(linkedid)

    @property
    def stale(self) -> bool:
        """True while the AMI connection is down or its resync has not finished."""
        return self._model.stale

    @property
    def channel_count(self) -> int:
        return self._model.channel_count

    def channels(self) -> list[ChannelSnapshot]:
        """Every live channel's snapshot (cheaper than walking ``calls()``)."""
        return self._model.channels()

    def channel(self, uniqueid: str) -> ChannelSnapshot | None:
        return self._model.channel(uniqueid)

    @property
    def model(self) -> LiveModel:
        return self._model

    # ---- bus subscriber ------------------------------------------------------------

    def handle(self, event: object) -> None:
        """Apply one bus event (anything that is not a domain event is ignored)."""
        if not isinstance(event, _DOMAIN_EVENTS):
            return
        domain_event: DomainEvent = event  # type: ignore[assignment]
        changes = self._model.apply(domain_event)
        if isinstance(event, AmiDisconnected):
            log.warning(
                "live calls marked stale",
                reason=event.reason,
                server=event.server,
                calls=self._model.call_count,
            )
        elif isinstance(event, ResyncFinished):
            log.info(
                "live calls resynced",
                server=event.server,
                channels=self._model.channel_count,
                calls=self._model.call_count,
                asterisk_channels=event.channel_count,
                calls_removed=sum(isinstance(c, CallEnded) for c in changes),
            )
        for change in changes:
            with bound_contextvars(linkedid=change.call.linkedid):
                if isinstance(change, CallStarted):
                    self._log_started(change)
                elif isinstance(change, CallEnded):
                    self._log_ended(change)
                for listener in self._listeners:
                    try:
                        listener(change)
                    except Exception:
                        # One broken listener must not starve the others of this change.
                        self.listener_errors += 1
                        log.exception(
                            "call listener failed",
                            listener=getattr(listener, "__qualname__", repr(listener)),
                            change=type(change).__name__,
                        )

    def _log_started(self, change: CallStarted) -> None:
        call = change.call
        log.info(
            "call started",
            linkedid=call.linkedid,
            caller=call.caller_num,
            caller_name=call.caller_name,
            callee=call.callee_num,
            server=call.server,
            channel=call.channels[0].snapshot.name if call.channels else None,
        )

    def _log_ended(self, change: CallEnded) -> None:
        call = change.call
        log.info(
            "call ended",
            linkedid=call.linkedid,
            caller=call.caller_num,
            caller_name=call.caller_name,
            callee=call.callee_num,
            answered=call.answered_at is not None,
            started_at=call.started_at.isoformat(),
            duration_s=_seconds(call.started_at, change.at),
            talk_s=_seconds(call.answered_at, change.at),
        )
