"""The running ACD's live views (AcdService + the real engine, as the REST API and the
websocket snapshot show them) fit the API's models (ccd.api.models.acd) in every state:
a view that drifts from the OpenAPI contract fails here, not in an integrator's client."""

from __future__ import annotations

from ccd.acd.model import Agent, Queue, Strategy
from ccd.acd.service import TICK_S
from ccd.api.models.acd import AgentLive, QueueLive
from tests.integration.acdfakes import arrival, make_config, running_acd

ADA = Agent("1001", "PJSIP/1001", name="Ada")
BOB = Agent("1002", "PJSIP/1002", name="Bob")
SALES = Queue("sales", strategy=Strategy.LINEAR, ring_timeout_s=15.0, callback_key="1")


async def test_every_state_fits_the_models() -> None:
    config = make_config([SALES], [ADA, BOB])
    async with running_acd(config, login=["1001", "1002"]) as rig:
        await rig.service.pause("1002", "lunch")
        idle = rig.service.snapshot()
        queue = QueueLive.model_validate(idle["queues"]["sales"])
        assert (queue.waiting, queue.callers, queue.service_level) == (0, [], None)
        assert {k: v.value for k, v in queue.agents_by_id.items()} == {
            "1001": "available",
            "1002": "paused",
        }
        paused = AgentLive.model_validate(idle["agents"]["1002"])
        assert (paused.status.value, paused.reason) == ("paused", "lunch")
        assert (paused.billable, paused.pause_over_limit) == (False, False)
        available = AgentLive.model_validate(idle["agents"]["1001"])
        # Outside a pause the two pause-only members are absent, as in the view.
        assert "billable" not in available.model_dump(mode="json")
        assert available.model_dump(mode="json") == idle["agents"]["1001"]
        assert paused.model_dump(mode="json") == idle["agents"]["1002"]

        caller = arrival(1)
        rig.service.arrive(caller)
        await rig.ami.wait_rings(1)
        await rig.clock.step(TICK_S)
        ringing = rig.service.snapshot()
        queue = QueueLive.model_validate(ringing["queues"]["sales"])
        [waiting] = queue.callers
        assert (waiting.call_id, waiting.position, waiting.ringing) == (
            caller.call_id,
            1,
            ["1001"],
        )
        assert queue.model_dump(mode="json") == ringing["queues"]["sales"]
        reserved = AgentLive.model_validate(ringing["agents"]["1001"])
        assert (reserved.status.value, reserved.call_id) == ("reserved", caller.call_id)
