"""Prometheus gauges of high availability: is this instance the leader, and its epoch."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ccd.ha.election import Role
from ccd.ha.runtime import HaRuntime


class HaCollector:
    def __init__(self, runtime: HaRuntime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        yield GaugeMetricFamily(
            "ccd_ha_leader",
            "1 while this instance is the active one (holds the lock and a valid lease), else 0",
            value=1.0 if runtime.acting() else 0.0,
        )
        role = GaugeMetricFamily(
            "ccd_ha_role", "This instance's role (1 for the current one)", labels=["role"]
        )
        for each in Role:
            role.add_metric([each.value], 1.0 if runtime.role is each else 0.0)
        yield role
        yield GaugeMetricFamily(
            "ccd_ha_epoch",
            "The leadership epoch this instance holds (0 on a standby)",
            value=float(runtime.epoch or 0),
        )
