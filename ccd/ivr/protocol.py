"""What the IVR runner and the pure IVR state machine say to each other.

Events go into :class:`ccd.ivr.machine.IvrSession`; commands come out, in the order the runner
must execute them. Contract with the runner (``ccd/agi/``):

- Every non-empty command list ends with either a command that produces the next event
  (:class:`Collect` → :class:`DigitsEntered`, :class:`Lookup` → :class:`LookupAnswered` or
  :class:`LookupFailed`) or a terminal command (:class:`Transfer`, :class:`Voicemail`,
  :class:`Hangup`), after which ``session.finished`` is true and nothing more comes.
- :class:`Play`, :class:`SetLanguage`, :class:`SetVariables` and :class:`SurveyAnswered`
  produce no event; the runner just continues with the next command.
- A prompt that cannot be played (missing file) is reported as :class:`PromptFailed` and the
  runner carries on AS IF IT PLAYED: the rest of the Play, the rest of the list; inside a
  :class:`Collect`, the next prompt, and after the last one it still waits ``timeout_s`` for
  digits, so the caller is never stuck. The session always answers
  ``[]`` and leaves that prompt out of the later commands of this call.
- A :class:`Lookup` that does not answer within ``timeout_s`` is reported as
  :class:`LookupFailed` by the runner (the machine never waits itself).
- The caller hanging up at any point is :class:`CallerHungUp`; the session answers ``[]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# --- events into the machine ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallerArrived:
    at: datetime
    caller_num: str
    caller_name: str
    did: str
    language: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DigitsEntered:
    """The answer to a :class:`Collect`; ``digits == ""`` means the caller timed out."""

    at: datetime
    digits: str


@dataclass(frozen=True, slots=True)
class PromptFailed:
    at: datetime
    prompt: str  # exactly as it appeared in the Play/Collect command


@dataclass(frozen=True, slots=True)
class LookupAnswered:
    at: datetime
    status: int  # HTTP status; anything but 2xx takes the node's fallback branch
    data: Mapping[str, str]  # the response's top-level fields, as strings


@dataclass(frozen=True, slots=True)
class LookupFailed:
    at: datetime
    reason: str  # "timeout", "connection refused", "not JSON", ...


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    at: datetime


Event = CallerArrived | DigitsEntered | PromptFailed | LookupAnswered | LookupFailed | CallerHungUp

# --- commands out of the machine -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    """Stream each prompt in order (AGI STREAM FILE). Prompts are Asterisk sound names without
    extension, or absolute paths without extension when the flow has a ``prompt_dir``."""

    prompts: tuple[str, ...]
    language: str
    interruptible: bool = False  # the machine never expects digits from a Play


@dataclass(frozen=True, slots=True)
class Collect:
    """Play the prompts and read up to ``max_digits`` DTMF digits (AGI GET DATA, one per
    prompt: digits typed during any prompt stop the playback and are kept). ``prompts`` may
    be empty when every prompt failed: then just wait ``timeout_s`` for digits."""

    prompts: tuple[str, ...]
    language: str
    max_digits: int  # stop reading after this many digits
    timeout_s: float
    terminator: str  # "" or one of "#", "*"


@dataclass(frozen=True, slots=True)
class SetLanguage:
    language: str  # set CHANNEL(language)


@dataclass(frozen=True, slots=True)
class SetVariables:
    values: Mapping[str, str]  # channel variables (AGI SET VARIABLE)


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """A survey question is settled: ``score`` 1..5, or None when the caller gave no valid
    key within the node's retries. Emitted at once, so an answer given before the caller
    hangs up is kept; the runner hands it to whatever stores the call's answers."""

    question: str
    score: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Lookup:
    """HTTP POST ``payload`` as JSON to ``url``; answer with LookupAnswered or LookupFailed."""

    url: str
    payload: Mapping[str, str]
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Transfer:
    """Leave the IVR and continue in the dialplan at ``context``/``exten``/1. Terminal."""

    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class EnterQueue:
    """Not emitted by the machine, which expresses a queue node as
    ``SetVariables(CCD_QUEUE, CCD_PRIORITY, CCD_SKILLS)`` + ``Transfer(queue_context, ...)``
    (``ccd-queue-wait``, where the ACD's hold session takes the caller); the runner still
    executes it the same way."""

    queue: str
    priority: int
    skills: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Voicemail:
    mailbox: str  # "1000" or "1000@default". Terminal.


@dataclass(frozen=True, slots=True)
class Hangup:
    cause: int = 16  # Q.850 cause; 16 = normal clearing. Terminal.


Command = (
    Play
    | Collect
    | SetLanguage
    | SetVariables
    | SurveyAnswered
    | Lookup
    | Transfer
    | EnterQueue
    | Voicemail
    | Hangup
)

AWAITING_COMMANDS = (Collect, Lookup)
TERMINAL_COMMANDS = (Transfer, EnterQueue, Voicemail, Hangup)
