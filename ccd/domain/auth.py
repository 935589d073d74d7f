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


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None otherwise."""
        ...
