"""What a standby's CDR builder must not see: agent legs it cannot place. Pure.

The ACD originates an agent's leg under a linkedid of its own (``ccd-acd-…``) and tells
the CDR builder which customer call it belongs to with an ``AgentRingStarted`` published
on the *active* instance's bus (``ccd.domain.grouping``). A standby never gets that event:
its builder would take such a leg for a call of its own and, once active, write a second
record naming the customer (the leg carries their caller id). So while standby, every
channel event under such a linkedid is held back — and for that linkedid for good (its
channels' later events, after the takeover, included): the customer's own record is
complete without it (the agent's half that is bridged to the customer moves to the
customer's linkedid and is seen there). Legs rung after the takeover are linked by the
new leader's own ACD and pass.

Bounded: the oldest hidden linkedids are forgotten past ``limit``.
"""

from __future__ import annotations

from collections import OrderedDict

from ccd.domain.grouping import channel_snapshots


class UnplacedAgentLegs:
    def __init__(self, prefix: str, *, limit: int = 10_000) -> None:
        self._prefix = prefix
        self._hidden: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self.held_back = 0
        """Events not given to the builder."""

    def admit(self, event: object, *, standby: bool) -> bool:
        """Whether the CDR builder may see ``event`` (``standby``: this instance is not
        acting now)."""
        legs = {
            snap.linkedid
            for snap in channel_snapshots(event)
            if snap.linkedid.startswith(self._prefix)
        }
        if not legs:
            return True
        if standby:
            for linkedid in legs:
                self._hidden[linkedid] = None
                self._hidden.move_to_end(linkedid)
            while len(self._hidden) > self._limit:
                self._hidden.popitem(last=False)
        if any(linkedid in self._hidden for linkedid in legs):
            self.held_back += 1
            return False
        return True
