"""The REST API of an instance that is not active (high availability).

A standby serves every read (GET, HEAD, OPTIONS: live calls from its own AMI connection,
everything in the database) and refuses every write with ``503`` and the problem type
``urn:ccd:problem:standby`` — not a redirect: a client retrying a write elsewhere must
choose to. The answer names the active instance as last seen (``leader`` in the body,
``Location`` with the same path on its ``[ha] api_url`` when that is set) and carries
``Retry-After: 1`` (a failover under way ends within the lease). Checked after
authentication, so an anonymous write is still a 401. ``/readyz`` gets an ``ha`` member:
the role, the instance, the epoch and the leader.
"""

from __future__ import annotations

import json
from typing import Protocol

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from ccd.api.problems import ApiProblem

STANDBY_PROBLEM = "urn:ccd:problem:standby"
READ_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})


class HaView(Protocol):
    def serving(self) -> bool: ...

    def report(self) -> dict[str, object]: ...


HA_VIEW: web.AppKey[HaView] = web.AppKey("ha_view")
READYZ_PATH = "/readyz"


def standby_middleware(view: HaView) -> Middleware:
    @web.middleware
    async def refuse_writes_on_standby(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path == READYZ_PATH:
            return await _readyz_with_role(request, handler, view.report())
        if request.method in READ_METHODS or view.serving():
            return await handler(request)
        report = view.report()
        leader = report.get("leader")
        headers = {"Retry-After": "1"}
        if isinstance(leader, dict) and isinstance(leader.get("api_url"), str):
            headers["Location"] = f"{leader['api_url']}{request.rel_url.raw_path}"
        raise ApiProblem(
            503,
            f"this ccd instance is {report['role']}, not active: send writes to the active "
            "instance (leader)",
            type_=STANDBY_PROBLEM,
            title="Standby instance",
            headers=headers,
            extensions={"role": report["role"], "leader": leader},
        )

    return refuse_writes_on_standby


async def _readyz_with_role(
    request: web.Request, handler: Handler, report: dict[str, object]
) -> web.StreamResponse:
    """``/readyz`` with ``ha`` (role, instance, epoch, leader) added to its body, ready or
    not: a load balancer or an operator sees which instance is active."""
    try:
        response = await handler(request)
    except ApiProblem as problem:
        problem.extensions["ha"] = report
        raise
    if isinstance(response, web.Response) and response.content_type == "application/json":
        body = json.loads(response.text or "{}")
        if isinstance(body, dict):
            body["ha"] = report
            response.text = json.dumps(body)
    return response
