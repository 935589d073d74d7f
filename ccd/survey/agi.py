"""The post-call survey's FastAGI session (script ``survey``, from ``ccd-survey``).

The caller's channel arrives here after the agent hung up (the ACD bridges with
``F(ccd-queue-after^s^1)``, and ``ccd-queue-after`` goes to ``ccd-survey``). The call's
queue and agent come from ``ServedCalls`` (the ACD's connect, by linkedid), the queue
from the AGI argument (the caller's ``CCD_QUEUE``) when ccd restarted since. The queue's
``survey_flow`` names the flow to run; none (or an unknown flow) ends the AGI at once and
the dialplan hangs up. The flow runs in the ordinary IVR runner; each ``SurveyAnswered``
becomes a ``SurveyAnswer`` handed to the writer at once, so answers given before the
caller hangs up are kept.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import structlog

from ccd.agi.channel import AgiChannel, AgiError
from ccd.agi.runner import run_ivr
from ccd.agi.server import AgiHandler
from ccd.clock import Clock
from ccd.domain import contract
from ccd.ivr.flows import Flow, FlowSet
from ccd.ivr.protocol import SurveyAnswered
from ccd.survey.model import ServedCalls, SurveyAnswer
from ccd.survey.writer import AnswerWriter

log = structlog.get_logger("ccd.survey")

SurveyFlowFor = Callable[[str], str | None]
"""Queue id → the id of the flow holding its post-call survey (None: no survey)."""


class PostCallSurvey:
    def __init__(
        self,
        *,
        flows: Callable[[], FlowSet],
        survey_flow_for: SurveyFlowFor,
        writer: AnswerWriter,
        clock: Clock,
        served: ServedCalls | None = None,
    ) -> None:
        self._flows = flows
        self._survey_flow_for = survey_flow_for
        self._writer = writer
        self._clock = clock
        self.served = served or ServedCalls()
        self.surveys_started = 0

    def handle(self, event: object) -> None:
        """Bus subscriber: remembers who served each call."""
        self.served.handle(event)

    def agi_handler(self, lookups: aiohttp.ClientSession) -> AgiHandler:
        async def handle(channel: AgiChannel) -> None:
            if channel.network_script != contract.AGI_SCRIPT_SURVEY:
                log.warning("agi script unknown, ending", script=channel.network_script)
                return
            await self.run(channel, lookups)

        return handle

    async def run(self, channel: AgiChannel, lookups: aiohttp.ClientSession) -> None:
        queue_arg = channel.args[0] if channel.args else ""
        try:
            linkedid = await channel.get_variable("CHANNEL(linkedid)") or channel.uniqueid
        except AgiError as exc:
            log.info("survey caller gone before it started", reason=str(exc))
            return
        served = self.served.served(linkedid)
        queue = served.queue if served is not None else (queue_arg or None)
        agent_id = served.agent_id if served is not None else None
        with structlog.contextvars.bound_contextvars(
            linkedid=linkedid, queue=queue, agent=agent_id
        ):
            flow = self._flow(queue)
            if flow is None:
                return
            self.surveys_started += 1
            log.info("survey started", survey_flow=flow.id)

            def keep(answered: SurveyAnswered) -> None:
                self._writer.put(
                    SurveyAnswer(
                        linkedid=linkedid,
                        queue=queue,
                        agent_id=agent_id,
                        campaign_id=None,
                        question=answered.question,
                        score=answered.score,
                        answered_at=answered.at,
                    )
                )

            await run_ivr(channel, lambda _name, _did: flow, lookups, self._clock, on_answer=keep)

    def _flow(self, queue: str | None) -> Flow | None:
        flow_id = self._survey_flow_for(queue) if queue else None
        if flow_id is None:
            log.info("no post-call survey for this queue")
            return None
        flow = self._flows().flows.get(flow_id)
        if flow is None:
            log.warning("post-call survey flow not loaded, no survey", survey_flow=flow_id)
        return flow
