"""scripts/demo's calls carry real-looking, varied caller ids (they used to be empty), and
the README's ``POST /api/v1/calls`` example dials a far end that hangs up by itself."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from tests.fakeami import FakeAmi

REPO = Path(__file__).resolve().parents[2]
DEMO_CALLS = REPO / "scripts" / "lib" / "demo_calls.py"
SECRET = "demo-secret"
CALLER_ID = re.compile(r'^"[A-Z][a-zé]+ [A-Z][a-z]+" <\+\d{11,12}>$')


async def test_every_demo_call_has_its_own_caller_id() -> None:
    ami = FakeAmi(secret=SECRET)
    await ami.start()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(DEMO_CALLS),
            "--port",
            str(ami.port),
            "--interval",
            "0.01",
            "--count",
            "12",
            env={"CCD_AMI__SECRET": SECRET},
        )
        async with asyncio.timeout(20):
            assert await process.wait() == 0
        await ami.wait_for_action("Originate", count=12)
    finally:
        await ami.close()
    assert ami.count("Login") == 1
    originates = [a for a in ami.actions if a["Action"] == "Originate"]
    caller_ids = [a.get("CallerID", "") for a in originates]
    assert all(CALLER_ID.match(cid) for cid in caller_ids), caller_ids
    assert len(set(caller_ids)) >= 6
    # Varied: the same kind of call comes back with another caller.
    rounds = {(a["Channel"], a.get("Exten"), a.get("CallerID")) for a in originates}
    assert len(rounds) == 12


def test_the_readme_originate_example_ends_by_itself() -> None:
    readme = (REPO / "README.md").read_text()
    [body] = re.findall(r"-d '(\{\"endpoint\".*?\})'", readme)
    destination = json.loads(body)["destination"]
    # ccd-originate dials it in ccd-sim (the sandbox's CCD_TARGET_CONTEXT), whose numbers
    # pick a behaviour by first digit: only 5… (hangup-after-2) and 3…/4… end on their own.
    sim = (REPO / "dialplan" / "extensions_ccd_sim.conf").read_text()
    target = re.search(rf"exten => _{destination[0]}X!,1,Goto\(([a-z0-9-]+),1\)", sim)
    assert target is not None, destination
    assert target.group(1) in {"hangup-after-2", "busy", "congestion"}
    assert "-X DELETE" in readme  # and how to end any call early
