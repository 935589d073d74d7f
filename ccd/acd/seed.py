"""ACD configuration as data: validated specs for agents, queues and pause reasons, the
``AcdConfig`` the store loads, and the seed file (``ccd seed FILE``) parser.

Pure: no IO beyond ``load_seed`` reading the one file. The pydantic specs are shared with
the REST API, so a queue refused by ``ccd seed`` is refused by ``POST /api/v1/queues`` for
the same reason. Every problem in a seed file becomes one line naming the file, the table,
the entry (index and id) and the field.

Seed file format (TOML)::

    [[pause_reasons]]
    code = "lunch"            # [A-Za-z0-9_.-]{1,64}
    label = "Lunch"
    billable = false
    time_limit_s = 3600       # optional

    [[queues]]
    id = "sales"
    strategy = "longest_idle"
    max_wait_s = 120
    overflow_target = "voicemail:100@default"

    [[agents]]
    id = "1001"
    interface = "Local/1001@ccd-agents"
    skills = { sales = 5 }
    queues = ["sales"]        # joined at login; omitted: memberships left as they are
    server = "paris"          # [[asterisk]] name of its device's server; omitted: the first
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from ccd.acd.engine import NO_ANSWER_REASON
from ccd.acd.model import Agent, PauseReason, Queue, Strategy
from ccd.acd.targets import TARGET_PATTERN, parse_target, queue_of
from ccd.domain.servers import SERVER_NAME_PATTERN
from ccd.errors import ConfigError

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
# A channel technology, a slash, then a resource with nothing Asterisk would read as a
# separator (",", "|", "&"), whitespace or control characters: "PJSIP/1001", "Local/1001@ctx".
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,31}/[^\s,|&\x00-\x1f\x7f]{1,160}$")


def _check_target(text: str) -> str:
    parse_target(text)
    return text


def _check_interface(text: str) -> str:
    if not _INTERFACE.match(text):
        raise ValueError(
            "must be <technology>/<resource> such as PJSIP/1001 or Local/1001@ccd-agents "
            "(no spaces, commas, pipes, & or control characters)"
        )
    return text


def _check_label(text: str) -> str:
    if not text.isprintable():
        raise ValueError("must be printable text (no control characters)")
    return text


Id = Annotated[str, Field(pattern=ID_PATTERN)]
SkillName = Annotated[str, Field(pattern=ID_PATTERN)]
SkillLevel = Annotated[StrictInt, Field(ge=1, le=10)]
Skills = dict[SkillName, SkillLevel]
Label = Annotated[str, Field(max_length=200), AfterValidator(_check_label)]
# The patterns are also the JSON Schema's (OpenAPI document), so a client or a fuzzer
# sees the format; the validators stay the check (their messages name the problem).
Interface = Annotated[
    str,
    Field(max_length=200, json_schema_extra={"pattern": _INTERFACE.pattern}),
    AfterValidator(_check_interface),
]
TargetText = Annotated[
    str,
    Field(max_length=200, json_schema_extra={"pattern": TARGET_PATTERN}),
    AfterValidator(_check_target),
]
# An IVR flow's id (ccd.ivr.flows.Flow.id), as acd_queues.survey_flow stores it.
FlowId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
PositiveSeconds = Annotated[StrictFloat, Field(gt=0, le=86_400, allow_inf_nan=False)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SpecT = TypeVar("SpecT", bound=_Spec)


class AgentFields(_Spec):
    name: Label = ""
    interface: Interface
    skills: Skills = Field(default_factory=dict)
    # The engine gives an agent one call at a time.
    max_calls: Annotated[StrictInt, Field(ge=1, le=1)] = 1
    # Queues joined at login; None: leave the stored memberships as they are.
    queues: tuple[Id, ...] | None = None
    # The [[asterisk]] server the agent's device is on (a name's format only: whether it
    # is configured is checked where the configuration is known); None: the first one.
    server: Annotated[str, Field(pattern=SERVER_NAME_PATTERN)] | None = None

    def to_agent(self, agent_id: str) -> Agent:
        return Agent(
            id=agent_id,
            interface=self.interface,
            skills=dict(self.skills),
            name=self.name,
            max_calls=self.max_calls,
            server=self.server,
        )


class AgentSpec(AgentFields):
    id: Id


class QueueFields(_Spec):
    name: Label = ""
    strategy: Strategy = Strategy.LONGEST_IDLE
    required_skills: Skills = Field(default_factory=dict)
    ring_timeout_s: Annotated[StrictFloat, Field(gt=0, le=600, allow_inf_nan=False)] = 15.0
    wrapup_s: Annotated[StrictFloat, Field(ge=0, le=3600, allow_inf_nan=False)] = 0.0
    max_wait_s: PositiveSeconds | None = None
    max_len: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    overflow_target: TargetText | None = None
    no_agents_target: TargetText | None = None
    service_level_s: Annotated[StrictFloat, Field(gt=0, le=3600, allow_inf_nan=False)] = 20.0
    max_no_answer: Annotated[StrictInt, Field(ge=0, le=100)] = 3
    escalate_after_s: PositiveSeconds | None = None
    escalated_skills: Skills = Field(default_factory=dict)
    escalate_to_queue: Id | None = None
    announce_position: StrictBool = False
    announce_hold_time: StrictBool = False
    announce_every_s: Annotated[StrictFloat, Field(ge=5, le=3600, allow_inf_nan=False)] = 30.0
    callback_key: Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"] | None = None
    survey_flow: FlowId | None = None

    def to_queue(self, queue_id: str) -> Queue:
        return Queue(
            id=queue_id,
            name=self.name,
            strategy=self.strategy,
            required_skills=dict(self.required_skills),
            ring_timeout_s=self.ring_timeout_s,
            wrapup_s=self.wrapup_s,
            max_wait_s=self.max_wait_s,
            max_len=self.max_len,
            overflow_target=self.overflow_target,
            no_agents_target=self.no_agents_target,
            service_level_s=self.service_level_s,
            max_no_answer=self.max_no_answer,
            escalate_after_s=self.escalate_after_s,
            escalated_skills=dict(self.escalated_skills),
            escalate_to_queue=self.escalate_to_queue,
            announce_position=self.announce_position,
            announce_hold_time=self.announce_hold_time,
            announce_every_s=self.announce_every_s,
            callback_key=self.callback_key,
            survey_flow=self.survey_flow,
        )


class QueueSpec(QueueFields):
    id: Id


class PauseReasonFields(_Spec):
    label: Label = ""
    billable: StrictBool = False
    time_limit_s: PositiveSeconds | None = None

    def to_pause_reason(self, code: str) -> PauseReason:
        return PauseReason(
            code=code, label=self.label, billable=self.billable, time_limit_s=self.time_limit_s
        )


class PauseReasonSpec(PauseReasonFields):
    code: Id


def queue_references(queue: Queue) -> dict[str, str | None]:
    """The queue each of ``queue``'s destination fields sends callers to (None: none)."""
    return {
        "overflow_target": queue_of(queue.overflow_target),
        "no_agents_target": queue_of(queue.no_agents_target),
        "escalate_to_queue": queue.escalate_to_queue,
    }


