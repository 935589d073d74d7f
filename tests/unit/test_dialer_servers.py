"""ccd.dialer.servers: which Asterisk server a campaign dials through, which of its agents
its calls can reach, and which calls a server's resync proves gone — without a loop."""

from __future__ import annotations

from dataclasses import replace

from ccd.dialer.model import Campaign, DialMode
from ccd.dialer.servers import agents_on_server, campaign_server, missed_hangups

SPRING = Campaign(id="spring", name="Spring", mode=DialMode.PROGRESSIVE, caller_id="5000")
WHERE = {"1001": "east", "1002": "west", "1003": "east", "1004": None}  # None: logged out


def test_a_campaign_without_a_server_dials_through_the_default_one() -> None:
    assert campaign_server(SPRING, "east") == "east"
    assert campaign_server(replace(SPRING, server="west"), "east") == "west"


def test_only_agents_logged_in_on_the_server_are_reachable_in_their_order() -> None:
    ids = ["1003", "1002", "1004", "1001", "9999"]
    assert agents_on_server("east", ids, WHERE.get) == ["1003", "1001"]
    assert agents_on_server("west", ids, WHERE.get) == ["1002"]
    assert agents_on_server("north", ids, WHERE.get) == []
    assert agents_on_server("east", [], WHERE.get) == []


def test_a_resync_proves_gone_only_its_own_servers_calls_placed_long_enough_ago() -> None:
    now = 1000.0
    placed = {
        "ccd-dial-east-gone": ("east", now - 30),
        "ccd-dial-east-up": ("east", now - 30),
        "ccd-dial-east-new": ("east", now - 1),  # may not be in the list yet
        "ccd-dial-west-gone": ("west", now - 30),  # west's connection did not drop
    }
    live = {"ccd-dial-east-up", "1764000000.5"}
    assert missed_hangups("east", placed, live, now, 2.0) == ["ccd-dial-east-gone"]
    assert missed_hangups("west", placed, set(), now, 2.0) == ["ccd-dial-west-gone"]
    assert missed_hangups("north", placed, set(), now, 2.0) == []
    # Exactly the settling time is not yet long enough.
    assert missed_hangups("east", {"c": ("east", now - 2.0)}, (), now, 2.0) == []
