"""Webhook subscriptions and their deliveries as ``/api/v1/webhooks`` shows them
(``ccd.api.webhooks`` builds the views). A subscription's secret appears only in the
creation's answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ccd.webhooks.model import DeliveryStatus

STRICT = ConfigDict(extra="forbid", frozen=True)
UTC_TIME = "ISO 8601, UTC"


class DeliveryStatsView(BaseModel):
    model_config = STRICT

    delivered: int
    failed_attempts: int = Field(description="attempts a receiver failed (non-2xx, timeout…)")
    pending: int
    dead: int = Field(description="deliveries retries gave up on (replayable)")
    last_success_at: str | None = Field(description=UTC_TIME + "; null: none yet")
    last_failure_at: str | None = Field(description=UTC_TIME + "; null: none yet")
    latency_ms_avg: float | None = Field(
        description="milliseconds to a 2xx, on average; null: nothing delivered yet"
    )
    latency_ms_max: float | None = Field(description="milliseconds; null: nothing delivered yet")


class WebhookView(BaseModel):
    model_config = STRICT

    id: str
    url: str
    event_types: list[str] = Field(description="event types or patterns (`call.*`)")
    enabled: bool
    description: str
    created_at: str = Field(description=UTC_TIME)
    updated_at: str = Field(description=UTC_TIME)
    stats: DeliveryStatsView


class WebhookCreated(WebhookView):
    secret: str = Field(
        description="the signing secret (Standard Webhooks, `whsec_…`): shown this once"
    )


class WebhookList(BaseModel):
    model_config = STRICT

    webhooks: list[WebhookView]


class DeliveryView(BaseModel):
    model_config = STRICT

    id: str = Field(description="the `webhook-id` header, the same on every attempt")
    event_type: str
    status: DeliveryStatus
    attempts: int
    created_at: str = Field(description=UTC_TIME)
    next_attempt_at: str | None = Field(description=UTC_TIME + "; set while pending")
    last_attempt_at: str | None = Field(description=UTC_TIME)
    last_status: int | None = Field(description="the receiver's last HTTP status")
    last_error: str | None
    delivered_at: str | None = Field(description=UTC_TIME)
    latency_ms: float | None = Field(description="milliseconds to the 2xx")
    payload: dict[str, Any] = Field(description="the JSON body sent")


class DeliveryList(BaseModel):
    model_config = STRICT

    deliveries: list[DeliveryView] = Field(description="newest first")
