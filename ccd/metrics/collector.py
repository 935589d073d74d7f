"""The Prometheus collector: every figure is read from its component when Prometheus
scrapes, so nothing is counted twice and no component depends on the metrics library.

Components are seen through small read-only protocols (the AMI gateways, the CDR writer,
the bus, the ACD's live view, the dialer tally, the loop-lag probe); any of them may be
absent (``None``), and its metrics are then simply not exposed. The AMI figures are per
Asterisk server (label ``server``: each connection has its own). The registry is the
application's own (``build_registry``), never prometheus_client's global one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

from ccd.acd.model import AgentStatus
from ccd.acd.ports import AcdLive
from ccd.metrics.dialer import DialerTally
from ccd.metrics.histogram import Histogram
from ccd.metrics.loop_lag import LoopLagProbe

PREFIX = "ccd"


class PbxLinkStats(Protocol):
    """The AMI gateway's cumulative counters (``ccd.ami.gateway.AmiGateway``)."""

    @property
    def server(self) -> str: ...

    @property
    def logged_in(self) -> bool: ...

    @property
    def resynced(self) -> bool: ...

    @property
    def events_received(self) -> int: ...

    @property
    def reconnects(self) -> int: ...

    @property
    def connect_attempts(self) -> int: ...

    @property
    def ping_timeouts(self) -> int: ...

    @property
    def malformed_frames(self) -> int: ...

    @property
    def frame_errors(self) -> int: ...


class CdrWriterStats(Protocol):
    """``ccd.cdr.writer.CdrWriter``."""

    @property
    def backlog(self) -> int: ...

    @property
    def oldest_pending_age_s(self) -> float | None: ...

    @property
    def db_healthy(self) -> bool: ...

    @property
    def written(self) -> int: ...

    @property
    def duplicates_skipped(self) -> int: ...

    @property
    def write_latency(self) -> Histogram: ...


class BusStats(Protocol):
    """``ccd.bus.Bus``."""

    @property
    def backlog(self) -> int: ...

    @property
    def published(self) -> int: ...

    @property
    def handler_errors(self) -> int: ...


class CcdCollector:
    def __init__(
        self,
        *,
        pbx: Sequence[PbxLinkStats] = (),
        cdr_writer: CdrWriterStats | None = None,
        bus: BusStats | None = None,
        acd: AcdLive | None = None,
        dialer: DialerTally | None = None,
        loop_lag: LoopLagProbe | None = None,
    ) -> None:
        self._pbx = pbx
        self._cdr_writer = cdr_writer
        self._bus = bus
        self._acd = acd
        self._dialer = dialer
        self._loop_lag = loop_lag

    def collect(self) -> Iterator[Metric]:
        if self._pbx:
            yield from _pbx_metrics(self._pbx)
        if self._loop_lag is not None:
            yield from _loop_lag_metrics(self._loop_lag)
        if self._bus is not None:
            yield from _bus_metrics(self._bus)
        if self._cdr_writer is not None:
            yield from _cdr_metrics(self._cdr_writer)
        if self._acd is not None:
            yield from _acd_metrics(self._acd.snapshot())
        if self._dialer is not None:
            yield from _dialer_metrics(self._dialer)


