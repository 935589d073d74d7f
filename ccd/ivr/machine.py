"""The IVR state machine: one ``IvrSession`` per call, pure (no IO, no clock, no asyncio).

The runner feeds events (with their own ``at``) and executes the returned commands in order;
see ``ccd.ivr.protocol`` for the contract. The session keeps the ``Flow`` object it started
with, so a reload never changes a call already inside a flow.

Defined paths for the awkward cases:
- Several digits on a menu (the caller typed ahead of the prompts): the first digit decides,
  the rest are kept in the path but ignored.
- A prompt that fails at run time: the runner goes on as if it played (inside a Collect it
  still waits ``timeout_s`` for digits); the session answers ``[]``, remembers it and leaves
  it out of every later command of this call.
- The caller hangs up: finished at once, no more commands, outcome ``abandoned``.
- More than ``flow.max_steps`` node entries (a caller looping through menus): the call goes
  to the flow's default destination.
- A survey node: each question is one Collect of one digit; "1".."5" is the score, any
  other key or a timeout re-asks (invalid/timeout prompts first) until ``retries`` re-asks
  are spent, then the question is settled with no score. Every settled question is a
  ``SurveyAnswered`` command at once (a caller hanging up later keeps the earlier answers;
  the question being asked when they hang up is not settled). After the last question the
  thanks prompts play and the call goes to ``next``.
- Events that do not answer what the session waits for (late lookup answer, digits while a
  lookup runs, anything after the end): ignored, ``[]``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from ccd.domain import contract
from ccd.domain.cdr import IvrStep
from ccd.ivr.flows import (
    CollectNode,
    Flow,
    HangupNode,
    LanguageNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    ScheduleNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
    is_open,
)
from ccd.ivr.protocol import (
    CallerArrived,
    CallerHungUp,
    Collect,
    Command,
    DigitsEntered,
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

SURVEY_SCORES = frozenset("12345")


class Outcome(enum.StrEnum):
    QUEUED = "queued"
    TRANSFERRED = "transferred"
    VOICEMAIL = "voicemail"
    HUNG_UP = "hung-up"  # a hangup node
    ABANDONED = "abandoned"  # the caller hung up inside the IVR


class IvrSession:
    """``session = IvrSession(); commands = session.start(flow, arrived)``, then
    ``session.handle(event)`` for each event until ``session.finished``."""

    def __init__(self) -> None:
        self._flow: Flow | None = None
        self.finished = False
        self.outcome: Outcome | None = None
        self.language = ""
        self.variables: dict[str, str] = {}
        self._path: list[IvrStep] = []
        self._node_id = ""
        self._steps = 0
        self._attempt = 0  # failed entries so far at the current menu/collect node
        self._question = 0  # the survey question being asked at a survey node
        self._awaiting: Collect | Lookup | None = None
        self._failed_prompts: set[str] = set()

    def start(self, flow: Flow, event: CallerArrived) -> list[Command]:
        """Enter ``flow`` for the caller of ``event``; the session keeps this Flow object."""
        if self._flow is not None:
            return []
        self._flow = flow
        self.language = event.language if event.language in flow.languages else flow.languages[0]
        self.variables = {
            **event.variables,
            "caller_num": event.caller_num,
            "caller_name": event.caller_name,
            "did": event.did,
            "language": self.language,
        }
        commands: list[Command] = []
        if event.language != self.language:
            commands.append(SetLanguage(self.language))
        return commands + self._enter(flow.entry, event.at)

    @property
    def flow(self) -> Flow:
        if self._flow is None:
            raise RuntimeError("IvrSession.start() was not called")
        return self._flow

    @property
    def path(self) -> tuple[IvrStep, ...]:
        return tuple(self._path)

    @property
    def node_id(self) -> str:
        return self._node_id

    def handle(self, event: Event) -> list[Command]:
        if self.finished or self._flow is None:
            return []
        match event:
            case CallerHungUp():
                self._finish(Outcome.ABANDONED)
                self._awaiting = None
                return []
            case PromptFailed():
                return self._prompt_failed(event)
            case DigitsEntered() if isinstance(self._awaiting, Collect):
                self._awaiting = None
                self._note(digits=event.digits)
                return self._digits(event.digits, event.at)
            case LookupAnswered() if isinstance(self._awaiting, Lookup):
                self._awaiting = None
                return self._lookup_answered(event)
            case LookupFailed() if isinstance(self._awaiting, Lookup):
                self._awaiting = None
                node = self.flow.nodes[self._node_id]
                fallback = node.fallback if isinstance(node, LookupNode) else None
                return self._enter(fallback or self.flow.default_destination, event.at)
            case _:
                return []

    # --- moving through the graph ------------------------------------------------------

    def _enter(self, node_id: str, at: datetime) -> list[Command]:
        """Enter ``node_id`` and run automatic nodes until one waits or ends the call."""
        commands: list[Command] = []
        while True:
            self._steps += 1
            if self._steps > self.flow.max_steps and node_id != self.flow.default_destination:
                node_id = self.flow.default_destination
            self._node_id = node_id
            self._attempt = 0
            self._question = 0
            self._path.append(IvrStep(node=node_id, entered_at=at))
            node = self.flow.nodes[node_id]
            next_id = self._run(node, at, commands)
            if next_id is None:
                return commands
            node_id = next_id

    def _run(self, node: Node, at: datetime, commands: list[Command]) -> str | None:
        """Emit the node's commands; return the next node for automatic nodes, else None."""
        match node:
            case PlayNode():
                commands.extend(self._play(node.prompts))
                return node.next
            case ScheduleNode():
                return node.open if is_open(node, at) else node.closed
            case LanguageNode() if node.language is not None:
                self._set_language(node.language, commands)
                return node.next
            case LanguageNode():
                commands.append(self._collect(node.prompts, 1, node.timeout_s, ""))
            case MenuNode():
                commands.append(self._collect(node.prompts, 1, node.timeout_s, ""))
            case CollectNode():
                commands.append(
                    self._collect(node.prompts, node.max_len, node.timeout_s, node.terminator)
                )
            case SurveyNode():
                commands.append(self._ask(node, ()))
            case LookupNode():
                payload = {name: self.variables.get(name, "") for name in node.send}
                lookup = Lookup(url=node.url, payload=payload, timeout_s=node.timeout_s)
                self._awaiting = lookup
                commands.append(lookup)
            case QueueNode():
                skills = contract.SKILLS_SEPARATOR.join(node.skills)
                commands.append(
                    SetVariables(
                        {
                            "CCD_QUEUE": node.queue,
                            "CCD_PRIORITY": str(node.priority),
                            "CCD_SKILLS": skills,
                        }
                    )
                )
                commands.append(Transfer(self.flow.queue_context, self.flow.queue_exten))
                self._finish(Outcome.QUEUED)
            case TransferNode():
                if node.number is not None:
                    commands.append(Transfer(self.flow.external_context, node.number))
                else:
                    # validation guarantees both; "" would only reach the dialplan's i exten
                    commands.append(Transfer(node.context or "", node.exten or ""))
                self._finish(Outcome.TRANSFERRED)
            case VoicemailNode():
                commands.append(Voicemail(node.mailbox))
                self._finish(Outcome.VOICEMAIL)
            case HangupNode():
                commands.extend(self._play(node.prompts))
                commands.append(Hangup(node.cause))
                self._finish(Outcome.HUNG_UP)
        return None

    def _digits(self, digits: str, at: datetime) -> list[Command]:
        node = self.flow.nodes[self._node_id]
        match node:
            case MenuNode():
                # First digit decides: digits typed ahead of the prompts must not pick an
                # option the caller never heard.
                key = digits[:1]
                if key in node.options:
                    return self._enter(node.options[key], at)
                retry = node.timeout_prompts if key == "" else node.invalid_prompts
                return self._retry(node, retry, node.after_retries, at)
            case CollectNode():
                value = digits.rstrip(node.terminator) if node.terminator else digits
                if _valid_entry(node, value):
                    self.variables[node.variable] = value
                    self._note(variables={node.variable: value})
                    return [SetVariables({node.variable: value}), *self._enter(node.next, at)]
                return self._retry(node, node.invalid_prompts, node.on_invalid, at)
            case SurveyNode():
                return self._survey_digits(node, digits[:1], at)
            case LanguageNode():
                commands: list[Command] = []
                chosen = node.options.get(digits[:1])
                if chosen is not None:
                    self._set_language(chosen, commands)
                return commands + self._enter(node.next, at)
            case _:
                return []

    def _retry(
        self,
        node: MenuNode | CollectNode,
        retry_prompts: tuple[str, ...],
        give_up_target: str | None,
        at: datetime,
    ) -> list[Command]:
        self._attempt += 1
        if self._attempt > node.retries:
            target = give_up_target or self.flow.default_destination
            return [*self._play(retry_prompts), *self._enter(target, at)]
        prompts = retry_prompts + node.prompts
        if isinstance(node, MenuNode):
            return [self._collect(prompts, 1, node.timeout_s, "")]
        return [self._collect(prompts, node.max_len, node.timeout_s, node.terminator)]

    def _survey_digits(self, node: SurveyNode, key: str, at: datetime) -> list[Command]:
        question = node.questions[self._question].key
        if key in SURVEY_SCORES:
            settled = SurveyAnswered(question, int(key), at)
        elif self._attempt < node.retries:
            self._attempt += 1
            retry = node.timeout_prompts if key == "" else node.invalid_prompts
            return [self._ask(node, retry)]
        else:
            settled = SurveyAnswered(question, None, at)
        self._question += 1
        self._attempt = 0
        if self._question < len(node.questions):
            return [settled, self._ask(node, ())]
        return [settled, *self._play(node.thanks_prompts), *self._enter(node.next, at)]

    def _ask(self, node: SurveyNode, before: tuple[str, ...]) -> Collect:
        prompts = before + node.questions[self._question].prompts
        return self._collect(prompts, 1, node.timeout_s, "")

    def _lookup_answered(self, event: LookupAnswered) -> list[Command]:
        node = self.flow.nodes[self._node_id]
        if not isinstance(node, LookupNode):
            return self._enter(self.flow.default_destination, event.at)
        if not 200 <= event.status < 300:
            return self._enter(node.fallback, event.at)
        assigned = {
            variable: str(event.data[response_field])
            for response_field, variable in node.assign.items()
            if response_field in event.data
        }
        commands: list[Command] = []
        if assigned:
            self.variables.update(assigned)
            self._note(variables=assigned)
            commands.append(SetVariables(assigned))
        target = node.next
        if node.branch_on is not None:
            target = node.branches.get(str(event.data.get(node.branch_on, "")), node.next)
        return commands + self._enter(target, event.at)

    def _prompt_failed(self, event: PromptFailed) -> list[Command]:
        # The runner already went on as if it played (see protocol); just never ask for it
        # again in this call, so a missing file costs the caller one gap, not one per retry.
        self._failed_prompts.add(event.prompt)
        return []

    # --- helpers -----------------------------------------------------------------------

    def _resolve(self, prompts: tuple[str, ...]) -> tuple[str, ...]:
        if self.flow.prompt_dir is not None:
            base = self.flow.prompt_dir.rstrip("/")
            prompts = tuple(f"{base}/{self.language}/{prompt}" for prompt in prompts)
        return tuple(prompt for prompt in prompts if prompt not in self._failed_prompts)

    def _play(self, prompts: tuple[str, ...]) -> list[Command]:
        resolved = self._resolve(prompts)
        return [Play(resolved, self.language)] if resolved else []

    def _collect(
        self, prompts: tuple[str, ...], max_digits: int, timeout_s: float, terminator: str
    ) -> Collect:
        collect = Collect(self._resolve(prompts), self.language, max_digits, timeout_s, terminator)
        self._awaiting = collect
        return collect

    def _set_language(self, language: str, commands: list[Command]) -> None:
        self.language = language
        self.variables["language"] = language
        self._note(variables={"language": language})
        commands.append(SetLanguage(language))

    def _note(
        self, *, digits: str | None = None, variables: Mapping[str, str] | None = None
    ) -> None:
        """Record digits (attempts separated by ",") and variables on the current step."""
        step = self._path[-1]
        if digits is not None:
            step = replace(
                step, digits=f"{step.digits},{digits}" if self._attempt or step.digits else digits
            )
        if variables:
            step = replace(step, variables={**step.variables, **variables})
        self._path[-1] = step

    def _finish(self, outcome: Outcome) -> None:
        self.finished = True
        self.outcome = outcome


def _valid_entry(node: CollectNode, value: str) -> bool:
    if not node.min_len <= len(value) <= node.max_len:
        return False
    return node.pattern is None or re.fullmatch(node.pattern, value) is not None
