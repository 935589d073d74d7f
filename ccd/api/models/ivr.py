"""The IVR flows as ``/api/v1/ivr/flows`` and ``/api/v1/ivr/reload`` show them
(``ccd.ivr.flows.flow_summary``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)


class FlowSummary(BaseModel):
    model_config = STRICT

    id: str
    entry: str = Field(description="the node a call enters first")
    dids: list[str] = Field(description="the DIDs routed to this flow")
    default: bool = Field(description="the flow for DIDs no flow lists")
    languages: list[str] = Field(description="the first is the default")
    nodes: dict[str, str] = Field(description="node id → its kind (menu, transfer…)")
    file: str = Field(description="the flow file it was loaded from")


class FlowList(BaseModel):
    model_config = STRICT

    flows: list[FlowSummary] = Field(description="by flow id")


class FlowsReloaded(BaseModel):
    model_config = STRICT

    reloaded: Literal[True]
    flows: int = Field(description="flows now running")
    dids: int = Field(description="DIDs routed to a flow")
