"""Readiness: AMI logged in and resynced, database reachable, and every extra check (the
CDR writer: a spool backlog that is not draining) without complaint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol


class ReadinessCheck(Protocol):
    async def not_ready_reasons(self) -> list[str]:
        """Empty when ccd is ready; otherwise one human-readable reason per problem."""
        ...


class AmiStatus(Protocol):
    @property
    def logged_in(self) -> bool: ...

    @property
    def resynced(self) -> bool: ...

    @property
    def last_error(self) -> str | None: ...


class Readiness:
    def __init__(
        self,
        *,
        ami: AmiStatus | None,
        database_ping: Callable[[], Awaitable[None]],
        database_timeout_s: float = 2.0,
        checks: Sequence[Callable[[], Iterable[str]]] = (),
    ) -> None:
        self._ami = ami
        self._database_ping = database_ping
        self._database_timeout_s = database_timeout_s
        self._checks = tuple(checks)

    async def not_ready_reasons(self) -> list[str]:
        reasons: list[str] = []
        ami = self._ami  # None with several servers: the fleet's check names each one
        if ami is not None and not ami.logged_in:
            detail = f" ({ami.last_error})" if ami.last_error else ""
            reasons.append(f"ami: not logged in to Asterisk{detail}")
        elif ami is not None and not ami.resynced:
            reasons.append("ami: logged in, live model not yet resynced with Asterisk")
        try:
            async with asyncio.timeout(self._database_timeout_s):
                await self._database_ping()
        except TimeoutError:
            reasons.append(f"database: no answer within {self._database_timeout_s:g} s")
        except Exception as exc:  # any driver error means "not reachable" here
            reasons.append(f"database: unreachable ({type(exc).__name__})")
        for check in self._checks:
            reasons.extend(check())
        return reasons
