"""Webhook subscriptions over HTTP (admins only, ``ccd.api.policy``).

``POST /api/v1/webhooks`` answers the subscription with its ``secret`` — the only time it
is shown (generated unless given). Every read shows delivery statistics. Deliveries of a
subscription are listed newest first, filtered by status; a dead (or any) delivery is sent
again by ``POST …/deliveries/{delivery_id}/replay`` with its original ``webhook-id``.

A target URL is checked here (http/https, no credentials; its host's addresses must be
public unless ``[webhooks] allow_private_targets``) and again at every delivery.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Annotated, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ccd.api.audit_trail import audited
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import model_json, read_json
from ccd.api.models.webhooks import (
    DeliveryList,
    DeliveryView,
    WebhookCreated,
    WebhookList,
    WebhookView,
)
from ccd.api.openapi.operation import operation
from ccd.api.problems import (
    UPSTREAM_UNAVAILABLE,
    ApiProblem,
    FieldError,
    not_found,
    validation_problem,
)
from ccd.api.serialize import iso
from ccd.api.validation import check_id_param, query_model
from ccd.clock import Clock
from ccd.db.stores import StoreUnavailable
from ccd.db.webhook_store import WebhookNotFound, WebhookStore, new_subscription_id
from ccd.domain.audit import AuditEntry
from ccd.webhooks.catalog import MAX_PATTERNS, pattern_problem
from ccd.webhooks.model import Delivery, DeliveryStats, DeliveryStatus, Subscription
from ccd.webhooks.signing import BadSecret, new_secret, secret_key
from ccd.webhooks.targets import address_problem, host_of, literal_address, url_problem

MAX_ID_LENGTH = 64
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

EventPattern = Annotated[str, Field(min_length=1, max_length=64)]

DoneT = TypeVar("DoneT")


class _Patterns(BaseModel):
    @field_validator("event_types", check_fields=False)
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        problems = [p for p in (pattern_problem(v) for v in value) if p is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return list(dict.fromkeys(value))


class WebhookCreate(_Patterns):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(min_length=1, max_length=2000)]
    event_types: Annotated[list[EventPattern], Field(min_length=1, max_length=MAX_PATTERNS)]
    secret: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    enabled: bool = True
    description: Annotated[str, Field(max_length=200)] = ""


class WebhookUpdate(_Patterns):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    event_types: (
        Annotated[list[EventPattern], Field(min_length=1, max_length=MAX_PATTERNS)] | None
    ) = None
    enabled: bool | None = None
    description: Annotated[str, Field(max_length=200)] | None = None


class DeliveryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: DeliveryStatus | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT


class WebhookPath(BaseModel):
    id: Annotated[str, Field(min_length=1, description="The subscription's id")]


class DeliveryPath(WebhookPath):
    delivery_id: Annotated[str, Field(min_length=1, description="The delivery's webhook-id")]


Resolve = Callable[[str], Awaitable[list[str]]]


async def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class WebhookApi:
    store: WebhookStore
    clock: Clock
    # Re-read subscriptions in the delivering service after a change.
    changed: Callable[[], Awaitable[None]]
    allow_private_targets: bool = False
    resolve: Resolve = resolve_host


WEBHOOK_API = web.AppKey("webhook_api", WebhookApi)


def add_routes(app: web.Application, api: WebhookApi | None) -> None:
    if api is not None:
        app[WEBHOOK_API] = api
    router = app.router
    router.add_get("/api/v1/webhooks", list_webhooks, name="webhooks.list")
    router.add_post("/api/v1/webhooks", create_webhook, name="webhooks.create")
    router.add_get("/api/v1/webhooks/{id}", get_webhook, name="webhooks.get")
    router.add_patch("/api/v1/webhooks/{id}", update_webhook, name="webhooks.update")
    router.add_delete("/api/v1/webhooks/{id}", delete_webhook, name="webhooks.delete")
    router.add_get("/api/v1/webhooks/{id}/deliveries", list_deliveries, name="webhooks.deliveries")
    router.add_post(
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay",
        replay_delivery,
        name="webhooks.replay",
    )


def _api(request: web.Request) -> WebhookApi:
    api = request.app.get(WEBHOOK_API)
    if api is None:
        raise ApiProblem(
            503, "webhooks are not available in this process", type_=UPSTREAM_UNAVAILABLE
        )
    return api


def _unavailable(exc: StoreUnavailable) -> ApiProblem:
    return ApiProblem(503, f"the webhook store is unavailable: {exc}", type_=UPSTREAM_UNAVAILABLE)


@contextmanager
def _store_errors(missing: str = "no such webhook") -> Iterator[None]:
    """The webhook store's refusals as problems: an unknown id 404 (``missing``), the store
    unavailable 503."""
    try:
        yield
    except WebhookNotFound:
        raise not_found(missing) from None
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None


def _subscription_id(request: web.Request) -> str:
    return check_id_param(
        "id", request.match_info["id"], max_length=MAX_ID_LENGTH, missing="no such webhook"
    )


def stats_view(stats: DeliveryStats) -> dict[str, object]:
    return {
        "delivered": stats.delivered,
        "failed_attempts": stats.failed_attempts,
        "pending": stats.pending,
        "dead": stats.dead,
        "last_success_at": iso(stats.last_success_at),
        "last_failure_at": iso(stats.last_failure_at),
        "latency_ms_avg": None if stats.latency_ms_avg is None else round(stats.latency_ms_avg, 1),
        "latency_ms_max": None if stats.latency_ms_max is None else round(stats.latency_ms_max, 1),
    }


def subscription_view(subscription: Subscription, stats: DeliveryStats) -> dict[str, object]:
    """Never the secret (shown once, in the creation's answer)."""
    return {
        "id": subscription.id,
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "enabled": subscription.enabled,
        "description": subscription.description,
        "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
        "stats": stats_view(stats),
    }


def delivery_view(delivery: Delivery) -> dict[str, object]:
    return {
        "id": delivery.id,
        "event_type": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "created_at": iso(delivery.created_at),
        "next_attempt_at": (
            iso(delivery.next_attempt_at) if delivery.status is DeliveryStatus.PENDING else None
        ),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "latency_ms": None if delivery.latency_ms is None else round(delivery.latency_ms, 1),
        "payload": json.loads(delivery.payload),
    }


def _audited(subscription: Subscription) -> dict[str, object]:
    """What the audit trail keeps of a subscription (never its secret)."""
    return {
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "enabled": subscription.enabled,
        "description": subscription.description,
    }


async def _change(
    request: web.Request,
    api: WebhookApi,
    action: str,
    target_id: str,
    act: Callable[[], Awaitable[DoneT]],
    detail: Callable[[DoneT], dict[str, object]],
) -> DoneT:
    """Run the store change ``act`` audited as ``action`` (``ccd.api.audit_trail.audited``:
    no trail, nothing changes), telling the delivering service once it is stored."""

    async def act_and_tell() -> DoneT:
        done = await act()
        await api.changed()
        return done

    def entry(done: DoneT) -> AuditEntry:
        return AuditEntry(request[PRINCIPAL], action, "webhook", target_id, detail(done))

    return await audited(request.app, act_and_tell, entry)


async def _check_target(api: WebhookApi, url: str) -> None:
    problem = url_problem(url)
    if problem is not None:
        raise validation_problem([FieldError("url", problem)])
    if api.allow_private_targets:
        return
    host = host_of(url)
    literal = literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await api.resolve(host)
        except OSError as exc:
            raise validation_problem(
                [FieldError("url", f"host {host!r} does not resolve ({exc.strerror or exc})")]
            ) from None
    for address in addresses:
        refused = address_problem(address)
        if refused is not None:
            raise validation_problem([FieldError("url", f"refused: {host} → {refused}")])


@operation(
    "Webhook subscriptions with their delivery statistics",
    responses={200: WebhookList},
    problems=(503,),
)
async def list_webhooks(request: web.Request) -> web.Response:
    api = _api(request)
    with _store_errors():
        subscriptions = await api.store.subscriptions()
        stats = await api.store.stats()
    return model_json(
        WebhookList(
            webhooks=[
                WebhookView.model_validate(subscription_view(s, stats.get(s.id, DeliveryStats())))
                for s in subscriptions
            ]
        )
    )


@operation(
    "Subscribe a URL to events; the answer shows the signing secret, once",
    body=WebhookCreate,
    responses={201: WebhookCreated},
    problems=(503,),
    description=(
        "The secret is generated unless given (`whsec_` + base64 of 24 to 64 bytes). The"
        " URL must be http(s) without credentials, its host public unless"
        " `[webhooks] allow_private_targets`."
    ),
)
async def create_webhook(request: web.Request) -> web.Response:
    api = _api(request)
    body = await read_json(request, WebhookCreate)
    secret = body.secret if body.secret is not None else new_secret()
    try:
        secret_key(secret)
    except BadSecret as exc:
        raise validation_problem([FieldError("secret", str(exc))]) from None
    await _check_target(api, body.url)
    now = api.clock.now()
    subscription = Subscription(
        id=new_subscription_id(),
        url=body.url,
        event_types=tuple(body.event_types),
        secret=secret,
        enabled=body.enabled,
        description=body.description,
        created_at=now,
        updated_at=now,
    )

    async def create() -> Subscription:
        with _store_errors():
            return await api.store.create(subscription)

    await _change(
        request,
        api,
        "webhook.created",
        subscription.id,
        create,
        lambda created: {"before": None, "after": _audited(created)},
    )
    view = subscription_view(subscription, DeliveryStats())
    response = model_json(WebhookCreated.model_validate({**view, "secret": secret}), status=201)
    response.headers["Location"] = f"/api/v1/webhooks/{subscription.id}"
    return response


async def _subscription(api: WebhookApi, subscription_id: str) -> Subscription:
    with _store_errors():
        return await api.store.subscription(subscription_id)


@operation(
    "One webhook subscription with its delivery statistics",
    path=WebhookPath,
    responses={200: WebhookView},
    problems=(404, 503),
)
async def get_webhook(request: web.Request) -> web.Response:
    api = _api(request)
    subscription = await _subscription(api, _subscription_id(request))
    with _store_errors():
        stats = await api.store.stats()
    return model_json(
        WebhookView.model_validate(
            subscription_view(subscription, stats.get(subscription.id, DeliveryStats()))
        )
    )


@operation(
    "Change a subscription's URL, event types, description or enabled flag",
    path=WebhookPath,
    body=WebhookUpdate,
    responses={200: WebhookView},
    problems=(404, 503),
    description="Fields left out keep their value. The secret cannot be changed.",
)
async def update_webhook(request: web.Request) -> web.Response:
    api = _api(request)
    subscription_id = _subscription_id(request)
    body = await read_json(request, WebhookUpdate)
    current = await _subscription(api, subscription_id)
    if body.url is not None:
        await _check_target(api, body.url)
    changed = replace(
        current,
        url=body.url if body.url is not None else current.url,
        event_types=(
            tuple(body.event_types) if body.event_types is not None else current.event_types
        ),
        enabled=body.enabled if body.enabled is not None else current.enabled,
        description=body.description if body.description is not None else current.description,
        updated_at=api.clock.now(),
    )

    async def update() -> dict[str, DeliveryStats]:
        with _store_errors():
            await api.store.update(changed)
            return await api.store.stats()

    stats = await _change(
        request,
        api,
        "webhook.updated",
        changed.id,
        update,
        lambda _: {"before": _audited(current), "after": _audited(changed)},
    )
    return model_json(
        WebhookView.model_validate(
            subscription_view(changed, stats.get(changed.id, DeliveryStats()))
        )
    )


@operation(
    "Delete a subscription and its deliveries",
    path=WebhookPath,
    responses={204: None},
    problems=(404, 503),
)
async def delete_webhook(request: web.Request) -> web.Response:
    api = _api(request)
    subscription_id = _subscription_id(request)
    deleted = await _subscription(api, subscription_id)

    async def delete() -> None:
        with _store_errors():
            await api.store.delete(subscription_id)

    await _change(
        request,
        api,
        "webhook.deleted",
        subscription_id,
        delete,
        lambda _: {"before": _audited(deleted), "after": None},
    )
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


def _delivery_query(request: web.Request) -> DeliveryQuery:
    return query_model(DeliveryQuery, request.query)


@operation(
    "A subscription's deliveries, newest first",
    path=WebhookPath,
    query=DeliveryQuery,
    responses={200: DeliveryList},
    problems=(404, 503),
)
async def list_deliveries(request: web.Request) -> web.Response:
    api = _api(request)
    subscription_id = _subscription_id(request)
    query = _delivery_query(request)
    await _subscription(api, subscription_id)
    with _store_errors():
        deliveries = await api.store.deliveries(
            subscription_id, status=query.status, limit=query.limit
        )
    return model_json(
        DeliveryList(deliveries=[DeliveryView.model_validate(delivery_view(d)) for d in deliveries])
    )


@operation(
    "Send a delivery again (a dead one, or any), with its original webhook-id",
    path=DeliveryPath,
    responses={202: DeliveryView},
    problems=(404, 503),
)
async def replay_delivery(request: web.Request) -> web.Response:
    api = _api(request)
    subscription_id = _subscription_id(request)
    delivery_id = check_id_param(
        "delivery_id",
        request.match_info["delivery_id"],
        max_length=MAX_ID_LENGTH,
        missing="no such delivery",
    )

    async def replay() -> Delivery:
        with _store_errors("no such delivery"):
            return await api.store.replay(subscription_id, delivery_id, api.clock.now())

    delivery = await _change(
        request,
        api,
        "webhook.delivery_replayed",
        subscription_id,
        replay,
        lambda replayed: {"delivery_id": replayed.id},
    )
    return model_json(DeliveryView.model_validate(delivery_view(delivery)), status=202)
