"""Rig for the dialer's system tests: ccd in-process (``acd_daemon``) against the real
Asterisk sandbox and a PostgreSQL database of the test's own; agents simulated by
``ccd-agents`` (1xxx answer and talk, 2xxx never answer), customers by ``ccd-sim``
(``+1`` then the behaviour's digit: 6 a person, 7 a machine, 3 busy, 4 congestion, 2 rings
forever). Campaigns are created and started over REST as an admin would; contacts are
written through the store (the CSV import has its own tests)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccd.acd.model import Agent, Queue
from ccd.db.dialer_store import DialerStore
from ccd.db.engine import create_engine
from ccd.dialer.model import Contact
from ccd.domain import contract
from ccd.domain.auth import Role
from ccd.domain.events import UserEventReceived
from tests.system.acdrig import AcdRun, _fetch, acd_daemon, acd_database, config
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually

CAMPAIGN = "outbound"
QUEUE = "outbound-agents"
ALWAYS_OPEN = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59:59"}
]
# ccd-sim behaviours for +1<digit>…: valid North American numbers (phonenumbers agrees).
PERSON, MACHINE, BUSY, CONGESTION, RINGS = (
    "+1612555",
    "+1702555",
    "+1312555",
    "+1415555",
    "+1212555",
)
CALLEE_ZONE = "America/Chicago"
SAFE_HARBOR_PROMPT = "ccd-sim/hello"  # a stand-in for the seller's recorded message
MACHINE_PROMPT = "vm-goodbye"


def number(behaviour: str, serial: int) -> str:
    return f"{behaviour}{serial:04d}"


@dataclass
class DialerRun:
    run: AcdRun
    admin: str
    campaign_id: str

    async def attempts(self) -> list[dict[str, Any]]:
        rows = await _fetch(
            self.run.database_url,
            "SELECT * FROM dialer_attempts WHERE campaign_id = $1 ORDER BY id",
            [self.campaign_id],
        )
        return [dict(row) for row in rows]

    async def contact(self, contact_id: str) -> dict[str, Any]:
        rows = await _fetch(
            self.run.database_url, "SELECT * FROM dialer_contacts WHERE id = $1", [contact_id]
        )
        return dict(rows[0])

    async def ended(self, count: int, within_s: float = 40) -> list[dict[str, Any]]:
        """The campaign's attempts once ``count`` of them have ended."""
        found: list[dict[str, Any]] = []

        async def enough() -> bool:
            nonlocal found
            found = await self.attempts()
            return sum(row["ended_at"] is not None for row in found) >= count

        await eventually(enough, within_s=within_s, what=f"{count} attempts ended")
        return found

    async def action(self, name: str) -> None:
        status, body = await self.run.api(
            "POST", f"/api/v1/campaigns/{self.campaign_id}/{name}", self.admin
        )
        assert status == 200, body

    async def login(self, agent_id: str) -> str:
        token = await self.run.token(Role.AGENT, agent_id)
        status, body = await self.run.api("POST", f"/api/v1/agents/{agent_id}/login", token)
        assert status in (200, 204), body
        return token

    async def view(self) -> dict[str, Any]:
        """``GET /api/v1/campaigns/{id}`` as the admin sees it (``live`` included)."""
        status, body = await self.run.api(
            "GET", f"/api/v1/campaigns/{self.campaign_id}", self.admin
        )
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    async def contact_view(self, contact_id: str) -> dict[str, Any]:
        """``GET /api/v1/campaigns/{id}/contacts/{contact_id}``: the contact and its history."""
        status, body = await self.run.api(
            "GET", f"/api/v1/campaigns/{self.campaign_id}/contacts/{contact_id}", self.admin
        )
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    async def dispose(self, token: str, attempt_id: int, disposition: str) -> dict[str, Any]:
        """The agent (``token``) closes its answered attempt."""
        status, body = await self.run.api(
            "POST",
            f"/api/v1/campaigns/{self.campaign_id}/dispositions",
            token,
            {"attempt_id": attempt_id, "disposition": disposition},
        )
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    async def post_csv(self, path: str, text: str) -> tuple[int, Any]:
        """A ``text/csv`` body POSTed as the admin (contacts or do-not-call uploads)."""
        headers = {"Authorization": f"Bearer {self.admin}", "Content-Type": "text/csv"}
        async with self.run.http.post(path, data=text.encode(), headers=headers) as response:
            return response.status, await response.json()

    async def request(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """As ``AcdRun.api``, but a reply without a body (204) is None, not an error."""
        headers = {"Authorization": f"Bearer {token}"}
        async with self.run.http.request(method, path, json=body, headers=headers) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def get_text(self, path: str) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {self.admin}"}
        async with self.run.http.get(path, headers=headers) as response:
            return response.status, await response.text()

    def messages(self) -> list[UserEventReceived]:
        """From now on, every ``CcdDialerMessage`` (a safe-harbor or machine message about
        to play) as the bus carries it."""
        found: list[UserEventReceived] = []

        def collect(event: object) -> None:
            if (
                isinstance(event, UserEventReceived)
                and event.name == contract.USER_EVENT_DIALER_MESSAGE
            ):
                found.append(event)

        self.run.daemon.components.bus.subscribe(collect)
        return found

    @asynccontextmanager
    async def disposing(
        self, tokens: Mapping[str, str], disposition: str = "sale"
    ) -> AsyncIterator[set[int]]:
        """Agents who close each call they are connected to (``tokens``: agent id → its
        token), as soon as it is connected, so that their wrap-up does not hold them; yields
        the attempt ids disposed so far."""
        done: set[int] = set()

        async def work() -> None:
            while True:
                for row in await self.attempts():
                    agent = row["agent_id"]
                    if (
                        row["agent_connected_at"] is not None
                        and row["disposition"] is None
                        and row["id"] not in done
                        and agent in tokens
                    ):
                        await self.dispose(tokens[agent], row["id"], disposition)
                        done.add(row["id"])
                await asyncio.sleep(0.2)

        task = asyncio.create_task(work())
        try:
            yield done
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a failure of the agents' own requests is raised here


async def add_contacts(database_url: str, numbers: Sequence[str], *, first: int = 0) -> list[str]:
    """The campaign's contacts, in dialing order (ids numbered from ``first``)."""
    engine = create_engine(database_url)
    try:
        store = DialerStore(engine)
        contacts = [
            Contact(
                id=f"{CAMPAIGN}-{index}",
                campaign_id=CAMPAIGN,
                number=phone,
                time_zones=(CALLEE_ZONE,),
                name=f"Customer {index}",
            )
            for index, phone in enumerate(numbers, start=first)
        ]
        await store.add_contacts(CAMPAIGN, contacts)
        return [contact.id for contact in contacts]
    finally:
        await engine.dispose()


@asynccontextmanager
async def dialer_daemon(
    sandbox: AsteriskSandbox,
    cluster: PostgresCluster,
    data_dir: Path,
    *,
    agents: Sequence[Agent],
    talk_s: float = 2,
    **campaign: Any,
) -> AsyncIterator[DialerRun]:
    """ccd with a campaign ``CAMPAIGN`` (a draft: fields ``campaign`` over the rig's
    defaults) worked by ``agents`` (members of ``QUEUE``, not logged in yet)."""
    url = await acd_database(
        cluster, config([Queue(id=QUEUE)], agents, {agent.id: [QUEUE] for agent in agents})
    )
    async with acd_daemon(sandbox, url, data_dir, talk_s=talk_s) as run:
        admin = await run.token(Role.ADMIN)
        body = {
            "id": CAMPAIGN,
            "mode": "progressive",
            "caller_id": "+15550100",
            "queue_id": QUEUE,
            "windows": ALWAYS_OPEN,
            "ring_timeout_s": 15,
            "safe_harbor_prompt": SAFE_HARBOR_PROMPT,
            **campaign,
        }
        status, created = await run.api("POST", "/api/v1/campaigns", admin, body)
        assert status == 201, created
        yield DialerRun(run, admin, CAMPAIGN)
