"""Agents working a campaign over HTTP: preview dialing (take the next contact, then dial
or skip it) and the disposition of an answered attempt.

An agent acts for themself (naming another agent is 403); a supervisor or an admin names
the agent (``agent_id``). The campaign must exist (404); what the running dialer cannot do
now — a campaign not running or not in preview mode, a contact not offered to this
agent, an attempt of another agent, the agent busy — is a 409 with its reason
(``DialerRefused``). A disposition the campaign does not list, ``call-back`` without
``call_back_at`` and a date-time without an offset are 422 naming the field.

Routes (roles in ``ccd.api.policy``):

- ``POST /api/v1/campaigns/{id}/preview`` → 200 ``{"campaign_id", "agent_id", "contact"}``
  (the same contact until dialed or skipped), 204 when none is due.
- ``POST /api/v1/campaigns/{id}/preview/{contact_id}/dial`` → 202 (the call is placed).
- ``POST /api/v1/campaigns/{id}/preview/{contact_id}/skip`` → 204.
- ``POST /api/v1/campaigns/{id}/dispositions`` → 200 with the attempt as recorded.

The agent's acts on a contact are written to the audit trail after the dialer took them:
``contact.preview_dialed``, ``contact.preview_skipped`` and ``contact.disposed`` (target
the contact; the campaign, agent, attempt and disposition in the detail). A process
without a trail answers 503 before the dialer is asked anything.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.acd.seed import Id
from ccd.api.audit_trail import audit_log, record_done
from ccd.api.campaign_contacts import contact_key
from ccd.api.campaigns import CampaignPath, dialer_errors, stored_campaign
from ccd.api.cdrs import IsoDateTime
from ccd.api.context import PRINCIPAL
from ccd.api.dialer_runtime import (
    acting_agent,
    attempt_store,
    dialer,
    dialer_refusals,
    refused,
)
from ccd.api.dialer_views import attempt_view, contact_view
from ccd.api.handlers import model_json, read_json, read_optional_json
from ccd.api.models.campaigns import AttemptView, PreviewDialing
from ccd.api.models.campaigns import PreviewOffer as PreviewOfferView
from ccd.api.openapi.operation import operation
from ccd.api.problems import FieldError, validation_problem
from ccd.api.serialize import iso
from ccd.dialer.retries import CALL_BACK
from ccd.dialer.service import PreviewOffer
from ccd.domain.audit import AuditEntry
from ccd.domain.auth import Role

log = structlog.get_logger("ccd.api")


class AgentBody(BaseModel):
    """Whom the act is for: an agent leaves it out (or names themself); a supervisor or
    an admin names the agent."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    agent_id: Id | None = None


# Attempt ids are BIGINT: a larger one cannot exist (and would overflow the driver).
MAX_ATTEMPT_ID = 2**63 - 1


class DispositionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    attempt_id: Annotated[int, Field(ge=1, le=MAX_ATTEMPT_ID)]
    disposition: Id
    # ISO 8601 with an offset (``Z`` or ``+01:00``); a naive time would be guessed.
    call_back_at: IsoDateTime = None
    call_back_anyone: bool = False  # True: any agent may take the call back
    agent_id: Id | None = None


def offer_view(offer: PreviewOffer) -> dict[str, Any]:
    return {
        "campaign_id": offer.campaign_id,
        "agent_id": offer.agent_id,
        "contact": contact_view(offer.contact),
    }


def _by(request: web.Request) -> str:
    return request[PRINCIPAL].token_id


async def _audit(
    request: web.Request, action: str, contact_id: str, detail: dict[str, Any]
) -> None:
    await record_done(
        request.app, AuditEntry(request[PRINCIPAL], action, "contact", contact_id, detail)
    )


PREVIEW_ACTIONS = {"dial": "contact.preview_dialed", "skip": "contact.preview_skipped"}
PREVIEW_REFUSALS = (
    "409 (type dialer-refused) when the dialer cannot do it now: the campaign not running"
    " or not in preview mode, the contact not offered to this agent, the agent busy."
    " 503 when the dialer is not running in this process."
)


# --- preview -----------------------------------------------------------------------------


@operation(
    "Take the next contact to preview (the same one until dialed or skipped)",
    path=CampaignPath,
    body=AgentBody,
    body_required=False,
    responses={200: PreviewOfferView, 204: None},
    problems=(404, 409),
    description="204 when no contact is due. " + PREVIEW_REFUSALS,
)
async def preview_next(request: web.Request) -> web.StreamResponse:
    campaign = (await stored_campaign(request)).campaign
    body = await read_optional_json(request, AgentBody)
    agent_id = acting_agent(request[PRINCIPAL], body.agent_id)
    running = dialer(request)
    with dialer_refusals(), dialer_errors():
        offer = await running.preview_next(campaign.id, agent_id)
    if offer is None:
        return web.Response(status=204, headers={"Cache-Control": "no-store"})
    log.info(
        "dialer preview offered",
        campaign=campaign.id,
        agent_id=agent_id,
        contact=offer.contact.contact.id,
        token_id=_by(request),
    )
    return model_json(PreviewOfferView.model_validate(offer_view(offer)))


