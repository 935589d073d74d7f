"""The AMI events a sandbox bench times, recorded with Asterisk's ``Timestamp`` by a
separate process: parsing every event of the recorder login in the bench's own process
would compete with ccd for its event loop and slow ccd down unfairly.

Each recorded frame also carries ``X-Bench-Read-At``: the wall-clock time the recorder
read it (one machine, one clock), for the lag from Asterisk to a reader.

The bench starts it through ``Recorder``; by hand:
    .venv/bin/python bench/ami_recorder.py EVENTS.jsonl Newexten VarSet …
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ccd.domain import contract  # noqa: E402
from tests.system.conftest import (  # noqa: E402
    AMI_HOST,
    AMI_PORT,
    RECORDER_SECRET,
    RECORDER_USERNAME,
)
from tests.system.rawami import Frame, RawAmi  # noqa: E402

READ_AT = "X-Bench-Read-At"  # added by the recorder: when it read the frame


class Recorder:
    """This module run as a process, writing ``events`` (VarSet only for the ACD's call
    variable) to ``path``, one JSON frame a line; ``events()`` reads what is there."""

    def __init__(self, path: Path, events: frozenset[str]) -> None:
        self.path = path
        self.recorded = events
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__)),
            str(self.path),
            *sorted(self.recorded),
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        try:
            # Importing ccd takes a while on a loaded machine (20 s was too short at load 11).
            ready = await asyncio.wait_for(self._process.stdout.readline(), 120)
        except BaseException:
            await self.stop()  # never left behind, recording, when the bench gives up
            raise
        assert ready.strip() == b"ready", ready

    def events(self) -> list[Frame]:
        with self.path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.endswith("\n")]

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()


async def record(path: Path, events: frozenset[str]) -> None:
    watcher = await RawAmi.connect(AMI_HOST, AMI_PORT)
    await watcher.login(RECORDER_USERNAME, RECORDER_SECRET)
    with path.open("w", encoding="utf-8") as out:
        print("ready", flush=True)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = await watcher.read_frame(3600)
                event = frame.get("Event")
                if event == "VarSet" and frame.get("Variable") != contract.VAR_ACD_CALL:
                    continue
                if event in events:
                    frame[READ_AT] = repr(time.time())
                    out.write(json.dumps(frame) + "\n")
                    out.flush()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(f"usage: {Path(__file__).name} EVENTS.jsonl EVENT …", file=sys.stderr)
        return 2
    asyncio.run(record(Path(argv[0]), frozenset(argv[1:])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
