"""IVR flows: pydantic models, loading from ``config/ivr/*.toml`` and whole-graph validation.

One flow per file; the file's ``id`` key names the flow. ``load_flows`` reads a directory,
``parse_flows`` validates already-read texts, so tests need no files. Prompt files are checked
through an injected ``PromptLister`` (directory → file names in it) only when a flow has a
``prompt_dir``. Every problem becomes one line of a ``ConfigError`` naming the file, flow,
node and field.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ccd.errors import ConfigError

PromptLister = Callable[[str], Iterable[str]]
"""Given a directory path, the names of the files in it (empty when it does not exist)."""

# Asterisk picks the best format it has a translator for; any of these counts as present.
SOUND_EXTENSIONS = frozenset(
    {"wav", "WAV", "wav16", "gsm", "ulaw", "alaw", "sln", "sln16", "sln48", "g722", "g729", "mp3"}
)
DTMF_KEYS = frozenset("0123456789*#")
_SAFE_DIALPLAN = re.compile(r"^[A-Za-z0-9_+*#.\-]+$")  # contexts, extensions, numbers
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")  # queue names, variables, languages
_PROMPT_NAME = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")  # "digits/1", no ".."
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_SPEC = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<ranges>[0-9:,\-\s]+?)\s*$")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Prompts = tuple[str, ...]


class MenuNode(_Model):
    kind: Literal["menu"]
    prompts: Prompts = Field(min_length=1)
    options: dict[str, str] = Field(min_length=1)  # digit -> target node
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)  # re-offers after an invalid entry or timeout
    invalid_prompts: Prompts = ("invalid",)
    timeout_prompts: Prompts = ("please-try-again",)
    after_retries: str | None = None  # None: the flow's default destination


class PlayNode(_Model):
    kind: Literal["play"]
    prompts: Prompts = Field(min_length=1)
    next: str


class CollectNode(_Model):
    kind: Literal["collect"]
    prompts: Prompts = Field(min_length=1)
    variable: str
    min_len: int = Field(default=1, ge=1, le=64)
    max_len: int = Field(default=16, ge=1, le=64)
    pattern: str | None = None  # full match; e.g. "[0-9]{6}"
    terminator: Literal["", "#", "*"] = "#"
    timeout_s: float = Field(default=8.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)
    invalid_prompts: Prompts = ("invalid",)
    next: str
    on_invalid: str | None = None  # after the last retry; None: default destination


class ScheduleNode(_Model):
    kind: Literal["schedule"]
    timezone: str
    hours: tuple[str, ...]  # "mon-fri 08:00-18:00", "sat 09:00-12:00,14:00-16:00"
    holidays: tuple[date, ...] = ()
    open: str
    closed: str


class LanguageNode(_Model):
    """Either ``language`` (fixed) or ``prompts`` + ``options`` (caller chooses). An invalid
    choice or a timeout keeps the current language and goes on to ``next``."""

    kind: Literal["language"]
    language: str | None = None
    prompts: Prompts = ()
    options: dict[str, str] = Field(default_factory=dict)  # digit -> language
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    next: str


class LookupNode(_Model):
    kind: Literal["lookup"]
    url: str = Field(pattern=r"^https?://\S+$")
    timeout_s: float = Field(default=3.0, gt=0, le=30)
    send: tuple[str, ...] = ("caller_num", "did")  # variables posted as JSON
    assign: dict[str, str] = Field(default_factory=dict)  # response field -> variable
    branch_on: str | None = None  # response field whose value chooses the branch
    branches: dict[str, str] = Field(default_factory=dict)  # value -> target node
    next: str  # answered, no branch matched
    fallback: str  # timeout, error, non-2xx


class QueueNode(_Model):
    kind: Literal["queue"]
    queue: str
    priority: int = Field(default=0, ge=0, le=100)
    skills: tuple[str, ...] = ()


class TransferNode(_Model):
    """``exten`` in ``context``, or an external ``number`` dialled through the flow's
    ``external_context``."""

    kind: Literal["transfer"]
    context: str | None = None
    exten: str | None = None
    number: str | None = None


class VoicemailNode(_Model):
    kind: Literal["voicemail"]
    mailbox: str


class SurveyQuestion(_Model):
    key: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")  # survey_responses.question
    prompts: Prompts = Field(min_length=1)


class SurveyNode(_Model):
    """A post-call survey: each question in turn, answered with one DTMF key 1..5. An other
    key or silence re-asks (``invalid_prompts`` / ``timeout_prompts`` first) up to
    ``retries`` times, then the question counts as not answered and the next one comes.
    Each answer is reported as soon as it is given; ``thanks_prompts`` play after the last
    question, then the call goes to ``next``."""

    kind: Literal["survey"]
    # At least one (checked in validate_flow: a pydantic min_length would add a second,
    # misleading "too short" error whenever one question is invalid).
    questions: tuple[SurveyQuestion, ...] = Field(max_length=10)
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)
    invalid_prompts: Prompts = ("invalid",)
    timeout_prompts: Prompts = ("please-try-again",)
    thanks_prompts: Prompts = ("auth-thankyou",)
    next: str


class HangupNode(_Model):
    kind: Literal["hangup"]
    prompts: Prompts = ()  # played before hanging up, e.g. "vm-goodbye"
    cause: int = Field(default=16, ge=1, le=127)


Node = Annotated[
    MenuNode
    | PlayNode
    | CollectNode
    | ScheduleNode
    | LanguageNode
    | LookupNode
    | QueueNode
    | TransferNode
    | VoicemailNode
    | SurveyNode
    | HangupNode,
    Field(discriminator="kind"),
]
TERMINAL_KINDS = frozenset({"queue", "transfer", "voicemail", "hangup"})


class Flow(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    entry: str
    default_destination: str  # a queue/transfer/voicemail/hangup node: where unroutable calls go
    dids: tuple[str, ...] = ()
    default: bool = False  # the flow for DIDs no flow lists
    languages: tuple[str, ...] = Field(default=("en",), min_length=1)  # first = default
    prompt_dir: str | None = None  # prompts are <prompt_dir>/<language>/<name>
    queue_context: str = "ccd-queue-wait"
    queue_exten: str = "s"
    external_context: str = "ccd-external"
    max_steps: int = Field(default=100, ge=2, le=10_000)  # node entries per call
    nodes: dict[str, Node] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class HoursRule:
    weekdays: frozenset[int]  # 0 = Monday
    start_min: int
    end_min: int  # exclusive; 1440 = midnight


def parse_hours(spec: str) -> tuple[HoursRule, ...]:
    """``"mon-fri 08:00-12:00,13:00-18:00"`` → rules; raises ValueError with the reason.
    Day lists may mix names and ranges (``"mon,wed,fri-sun"``); a range may wrap the week.
    Times are HH:MM, end after start (24:00 allowed), no overnight ranges."""
    match = _HOURS_SPEC.match(spec.lower())
    if match is None:
        raise ValueError(f"{spec!r} is not '<days> HH:MM-HH:MM[,HH:MM-HH:MM]'")
    days: set[int] = set()
    for part in match["days"].split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(end not in _DAYS for end in ends):
            raise ValueError(f"{spec!r}: bad day {part!r} (use mon..sun, ranges like mon-fri)")
        first, last = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
        days.update((first + offset) % 7 for offset in range((last - first) % 7 + 1))
    rules = []
    for text in match["ranges"].replace(" ", "").split(","):
        found = _RANGE.match(text)
        if found is None:
            raise ValueError(f"{spec!r}: bad time range {text!r} (use HH:MM-HH:MM)")
        h1, m1, h2, m2 = (int(group) for group in found.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise ValueError(f"{spec!r}: {text!r} is not a time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise ValueError(f"{spec!r}: {text!r} ends before it starts (split overnight)")
        rules.append(HoursRule(frozenset(days), start, end))
    return tuple(rules)


def is_open(node: ScheduleNode, at: datetime) -> bool:
    """Whether ``at`` (aware; naive means UTC) falls in the node's business hours."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo("UTC"))
    local = at.astimezone(ZoneInfo(node.timezone))
    if local.date() in node.holidays:
        return False
    minute = local.hour * 60 + local.minute
    return any(
        local.weekday() in rule.weekdays and rule.start_min <= minute < rule.end_min
        for spec in node.hours
        for rule in parse_hours(spec)
    )


