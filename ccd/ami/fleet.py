"""Several Asterisk servers: one ``AmiGateway`` per configured server, by name.

Each gateway keeps its own connection, backoff, watchdog and resync; the fleet only
starts and stops them together, finds one by server name (call control goes to the
server of the call it acts on) and says which servers are not ready — including the
``systemname`` rule that keeps call ids unique across servers
(``ccd.domain.servers``). With one server configured it is that server's gateway and
says exactly what that gateway alone would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import structlog

from ccd.ami.gateway import AmiError, AmiGateway
from ccd.domain.servers import system_name_problems

log = structlog.get_logger("ccd.ami")


class UnknownServer(LookupError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no Asterisk server named {name!r} (configured: {', '.join(known)})")
        self.name = name


class AmiFleet:
    def __init__(self, gateways: Sequence[AmiGateway]) -> None:
        if not gateways:
            raise ValueError("an AMI fleet needs at least one gateway")
        self._gateways = {gateway.server: gateway for gateway in gateways}
        if len(self._gateways) != len(gateways):
            raise ValueError("two gateways share a server name")
        self._logged_system_problems: tuple[str, ...] = ()

    # -- lookup -------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Every server name, in configuration order (the first is the default)."""
        return tuple(self._gateways)

    @property
    def first(self) -> AmiGateway:
        """The default server's gateway (originate without a server, agents without one)."""
        return next(iter(self._gateways.values()))

    def __iter__(self) -> Iterator[AmiGateway]:
        return iter(self._gateways.values())

    def __len__(self) -> int:
        return len(self._gateways)

    def get(self, name: str) -> AmiGateway:
        """The gateway of server ``name``; ``UnknownServer`` when none is configured."""
        gateway = self._gateways.get(name)
        if gateway is None:
            raise UnknownServer(name, self.names)
        return gateway

    def for_server(self, name: str) -> AmiGateway:
        """Like ``get``, but ``""`` (an untagged call or agent) means the first server."""
        return self.first if not name else self.get(name)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        for gateway in self:
            await gateway.start()

    async def stop(self) -> None:
        await asyncio.gather(*(gateway.stop() for gateway in self))

    async def resync(self) -> None:
        """Resync every connected server; one not connected resyncs at its next login."""
        for gateway in self:
            try:
                await gateway.resync()
            except AmiError as exc:
                log.warning(
                    "ami resync not done; the next login resyncs",
                    server=gateway.server,
                    error=str(exc),
                )

    # -- readiness ----------------------------------------------------------------------

    def not_ready_reasons(self) -> list[str]:
        """One reason per server not logged in or not resynced, naming it, and the
        ``systemname`` problems (logged once per change, naming both servers)."""
        if len(self._gateways) == 1:
            return []  # Readiness reports the one gateway itself, as before the fleet
        reasons: list[str] = []
        for gateway in self:
            if not gateway.logged_in:
                detail = f" ({gateway.last_error})" if gateway.last_error else ""
                reasons.append(f"ami {gateway.server}: not logged in to Asterisk{detail}")
            elif not gateway.resynced:
                reasons.append(
                    f"ami {gateway.server}: logged in, live model not yet resynced with Asterisk"
                )
        problems = system_name_problems(
            {gateway.server: gateway.system_name if gateway.logged_in else None for gateway in self}
        )
        if tuple(problems) != self._logged_system_problems:
            self._logged_system_problems = tuple(problems)
            for problem in problems:
                log.error("asterisk servers cannot keep call ids apart", problem=problem)
        return reasons + problems
