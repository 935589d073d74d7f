"""The IVR flows over HTTP.

Routes (roles in ``ccd.api.policy``): ``GET /api/v1/ivr/flows`` lists the running flows;
``POST /api/v1/ivr/reload`` loads the flow files again (like ``ccd reload``): 200 with the
counts, or 422 listing every problem while the running flows stay. A reload is audited
(``ivr.reloaded``: each flow's version before and after).
"""

from __future__ import annotations

import structlog
from aiohttp import web

from ccd.api.audit_trail import audited
from ccd.api.context import PRINCIPAL
from ccd.api.handlers import model_json
from ccd.api.models.ivr import FlowList, FlowsReloaded, FlowSummary
from ccd.api.openapi.operation import operation
from ccd.api.problems import ApiProblem, FieldError
from ccd.domain.audit import AuditEntry
from ccd.ivr.ports import IvrFlows, IvrReloadOutcome

log = structlog.get_logger("ccd.api")

IVR: web.AppKey[IvrFlows | None] = web.AppKey("ivr")


def _flows(request: web.Request) -> IvrFlows:
    flows = request.app[IVR]
    if flows is None:
        raise ApiProblem(503, "the IVR is not running in this process")
    return flows


@operation("The running IVR flows", responses={200: FlowList}, problems=(503,))
async def list_flows(request: web.Request) -> web.Response:
    summaries = [FlowSummary.model_validate(summary) for summary in _flows(request).summaries()]
    return model_json(FlowList(flows=summaries))


def reload_detail(before: dict[str, str], after: dict[str, str]) -> dict[str, object]:
    """What the audit trail keeps of a reload: every flow's version before and after, and
    which flows came, went or changed."""
    return {
        "before": before,
        "after": after,
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(f for f in before.keys() & after.keys() if before[f] != after[f]),
    }


@operation(
    "Load the IVR flow files again (like `ccd reload`)",
    responses={200: FlowsReloaded},
    problems=(422, 503),
    description=(
        "All or nothing: when a file is invalid the answer is 422 listing every problem in"
        " `errors` (field `flows`) and the running flows stay."
    ),
)
async def reload_flows(request: web.Request) -> web.Response:
    flows = _flows(request)
    principal = request[PRINCIPAL]
    before = flows.versions()

    async def reload() -> IvrReloadOutcome:
        result = flows.reload()
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
        return result

    def entry(_: IvrReloadOutcome) -> AuditEntry:
        detail = reload_detail(before, flows.versions())
        return AuditEntry(principal, "ivr.reloaded", "ivr", "flows", detail)

    result = await audited(request.app, reload, entry)
    return model_json(FlowsReloaded(reloaded=True, flows=result.flows, dids=result.dids))


def add_routes(app: web.Application, flows: IvrFlows | None) -> None:
    app[IVR] = flows
    app.router.add_get("/api/v1/ivr/flows", list_flows, name="ivr.flows")
    app.router.add_post("/api/v1/ivr/reload", reload_flows, name="ivr.reload")