def queue_problems(queue: Queue, known_queues: Collection[str]) -> list[tuple[str, str]]:
    """(field, message) for what pydantic cannot check field by field: escalation settings
    that only make sense together, and references to queues that do not exist.
    ``known_queues`` are the queue ids that will exist (this one included)."""
    problems: list[tuple[str, str]] = []
    escalates = bool(queue.escalated_skills) or queue.escalate_to_queue is not None
    if queue.escalate_after_s is not None and not escalates:
        problems.append(
            ("escalate_after_s", "set escalated_skills or escalate_to_queue to say what happens")
        )
    if escalates and queue.escalate_after_s is None:
        field_name = "escalate_to_queue" if queue.escalate_to_queue else "escalated_skills"
        problems.append((field_name, "needs escalate_after_s (when the escalation happens)"))
    for field_name, target in queue_references(queue).items():
        if target is None:
            continue
        if target == queue.id:
            problems.append((field_name, f"queue {queue.id!r} cannot send callers to itself"))
        elif target not in known_queues:
            problems.append((field_name, f"unknown queue {target!r}"))
    return problems


@dataclass(frozen=True, slots=True)
class AcdConfig:
    """The whole ACD configuration, as stored (``AcdStore.load``) or as seeded."""

    agents: Mapping[str, Agent] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    pause_reasons: Mapping[str, PauseReason] = field(default_factory=dict)
    # agent id -> queues joined at login. In a seed: only agents whose entry lists queues.
    memberships: Mapping[str, frozenset[str]] = field(default_factory=dict)


def load_seed(
    path: Path,
    *,
    known_queues: Collection[str] = (),
    known_pause_reasons: Collection[str] = (),
    known_servers: Collection[str] | None = None,
) -> AcdConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read: {error}"]) from error
    return parse_seed(
        text,
        str(path),
        known_queues=known_queues,
        known_pause_reasons=known_pause_reasons,
        known_servers=known_servers,
    )


_TABLES = ("pause_reasons", "queues", "agents")