def node_targets(node: Node) -> dict[str, str]:
    """Field label → target node id, for every edge leaving ``node``."""
    match node:
        case MenuNode():
            edges = {f"options.{digit}": target for digit, target in node.options.items()}
            if node.after_retries is not None:
                edges["after_retries"] = node.after_retries
            return edges
        case PlayNode() | LanguageNode() | SurveyNode():
            return {"next": node.next}
        case CollectNode():
            edges = {"next": node.next}
            if node.on_invalid is not None:
                edges["on_invalid"] = node.on_invalid
            return edges
        case ScheduleNode():
            return {"open": node.open, "closed": node.closed}
        case LookupNode():
            edges = {f"branches.{value}": target for value, target in node.branches.items()}
            return edges | {"next": node.next, "fallback": node.fallback}
        case _:
            return {}


def waits_for_caller(node: Node) -> bool:
    return isinstance(node, MenuNode | CollectNode | SurveyNode) or (
        isinstance(node, LanguageNode) and bool(node.options)
    )


@dataclass(frozen=True, slots=True)
class FlowSet:
    """The validated flows, immutable: a reload builds a new FlowSet and calls in progress
    keep the Flow they started with."""

    flows: Mapping[str, Flow]
    sources: Mapping[str, str]  # flow id -> file it came from
    default_flow: str
    by_did: Mapping[str, str] = field(default_factory=dict)  # DID -> flow id

    def for_did(self, did: str) -> Flow | None:
        """The flow a call to ``did`` enters; unlisted DIDs get the default flow (None when
        no flows are loaded: the dialplan then sends the call to its default destination)."""
        return self.flows.get(self.by_did.get(did, self.default_flow))


