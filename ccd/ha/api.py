"""The REST API of an instance that is not active (high availability).

A standby serves every read (GET, HEAD, OPTIONS: live calls from its own AMI connection,
everything in the database) and refuses every write with ``503`` and the problem type
``urn:ccd:problem:standby`` — not a redirect: a client retrying a write elsewhere must
choose to. The answer names the active instance as last seen (``leader`` in the body,
``Location`` with the same path on its ``[ha] api_url`` when that is set) and carries
``Retry-After: 1`` (a failover under way ends within the lease). Checked after
authentication, so an anonymous write is still a 401. ``/readyz`` gets an ``ha`` member:
the role, the instance, the epoch and the leader (``ccd.api.handlers.readyz`` reads
``HA_VIEW``).
"""

from __future__ import annotations

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


def standby_middleware(view: HaView) -> Middleware:
    @web.middleware
    async def refuse_writes_on_standby(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
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
