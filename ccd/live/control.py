"""Acting on calls through AMI: the REST API's originate and hangup.

The API chooses who to ring and which extension of ccd's originate context runs once they
answer; it never chooses the dialplan application (CVE-2024-42365).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

import structlog

from ccd.ami.actions import HangupAction, OriginateAction
from ccd.ami.protocol import AmiActionFailed, AmiConnectionLost, AmiNotConnected, AmiTimeout
from ccd.domain.contract import VAR_REQUEST_ID
from ccd.live.ports import (
    CallDirectory,
    OriginateRejected,
    UnknownDestination,
    UnknownServerName,
)

log = structlog.get_logger("ccd.live")


class AmiActions(Protocol):
    async def originate(self, action: OriginateAction) -> str: ...

    async def hangup(self, action: HangupAction) -> None: ...


class AmiCallControl:
    def __init__(
        self,
        *,
        ami: AmiActions,
        calls: CallDirectory,
        context: str,
        ami_for_server: Callable[[str], AmiActions] | None = None,
    ) -> None:
        """``ami``: the default server's; ``ami_for_server``: a server name's (several
        Asterisk servers: a hangup goes to the server each channel is on)."""
        self._ami = ami
        self._calls = calls
        self._context = context
        self._ami_for_server = ami_for_server

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
        ami = self._ami
        if server is not None and self._ami_for_server is not None:
            try:
                ami = self._ami_for_server(server)
            except LookupError:
                raise UnknownServerName(f"no Asterisk server named {server!r}") from None
        request_id = uuid.uuid4().hex
        action = OriginateAction(
            channel=endpoint,
            context=self._context,
            exten=destination,
            timeout_s=ring_timeout_s,
            caller_id=caller_id or None,
            # The API rejects commas in values (Asterisk would split them).
            variables={**variables, VAR_REQUEST_ID: request_id},
        )
        try:
            action_id = await ami.originate(action)
        except (AmiConnectionLost, AmiTimeout) as exc:
            # Written but unanswered: Asterisk may have placed it, and ccd never re-sends.
            raise OriginateRejected(f"{_reason(exc)}; check /api/v1/calls before retrying") from exc
        except AmiNotConnected:
            raise  # nothing was written: the API answers 503, safe to retry
        except AmiActionFailed as exc:
            if exc.no_such_extension:
                raise UnknownDestination(destination, self._context) from exc
            raise OriginateRejected(_reason(exc)) from exc
        except Exception as exc:
            raise OriginateRejected(_reason(exc)) from exc
        log.info(
            "originate sent",
            endpoint=endpoint,
            destination=destination,
            server=server,
            action_id=action_id,
            request_id=request_id,
        )
        return action_id

    async def hangup(self, linkedid: str) -> bool:
        call = self._calls.call(linkedid)
        if call is None:
            return False
        for channel in call.channels:
            name = channel.snapshot.name
            server = channel.snapshot.server
            try:
                ami = self._ami if self._ami_for_server is None else self._ami_for_server(server)
                await ami.hangup(HangupAction(name))
            except Exception as exc:
                # The channel may have gone between the lookup and the action: not an error.
                log.info(
                    "hangup not applied",
                    channel=name,
                    linkedid=linkedid,
                    server=server,
                    reason=_reason(exc),
                )
        return True


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
