"""The daemon's ACD with two Asterisk servers (two fake AMI servers on 127.0.0.1, with
systemnames that are not their server names): a queue caller's server comes from the
systemname prefix of its uniqueid, or else from the live model, and its agent is rung
through that server's AMI connection only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ccd.acd.model import Agent, PauseReason, Queue
from ccd.acd.seed import AcdConfig
from ccd.acd.waiting import Arrival
from ccd.app import Daemon
from ccd.db.acd_store import AcdStore
from ccd.db.engine import create_engine
from tests.fakeami import FakeAmi
from tests.integration.apifakes import wait_until
from tests.integration.fleetrig import fake_asterisk, two_server_daemon
from tests.integration.test_ami_fleet import newchannel

SECRET = "s3cret"
PARIS_AGENT = Agent("1001", "PJSIP/1001", name="Paule", server="paris")
LYON_AGENT = Agent("2001", "PJSIP/2001", name="Lucien", server="lyon")


@pytest.fixture
async def paris() -> AsyncIterator[FakeAmi]:
    async with fake_asterisk(secret=SECRET, system_name="pbx-p") as server:
        yield server


@pytest.fixture
async def lyon() -> AsyncIterator[FakeAmi]:
    async with fake_asterisk(secret=SECRET, system_name="pbx-l") as server:
        yield server


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        agents = (PARIS_AGENT, LYON_AGENT)
        await AcdStore(engine).apply_seed(
            AcdConfig(
                agents={a.id: a for a in agents},
                queues={"sales": Queue("sales")},
                pause_reasons={
                    code: PauseReason(code, code.title()) for code in ("no-answer", "lunch")
                },
                memberships={a.id: frozenset({"sales"}) for a in agents},
            )
        )
    finally:
        await engine.dispose()


@pytest.fixture
async def daemon(paris: FakeAmi, lyon: FakeAmi, tmp_path: Path) -> AsyncIterator[Daemon]:
    environ = {"CCD_AMI__SECRET": SECRET}
    async with two_server_daemon(paris, lyon, tmp_path, environ=environ, seed=_seed) as running:
        yield running


def caller(uniqueid: str) -> Arrival:
    return Arrival(
        queue_id="sales",
        priority=0,
        skills={},
        joined_at=None,
        linkedid=uniqueid,
        callback_of=None,
        channel=f"PJSIP/trunk-{uniqueid}",
        uniqueid=uniqueid,
        caller_num="5551234",
        caller_name="Jane",
    )


def rung(ami: FakeAmi) -> list[str]:
    """The agent interfaces ``ami``'s Asterisk was asked to ring (Originate Channel)."""
    return [a["Channel"] for a in ami.actions if a.get("Action", "").lower() == "originate"]


async def test_a_callers_agent_is_rung_on_the_server_its_uniqueid_names(
    daemon: Daemon, paris: FakeAmi, lyon: FakeAmi
) -> None:
    acd = daemon.components.acd
    await acd.login(PARIS_AGENT.id, None)
    await acd.login(LYON_AGENT.id, None)
    await acd.pause(PARIS_AGENT.id, "lunch")

    # "pbx-l-…": lyon's systemname; nothing about it has come over AMI yet.
    acd.arrive(caller("pbx-l-1764064000.5"))
    await lyon.wait_for_action("Originate")
    assert rung(lyon) == ["PJSIP/2001"]
    assert rung(paris) == []
    assert acd.agent_status(LYON_AGENT.id).status.value == "reserved"

    # A paris caller waits for Paule (paused): Lucien is on lyon.
    acd.arrive(caller("pbx-p-1764064000.7"))
    view = acd.queue_live("sales")
    assert view is not None
    servers = {c["call_id"]: c["server"] for c in view["callers"]}
    assert servers == {"pbx-l-1764064000.5": "lyon", "pbx-p-1764064000.7": "paris"}
    await acd.unpause(PARIS_AGENT.id)
    await paris.wait_for_action("Originate")
    assert rung(paris) == ["PJSIP/1001"]
    assert rung(lyon) == ["PJSIP/2001"]


async def test_without_a_systemname_prefix_the_live_model_says_the_server(
    daemon: Daemon, paris: FakeAmi, lyon: FakeAmi
) -> None:
    acd = daemon.components.acd
    await acd.login(PARIS_AGENT.id, None)
    await acd.login(LYON_AGENT.id, None)
    # A channel id chosen by whoever originated it: no systemname in it.
    await lyon.send_event(newchannel("PJSIP/trunk-9", "crm-call-9"))
    await wait_until(
        lambda: "crm-call-9" in daemon.components.live.model.uniqueids(), what="lyon's channel"
    )
    acd.arrive(caller("crm-call-9"))
    await lyon.wait_for_action("Originate")
    assert rung(lyon) == ["PJSIP/2001"]
    assert rung(paris) == []
