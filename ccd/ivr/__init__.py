"""IVR: flows loaded from ``config/ivr/`` (``flows``), the pure per-call state machine
(``machine``) and the events/commands it exchanges with the FastAGI runner (``protocol``)."""

from ccd.ivr.flows import Flow, FlowSet, load_flows, parse_flows
from ccd.ivr.machine import IvrSession, Outcome

__all__ = ["Flow", "FlowSet", "IvrSession", "Outcome", "load_flows", "parse_flows"]
