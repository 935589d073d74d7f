"""ccd under systemd: the readiness datagram (Type=notify) from a real `ccd run`, and the
shipped unit checked by `systemd-analyze verify`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from ccd.systemd import notify
from tests.integration.clirun import CCD, REPO, SECRET, clean_env

UNIT = REPO / "deploy" / "ccd.service"
SHIPPED_EXEC_START = "ExecStart=/opt/ccd/bin/ccd "


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notification socket."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        yield sock, path


def test_notify_without_systemd_sends_nothing() -> None:
    assert notify("READY=1", {}) is False


def test_notify_sends_the_state_to_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert notify("READY=1\nSTATUS=up", {"NOTIFY_SOCKET": path}) is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"ccd-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"STOPPING=1"


def test_notify_to_a_missing_socket_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody")})


def test_ccd_run_says_ready_once_serving_and_stopping_on_sigterm(
    tmp_path: Path, listener: tuple[socket.socket, str]
) -> None:
    sock, path = listener
    env = clean_env(
        NOTIFY_SOCKET=path,
        CCD_AMI__SECRET=SECRET,
        CCD_AMI__PORT="9",  # nothing listens: ccd serves and keeps retrying AMI
        CCD_HTTP__PORT="0",
        CCD_AGI__PORT="0",
        CCD_DATA_DIR=str(tmp_path / "var"),
        CCD_IVR__FLOWS_DIR=str(REPO / "config" / "ivr"),
        CCD_LOG__FORMAT="json",
    )
    daemon = subprocess.Popen(
        [str(CCD), "run"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        ready = sock.recv(4096).decode()
        assert ready.startswith("READY=1\nSTATUS=HTTP port "), ready
        match = re.search(r"HTTP port (\d+)", ready)
        assert match is not None
        # READY means serving: the API answers at once, with the package's version.
        url = f"http://127.0.0.1:{match.group(1)}/healthz"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert json.load(response) == {"status": "ok", "version": metadata.version("ccd")}
        daemon.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b"STOPPING=1"
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        assert daemon.stderr is not None
        daemon.stderr.close()


# ----------------------------------------------------------------------------- the unit


def _unit_settings(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            assert key not in settings, f"{key} set twice"
            settings[key] = value
    return settings


def _render(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart pointing at an executable that exists (verify checks it)."""
    binary = tmp_path / "bin" / "ccd"
    binary.parent.mkdir(exist_ok=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    assert text.count(SHIPPED_EXEC_START) == 1
    unit = tmp_path / "ccd.service"
    unit.write_text(text.replace(SHIPPED_EXEC_START, f"ExecStart={binary} "))
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; scripts/test)")
    return subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_shipped_unit_is_verify_clean(tmp_path: Path) -> None:
    checked = _verify(_render(tmp_path, UNIT.read_text()))
    # verify exits 0 on unknown keys and bad values too: only silence is clean.
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_verify_catches_a_mistake_in_the_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("ProtectHome=true", "ProtectHome=maybe")
    checked = _verify(_render(tmp_path, broken))
    assert "protect home value" in checked.stderr


def test_the_unit_is_hardened_notify_and_reads_secrets_from_the_env_file() -> None:
    settings = _unit_settings(UNIT.read_text())
    assert settings["Type"] == "notify"
    assert settings["User"] == "ccd"
    assert settings["EnvironmentFile"] == "/etc/ccd/ccd.env"
    assert settings["ExecStart"] == "/opt/ccd/bin/ccd run --config /etc/ccd/ccd.toml"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ProtectHome"] == "true"
    assert settings["PrivateTmp"] == "true"
    assert settings["NoNewPrivileges"] == "true"
    assert settings["Restart"] == "on-failure"
    assert int(settings["LimitNOFILE"]) >= 65536
    assert "/var/lib/ccd" in settings["ReadWritePaths"].split()
    assert settings["Environment"] == "CCD_DATA_DIR=/var/lib/ccd"
