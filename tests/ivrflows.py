"""IVR test helpers shared by unit and integration tests."""

from __future__ import annotations

from ccd.ivr.flows import Flow, FlowSet


def flow_for(flows: FlowSet, did: str) -> Flow:
    """The flow a call to ``did`` enters; fails the test when there is none (``for_did``
    returns None only when no flows are loaded)."""
    flow = flows.for_did(did)
    assert flow is not None, f"no flow for DID {did!r}"
    return flow
