"""Failed authentication is limited per source address: 429 with Retry-After once an
address has failed too often, until its window closes (the test clock moves it)."""

from __future__ import annotations

import aiohttp
import pytest
from multidict import CIMultiDict
from structlog.testing import capture_logs

from ccd.domain.auth_failures import FailedAuthLimiter
from ccd.domain.client_address import parse_networks
from tests.integration.apifakes import TOKENS, Api, running_api

BAD = {"Authorization": "Bearer ccd_000000000000_not-a-real-secret"}


def limiter() -> FailedAuthLimiter:
    return FailedAuthLimiter(limit=3, window_s=60, capacity=100)


async def me(api: Api, headers: dict[str, str]) -> aiohttp.ClientResponse:
    response = await api.client.get("/api/v1/me", headers=headers)
    await response.read()
    return response


async def test_an_address_is_blocked_after_too_many_failures_until_the_window_closes() -> None:
    async with running_api(auth_failures=limiter()) as api:
        for _ in range(3):
            assert (await me(api, BAD)).status == 401
        checked = len(api.tokens.verified)

        blocked = await me(api, BAD)
        assert blocked.status == 429
        assert blocked.headers["Retry-After"] == "60"
        assert blocked.content_type == "application/problem+json"
        problem = await blocked.json()
        assert problem["status"] == 429
        assert problem["retry_after_s"] == 60
        assert problem["detail"] == (
            "too many failed authentication attempts from this address; retry in 60 s"
        )
        # Decided: a blocked address is refused whatever it sends, a valid token too, and
        # no token is even checked (no oracle for a guesser, no database read per guess).
        assert (await me(api, api.auth("admin"))).status == 429
        assert (await me(api, {})).status == 429
        assert len(api.tokens.verified) == checked

        api.clock.advance(45)
        assert (await me(api, api.auth("admin"))).headers["Retry-After"] == "15"
        api.clock.advance(15)  # the window that opened with the first failure has closed
        assert (await me(api, api.auth("admin"))).status == 200
        assert (await me(api, BAD)).status == 401  # a fresh window: one failure so far


async def test_failures_spread_over_windows_never_block() -> None:
    async with running_api(auth_failures=limiter()) as api:
        for _ in range(4):
            assert (await me(api, BAD)).status == 401
            assert (await me(api, BAD)).status == 401
            api.clock.advance(60)
        assert (await me(api, api.auth("admin"))).status == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic YWRtaW46YWRtaW4="}, {"Authorization": "Bearer " + "x" * 600}],
    ids=["missing", "other scheme", "too long"],
)
async def test_every_refused_authentication_counts(headers: dict[str, str]) -> None:
    async with running_api(auth_failures=limiter()) as api:
        for _ in range(3):
            assert (await me(api, headers)).status == 401
        assert (await me(api, headers)).status == 429


async def test_successes_do_not_count_and_public_routes_stay_open() -> None:
    async with running_api(auth_failures=limiter()) as api:
        for _ in range(20):
            assert (await me(api, api.auth("integrator"))).status == 200
        for _ in range(3):
            await me(api, BAD)
        assert (await api.client.get("/healthz")).status == 200
        assert (await me(api, api.auth("integrator"))).status == 429


async def test_websocket_upgrades_are_limited_too() -> None:
    async with running_api(auth_failures=limiter()) as api:
        for _ in range(3):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await api.client.ws_connect("/api/v1/events", protocols=("bearer.wrong",))
            assert refused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as blocked:
            await api.client.ws_connect("/api/v1/events", protocols=(f"bearer.{TOKENS['admin']}",))
        assert blocked.value.status == 429
        assert blocked.value.headers is not None
        assert blocked.value.headers["Retry-After"] == "60"


async def test_failures_are_logged_with_the_address_never_the_token() -> None:
    async with running_api(auth_failures=limiter()) as api:
        with capture_logs() as logs:
            for _ in range(3):
                await me(api, BAD)
    failures = [entry for entry in logs if entry["event"] == "authentication failed"]
    assert [(f["address"], f["reason"], f["blocked_for_s"]) for f in failures] == [
        ("127.0.0.1", "invalid", None),
        ("127.0.0.1", "invalid", None),
        ("127.0.0.1", "invalid", 60),
    ]
    assert "not-a-real-secret" not in repr(logs)


async def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    first = {**BAD, "X-Forwarded-For": "198.51.100.1"}
    # Not a trusted proxy: the claimed addresses are ignored, the peer is blocked.
    async with running_api(auth_failures=limiter()) as api:
        for _ in range(3):
            await me(api, first)
        spoofed = {**api.auth("admin"), "X-Forwarded-For": "198.51.100.2"}
        assert (await me(api, spoofed)).status == 429

    # Behind a trusted proxy (the test client's 127.0.0.1), each client has its own count.
    async with running_api(
        auth_failures=limiter(), trusted_proxies=parse_networks(["127.0.0.1"])
    ) as api:
        for _ in range(3):
            await me(api, first)
        assert (
            await me(api, {**api.auth("admin"), "X-Forwarded-For": "198.51.100.1"})
        ).status == 429
        other = {**api.auth("admin"), "X-Forwarded-For": "198.51.100.2"}
        assert (await me(api, other)).status == 200
        assert api.tokens.uses == [("t-admin", "198.51.100.2")]
        # The client's own header line first, the proxy's appended line last: the proxy's
        # is the one believed.
        two_lines = [
            *api.auth("admin").items(),
            ("X-Forwarded-For", "198.51.100.9"),
            ("X-Forwarded-For", "198.51.100.1"),
        ]
        response = await api.client.get("/api/v1/me", headers=CIMultiDict(two_lines))
        assert response.status == 429


async def test_without_a_limiter_nothing_is_blocked() -> None:
    async with running_api() as api:
        for _ in range(30):
            assert (await me(api, BAD)).status == 401
        assert (await me(api, api.auth("admin"))).status == 200
