"""Errors a user can act on. The CLI prints ``str(error)`` and exits with ``exit_code``;
no traceback, because these are not bugs."""

from __future__ import annotations

from collections.abc import Sequence


class CcdError(Exception):
    """Base of every error meant for a human operator rather than a developer."""

    exit_code = 1


class UsageError(CcdError):
    """The command was asked for something impossible (bad argument, unknown id, ...)."""

    exit_code = 2


class ConfigError(CcdError):
    """The configuration is invalid. ``problems`` holds one line per problem, each naming the
    file or environment variable, the key and the reason."""

    exit_code = 2

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


class DatabaseError(CcdError):
    """The database cannot be reached or used (wrong URL, down, bad credentials, not migrated)."""

    exit_code = 1