async def _preview_action(request: web.Request, action: str) -> tuple[str, str, str]:
    campaign = (await stored_campaign(request)).campaign
    contact_id = contact_key(request)
    body = await read_optional_json(request, AgentBody)
    agent_id = acting_agent(request[PRINCIPAL], body.agent_id)
    running = dialer(request)
    audit_log(request.app)  # no trail: 503 before the dialer is asked anything
    with dialer_refusals(), dialer_errors():
        if action == "dial":
            await running.preview_dial(campaign.id, agent_id, contact_id)
        else:
            await running.preview_skip(campaign.id, agent_id, contact_id)
    log.info(
        f"dialer preview {action}",
        campaign=campaign.id,
        agent_id=agent_id,
        contact=contact_id,
        token_id=_by(request),
    )
    await _audit(
        request,
        PREVIEW_ACTIONS[action],
        contact_id,
        {"campaign_id": campaign.id, "agent_id": agent_id},
    )
    return campaign.id, agent_id, contact_id


@operation(
    "Dial the previewed contact",
    path=CampaignPath,
    body=AgentBody,
    body_required=False,
    responses={202: PreviewDialing},
    problems=(404, 409),
    description="The call is placed; its progress shows in the live view. "
    + PREVIEW_REFUSALS
    + " Audited as `contact.preview_dialed`.",
)
async def preview_dial(request: web.Request) -> web.Response:
    campaign_id, agent_id, contact_id = await _preview_action(request, "dial")
    return model_json(
        PreviewDialing(
            campaign_id=campaign_id, agent_id=agent_id, contact_id=contact_id, status="dialing"
        ),
        status=202,
    )


@operation(
    "Skip the previewed contact (it is offered again at its next due time)",
    path=CampaignPath,
    body=AgentBody,
    body_required=False,
    responses={204: None},
    problems=(404, 409),
    description=PREVIEW_REFUSALS + " Audited as `contact.preview_skipped`.",
)
async def preview_skip(request: web.Request) -> web.Response:
    await _preview_action(request, "skip")
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


# --- dispositions ------------------------------------------------------------------------


@operation(
    "Record the disposition of an answered attempt",
    path=CampaignPath,
    body=DispositionBody,
    responses={200: AttemptView, 204: None},
    problems=(404, 409),
    description=(
        "The disposition must be one the campaign lists (422); `call-back` needs"
        " `call_back_at` with an offset. 409 (type dialer-refused) for an attempt of another"
        " campaign or agent; 503 when the dialer is not running in this process. Audited as"
        " `contact.disposed`."
    ),
)
async def dispose(request: web.Request) -> web.Response:
    campaign = (await stored_campaign(request)).campaign
    body = await read_json(request, DispositionBody)
    principal = request[PRINCIPAL]
    given = body.agent_id
    if principal.role is Role.AGENT or given is not None:
        agent_id = acting_agent(principal, given)
    else:
        agent_id = None  # a supervisor or an admin: the attempt's agent, read below
    errors: list[FieldError] = []
    if body.disposition not in campaign.dispositions:
        allowed = ", ".join(campaign.dispositions)
        errors.append(
            FieldError("disposition", f"is not one of the campaign's dispositions ({allowed})")
        )
    elif body.disposition == CALL_BACK and body.call_back_at is None:
        errors.append(FieldError("call_back_at", "required with the call-back disposition"))
    if errors:
        raise validation_problem(errors)
    attempts = attempt_store(request)
    running = dialer(request)
    audit_log(request.app)
    with dialer_errors():
        attempt = await attempts.get(body.attempt_id)
    if agent_id is None:
        if attempt is None or attempt.campaign_id != campaign.id:
            raise refused(f"attempt {body.attempt_id} is not one of campaign {campaign.id}")
        if attempt.agent_id is None:
            raise validation_problem(
                [FieldError("agent_id", "required: the attempt names no agent")]
            )
        agent_id = attempt.agent_id
    call_back_at = body.call_back_at.timestamp() if body.call_back_at is not None else None
    try:
        with dialer_refusals(), dialer_errors():
            await running.dispose(
                campaign.id,
                body.attempt_id,
                agent_id=agent_id,
                disposition=body.disposition,
                call_back_at=call_back_at,
                call_back_anyone=body.call_back_anyone,
            )
    except ValueError as exc:  # the rules' own refusal (ccd.dialer.retries)
        raise validation_problem([FieldError("disposition", str(exc))]) from None
    log.info(
        "dialer disposition",
        campaign=campaign.id,
        attempt=body.attempt_id,
        agent_id=agent_id,
        disposition=body.disposition,
        token_id=_by(request),
    )
    with dialer_errors():
        recorded = await attempts.get(body.attempt_id)
    known = recorded or attempt
    await _audit(
        request,
        "contact.disposed",
        known.contact_id if known is not None else f"attempt:{body.attempt_id}",
        {
            "campaign_id": campaign.id,
            "attempt_id": body.attempt_id,
            "agent_id": agent_id,
            "before": {"disposition": None if attempt is None else attempt.disposition},
            "after": {
                "disposition": body.disposition,
                "call_back_at": iso(body.call_back_at),
                "call_back_anyone": body.call_back_anyone,
            },
        },
    )
    if recorded is None:  # attempts are never deleted while their campaign exists
        return web.Response(status=204, headers={"Cache-Control": "no-store"})
    return model_json(AttemptView.model_validate(attempt_view(recorded)))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/campaigns/{id}/preview", preview_next, name="campaigns.preview")
    r.add_post(
        "/api/v1/campaigns/{id}/preview/{contact_id}/dial",
        preview_dial,
        name="campaigns.preview_dial",
    )
    r.add_post(
        "/api/v1/campaigns/{id}/preview/{contact_id}/skip",
        preview_skip,
        name="campaigns.preview_skip",
    )
    r.add_post("/api/v1/campaigns/{id}/dispositions", dispose, name="campaigns.dispositions")
