"""HTTP out: one signed POST per attempt, bounded in time and in what is read back.

The connector resolves names through ``GuardedResolver``: unless private targets are
allowed, a name resolving to any refused address (``ccd.webhooks.targets``) fails the
attempt — the check happens on the very addresses the connection would use, so a name
re-pointed at an internal address after the subscription was accepted is still refused.
Literal IP hosts skip the resolver and are checked before connecting. Redirects are not
followed (a redirect could point anywhere).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ccd.webhooks.targets import address_problem, host_of, literal_address

USER_AGENT = "ccd-webhooks/1"
READ_CHUNK = 16 * 1024


class TargetRefused(OSError):
    """The target resolves to an address webhooks may not reach."""


class GuardedResolver(AbstractResolver):
    def __init__(self, *, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for result in results:
                problem = address_problem(result["host"])
                if problem is not None:
                    raise TargetRefused(f"{host} resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one POST: ``status`` None when no answer came."""

    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender:
    def __init__(
        self,
        *,
        allow_private: bool,
        connect_timeout_s: float,
        timeout_s: float,
        max_response_bytes: int,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=connect_timeout_s, sock_connect=connect_timeout_s
        )
        self._max_response_bytes = max_response_bytes
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow_private=self._allow_private), limit=0
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def refused(self, url: str) -> str | None:
        """Why ``url``'s literal address is refused (names are checked when resolved)."""
        if self._allow_private:
            return None
        address = literal_address(host_of(url))
        return None if address is None else address_problem(str(address))

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        if self._session is None:
            raise RuntimeError("webhook sender not started")
        refused = self.refused(url)
        if refused is not None:
            return Attempt(None, f"refused: {refused}")
        try:
            async with self._session.post(
                url,
                data=body,
                headers={**headers, "content-type": "application/json", "user-agent": USER_AGENT},
                allow_redirects=False,
            ) as response:
                await self._read_capped(response)
                if 200 <= response.status < 300:
                    return Attempt(response.status, None)
                return Attempt(response.status, f"HTTP {response.status}")
        except TargetRefused as exc:
            return Attempt(None, f"refused: {exc}")
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            if isinstance(cause, TargetRefused):
                return Attempt(None, f"refused: {cause}")
            return Attempt(None, f"cannot connect: {cause.strerror or cause}")
        except TimeoutError:
            return Attempt(None, "timed out")
        except aiohttp.ClientError as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:300])

    async def _read_capped(self, response: aiohttp.ClientResponse) -> None:
        """Read at most the cap; a longer answer is cut off (the connection is closed
        rather than drained)."""
        left = self._max_response_bytes
        while left > 0:
            chunk = await response.content.read(min(READ_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
        if not response.content.at_eof():
            response.close()