NO_FLOWS = FlowSet(flows={}, sources={}, default_flow="")


def list_directory(directory: str) -> Iterable[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return ()


def load_flows(
    directory: Path,
    *,
    list_prompts: PromptLister = list_directory,
    configured_in: str | None = None,
) -> FlowSet:
    """Read and validate every ``*.toml`` in ``directory``; ConfigError lists all problems.

    No such directory means no IVR (an empty FlowSet) only for the default directory: one
    the admin named (``configured_in``: the config file or ``environment CCD_…`` that set
    ``ivr.flows_dir``) must exist, since a typo there would silently turn the IVR off."""
    if not directory.exists():
        if configured_in is None:
            return NO_FLOWS
        raise ConfigError([f"{configured_in}: ivr.flows_dir: no such directory {directory}"])
    try:
        files = sorted(directory.glob("*.toml"))
    except OSError as error:
        raise ConfigError([f"{directory}: cannot list IVR flows: {error}"]) from error
    texts: dict[str, str] = {}
    problems = []
    for path in files:
        try:
            texts[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{path}: cannot read: {error}")
    if not files:
        problems.append(f"{directory}: no IVR flow files (*.toml)")
    if problems:
        raise ConfigError(problems)
    return parse_flows(texts, list_prompts=list_prompts)


def parse_flows(
    texts: Mapping[str, str], *, list_prompts: PromptLister = list_directory
) -> FlowSet:
    """Validate flow files given as file name → TOML text. Pure apart from ``list_prompts``,
    which is asked once per prompt directory (the listing is shared by every prompt in it)."""
    listings: dict[str, tuple[str, ...]] = {}

    def listed(directory: str) -> tuple[str, ...]:
        if directory not in listings:
            listings[directory] = tuple(list_prompts(directory))
        return listings[directory]

    problems: list[str] = []
    flows: dict[str, Flow] = {}
    sources: dict[str, str] = {}
    for file_name, text in texts.items():
        flow = _parse_one(file_name, text, problems, listed)
        if flow is None:
            continue
        if flow.id in flows:
            problems.append(
                f"{file_name}: flow {flow.id!r}: field 'id': already defined in {sources[flow.id]}"
            )
            continue
        flows[flow.id] = flow
        sources[flow.id] = file_name
        problems.extend(validate_flow(flow, file_name, list_prompts=listed))
    by_did: dict[str, str] = {}
    for flow_id, flow in flows.items():
        for did in flow.dids:
            if did in by_did:
                problems.append(
                    f"{sources[flow_id]}: flow {flow_id!r}: field 'dids': DID {did!r} is "
                    f"already routed to flow {by_did[did]!r}"
                )
            else:
                by_did[did] = flow_id
    defaults = [flow_id for flow_id, flow in flows.items() if flow.default]
    if len(flows) == 1 and not defaults:
        defaults = list(flows)
    if flows and len(defaults) != 1:
        where = ", ".join(f"{sources[f]} (flow {f!r})" for f in defaults) or "no flow"
        problems.append(f"field 'default': exactly one flow must have default = true, got {where}")
    if not texts:
        problems.append("no IVR flows")
    if problems:
        raise ConfigError(problems)
    return FlowSet(flows=flows, sources=sources, default_flow=defaults[0], by_did=by_did)


def _parse_one(
    file_name: str, text: str, problems: list[str], list_prompts: PromptLister
) -> Flow | None:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{file_name}: not valid TOML: {error}")
        return None
    flow_label = f"flow {raw.get('id')!r}" if isinstance(raw.get("id"), str) else "flow ?"
    try:
        return Flow.model_validate(raw)
    except ValidationError as error:
        for item in error.errors():
            problems.append(
                f"{file_name}: {flow_label}: {_describe_loc(item['loc'])}: {item['msg']}"
            )
        # One bad node must not hide the rest of the file's problems until it is fixed.
        partial = _without_broken_nodes(raw, error)
        if partial is not None:
            flow, broken = partial
            problems.extend(
                validate_flow(flow, file_name, list_prompts=list_prompts, broken=broken)
            )
        return None


@dataclass(frozen=True, slots=True)
class BrokenNode:
    """A node pydantic rejected (already reported). What can be read from its raw table
    still takes part in the whole-flow checks: its edges (so its targets are checked and
    the nodes it leads to are not called unreachable) and its digits."""

    kind: str | None  # None: no known kind, so its edges are only used for reachability
    edges: dict[str, str]  # field label -> target node id, as node_targets
    digits: tuple[str, ...] = ()  # keys of a menu's or language choice's options


_SCALAR_EDGES = ("next", "after_retries", "on_invalid", "open", "closed", "fallback")
_MAPPED_EDGES = {"menu": "options", "lookup": "branches"}  # digit/value -> target node


def _without_broken_nodes(
    raw: dict[str, Any], error: ValidationError
) -> tuple[Flow, dict[str, BrokenNode]] | None:
    """The flow without the nodes that failed validation, and those nodes as BrokenNodes;
    None when a flow-level field is wrong (entry, languages, ...: the graph checks would
    rest on guesses)."""
    bad: set[str] = set()
    for item in error.errors():
        loc = item["loc"]
        if len(loc) < 2 or loc[0] != "nodes":
            return None
        bad.add(str(loc[1]))
    nodes: dict[str, Any] = raw["nodes"]
    try:
        flow = Flow.model_validate(
            {**raw, "nodes": {k: v for k, v in nodes.items() if k not in bad}}
        )
    except ValidationError:
        return None  # e.g. every node is broken
    return flow, {node_id: _broken_node(nodes[node_id]) for node_id in bad}


def _broken_node(raw: object) -> BrokenNode:
    if not isinstance(raw, dict):
        return BrokenNode(kind=None, edges={})
    kind = raw.get("kind") if raw.get("kind") in _NODE_KINDS else None
    # A known kind has only its own edge fields; for an unknown one every field that could
    # be an edge counts, so nothing behind it is reported unreachable.
    fields = _NODE_CLASSES[kind].model_fields if kind is not None else None
    edges = {
        name: raw[name]
        for name in _SCALAR_EDGES
        if isinstance(raw.get(name), str) and (fields is None or name in fields)
    }
    for mapped_kind, name in _MAPPED_EDGES.items():
        table = raw.get(name)
        if kind in (mapped_kind, None) and isinstance(table, dict):
            edges |= {
                f"{name}.{key}": target for key, target in table.items() if isinstance(target, str)
            }
    options = raw.get("options")
    digits = tuple(options) if kind in ("menu", "language") and isinstance(options, dict) else ()
    return BrokenNode(kind=kind, edges=edges, digits=digits)


def _describe_loc(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the union tag after the node id: ("nodes", "menu1", "menu", "options", "7")
    if len(loc) >= 2 and loc[0] == "nodes":
        rest = [str(part) for part in loc[2:]]
        if rest and rest[0] in _NODE_KINDS:
            rest = rest[1:]
        field_name = ".".join(rest) if rest else "kind"
        return f"node {loc[1]!r}: field {field_name!r}"
    return f"field {'.'.join(str(part) for part in loc) or '?'!r}"


_NODE_CLASSES: dict[str, type[BaseModel]] = {
    "menu": MenuNode,
    "play": PlayNode,
    "collect": CollectNode,
    "schedule": ScheduleNode,
    "language": LanguageNode,
    "lookup": LookupNode,
    "queue": QueueNode,
    "transfer": TransferNode,
    "voicemail": VoicemailNode,
    "survey": SurveyNode,
    "hangup": HangupNode,
}
_NODE_KINDS = frozenset(_NODE_CLASSES)


def validate_flow(
    flow: Flow,
    file_name: str,
    *,
    list_prompts: PromptLister,
    broken: Mapping[str, BrokenNode] | None = None,
) -> list[str]:
    """Graph and content checks pydantic cannot do field by field. ``broken``: nodes of the
    file that failed validation (left out of ``flow``), checked as far as they can be."""
    problems: list[str] = []
    broken = broken or {}
    # Every node of the file with its edges: targets and reachability span broken nodes too.
    edges = {node_id: node_targets(node) for node_id, node in flow.nodes.items()}
    edges |= {node_id: node.edges for node_id, node in broken.items()}

    def flow_problem(field_name: str, message: str) -> None:
        problems.append(f"{file_name}: flow {flow.id!r}: field {field_name!r}: {message}")

    def node_problem(node_id: str, field_name: str, message: str) -> None:
        problems.append(
            f"{file_name}: flow {flow.id!r}: node {node_id!r}: field {field_name!r}: {message}"
        )

    if flow.entry not in edges:
        flow_problem("entry", f"unknown node {flow.entry!r}")
    default = flow.nodes.get(flow.default_destination)
    if flow.default_destination not in edges:
        flow_problem("default_destination", f"unknown node {flow.default_destination!r}")
    elif default is not None and default.kind not in TERMINAL_KINDS:
        flow_problem(
            "default_destination",
            f"node {flow.default_destination!r} is a {default.kind} node; it must be one of "
            f"{', '.join(sorted(TERMINAL_KINDS))} so an unroutable call always ends somewhere",
        )
    for language in flow.languages:
        if not _SAFE_NAME.match(language):
            flow_problem("languages", f"bad language {language!r}")
    for name in ("queue_context", "queue_exten", "external_context"):
        if not _SAFE_DIALPLAN.match(getattr(flow, name)):
            flow_problem(name, f"{getattr(flow, name)!r} is not a valid dialplan name")

    for node_id, node in flow.nodes.items():
        for label, target in node_targets(node).items():
            if target not in edges:
                node_problem(node_id, label, f"unknown target node {target!r}")
        _check_node(flow, node_id, node, node_problem)
        for label, prompts in _node_prompts(node).items():
            for prompt in prompts:
                if not _PROMPT_NAME.match(prompt):
                    node_problem(node_id, label, f"bad prompt name {prompt!r}")
                elif flow.prompt_dir is not None:
                    for language in flow.languages:
                        if not _prompt_exists(flow.prompt_dir, language, prompt, list_prompts):
                            node_problem(
                                node_id,
                                label,
                                f"missing prompt file {flow.prompt_dir}/{language}/{prompt}.*",
                            )

    for node_id, broken_node in broken.items():
        if broken_node.kind is not None:
            for label, target in broken_node.edges.items():
                if target not in edges:
                    node_problem(node_id, label, f"unknown target node {target!r}")
        for digit in broken_node.digits:
            _check_digit(node_id, digit, node_problem)

    reachable = _reachable((flow.entry, flow.default_destination), edges)
    for node_id in edges:
        if node_id not in reachable:
            problems.append(
                f"{file_name}: flow {flow.id!r}: node {node_id!r}: "
                f"unreachable from the entry node {flow.entry!r}"
            )
    for cycle in _loops_without_exit(flow, edges):
        node_problem(
            cycle[0],
            "next",
            f"loop without exit: {' -> '.join(cycle)} never waits for the caller and never leaves",
        )
    return problems


def _check_node(
    flow: Flow, node_id: str, node: Node, problem: Callable[[str, str, str], None]
) -> None:
    match node:
        case MenuNode():
            for digit in node.options:
                _check_digit(node_id, digit, problem)
        case CollectNode():
            if not _SAFE_NAME.match(node.variable):
                problem(node_id, "variable", f"bad variable name {node.variable!r}")
            if node.min_len > node.max_len:
                problem(node_id, "min_len", f"min_len {node.min_len} > max_len {node.max_len}")
            if node.pattern is not None:
                try:
                    re.compile(node.pattern)
                except re.error as error:
                    problem(node_id, "pattern", f"bad regex {node.pattern!r}: {error}")
        case ScheduleNode():
            try:
                ZoneInfo(node.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problem(node_id, "timezone", f"bad timezone {node.timezone!r}")
            for index, spec in enumerate(node.hours):
                try:
                    parse_hours(spec)
                except ValueError as error:
                    problem(node_id, f"hours.{index}", f"bad hours syntax: {error}")
        case LanguageNode():
            if (node.language is None) == (not node.options):
                problem(node_id, "options", "set either 'language' or 'options' (not both)")
            if node.options and not node.prompts:
                problem(node_id, "prompts", "a language choice needs prompts")
            for digit, language in node.options.items():
                _check_digit(node_id, digit, problem)
                if language not in flow.languages:
                    problem(node_id, f"options.{digit}", f"language {language!r} not in languages")
            if node.language is not None and node.language not in flow.languages:
                problem(node_id, "language", f"language {node.language!r} not in languages")
        case LookupNode():
            for name in node.send:
                if not _SAFE_NAME.match(name):
                    problem(node_id, "send", f"bad variable name {name!r}")
            for response_field, variable in node.assign.items():
                if not _SAFE_NAME.match(variable):
                    problem(node_id, f"assign.{response_field}", f"bad variable {variable!r}")
            if node.branches and node.branch_on is None:
                problem(node_id, "branch_on", "branches need branch_on (the response field)")
        case QueueNode():
            if not _SAFE_NAME.match(node.queue):
                problem(node_id, "queue", f"bad queue name {node.queue!r}")
            for skill in node.skills:
                if not _SAFE_NAME.match(skill):
                    problem(node_id, "skills", f"bad skill {skill!r}")
        case TransferNode():
            if (node.exten is None) == (node.number is None):
                problem(node_id, "exten", "set either 'exten' (with 'context') or 'number'")
            if node.exten is not None and node.context is None:
                problem(node_id, "context", "'exten' needs a 'context'")
            for name in ("context", "exten", "number"):
                value = getattr(node, name)
                if value is not None and not _SAFE_DIALPLAN.match(value):
                    problem(node_id, name, f"{value!r} is not a valid dialplan name or number")
        case SurveyNode():
            if not node.questions:
                problem(node_id, "questions", "a survey needs at least one question")
            seen: set[str] = set()
            for index, question in enumerate(node.questions):
                if question.key in seen:
                    problem(
                        node_id,
                        f"questions.{index}.key",
                        f"question {question.key!r} is asked twice (keys name the answers)",
                    )
                seen.add(question.key)
        case VoicemailNode():
            if not re.match(r"^[A-Za-z0-9_\-]+(@[A-Za-z0-9_\-]+)?$", node.mailbox):
                problem(node_id, "mailbox", f"bad mailbox {node.mailbox!r}")
        case _:
            pass  # hangup: pydantic bounds are enough


def _check_digit(node_id: str, digit: str, problem: Callable[[str, str, str], None]) -> None:
    if len(digit) != 1 or digit not in DTMF_KEYS:
        problem(node_id, f"options.{digit}", f"bad digit {digit!r} (one of 0-9 * #)")


def _node_prompts(node: Node) -> dict[str, tuple[str, ...]]:
    match node:
        case MenuNode():
            return {
                "prompts": node.prompts,
                "invalid_prompts": node.invalid_prompts,
                "timeout_prompts": node.timeout_prompts,
            }
        case CollectNode():
            return {"prompts": node.prompts, "invalid_prompts": node.invalid_prompts}
        case PlayNode() | LanguageNode() | HangupNode():
            return {"prompts": node.prompts}
        case SurveyNode():
            asked = {
                f"questions.{index}.prompts": question.prompts
                for index, question in enumerate(node.questions)
            }
            return asked | {
                "invalid_prompts": node.invalid_prompts,
                "timeout_prompts": node.timeout_prompts,
                "thanks_prompts": node.thanks_prompts,
            }
        case _:
            return {}


def _prompt_exists(prompt_dir: str, language: str, prompt: str, list_prompts: PromptLister) -> bool:
    sub, _, stem = f"{language}/{prompt}".rpartition("/")
    for name in list_prompts(f"{prompt_dir}/{sub}"):
        base, dot, extension = name.rpartition(".")
        if dot and base == stem and extension in SOUND_EXTENSIONS:
            return True
    return False


def _reachable(roots: Iterable[str], edges: Mapping[str, Mapping[str, str]]) -> set[str]:
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        node_id = pending.pop()
        if node_id in seen or node_id not in edges:
            continue
        seen.add(node_id)
        pending.extend(edges[node_id].values())
    return seen


def _loops_without_exit(flow: Flow, edges: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """Strongly connected groups of nodes that run without waiting for the caller and have no
    edge out of the group: a call entering one would spin until the step guard. An edge to
    a broken node (in ``edges``, not in ``flow.nodes``) counts as a way out, since what that
    node does is unknown."""
    automatic = {
        node_id: [t for t in node_targets(node).values() if t in edges]
        for node_id, node in flow.nodes.items()
        if not waits_for_caller(node) and node.kind not in TERMINAL_KINDS
    }
    loops = []
    for group in _strongly_connected(automatic):
        members = set(group)
        cyclic = len(group) > 1 or group[0] in automatic[group[0]]
        leaves = any(t not in members for node_id in group for t in automatic[node_id])
        if cyclic and not leaves:
            loops.append(sorted(group))
    return loops


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    # Tarjan's algorithm, iterative so a long chain of nodes cannot hit the recursion limit.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = [t for t in graph[node] if t in graph]
            if position < len(successors):
                work.append((node, position + 1))
                target = successors[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return groups


def flow_summary(flow: Flow) -> dict[str, Any]:
    """What ``GET /api/v1/ivr/flows`` shows for a flow."""
    return {
        "id": flow.id,
        "entry": flow.entry,
        "dids": list(flow.dids),
        "default": flow.default,
        "languages": list(flow.languages),
        "nodes": {node_id: node.kind for node_id, node in flow.nodes.items()},
    }
