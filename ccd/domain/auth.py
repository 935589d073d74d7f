"""Who is calling the API."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    INTEGRATOR = "integrator"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    role: Role
    agent_id: str | None  # set for agent tokens: the only agent they may act as
