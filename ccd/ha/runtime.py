"""Runs the election (``ccd.ha.election``) against its lease store on the Clock.

Every ``renew_interval_s`` the machine gets a ``Tick`` and its commands are carried out
one by one, the store's answers fed back as events. ``BecomeActive`` starts the active
part of ccd (``on_active``: ACD, dialer, FastAGI, CDR writes…) in its own task, so the
lease keeps being renewed while that starts; ``Fence`` calls ``on_fenced``, which in the
daemon exits the process at once (``ccd.app``): a fenced leader must not finish anything.
``acting`` is the synchronous gate checked before every action (AMI writes, the ACD's and
the dialer's decisions, dialer claims).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from ccd.clock import Clock
from ccd.ha.election import (
    BecomeActive,
    DatabaseUnavailable,
    Election,
    Event,
    Fence,
    Leader,
    LockAcquired,
    LockBusy,
    Renew,
    RenewalFailed,
    RenewalOk,
    Role,
    TerminateHolder,
    Tick,
    TryLock,
)

log = structlog.get_logger("ccd.ha")


class LeaseStore(Protocol):
    async def try_lock(self) -> LockAcquired | LockBusy | DatabaseUnavailable: ...

    async def renew(self, epoch: int) -> RenewalOk | RenewalFailed: ...

    async def terminate(self, pid: int) -> bool: ...

    async def close(self) -> None: ...


class HaRuntime:
    def __init__(
        self,
        *,
        election: Election,
        store: LeaseStore,
        clock: Clock,
        instance: str,
        api_url: str | None,
        on_active: Callable[[int], Awaitable[None]],
        on_fenced: Callable[[str], None],
    ) -> None:
        self._election = election
        self._store = store
        self._clock = clock
        self.instance = instance
        self.api_url = api_url
        self._on_active = on_active
        self._on_fenced = on_fenced
        self._loop: asyncio.Task[None] | None = None
        self._activation: asyncio.Task[None] | None = None
        self.activated = asyncio.Event()
        """Set once ``on_active`` has returned: this instance runs everything."""
        self.became_active_at: float | None = None  # monotonic
        self.terminated_holders = 0

    # ---- what the rest of ccd asks -----------------------------------------------------

    def acting(self) -> bool:
        return self._election.acting(self._clock.monotonic())

    @property
    def role(self) -> Role:
        return self._election.role

    @property
    def epoch(self) -> int | None:
        return self._election.epoch if self._election.role is not Role.STANDBY else None

    @property
    def leader(self) -> Leader | None:
        """The active instance as last seen by this standby (None while we hold the lock)."""
        return self._election.leader if self._election.role is Role.STANDBY else None

    def serving(self) -> bool:
        """Acting, and its active part started: the API takes writes (``ccd.ha.api``)."""
        return self.activated.is_set() and self.acting()

    def report(self) -> dict[str, object]:
        """For ``/readyz``: this instance's role — ``active`` only once its active part
        has started (``taking_over`` until then) — and, on a standby, who leads."""
        leader = self.leader
        role = self.role
        if role is Role.ACTIVE and not self.activated.is_set():
            role = Role.TAKING_OVER
        return {
            "role": role.value,
            "instance": self.instance,
            "epoch": self.epoch,
            "leader": None
            if leader is None
            else {"instance": leader.instance, "api_url": leader.api_url, "epoch": leader.epoch},
        }

    # ---- lifetime ----------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="ccd-ha")

    async def stop_activation(self) -> None:
        """Cancel a takeover still starting (shutdown); the lease is still renewed."""
        await _cancel(self._activation)

    async def stop(self) -> None:
        """Stop renewing and give the lock up (a standby takes over at once)."""
        await _cancel(self._activation)
        await _cancel(self._loop)
        await self._store.close()

    async def _run(self) -> None:
        interval = self._election.timings.renew_interval_s
        while self._election.role is not Role.FENCED:
            try:
                await self.step(Tick(self._clock.monotonic()))
            except Exception:
                log.exception("ha step failed")
            await self._clock.sleep(interval)

    async def step(self, event: Event) -> None:
        """Feed one event and carry out what it commands (and what their answers do)."""
        before = self._election.role
        commands = self._election.handle(event)
        if self._election.role is not before:
            log.info(
                "ha role changed",
                role=self._election.role.value,
                was=before.value,
                epoch=self._election.epoch,
                instance=self.instance,
            )
        for command in commands:
            match command:
                case TryLock():
                    await self.step(await self._store.try_lock())
                case Renew(epoch=epoch):
                    await self.step(await self._store.renew(epoch))
                case TerminateHolder(pid=pid):
                    stale = self._election.leader
                    done = await self._store.terminate(pid)
                    self.terminated_holders += int(done)
                    log.warning(
                        "ha stale leader terminated" if done else "ha stale leader still there",
                        pid=pid,
                        holder=stale.instance if stale is not None else None,
                    )
                case BecomeActive(epoch=epoch):
                    self.became_active_at = self._clock.monotonic()
                    self._activation = asyncio.create_task(
                        self._activate(epoch), name="ccd-ha-activate"
                    )
                case Fence(reason=reason):
                    log.error("ha fenced: stop acting", reason=reason, instance=self.instance)
                    self._on_fenced(reason)
        if isinstance(event, DatabaseUnavailable) and self._election.role is Role.STANDBY:
            log.warning("ha database unavailable", reason=event.reason)

    async def _activate(self, epoch: int) -> None:
        log.info("ha active: starting", epoch=epoch, instance=self.instance)
        try:
            await self._on_active(epoch)
        except Exception as exc:
            log.exception("ha activation failed", epoch=epoch)
            self._on_fenced(f"activation failed: {type(exc).__name__}")
            return
        self.activated.set()
        log.info("ha active: running", epoch=epoch, instance=self.instance)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
