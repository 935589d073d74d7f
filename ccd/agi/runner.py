"""Runs one call's IVR: AGI events in, the pure ``IvrSession`` decides, AGI commands out.

How the call leaves the IVR (the dialplan side is ``ccd-ivr`` in ``dialplan/extensions_ccd.conf``):
``Transfer`` and ``EnterQueue`` set ``CCD_IVR_ACTION`` and ``CCD_IVR_NEXT_CONTEXT`` /
``CCD_IVR_NEXT_EXTEN`` and end the AGI, so the dialplan does ``Goto(context,exten,1)``;
``Voicemail`` sets ``CCD_IVR_ACTION=voicemail`` and ``CCD_IVR_VOICEMAIL_BOX``; ``Hangup``
sets ``CCD_IVR_ACTION=hangup`` and hangs up over AGI (``EXEC Hangup <cause>`` for a cause
other than 16, which AGI HANGUP cannot carry). Anything else — unknown flow, a bug,
ccd stopping — ends the AGI without an action and the dialplan sends the caller to its
default destination.

Collect is done as STREAM FILE per prompt (escapable by any digit) followed by
``GET DATA ""``: GET DATA with a prompt answers ``result=-1`` both for a missing file and
a hangup, while STREAM FILE tells a missing file apart (``AgiPromptFailed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import structlog

from ccd.agi.channel import AgiChannel, AgiError, AgiHangup, AgiPromptFailed
from ccd.agi.server import AgiHandler
from ccd.clock import Clock
from ccd.domain import contract
from ccd.domain.cdr import IvrStep
from ccd.ivr.flows import Flow, FlowSet
from ccd.ivr.machine import IvrSession
from ccd.ivr.protocol import (
    CallerArrived,
    CallerHungUp,
    Collect,
    Command,
    DigitsEntered,
    EnterQueue,
    Event,
    Hangup,
    Lookup,
    LookupAnswered,
    LookupFailed,
    Play,
    PromptFailed,
    SetLanguage,
    SetVariables,
    SurveyAnswered,
    Transfer,
    Voicemail,
)

log = structlog.get_logger("ccd.agi")

FlowResolver = Callable[[str, str], Flow | None]
"""(flow name from the dialplan, DID) → the flow this call runs, or None if there is none."""
OnFinished = Callable[[str, str, tuple[IvrStep, ...]], None]
"""(uniqueid, linkedid, path) once the call leaves the IVR, however it leaves."""
OnAnswer = Callable[[SurveyAnswered], None]
"""A survey question settled (a survey node's ``SurveyAnswered``), as soon as it is."""

ALL_DIGITS = "0123456789*#"
NORMAL_CLEARING = 16
LOOKUP_MAX_BYTES = 64 * 1024


def flow_resolver(current: Callable[[], FlowSet]) -> FlowResolver:
    """Pick the flow by the name the dialplan passed, else by DID (the default flow for
    unlisted DIDs). ``current`` is read per call, so a reload affects new calls only."""

    def resolve(name: str, did: str) -> Flow | None:
        flows = current()
        if name:
            flow = flows.flows.get(name)
            if flow is None:
                log.warning("ivr flow unknown, choosing by DID", requested_flow=name, did=did)
            else:
                return flow
        return flows.for_did(did)

    return resolve


def ivr_agi_handler(
    flow_for: FlowResolver,
    lookup_client: aiohttp.ClientSession,
    clock: Clock,
    *,
    on_finished: OnFinished | None = None,
) -> AgiHandler:
    """The ``AgiServer`` handler: runs the IVR for the ``ivr`` script, refuses others."""

    async def handle(channel: AgiChannel) -> None:
        if channel.network_script != contract.AGI_SCRIPT_IVR:
            log.warning("agi script unknown, ending", script=channel.network_script)
            return
        await run_ivr(channel, flow_for, lookup_client, clock, on_finished=on_finished)

    return handle


async def run_ivr(
    channel: AgiChannel,
    flow_for: FlowResolver,
    lookup_client: aiohttp.ClientSession,
    clock: Clock,
    *,
    on_finished: OnFinished | None = None,
    on_answer: OnAnswer | None = None,
    session_factory: Callable[[], IvrSession] = IvrSession,
) -> None:
    """Drive one call through its flow. Never raises (cancellation aside); the AGI socket is
    closed by the server when this returns."""
    args = channel.args
    flow_name = args[0] if args else ""
    did = (args[1] if len(args) > 1 else "") or channel.dnid
    with structlog.contextvars.bound_contextvars(uniqueid=channel.uniqueid, ivr_flow=flow_name):
        session: IvrSession | None = None
        linkedid = channel.uniqueid
        try:
            linkedid = await channel.get_variable("CHANNEL(linkedid)") or channel.uniqueid
            structlog.contextvars.bind_contextvars(linkedid=linkedid)
            flow = flow_for(flow_name, did)
            if flow is None:
                log.warning("ivr has no flow for this call, default destination", did=did)
                return
            structlog.contextvars.bind_contextvars(ivr_flow=flow.id)
            session = session_factory()
            arrived = CallerArrived(
                at=clock.now(),
                caller_num=channel.callerid,
                caller_name=channel.calleridname,
                did=did,
                language=channel.language,
            )
            log.info("ivr started", caller=arrived.caller_num, did=did)
            runner = _Runner(channel, session, lookup_client, clock, flow, on_answer)
            await runner.run(session.start(flow, arrived))
            if session.finished:
                log.info("ivr finished", outcome=str(session.outcome), node=session.node_id)
            else:
                log.warning("ivr stopped without an outcome, default destination")
        except AgiHangup as exc:
            log.info("ivr caller gone", reason=str(exc))
            if session is not None:
                session.handle(CallerHungUp(at=clock.now()))
        except AgiError as exc:
            log.warning("ivr agi failed, default destination", reason=str(exc))
        except Exception:
            log.exception("ivr failed, default destination")
        finally:
            structlog.contextvars.unbind_contextvars("linkedid")
            if session is not None and on_finished is not None:
                try:
                    on_finished(channel.uniqueid, linkedid, session.path)
                except Exception:
                    log.exception("ivr on_finished callback failed")


class _Runner:
    def __init__(
        self,
        channel: AgiChannel,
        session: IvrSession,
        lookup_client: aiohttp.ClientSession,
        clock: Clock,
        flow: Flow,
        on_answer: OnAnswer | None = None,
    ) -> None:
        self.channel = channel
        self.on_answer = on_answer
        self.session = session
        self.lookup_client = lookup_client
        self.clock = clock
        self.flow = flow
        self.language = channel.language

    async def run(self, commands: list[Command]) -> None:
        pending = list(commands)
        while pending:
            event: Event | None = None
            for command in pending:
                event = await self.execute(command)
                if event is not None:
                    break  # an awaiting command ends a list (protocol): the answer decides
            if event is None:
                return
            pending = self.session.handle(event)

    def _prompt_failed(self, prompt: str) -> None:
        """Carry on as if the prompt played (protocol); the session only takes note."""
        log.warning("ivr prompt failed", prompt=prompt)
        ignored = self.session.handle(PromptFailed(at=self.clock.now(), prompt=prompt))
        if ignored:
            log.warning("ivr session answered a failed prompt, ignored", commands=len(ignored))

    async def execute(self, command: Command) -> Event | None:
        match command:
            case Play():
                await self._language(command.language)
                for prompt in command.prompts:
                    try:
                        await self.channel.stream_file(prompt)
                    except AgiPromptFailed:
                        self._prompt_failed(prompt)
                return None
            case Collect():
                return await self._collect(command)
            case SetLanguage():
                await self._language(command.language)
                return None
            case SetVariables():
                for name, value in command.values.items():
                    await self.channel.set_variable(name, value)
                return None
            case Lookup():
                return await self._lookup(command)
            case SurveyAnswered():
                log.info("survey answer", question=command.question, score=command.score)
                if self.on_answer is None:
                    log.warning("survey node outside a post-call survey, answer not kept")
                else:
                    self.on_answer(command)
                return None
            case Transfer():
                log.info("ivr transfer", context=command.context, exten=command.exten)
                await self._leave(
                    contract.IvrAction.TRANSFER,
                    {
                        contract.VAR_IVR_NEXT_CONTEXT: command.context,
                        contract.VAR_IVR_NEXT_EXTEN: command.exten,
                    },
                )
                return None
            case EnterQueue():
                log.info("ivr to queue", queue=command.queue, priority=command.priority)
                await self._leave(
                    contract.IvrAction.QUEUE,
                    {
                        "CCD_QUEUE": command.queue,
                        "CCD_PRIORITY": str(command.priority),
                        "CCD_SKILLS": contract.SKILLS_SEPARATOR.join(command.skills),
                        contract.VAR_IVR_NEXT_CONTEXT: self.flow.queue_context,
                        contract.VAR_IVR_NEXT_EXTEN: self.flow.queue_exten,
                    },
                )
                return None
            case Voicemail():
                log.info("ivr to voicemail", mailbox=command.mailbox)
                await self._leave(
                    contract.IvrAction.VOICEMAIL, {contract.VAR_IVR_VOICEMAIL_BOX: command.mailbox}
                )
                return None
            case Hangup():
                log.info("ivr hangs up", cause=command.cause)
                await self._leave(contract.IvrAction.HANGUP, {})
                if command.cause == NORMAL_CLEARING:
                    await self.channel.hangup()
                else:
                    # AGI HANGUP carries no cause; the Hangup application does (for the CDR).
                    with contextlib.suppress(AgiHangup):
                        await self.channel.exec("Hangup", str(command.cause))
                return None
        raise AgiError(f"unknown IVR command {command!r}")

    async def _leave(self, action: str, variables: Mapping[str, str]) -> None:
        for name, value in variables.items():
            await self.channel.set_variable(name, value)
        # Last: the dialplan acts on the action only once everything it needs is set.
        await self.channel.set_variable(contract.VAR_IVR_ACTION, action)

    async def _language(self, language: str) -> None:
        if language and language != self.language:
            await self.channel.set_variable("CHANNEL(language)", language)
            self.language = language

    async def _collect(self, command: Collect) -> Event:
        await self._language(command.language)
        typed = ""
        for prompt in command.prompts:
            try:
                typed = await self.channel.stream_file(prompt, ALL_DIGITS)
            except AgiPromptFailed:
                self._prompt_failed(prompt)
                continue
            if typed:
                break
        digits = typed
        ended = bool(command.terminator) and typed == command.terminator
        if not ended and len(typed) < command.max_digits:
            # GET DATA itself stops at '#' and leaves it out of the result.
            digits += await self.channel.get_data(
                "", int(command.timeout_s * 1000), command.max_digits - len(typed)
            )
        if command.terminator:
            digits = digits.split(command.terminator, 1)[0]
        log.info("ivr digits", digits=digits, node=self.session.node_id)
        return DigitsEntered(at=self.clock.now(), digits=digits)

    async def _lookup(self, command: Lookup) -> Event:
        try:
            async with asyncio.timeout(command.timeout_s):
                async with self.lookup_client.post(
                    command.url, json=dict(command.payload)
                ) as reply:
                    status = reply.status
                    body = await reply.content.read(LOOKUP_MAX_BYTES + 1)
        except TimeoutError:
            return self._lookup_failed(command, "timeout")
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            return self._lookup_failed(command, f"connection failed: {type(exc).__name__}")
        if not 200 <= status < 300:
            log.warning("ivr lookup answered with an error", url=command.url, status=status)
            return LookupAnswered(at=self.clock.now(), status=status, data={})
        if len(body) > LOOKUP_MAX_BYTES:
            return self._lookup_failed(command, "answer too large")
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            return self._lookup_failed(command, "not JSON")
        if not isinstance(parsed, dict):
            return self._lookup_failed(command, "not a JSON object")
        data = {str(key): _as_text(value) for key, value in parsed.items()}
        log.info("ivr lookup answered", url=command.url, status=status, fields=sorted(data))
        return LookupAnswered(at=self.clock.now(), status=status, data=data)

    def _lookup_failed(self, command: Lookup, reason: str) -> LookupFailed:
        log.warning("ivr lookup failed", url=command.url, reason=reason)
        return LookupFailed(at=self.clock.now(), reason=reason)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))
