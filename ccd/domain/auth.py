"""Who is calling the API."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    INTEGRATOR = "integrator"
    # Scores calls against evaluation forms; reads CDRs and recordings to do so.
    QA = "qa"
    # Reads reports, forecasts and CDRs; changes nothing.
    ANALYST = "analyst"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    role: Role
    agent_id: str | None  # set for agent tokens: the only agent they may act as


class TokenExpired(Exception):
    """The token is genuine (its secret matched) but its lifetime is over."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise. Raises TokenExpired
        for a genuine token past its expiry."""
        ...

    def record_use(self, token_id: str, source: str) -> None:
        """Note a successful authentication from ``source`` (kept in memory, written
        later in batches: never a database write per request)."""
        ...
