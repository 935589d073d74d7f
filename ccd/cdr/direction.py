"""Call direction (inbound / outbound / internal) from where the call entered the dialplan.

Pure. The originator (the channel whose uniqueid is the call's linkedid) decides: the
dialplan context it FIRST appeared in says how it got in — a trunk's inbound context, ccd's
originate context, or an internal phone's context. Trunk channel name prefixes catch what
contexts miss (e.g. a trunk landing in a shared context, an internal phone dialing a trunk).

Rules, first match wins:
1. originator context in ``inbound_contexts``, or originator channel name starts with a
   trunk prefix → INBOUND;
2. originator context in ``outbound_contexts`` (``ccd-originate``: ccd placed the call), or
   any other leg's channel name starts with a trunk prefix → OUTBOUND;
3. otherwise INTERNAL.

Settings (the ``[cdr]`` section maps onto these fields):
``inbound_contexts`` (default ``from-trunk``, ``from-pstn``, ``ccd-inbound``),
``outbound_contexts`` (default ``ccd-originate``), ``trunk_prefixes`` (default none;
e.g. ``PJSIP/trunk-``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ccd.domain.cdr import Direction
from ccd.domain.contract import ORIGINATE_CONTEXT

DEFAULT_INBOUND_CONTEXTS = frozenset({"from-trunk", "from-pstn", "ccd-inbound"})
DEFAULT_OUTBOUND_CONTEXTS = frozenset({ORIGINATE_CONTEXT})


class LegLike(Protocol):
    """What direction needs of a leg (``LegRecord`` fits)."""

    @property
    def channel(self) -> str: ...

    @property
    def context(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DirectionRules:
    inbound_contexts: frozenset[str] = DEFAULT_INBOUND_CONTEXTS
    outbound_contexts: frozenset[str] = DEFAULT_OUTBOUND_CONTEXTS
    trunk_prefixes: tuple[str, ...] = ()

    def classify(self, originator: LegLike, others: Iterable[LegLike] = ()) -> Direction:
        """``originator``: the call's first leg (its context of first appearance);
        ``others``: every other leg of the call."""
        prefixes = tuple(p for p in self.trunk_prefixes if p)
        if originator.context in self.inbound_contexts or (
            prefixes and originator.channel.startswith(prefixes)
        ):
            return Direction.INBOUND
        if originator.context in self.outbound_contexts:
            return Direction.OUTBOUND
        if prefixes and any(leg.channel.startswith(prefixes) for leg in others):
            return Direction.OUTBOUND
        return Direction.INTERNAL
