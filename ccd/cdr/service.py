"""CDR service: the bus subscriber that turns finished calls into spooled records.

``handle`` runs on the bus dispatcher, in event order: the pure builder decides what is
finished, the record goes to the spool (one ``write(2)``, so it survives a crash of this
process from then on), and the writer is woken to fsync and insert it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog

from ccd.cdr.codec import SpoolRecord, record_key
from ccd.cdr.spool import Spool
from ccd.domain.cdr import AsteriskCdr, CallRecord
from ccd.domain.events import AsteriskCdrReceived

log = structlog.get_logger("ccd.cdr")


class RecordBuilder(Protocol):
    """What ``ccd.cdr.builder.CdrBuilder`` offers the service."""

    def apply(self, event: object) -> Sequence[CallRecord]: ...

    def asterisk_cdr(self, event: AsteriskCdrReceived) -> AsteriskCdr | None: ...

    def give_up_settling(self) -> Sequence[CallRecord]: ...


class Wakeable(Protocol):
    def wake(self) -> None: ...


class CdrService:
    def __init__(self, builder: RecordBuilder, spool: Spool, writer: Wakeable) -> None:
        self._builder = builder
        self._spool = spool
        self._writer = writer
        self.spooled = 0
        self.spool_failures = 0

    def handle(self, event: object) -> None:
        records: Sequence[SpoolRecord]
        if isinstance(event, AsteriskCdrReceived):
            raw = self._builder.asterisk_cdr(event)
            records = () if raw is None else (raw,)
        else:
            records = self._builder.apply(event)
        self._spool_all(records)

    def flush_waiting(self) -> None:
        """At shutdown, after the bus drained: spool the records still waiting for an
        event that will not come now (dialer calls awaiting their settlement)."""
        self._spool_all(self._builder.give_up_settling())

    def _spool_all(self, records: Sequence[SpoolRecord]) -> None:
        if not records:
            return
        for record in records:
            try:
                self._spool.append(record)
            except OSError as exc:
                # Disk full or gone: nothing else can make this record durable. Say which
                # call it was, loudly, and keep serving the others.
                self.spool_failures += 1
                log.error(
                    "cdr could not be spooled",
                    linkedid=record_key(record),
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            self.spooled += 1
        self._writer.wake()

    def not_ready_reasons(self) -> list[str]:
        if self.spool_failures:
            return [f"cdr: {self.spool_failures} records could not be written to the spool"]
        return []
