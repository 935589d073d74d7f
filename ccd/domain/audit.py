"""The audit trail: who did what to which object, and when (playbacks, monitoring, changes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ccd.domain.auth import Principal


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: Principal
    action: str  # "<object>.<verb>": recording.played, monitor.started…
    target_kind: str  # call, recording, evaluation…
    target_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)  # JSON-able; never a secret


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor_token_id: str
    actor_role: str
    actor_agent_id: str | None
    action: str
    target_kind: str
    target_id: str
    detail: Mapping[str, Any]


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> AuditRecord:
        """Store ``entry`` (stamped now) before returning; raise if it could not be stored."""
        ...

    async def search(
        self,
        *,
        action: str | None = None,
        target_kind: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> Sequence[AuditRecord]:
        """Newest first."""
        ...
