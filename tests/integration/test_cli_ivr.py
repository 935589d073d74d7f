"""``ccd check-config`` validates the IVR flows; ``ccd reload`` makes a running ``ccd run``
(a real subprocess) reload them, and refuses a bad set with its reasons."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clirun import CCD, SECRET, assert_user_error, ccd, clean_env
from tests.ports import free_port

FLOW = """
id = "{flow_id}"
default = true
entry = "menu"
default_destination = "op"

[nodes.menu]
kind = "menu"
prompts = ["hello"]
options = {{ "1" = "op" }}

[nodes.op]
kind = "transfer"
context = "ccd-operator"
exten = "s"
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config" / "ivr").mkdir(parents=True)
    (tmp_path / "config" / "ivr" / "a.toml").write_text(FLOW.format(flow_id="a"))
    (tmp_path / "config" / "ccd.toml").write_text(
        f'data_dir = "../var"\n[ami]\nport = {free_port()}\n[http]\nport = 0\n[agi]\nport = 0\n'
        '[log]\nformat = "json"\n'
    )
    return tmp_path


def test_check_config_names_every_flow_problem(workdir: Path) -> None:
    bad = FLOW.format(flow_id="a").replace('"1" = "op"', '"1" = "gone", "x" = "op"')
    (workdir / "config" / "ivr" / "a.toml").write_text(bad)
    result = ccd("check-config", cwd=workdir)
    assert_user_error(result, "unknown target node 'gone'", "a.toml", "flow 'a'")
    assert len([line for line in result.err.splitlines() if "a.toml" in line]) >= 2


def test_check_config_without_flows_is_an_error(workdir: Path) -> None:
    (workdir / "config" / "ivr" / "a.toml").unlink()
    assert_user_error(ccd("check-config", cwd=workdir), "no IVR flow files")


def test_reload_without_a_running_ccd_says_so(workdir: Path) -> None:
    assert_user_error(ccd("reload", cwd=workdir), "ccd is not running", code=1)
    (workdir / "var").mkdir()
    (workdir / "var" / "ccd.pid").write_text("999999999\n")
    assert_user_error(ccd("reload", cwd=workdir), "stale", code=1)


@pytest.fixture
def running(workdir: Path) -> Iterator[subprocess.Popen[str]]:
    log = (workdir / "ccd.log").open("w")
    process = subprocess.Popen(
        [str(CCD), "run"],
        cwd=workdir,
        env=clean_env(CCD_AMI__SECRET=SECRET),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: (workdir / "var" / "ccd.pid").exists(), process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        log.close()


def wait_for(condition: object, process: subprocess.Popen[str], timeout: float = 30) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "ccd run exited"
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_reload_reaches_the_running_daemon_and_a_bad_set_is_refused(
    workdir: Path, running: subprocess.Popen[str]
) -> None:
    pid = int((workdir / "var" / "ccd.pid").read_text())
    assert pid == running.pid
    log_file = workdir / "ccd.log"

    (workdir / "config" / "ivr" / "b.toml").write_text(
        FLOW.format(flow_id="b").replace("default = true", 'dids = ["7000"]')
    )
    result = ccd("reload", cwd=workdir)
    assert result.code == 0, result
    assert f"asked ccd (pid {pid}) to reload 2 IVR flow(s)" in result.out
    wait_for(lambda: "ivr flows reloaded" in log_file.read_text(), running)

    # A bad set: `ccd reload` refuses it itself, with the reasons, and signals nobody.
    (workdir / "config" / "ivr" / "b.toml").write_text("id = 'b'\nentry = 'nowhere'\n")
    refused = ccd("reload", cwd=workdir)
    assert_user_error(refused, "b.toml")
    # Sent anyway (e.g. a plain `kill -HUP`): the daemon refuses it and keeps running.
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "ivr reload rejected" in log_file.read_text(), running)
    assert running.poll() is None

    running.send_signal(signal.SIGTERM)
    assert running.wait(timeout=30) == 0
    assert not (workdir / "var" / "ccd.pid").exists()


def test_run_refuses_invalid_flows_before_starting(workdir: Path) -> None:
    (workdir / "config" / "ivr" / "a.toml").write_text(
        FLOW.format(flow_id="a").replace('"1" = "op"', '"1" = "gone"')
    )
    result = ccd("run", cwd=workdir)
    assert_user_error(result, "configuration is invalid", "unknown target node 'gone'")
    assert not (workdir / "var" / "ccd.pid").exists()
