"""High availability on the real rig: two `ccd run` instances, one Asterisk sandbox, one
PostgreSQL. With callers talking to both agents, three waiting in the queue and two in the
IVR, the active instance ``a`` fails — ``kill -9``, a pause (SIGSTOP, then SIGCONT once
``b`` has taken over) or the loss of its database connection — and the standby ``b``
takes over: the agents keep their states, the waiting callers their place in line, the
IVR callers reach ``b``; every caller is served once and has exactly one CDR; the old
instance, fenced, exits (75) without acting. Each run prints the time to take over and
what each caller experienced (README "High availability" quotes them)."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ccd.app import EXIT_FENCED
from ccd.ha.api import STANDBY_PROBLEM
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.failoverrig import AGENTS, LEASE_S, Failover, Instance, failover_pair
from tests.system.waiting import eventually

TALK_S = 40.0  # the calls under way when a fails: they outlast the takeover
AFTER_S = 4.0  # the calls connected after it
TALKING = ("5550001", "5550002")
WAITING = ("5550011", "5550012", "5550013")
IN_IVR = ("5550021", "5550022")


async def cut_database_connection(cluster: PostgresCluster, instance: Instance) -> None:
    """What a network cut between ``instance`` and PostgreSQL does to its lock session."""
    admin = await asyncpg.connect(
        host=str(cluster.directory), port=cluster.port, user="postgres", database="postgres"
    )
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            f"ccd-ha {instance.name}",
        )
    finally:
        await admin.close()
    assert killed == 1


async def put_callers_in_place(pair: Failover) -> None:
    a = pair.a
    for number in TALKING:
        await pair.call(number, "queue")

    async def both_talking() -> bool:
        return all([await pair.agent_status(a, agent.id) == "on_call" for agent in AGENTS])

    await eventually(both_talking, within_s=20, what="both agents talking")
    for index, number in enumerate(WAITING):
        await pair.call(number, "queue")

        async def in_line(count: int = index + 1) -> bool:
            return len(await pair.waiting_numbers(a)) == count

        await eventually(in_line, within_s=10, what=f"caller {number} waiting")
    assert await pair.waiting_numbers(a) == list(WAITING)
    for number in IN_IVR:
        await pair.call(number, "ivr")

    def ivr_sessions() -> bool:
        started = [
            e
            for e in a.log_events()
            if e.get("event") == "agi session started" and e.get("script") == "ivr"
        ]
        return len(started) == len(IN_IVR)

    await eventually(ivr_sessions, within_s=10, what="both IVR callers in the menu")


async def check_the_standby_api(pair: Failover) -> None:
    a, b = pair.a, pair.b
    path = f"/api/v1/agents/{AGENTS[0].id}/pause"
    status, body, headers = await pair.api(b, "POST", path, {"reason": "break"})
    assert status == 503, body
    assert body["type"] == STANDBY_PROBLEM
    assert body["leader"]["instance"] == "a"
    assert headers["Location"] == a.url + path
    status, body, _headers = await pair.api(b, "GET", "/api/v1/calls")
    assert status == 200, body
    numbers = {call["caller"]["number"] for call in body["calls"]}
    assert set(TALKING + WAITING + IN_IVR) <= numbers


def report(failure: str, takeover_s: float, back_s: float, cdrs: list[dict[str, Any]]) -> str:
    kinds = {n: "talking" for n in TALKING} | {n: "waiting" for n in WAITING}
    kinds |= {n: "in the IVR" for n in IN_IVR}
    lines = [
        f"failover by {failure}: b active {takeover_s:.2f} s after the failure; "
        f"waiting callers back in line on b after {back_s:.2f} s"
    ]
    for row in cdrs:
        lines.append(
            f"  {row['caller_num']} ({kinds[row['caller_num']]}): {row['disposition']}, "
            f"agent {row['agent_id']}, waited {row['wait_s']} s, talked {row['talk_s']} s, "
            f"ivr {row['ivr_path']}, linkedid {row['linkedid']}"
        )
    return "\n".join(lines)


@pytest.mark.parametrize("failure", ["kill-9", "sigstop", "database-connection-lost"])
async def test_the_standby_takes_over_and_every_caller_is_served_once(
    failure: str,
    asterisk_sandbox: AsteriskSandbox,
    postgres_cluster: PostgresCluster,
    tmp_path: Path,
) -> None:
    async with failover_pair(asterisk_sandbox, postgres_cluster, tmp_path, talk_s=TALK_S) as pair:
        a, b = pair.a, pair.b
        await put_callers_in_place(pair)
        await check_the_standby_api(pair)

        for agent in AGENTS:  # still talking when a fails
            assert await pair.agent_status(a, agent.id) == "on_call"

        async def on_call_logged() -> bool:
            # The ACD writes agent transitions every 0.5 s: a sudden end loses the last ones
            # (as for any restart); the takeover restores what the session log has.
            return all([await pair.logged_status(agent.id) == "on_call" for agent in AGENTS])

        await eventually(on_call_logged, within_s=5, what="the agents' calls in the session log")
        failed_at = time.monotonic()
        if failure == "kill-9":
            a.running.process.send_signal(signal.SIGKILL)
        elif failure == "sigstop":
            a.running.process.send_signal(signal.SIGSTOP)
        else:
            await cut_database_connection(postgres_cluster, a)
        await b.wait_role("active", within_s=LEASE_S * 4)
        takeover_s = time.monotonic() - failed_at

        # The agents are still talking: b has them on their calls, as a had.
        for agent in AGENTS:
            assert await pair.agent_status(b, agent.id) == "on_call"
        await pair.set_talk_time(AFTER_S)  # for the calls connected from now on

        if failure == "sigstop":
            # a wakes up after b took over: fenced at once, it exits without acting.
            resumed_at = len(a.log_events())
            a.running.process.send_signal(signal.SIGCONT)
            async with asyncio.timeout(10):
                assert await a.running.process.wait() == EXIT_FENCED
            after = a.log_events()[resumed_at:]
            names = [e.get("event") for e in after]
            assert "ha fenced: exiting" in names
            acted = {"queue caller connected", "cdr batch written", "dialer.attempt.claimed"}
            assert not acted & set(names), names
            # A ring it had decided on before the pause is refused, nothing written.
            refused = [
                e
                for e in after
                if e.get("event") == "agent originate failed"
                and "not the active" in str(e.get("error"))
            ]
            assert len(refused) == names.count("ringing agent"), after
        elif failure == "database-connection-lost":
            async with asyncio.timeout(10):
                assert await a.running.process.wait() == EXIT_FENCED

        async def back_in_line() -> bool:
            return await pair.waiting_numbers(b) == list(WAITING)

        await eventually(back_in_line, within_s=20, what="the waiting callers in line on b")
        back_s = time.monotonic() - failed_at

        everyone = set(TALKING + WAITING + IN_IVR)

        async def all_recorded() -> list[dict[str, Any]] | None:
            rows = await pair.cdrs()
            return rows if {row["caller_num"] for row in rows} >= everyone else None

        await eventually(
            all_recorded, within_s=TALK_S + AFTER_S * 4 + 60, what="every call recorded"
        )
        await eventually(lambda: not asterisk_sandbox.active_channels(), within_s=20, what="quiet")
        await asyncio.sleep(1)  # a duplicate would be written by now
        cdrs = await pair.cdrs()
        experienced = report(failure, takeover_s, back_s, cdrs)
        print(experienced)

        # One CDR per call, nobody lost, nobody twice.
        assert sorted(row["caller_num"] for row in cdrs) == sorted(everyone), experienced
        # Every caller who waited, in the queue or after the IVR, was served by an agent.
        served = [row for row in cdrs if row["caller_num"] in WAITING + IN_IVR]
        assert all(row["agent_id"] in {agent.id for agent in AGENTS} for row in served), served
        # ... and the last in line before the failover after the first two (one agent
        # had to be free again for them).
        connected = {
            row["caller_num"]: row["started_at"] + timedelta(seconds=row["wait_s"])
            for row in served
        }
        first, second, last = WAITING
        assert connected[last] > max(connected[first], connected[second]), experienced
        assert takeover_s < LEASE_S * 3
