"""A standby's CDR builder is kept away from agent legs it cannot place (ccd.ha.legs)."""

from __future__ import annotations

from datetime import UTC, datetime

from ccd.acd.rings import AGENT_CHANNEL_PREFIX
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import ChannelCreated, ChannelHungUp, ResyncStarted
from ccd.ha.legs import UnplacedAgentLegs

AT = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def created(uniqueid: str, linkedid: str) -> ChannelCreated:
    return ChannelCreated(
        at=AT,
        channel=ChannelSnapshot(
            uniqueid=uniqueid, linkedid=linkedid, name=f"Local/{uniqueid}", state=ChannelState.UP
        ),
    )


def hung_up(uniqueid: str, linkedid: str) -> ChannelHungUp:
    return ChannelHungUp(
        at=AT, channel=created(uniqueid, linkedid).channel, cause=16, cause_text="Normal"
    )


LEG = f"{AGENT_CHANNEL_PREFIX}1f2e"


def test_customer_channels_always_pass() -> None:
    legs = UnplacedAgentLegs(AGENT_CHANNEL_PREFIX)
    assert legs.admit(created("1700000000.1", "1700000000.1"), standby=True)
    assert legs.admit(created("1700000000.1", "1700000000.1"), standby=False)
    assert legs.admit(ResyncStarted(at=AT), standby=True)


def test_an_agent_leg_seen_while_standby_stays_hidden_after_the_takeover() -> None:
    legs = UnplacedAgentLegs(AGENT_CHANNEL_PREFIX)
    assert not legs.admit(created(LEG, LEG), standby=True)
    assert not legs.admit(created(f"{LEG};2", LEG), standby=True)
    # Active now: the leg's hang-up would make a record of its own; it is held back.
    assert not legs.admit(hung_up(f"{LEG};2", LEG), standby=False)
    assert legs.held_back == 3


def test_the_bridged_half_under_the_customer_linkedid_passes() -> None:
    legs = UnplacedAgentLegs(AGENT_CHANNEL_PREFIX)
    legs.admit(created(LEG, LEG), standby=True)
    assert legs.admit(hung_up(LEG, "1700000000.1"), standby=True)


def test_legs_rung_by_the_active_instance_pass() -> None:
    legs = UnplacedAgentLegs(AGENT_CHANNEL_PREFIX)
    assert legs.admit(created(LEG, LEG), standby=False)
    assert legs.admit(hung_up(LEG, LEG), standby=False)
    assert legs.held_back == 0


def test_the_oldest_hidden_legs_are_forgotten_past_the_limit() -> None:
    legs = UnplacedAgentLegs(AGENT_CHANNEL_PREFIX, limit=2)
    for n in range(3):
        legs.admit(created(f"{LEG}{n}", f"{LEG}{n}"), standby=True)
    assert legs.admit(hung_up(f"{LEG}0", f"{LEG}0"), standby=False)
    assert not legs.admit(hung_up(f"{LEG}2", f"{LEG}2"), standby=False)
