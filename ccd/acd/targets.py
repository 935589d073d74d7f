"""Parse and validate ACD destination strings (overflow, no-agents, escalation).

Accepted forms::

    queue:<id>                  move inside ccd to another queue (keeps the caller's place)
    voicemail:<box>[@<context>] leave a message in that mailbox
    transfer:<context>,<exten>  continue in the dialplan at <context>,<exten>,1
    callback                    offer a call back
    hangup                      hang up after an announcement

The REST layer calls :func:`parse_target` to reject bad input with a message naming the
problem; the engine calls it to recognise ``queue:<id>``. Values end up in AMI actions,
so only a conservative character set is accepted (no CR/LF/NUL, no spaces, no commas
outside the transfer separator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAILBOX = re.compile(r"[A-Za-z0-9_.\-]{1,64}(@[A-Za-z0-9_.\-]{1,64})?")
_CONTEXT = re.compile(r"[A-Za-z0-9_.\-]{1,80}")
# Dialplan extensions: digits, names, and pattern characters (e.g. "_X.", "*98", "+33").
_EXTEN = re.compile(r"[A-Za-z0-9_.\-*#+\[\]!]{1,80}")
# Every accepted form as one regular expression: the JSON Schema ``pattern`` of a target
# field in the API's OpenAPI document. parse_target stays the check (it names the problem).
TARGET_PATTERN = (
    rf"^(callback|hangup|queue:{_ID.pattern}|voicemail:{_MAILBOX.pattern}"
    rf"|transfer:{_CONTEXT.pattern},{_EXTEN.pattern})$"
)


@dataclass(frozen=True, slots=True)
class QueueTarget:
    queue_id: str

    def __str__(self) -> str:
        return f"queue:{self.queue_id}"


@dataclass(frozen=True, slots=True)
class VoicemailTarget:
    mailbox: str  # "<box>" or "<box>@<context>"

    def __str__(self) -> str:
        return f"voicemail:{self.mailbox}"


@dataclass(frozen=True, slots=True)
class TransferTarget:
    context: str
    exten: str

    def __str__(self) -> str:
        return f"transfer:{self.context},{self.exten}"


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    def __str__(self) -> str:
        return "callback"


@dataclass(frozen=True, slots=True)
class HangupTarget:
    def __str__(self) -> str:
        return "hangup"


Target = QueueTarget | VoicemailTarget | TransferTarget | CallbackTarget | HangupTarget


def parse_target(text: str) -> Target:
    """Parse ``text``; raise ValueError naming what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise ValueError("target is empty")
    kind, sep, value = text.partition(":")
    if kind == "callback" and not sep:
        return CallbackTarget()
    if kind == "hangup" and not sep:
        return HangupTarget()
    if kind in ("callback", "hangup"):
        raise ValueError(f"target {kind!r} takes no value")
    if not sep:
        raise ValueError(
            f"unknown target {text!r}: expected queue:<id>, voicemail:<box>, "
            "transfer:<context>,<exten>, callback or hangup"
        )
    if kind == "queue":
        if not _ID.fullmatch(value):
            raise ValueError(f"queue target: bad queue id {value!r}")
        return QueueTarget(value)
    if kind == "voicemail":
        if not _MAILBOX.fullmatch(value):
            raise ValueError(f"voicemail target: bad mailbox {value!r}")
        return VoicemailTarget(value)
    if kind == "transfer":
        context, comma, exten = value.partition(",")
        if not comma:
            raise ValueError(f"transfer target {value!r}: expected <context>,<exten>")
        if not _CONTEXT.fullmatch(context):
            raise ValueError(f"transfer target: bad context {context!r}")
        if not _EXTEN.fullmatch(exten):
            raise ValueError(f"transfer target: bad extension {exten!r}")
        return TransferTarget(context, exten)
    raise ValueError(
        f"unknown target kind {kind!r}: expected queue, voicemail, transfer, callback or hangup"
    )


def queue_of(text: str | None) -> str | None:
    """The queue id of a ``queue:<id>`` target; None for anything else (or invalid)."""
    if text is None or not text.startswith("queue:"):
        return None
    try:
        target = parse_target(text)
    except ValueError:
        return None
    return target.queue_id if isinstance(target, QueueTarget) else None
