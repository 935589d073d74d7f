"""Seeded random garbage: whatever a client sends, the answer is a 2xx or a 4xx problem."""

from __future__ import annotations

import json
import random

from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from tests.integration.apifakes import Api, make_call, running_api

FIELDS = ["endpoint", "destination", "caller_id", "variables", "ring_timeout_s", "application"]
NASTY_TEXT = [
    "",
    "\r\n",
    "\0",
    "PJSIP/1001",
    "Local/1@x",
    "é",
    "\ud7ff",
    "\ud800",
    "\udfff",
    "1" * 200,
    "${X}",
    "a,b",
]


def junk(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(NASTY_TEXT) + "".join(chr(rng.randrange(0, 0x250)) for _ in range(3))
    if kind == 1:
        return rng.choice([0, -1, 1, 121, 2**70, 30])
    if kind == 2:
        return rng.choice([True, False, None, 1.5, -0.0])
    if kind == 3:
        return rng.choice(NASTY_TEXT)
    if kind == 4:
        return rng.choice(["PJSIP/1001", "2000", "30"])
    if kind == 5:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {
        rng.choice([*FIELDS, *NASTY_TEXT]): junk(rng, depth + 1) for _ in range(rng.randrange(4))
    }


def body(rng: random.Random) -> object:
    if rng.random() < 0.8:
        base: dict[str, object] = {"endpoint": "PJSIP/1001", "destination": "2000"}
        for _ in range(rng.randrange(1, 4)):
            base[rng.choice(FIELDS)] = junk(rng)
        return base
    return junk(rng)


async def check(api: Api, method: str, path: str, data: bytes | None = None) -> int:
    headers = {**api.auth("admin"), "Content-Type": "application/json"}
    response = await api.client.request(method, path, headers=headers, data=data)
    assert response.status < 500, (method, path, data, await response.text())
    if response.status >= 400:
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["status"] == response.status
    return response.status


async def test_random_bodies_never_cause_a_server_error(engine: AsyncEngine) -> None:
    rng = random.Random(20261125)
    audit = AuditStore(engine)
    async with running_api(max_body_bytes=4096, calls=[make_call()], audit=audit) as api:
        seen: set[int] = set()
        for _ in range(400):
            payload = body(rng)
            raw = json.dumps(payload).encode()
            if rng.random() < 0.2:  # and some broken JSON
                cut = rng.randrange(len(raw) + 1)
                raw = raw[:cut] + bytes([rng.randrange(256)]) + raw[cut:]
            seen.add(await check(api, "POST", "/api/v1/calls", raw))
        assert {202, 400, 422} <= seen  # the generator reaches every outcome


async def test_random_call_ids_never_cause_a_server_error(engine: AsyncEngine) -> None:
    rng = random.Random(7)
    alphabet = "abc.19%0D%0A%00%2F%25%FF%C3%A9;,=+@-_~"
    # A trail, so that a hangup reaches the id's checks (without one it is 503 at once).
    async with running_api(calls=[make_call()], audit=AuditStore(engine)) as api:
        for _ in range(200):
            call_id = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
            for method in ("GET", "DELETE"):
                await check(api, method, f"/api/v1/calls/{call_id}")