def parse_seed(
    text: str,
    file_name: str,
    *,
    known_queues: Collection[str] = (),
    known_pause_reasons: Collection[str] = (),
    known_servers: Collection[str] | None = None,
) -> AcdConfig:
    """Validate a seed file's text. ``known_*`` are ids already in the database, which the
    file may refer to without defining them; ``known_servers`` the configured Asterisk
    servers an agent's ``server`` may name (None: not checked). Raises ConfigError
    listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{file_name}: not valid TOML: {error}"]) from None
    problems: list[str] = []
    for key in raw:
        if key not in _TABLES:
            problems.append(f"{file_name}: unknown table {key!r} (expected {', '.join(_TABLES)})")
    reasons = _parse_table(raw, "pause_reasons", "code", PauseReasonSpec, file_name, problems)
    queues = _parse_table(raw, "queues", "id", QueueSpec, file_name, problems)
    # Ids of invalid queue entries count as defined: their own problems are reported, and
    # "unknown queue" for each reference to them would only bury those.
    queue_entries = raw.get("queues", [])
    declared_queues = {
        entry["id"]
        for entry in (queue_entries if isinstance(queue_entries, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("id"), str)
    }
    agents = _parse_table(raw, "agents", "id", AgentSpec, file_name, problems)

    config_reasons = {spec.code: spec.to_pause_reason(spec.code) for _, spec in reasons}
    config_queues = {spec.id: spec.to_queue(spec.id) for _, spec in queues}
    config_agents = {spec.id: spec.to_agent(spec.id) for _, spec in agents}
    all_queues = set(known_queues) | set(config_queues) | declared_queues
    for index, queue_spec in queues:
        queue = config_queues[queue_spec.id]
        for field_name, message in queue_problems(queue, all_queues):
            problems.append(_where(file_name, "queues", index, queue.id, field_name, message))
    memberships: dict[str, frozenset[str]] = {}
    for index, spec in agents:
        server = spec.server
        if known_servers is not None and server is not None and server not in known_servers:
            message = (
                f"no Asterisk server named {server!r} (configured: {', '.join(known_servers)})"
            )
            problems.append(_where(file_name, "agents", index, spec.id, "server", message))
        if spec.queues is None:
            continue
        for position, queue_id in enumerate(spec.queues):
            if queue_id not in all_queues:
                problems.append(
                    _where(
                        file_name,
                        "agents",
                        index,
                        spec.id,
                        f"queues.{position}",
                        f"unknown queue {queue_id!r}",
                    )
                )
        memberships[spec.id] = frozenset(spec.queues)
    if NO_ANSWER_REASON not in config_reasons and NO_ANSWER_REASON not in known_pause_reasons:
        problems.append(
            f"{file_name}: pause_reasons: a pause reason with code {NO_ANSWER_REASON!r} is "
            "required (agents who miss max_no_answer rings in a row are paused with it)"
        )
    if problems:
        raise ConfigError(problems)
    return AcdConfig(
        agents=config_agents,
        queues=config_queues,
        pause_reasons=config_reasons,
        memberships=memberships,
    )


def _where(file_name: str, table: str, index: int, key: object, field_name: str, msg: str) -> str:
    label = f" {key!r}" if isinstance(key, str) else ""
    return f"{file_name}: {table}[{index}]{label}: field {field_name!r}: {msg}"


def _parse_table(
    raw: Mapping[str, Any],
    table: str,
    key: str,
    model: type[SpecT],
    file_name: str,
    problems: list[str],
) -> list[tuple[int, SpecT]]:
    """(index, spec) of each valid entry of ``[[table]]``; problems for the rest, and for
    ids defined twice."""
    entries = raw.get(table, [])
    if not isinstance(entries, list):
        problems.append(f"{file_name}: {table}: must be an array of tables ([[{table}]])")
        return []
    parsed: list[tuple[int, SpecT]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{file_name}: {table}[{index}]: must be a table")
            continue
        entry_key = entry.get(key)
        try:
            spec = model.model_validate(entry)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                field_name = ".".join(str(part) for part in item["loc"]) or key
                # "Value error, " is pydantic's prefix for our own validators' messages.
                message = item["msg"].removeprefix("Value error, ")
                problems.append(_where(file_name, table, index, entry_key, field_name, message))
            continue
        spec_key = str(getattr(spec, key))
        if spec_key in seen:
            problems.append(
                _where(
                    file_name,
                    table,
                    index,
                    spec_key,
                    key,
                    f"already defined by {table}[{seen[spec_key]}]",
                )
            )
            continue
        seen[spec_key] = index
        parsed.append((index, spec))
    return parsed