def build_registry(collector: CcdCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def _name(suffix: str) -> str:
    return f"{PREFIX}_{suffix}"


def _counter(suffix: str, documentation: str, value: float) -> CounterMetricFamily:
    # prometheus_client appends ``_total`` to a counter's samples.
    return CounterMetricFamily(_name(suffix), documentation, value=value)


def _gauge(suffix: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(_name(suffix), documentation, value=value)


def _histogram(suffix: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    buckets = [(_bound(bound), float(count)) for bound, count in histogram.cumulative()]
    return HistogramMetricFamily(
        _name(suffix), documentation, buckets=buckets, sum_value=histogram.sum
    )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


_LinkFigure = Callable[[PbxLinkStats], float]
_PBX_COUNTERS: tuple[tuple[str, str, _LinkFigure], ...] = (
    (
        "ami_events_received",
        "AMI events received from Asterisk.",
        lambda link: link.events_received,
    ),
    ("ami_reconnects", "AMI logins after the first one.", lambda link: link.reconnects),
    (
        "ami_connect_attempts",
        "AMI connection attempts (first one included).",
        lambda link: link.connect_attempts,
    ),
    (
        "ami_ping_timeouts",
        "AMI pings unanswered (connection dropped).",
        lambda link: link.ping_timeouts,
    ),
    (
        "ami_malformed_frames",
        "AMI frames skipped as malformed.",
        lambda link: link.malformed_frames,
    ),
    (
        "ami_frame_errors",
        "AMI frames whose handling raised (skipped).",
        lambda link: link.frame_errors,
    ),
)
_PBX_GAUGES: tuple[tuple[str, str, _LinkFigure], ...] = (
    ("ami_logged_in", "1 while logged in to Asterisk over AMI.", lambda link: int(link.logged_in)),
    (
        "ami_resynced",
        "1 once the live model is resynced with Asterisk.",
        lambda link: int(link.resynced),
    ),
)


def _pbx_metrics(links: Sequence[PbxLinkStats]) -> Iterable[Metric]:
    """One sample per Asterisk server of each AMI figure, labelled ``server``."""
    for suffix, documentation, figure in _PBX_COUNTERS:
        counter = CounterMetricFamily(_name(suffix), documentation, labels=["server"])
        for link in links:
            counter.add_metric([link.server], figure(link))
        yield counter
    for suffix, documentation, figure in _PBX_GAUGES:
        gauge = GaugeMetricFamily(_name(suffix), documentation, labels=["server"])
        for link in links:
            gauge.add_metric([link.server], figure(link))
        yield gauge


def _loop_lag_metrics(probe: LoopLagProbe) -> Iterable[Metric]:
    yield _histogram(
        "event_loop_lag_seconds",
        f"How late the event loop woke a {probe.interval_s:g} s sleep.",
        probe.samples,
    )
    if probe.last_s is not None:
        yield _gauge(
            "event_loop_lag_last_seconds", "The latest event-loop lag sample.", probe.last_s
        )


def _bus_metrics(bus: BusStats) -> Iterable[Metric]:
    yield _gauge("bus_backlog", "Events published on the bus, not yet delivered.", bus.backlog)
    yield _counter("bus_events_published", "Events published on the bus.", bus.published)
    yield _counter("bus_handler_errors", "Bus handlers that raised.", bus.handler_errors)


def _cdr_metrics(writer: CdrWriterStats) -> Iterable[Metric]:
    yield _gauge(
        "cdr_spool_depth", "Call records in the spool, not yet in the database.", writer.backlog
    )
    yield _gauge(
        "cdr_spool_oldest_age_seconds",
        "Age of the oldest record waiting in the spool (0 when empty).",
        writer.oldest_pending_age_s or 0.0,
    )
    yield _gauge(
        "cdr_database_healthy",
        "0 from a failed CDR batch until the next committed one.",
        int(writer.db_healthy),
    )
    yield _counter("cdr_records_written", "Records inserted in the database.", writer.written)
    yield _counter(
        "cdr_duplicates_skipped",
        "Records already in the database (replayed spool).",
        writer.duplicates_skipped,
    )
    yield _histogram(
        "cdr_write_latency_seconds",
        "Time to insert and commit one batch of call records.",
        writer.write_latency,
    )


def _acd_metrics(snapshot: Mapping[str, Any]) -> Iterable[Metric]:
    queues: Mapping[str, Mapping[str, Any] | None] = snapshot.get("queues") or {}
    waiting = GaugeMetricFamily(
        _name("queue_waiting_callers"), "Callers waiting in the queue.", labels=["queue"]
    )
    longest = GaugeMetricFamily(
        _name("queue_longest_wait_seconds"),
        "Wait of the longest-waiting caller.",
        labels=["queue"],
    )
    level = GaugeMetricFamily(
        _name("queue_service_level_ratio"),
        "Today's service level (0..1): answered within the threshold / (answered + "
        "abandoned after it); absent before any outcome.",
        labels=["queue"],
    )
    today = GaugeMetricFamily(
        _name("queue_calls_today"),
        "Today's callers by outcome (reset at local midnight).",
        labels=["queue", "outcome"],
    )
    queue_agents = GaugeMetricFamily(
        _name("queue_agents"), "Logged-in agents of the queue by state.", labels=["queue", "state"]
    )
    for queue_id, view in sorted(queues.items()):
        if view is None:
            continue
        waiting.add_metric([queue_id], _number(view.get("waiting")))
        longest.add_metric([queue_id], _number(view.get("longest_wait_s")))
        if isinstance(view.get("service_level"), int | float):
            level.add_metric([queue_id], float(view["service_level"]))
        for outcome in ("offered", "answered", "abandoned", "overflowed", "timed_out"):
            if outcome in view:
                today.add_metric([queue_id, outcome], _number(view[outcome]))
        by_state: Mapping[str, Any] = view.get("agents") or {}
        if isinstance(by_state, Mapping):
            for state in _states():
                queue_agents.add_metric([queue_id, state], _number(by_state.get(state)))
    yield from (waiting, longest, level, today, queue_agents)

    agents: Mapping[str, Mapping[str, Any] | None] = snapshot.get("agents") or {}
    counts = dict.fromkeys(_states(), 0)
    for view in agents.values():
        if view is not None and view.get("status") in counts:
            counts[view["status"]] += 1
    by_state_family = GaugeMetricFamily(
        _name("agents"), "Logged-in agents by state.", labels=["state"]
    )
    for state, count in counts.items():
        by_state_family.add_metric([state], count)
    yield by_state_family


def _states() -> list[str]:
    return [status.value for status in AgentStatus if status is not AgentStatus.LOGGED_OUT]


def _number(value: object) -> float:
    """Counts from a live view: a list (the waiting callers) counts its items."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return float(len(value))
    return 0.0


def _dialer_metrics(tally: DialerTally) -> Iterable[Metric]:
    placed = CounterMetricFamily(
        _name("dialer_calls_placed"), "Dialer calls placed, per campaign.", labels=["campaign"]
    )
    for campaign_id, count in sorted(tally.placed.items()):
        placed.add_metric([campaign_id], count)
    yield placed
    outcomes = CounterMetricFamily(
        _name("dialer_calls_settled"),
        "Dialer calls by outcome (answered: connected to an agent; abandoned: a person "
        "answered and no agent was connected in time; machine, no-answer, busy, failed).",
        labels=["campaign", "outcome"],
    )
    for (campaign_id, outcome), count in sorted(tally.outcomes.items()):
        outcomes.add_metric([campaign_id, outcome], count)
    yield outcomes
    yield _gauge("dialer_calls_in_flight", "Dialer calls placed, not settled yet.", tally.in_flight)
