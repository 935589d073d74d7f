"""The IVR flows ccd is running, and their reload.

A reload builds a whole new ``FlowSet`` and swaps it in only if every file is valid; a bad
reload leaves the running flows in place and reports why. Calls already inside a flow are
unaffected either way: their ``IvrSession`` holds the ``Flow`` object it started with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from ccd.errors import ConfigError
from ccd.ivr.flows import Flow, FlowSet, flow_summary, load_flows

log = structlog.get_logger("ccd.ivr")

FlowLoader = Callable[[Path], FlowSet]
VERSION_HEX_DIGITS = 16


def flow_version(flow: Flow) -> str:
    """A digest of the flow's validated definition: equal flows, equal versions."""
    digest = hashlib.sha256(flow.model_dump_json().encode()).hexdigest()
    return digest[:VERSION_HEX_DIGITS]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """``ok``: the new flows are running. Otherwise ``problems`` says why they were refused
    and the previous flows keep running."""

    ok: bool
    flows: int
    dids: int
    problems: tuple[str, ...] = ()


class FlowsHolder:
    def __init__(self, directory: Path, loader: FlowLoader = load_flows) -> None:
        """Load the flows once; raises ``ConfigError`` (every problem) if they are invalid,
        since ccd must not start without a valid IVR."""
        self.directory = directory
        self._loader = loader
        self._current = loader(directory)
        self.reloads = 0
        self.rejected_reloads = 0

    @property
    def current(self) -> FlowSet:
        return self._current

    def summaries(self) -> list[dict[str, Any]]:
        """The running flows as ``GET /api/v1/ivr/flows`` shows them, by flow id."""
        flows = self._current
        return [
            {**flow_summary(flows.flows[flow_id]), "file": flows.sources.get(flow_id, "")}
            for flow_id in sorted(flows.flows)
        ]

    def versions(self) -> dict[str, str]:
        flows = self._current.flows
        return {flow_id: flow_version(flows[flow_id]) for flow_id in sorted(flows)}

    def reload(self) -> ReloadResult:
        try:
            flows = self._loader(self.directory)
        except ConfigError as exc:
            self.rejected_reloads += 1
            log.warning(
                "ivr reload rejected",
                directory=str(self.directory),
                problems=list(exc.problems),
                running_flows=len(self._current.flows),
            )
            return ReloadResult(
                ok=False,
                flows=len(self._current.flows),
                dids=len(self._current.by_did),
                problems=exc.problems,
            )
        self._current = flows
        self.reloads += 1
        log.info(
            "ivr flows reloaded",
            directory=str(self.directory),
            flows=len(flows.flows),
            dids=len(flows.by_did),
        )
        return ReloadResult(ok=True, flows=len(flows.flows), dids=len(flows.by_did))
