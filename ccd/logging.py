"""Logging for the whole process, configured once by ``configure_logging``.

structlog loggers and stdlib loggers (panoramisk, aiohttp, sqlalchemy, alembic) share one
processor chain and one handler on the root logger, so every line has the same shape:
JSON lines off a TTY (what log shippers want), a readable console rendering on a TTY.
Context bound with ``structlog.contextvars.bind_contextvars`` (linkedid, queue, agent, ...)
appears on every line logged in that context, and values under secret-looking keys are
replaced before rendering.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["auto", "json", "console"]

REDACTED = "***"
_SENSITIVE_KEYS = frozenset(
    {"secret", "password", "passwd", "token", "authorization", "api_key", "cookie"}
)
_SENSITIVE_SUFFIXES = ("_secret", "_password", "_token", "_authorization")
# Third-party messages are preformatted strings: scrub "Secret: x" / "password=x" inside them.
_INLINE_SECRET = re.compile(
    r"(?i)\b(secret|password|passwd|authorization)(['\"]?\s*[:=]\s*['\"]?)"
    r"(?:bearer\s+)?[^\s'\",;}]+"
)

# Levels applied to noisy third-party loggers (their own output, not ccd's).
_LIBRARY_LEVELS: dict[str, int] = {
    "panoramisk": logging.WARNING,
    "aiohttp.access": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "asyncio": logging.WARNING,
    "alembic.runtime.plugins": logging.WARNING,
}


class _AlembicChatterFilter(logging.Filter):
    """Alembic announces its dialect on every connection; keep only the migration steps."""

    _NOISE = ("Context impl ", "Will assume ")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self._NOISE))


_ALEMBIC_FILTER = _AlembicChatterFilter()


def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SENSITIVE_KEYS or lowered.endswith(_SENSITIVE_SUFFIXES)


def _redact_value(value: Any) -> Any:
    if isinstance(value, MutableMapping):
        return {k: REDACTED if _is_sensitive(str(k)) else v for k, v in value.items()}
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Mask values under secret-looking keys (one level into dicts, e.g. headers)."""
    for key in list(event_dict):
        if _is_sensitive(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    event = event_dict.get("event")
    if isinstance(event, str) and _INLINE_SECRET.search(event):
        event_dict["event"] = _INLINE_SECRET.sub(rf"\1\2{REDACTED}", event)
    return event_dict


class _CcdStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (pytest and daemons swap it). Its
    class marks it as ours, so reconfiguring replaces only this handler."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """StreamHandler.__init__ assigns it; the live sys.stderr is always used instead."""


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.UnicodeDecoder(),
        redact_secrets,
    ]


def use_json(fmt: LogFormat, stream: TextIO | None = None) -> bool:
    """auto: JSON unless stderr is an interactive terminal."""
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    return not _is_tty(stream if stream is not None else sys.stderr)


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Configure structlog and stdlib logging for the process. Safe to call again: the
    previous ccd handler is replaced, never duplicated."""
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    as_json = use_json(fmt)
    shared = _shared_processors()

    renderer: Processor
    if as_json:
        # No locals in tracebacks: they may hold secrets (AMI login, tokens).
        final: list[Processor] = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        ]
        renderer = structlog.processors.JSONRenderer()
    else:
        final = []
        renderer = structlog.dev.ConsoleRenderer(colors=_is_tty(sys.stderr))

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final, renderer],
    )
    handler = _CcdStderrHandler()
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CcdStderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for name, library_level in _LIBRARY_LEVELS.items():
        # Debugging ccd should not drown in panoramisk/SQL chatter; raise it explicitly if needed.
        target = library_level if name == "aiohttp.access" else max(library_level, numeric_level)
        logging.getLogger(name).setLevel(target)

    migration_logger = logging.getLogger("alembic.runtime.migration")
    if _ALEMBIC_FILTER not in migration_logger.filters:
        migration_logger.addFilter(_ALEMBIC_FILTER)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: tests reconfigure (capture_logs), and reconfiguring must take effect.
        cache_logger_on_first_use=False,
    )


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())
