"""The IVR flows over HTTP.

Routes (roles in ``ccd.api.policy``): ``GET /api/v1/ivr/flows`` lists the running flows;
``POST /api/v1/ivr/reload`` loads the flow files again (like ``ccd reload``): 200 with the
counts, or 422 listing every problem while the running flows stay.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from ccd.api.context import PRINCIPAL
from ccd.api.problems import ApiProblem, FieldError
from ccd.ivr.ports import IvrFlows

log = structlog.get_logger("ccd.api")

IVR: web.AppKey[IvrFlows | None] = web.AppKey("ivr")


def _flows(request: web.Request) -> IvrFlows:
    flows = request.app[IVR]
    if flows is None:
        raise ApiProblem(503, "the IVR is not running in this process")
    return flows


async def list_flows(request: web.Request) -> web.Response:
    return web.json_response({"flows": _flows(request).summaries()})


async def reload_flows(request: web.Request) -> web.Response:
    result = _flows(request).reload()
    principal = request[PRINCIPAL]
    if not result.ok:
        log.warning("ivr reload via api refused", by_role=principal.role.value)
        raise ApiProblem(
            422,
            f"the IVR flows were not reloaded ({len(result.problems)} problem(s)); "
            f"the {result.flows} running flow(s) stay",
            title="IVR flows invalid",
            errors=[FieldError("flows", problem) for problem in result.problems],
        )
    log.info("ivr reload via api", by_role=principal.role.value, flows=result.flows)
    return web.json_response({"reloaded": True, "flows": result.flows, "dids": result.dids})


def add_routes(app: web.Application, flows: IvrFlows | None) -> None:
    app[IVR] = flows
    app.router.add_get("/api/v1/ivr/flows", list_flows, name="ivr.flows")
    app.router.add_post("/api/v1/ivr/reload", reload_flows, name="ivr.reload")
