"""One contact of a campaign over HTTP, with its dial history: where it stands (status,
next attempt, whose call back it is, why it is done) and every attempt, oldest first,
with its times, outcome, agent and disposition.

Route (roles in ``ccd.api.policy``: admins and supervisors):
``GET /api/v1/campaigns/{id}/contacts/{contact_id}`` → 200; a contact of another
campaign, or none, 404.
"""

from __future__ import annotations

from aiohttp import web

from ccd.api.campaigns import CampaignPath, dialer_errors, dialer_store, stored_campaign
from ccd.api.dialer_runtime import attempt_store
from ccd.api.dialer_views import attempt_view, contact_view
from ccd.api.handlers import model_json
from ccd.api.models.campaigns import ContactDetail
from ccd.api.openapi.operation import operation
from ccd.api.problems import not_found
from ccd.api.validation import check_id_param

MAX_CONTACT_ID_LENGTH = 64


def contact_key(request: web.Request) -> str:
    """The path's contact id (CR/LF/NUL 422; one too long to exist 404)."""
    return check_id_param(
        "contact_id",
        request.match_info["contact_id"],
        max_length=MAX_CONTACT_ID_LENGTH,
        missing="no such contact",
    )


@operation(
    "One contact of a campaign with its dial history",
    path=CampaignPath,
    responses={200: ContactDetail},
    problems=(404, 503),
    description="404 for a contact of another campaign; 503 without the attempt records.",
)
async def get_contact(request: web.Request) -> web.Response:
    campaign = (await stored_campaign(request)).campaign
    contact_id = contact_key(request)
    attempts = attempt_store(request)
    with dialer_errors():
        stored = await dialer_store(request).get_contact(contact_id)
        if stored is None or stored.contact.campaign_id != campaign.id:
            raise not_found(f"campaign {campaign.id!r} has no contact {contact_id!r}")
        history = await attempts.attempts_of(contact_id)
    return model_json(
        ContactDetail.model_validate(
            contact_view(stored) | {"attempt_history": [attempt_view(a) for a in history]}
        )
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get(
        "/api/v1/campaigns/{id}/contacts/{contact_id}", get_contact, name="campaigns.contact"
    )
