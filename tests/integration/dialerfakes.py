"""A fake of the running dialer as the API sees it (``ccd.api.dialer_runtime.DialerRuntime``):
no Asterisk, no pacing. It offers due contacts from the real store, disposes through the
real attempt store with the real rules (``retries.after_disposition``), records every call
in ``calls`` and refuses with ``refuse_with`` when set, as ``DialerService`` does
(``invalid_with``: ``dispose`` raises the ``ValueError`` of the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccd.db.dialer_attempts import AttemptStore
from ccd.db.dialer_store import DialerStore
from ccd.dialer.retries import DO_NOT_CALL, after_disposition
from ccd.dialer.service import DialerRefused, PreviewOffer


class FakeDialer:
    def __init__(
        self, store: DialerStore, attempts: AttemptStore, *, now: Callable[[], float]
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.now = now
        self.calls: list[tuple[object, ...]] = []
        self.refuse_with: str | None = None
        self.fail_reload = False
        self.invalid_with: str | None = None  # dispose raises ValueError (the rules refuse)
        self.offers: dict[str, PreviewOffer] = {}  # agent id -> offer
        self.live_views: dict[str, dict[str, Any]] = {}  # what live() answers, by campaign

    def _record(self, *call: object) -> None:
        self.calls.append(call)
        if self.refuse_with is not None:
            raise DialerRefused(self.refuse_with)

    @property
    def reloads(self) -> list[str]:
        return [str(call[1]) for call in self.calls if call[0] == "reload"]

    async def preview_next(self, campaign_id: str, agent_id: str) -> PreviewOffer | None:
        self._record("preview_next", campaign_id, agent_id)
        offer = self.offers.get(agent_id)
        if offer is not None:
            return offer
        taken = {o.contact.contact.id for o in self.offers.values()}
        due = [
            stored
            for stored in await self.store.due_contacts(campaign_id, limit=100)
            if stored.contact.id not in taken and stored.callback_owner in (None, agent_id)
        ]
        if not due:
            return None
        offer = PreviewOffer(campaign_id, agent_id, f"ccd-dial-fake-{len(self.calls)}", due[0])
        self.offers[agent_id] = offer
        return offer

    async def preview_dial(self, campaign_id: str, agent_id: str, contact_id: str) -> None:
        self._record("preview_dial", campaign_id, agent_id, contact_id)
        self._take_offer(agent_id, contact_id)

    async def preview_skip(self, campaign_id: str, agent_id: str, contact_id: str) -> None:
        self._record("preview_skip", campaign_id, agent_id, contact_id)
        self._take_offer(agent_id, contact_id)

    def _take_offer(self, agent_id: str, contact_id: str) -> None:
        """An offer of another contact is refused; with none, anything goes (the auth
        matrix dials without asking for an offer first)."""
        offer = self.offers.get(agent_id)
        if offer is not None and offer.contact.contact.id != contact_id:
            raise DialerRefused(f"contact {contact_id} is not offered to agent {agent_id}")
        self.offers.pop(agent_id, None)

    async def dispose(
        self,
        campaign_id: str,
        attempt_id: int,
        *,
        agent_id: str,
        disposition: str,
        call_back_at: float | None = None,
        call_back_anyone: bool = False,
    ) -> None:
        self._record(
            "dispose",
            campaign_id,
            attempt_id,
            agent_id,
            disposition,
            call_back_at,
            call_back_anyone,
        )
        if self.invalid_with is not None:
            raise ValueError(self.invalid_with)
        stored = await self.store.get_campaign(campaign_id)
        attempt = await self.attempts.get(attempt_id)
        if stored is None or attempt is None or attempt.campaign_id != campaign_id:
            raise DialerRefused(f"attempt {attempt_id} is not one of campaign {campaign_id}")
        if attempt.agent_id != agent_id:
            raise DialerRefused(f"attempt {attempt_id} was not answered by agent {agent_id}")
        contact = await self.store.get_contact(attempt.contact_id)
        assert contact is not None
        now = self.now()
        owner = None if call_back_anyone else agent_id
        next_step = after_disposition(
            contact.contact, stored.campaign, disposition, now, call_back_at, owner
        )
        await self.attempts.dispose(
            attempt_id,
            disposition=disposition,
            agent_id=agent_id,
            next=next_step,
            now=now,
            do_not_call=disposition == DO_NOT_CALL,
        )

    async def reload(self, campaign_id: str) -> None:
        self.calls.append(("reload", campaign_id))
        if self.fail_reload:
            raise ConnectionError("the dialer lost its database")

    def live(self, campaign_id: str) -> dict[str, Any] | None:
        return self.live_views.get(campaign_id)
