"""Which Asterisk server the dialer's campaigns, calls and agents are on, when ccd serves
several (``[[asterisk]]``). Pure: the service asks, these answer.

A campaign's calls are placed on its server (None: the default, first configured one), a
Dial there reaches only devices on that server, and a server's resync speaks only for
the channels of that server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ccd.dialer.model import Campaign


def campaign_server(campaign: Campaign, default: str) -> str:
    """The server the campaign's calls are placed on."""
    return campaign.server or default


def agents_on_server(
    server: str, agent_ids: Iterable[str], agent_server: Callable[[str], str | None]
) -> list[str]:
    """Those of ``agent_ids`` (in order) logged in on ``server``; ``agent_server`` says
    where a logged-in agent is (None: not logged in — on no server)."""
    return [agent_id for agent_id in agent_ids if agent_server(agent_id) == server]


def missed_hangups(
    server: str,
    placed: Mapping[str, tuple[str, float]],
    live: Iterable[str],
    now: float,
    settle_s: float,
) -> list[str]:
    """After ``server``'s resync: the calls (channel id → (its server, placed at)) whose
    customer leg is on ``server`` and no longer in its channel list ``live`` — their
    hang-up was missed while the connection was down. A call placed less than
    ``settle_s`` ago may not be listed yet; another server's call is not this resync's
    business (its own connection did not drop)."""
    alive = set(live)
    return [
        channel_id
        for channel_id, (on, placed_at) in placed.items()
        if on == server and channel_id not in alive and now - placed_at > settle_s
    ]
