"""What the HTTP layer may use of the IVR: the loaded flows and a reload
(``ccd.ivr.holder`` implements it)."""

from __future__ import annotations

from typing import Any, Protocol


class IvrReloadOutcome(Protocol):
    """What a reload of the IVR flows did (``ccd.ivr.holder.ReloadResult``)."""

    @property
    def ok(self) -> bool: ...

    @property
    def flows(self) -> int: ...

    @property
    def dids(self) -> int: ...

    @property
    def problems(self) -> tuple[str, ...]: ...


class IvrFlows(Protocol):
    def summaries(self) -> list[dict[str, Any]]:
        """One plain-data summary per loaded flow (``ccd.ivr.flows.flow_summary``)."""
        ...

    def versions(self) -> dict[str, str]:
        """Flow id → a digest of its whole definition (changes whenever anything in the
        flow does): what the audit trail keeps of a reload."""
        ...

    def reload(self) -> IvrReloadOutcome:
        """Load the flows again; a refused reload keeps the running flows."""
        ...
