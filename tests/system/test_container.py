"""The container path end to end: docker/Dockerfile, docker/pbx, docker/postgres and
docker/compose.yaml, built and run by a real Docker daemon (Debian's docker.io, ccd's own
instance: scripts/container-daemon) from base images imported from debootstrap roots
(scripts/container-base) — nothing is pulled from a registry, pip installs offline from
a wheelhouse of requirements.lock. Debian's docker-compose 1.29 brings the stack up; a
call placed over ccd's REST API runs through the shipped dialplan into ccd's IVR and
ends, and its CDR is read back from the API and from the stack's PostgreSQL.

Skipped only when no Docker daemon can run here (the reason is the daemon's own error);
everything else that goes wrong fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
PROJECT = "ccdtest"
# The images this test builds (fixed names: each run replaces the last one's).
CCD_IMAGE = "ccd-test/ccd:latest"
PBX_IMAGE = "ccd-test/pbx:latest"
POSTGRES_IMAGE = "ccd-test/postgres:latest"
# What the build context holds: what docker/Dockerfile and docker/pbx COPY.
CONTEXT_PATHS = ("pyproject.toml", "README.md", "requirements.lock", ".dockerignore", "ccd",
                 "migrations", "config", "dialplan", "deploy", "docker")  # fmt: skip


def _run(
    args: list[str], what: str, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: timed out after {timeout:.0f}s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"{what}: exit {done.returncode}\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}",
            pytrace=False,
        )
    return done


def _docker_command() -> str:
    found = shutil.which("docker")
    if found:
        return found
    pytest.fail("no docker (Debian's package: apt-get install docker.io)", pytrace=False)


def _compose_command() -> list[str]:
    found = shutil.which("docker-compose")
    if found:
        return [found]
    pytest.fail(
        "no docker-compose (Debian's package: apt-get install docker-compose)", pytrace=False
    )


@dataclass(frozen=True)
class Docker:
    """The daemon this test uses: its DOCKER_HOST in every command's environment."""

    env: dict[str, str]

    def run(self, *args: str, what: str = "", timeout: float = 120) -> str:
        return _run(
            [_docker_command(), *args], what or f"docker {args[0]}", timeout, self.env
        ).stdout

    def inspect(self, kind: str, name: str) -> Any:
        return json.loads(self.run(kind, "inspect", name))[0]


@pytest.fixture(scope="module")
def docker() -> Docker:
    if os.geteuid() != 0:
        pytest.skip("the container test starts its own dockerd, which needs root")
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("no Docker here: apt-get install docker.io docker-compose (scripts/test does)")
    done = subprocess.run(
        [str(REPO / "scripts" / "container-daemon"), "up"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        # The one reason to skip: this machine cannot run a Docker daemon.
        pytest.skip(f"no Docker daemon can run here: {done.stderr.strip()[-1500:]}")
    env = {**os.environ, "DOCKER_HOST": done.stdout.strip().splitlines()[-1]}
    started = time.monotonic()
    _run([str(REPO / "scripts" / "container-base")], "scripts/container-base", 600, env)
    print(f"base images ready in {time.monotonic() - started:.0f} s")
    return Docker(env)


@dataclass(frozen=True)
class Stack:
    docker: Docker
    api: str  # http://127.0.0.1:PORT
    compose: list[str]

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"

    def exec(self, service: str, *args: str) -> str:
        return self.docker.run("exec", self.container(service), *args, what=f"exec in {service}")


def _build_context(into: Path) -> None:
    """A copy of the files the images are built from, plus a wheelhouse of
    requirements.lock for pip (the build runs with OFFLINE=1: no index is asked)."""
    for name in CONTEXT_PATHS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.whl", ".env")
            )
        else:
            shutil.copy2(source, into / name)
    _run(
        [sys.executable, "-m", "pip", "download", "-q", "--require-hashes", "--no-deps",
         "-r", str(REPO / "requirements.lock"), "-d", str(into / "docker" / "wheelhouse")],
        "pip download (the wheelhouse of requirements.lock)",
        600,
    )  # fmt: skip


def _wait_healthy(stack: Stack, services: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {
            service: stack.docker.inspect("container", stack.container(service))["State"]
            .get("Health", {})
            .get("Status", "none")
            for service in services
        }
        if all(state == "healthy" for state in states.values()):
            return
        time.sleep(1)
    pytest.fail(f"not healthy within {timeout:.0f} s: {states}", pytrace=False)


@pytest.fixture(scope="module")
def stack(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("container")
    context = work / "context"
    context.mkdir()
    _build_context(context)
    # The sandbox's simulated far ends as the user's own dialplan: calls ccd places
    # continue in ccd-sim (CCD_TARGET_CONTEXT), where 5000 answers and hangs up after 2 s.
    custom = work / "asterisk-custom"
    custom.mkdir()
    shutil.copy2(REPO / "dialplan" / "extensions_ccd_sim.conf", custom / "extensions.conf")
    http_port = free_port()
    settings = {
        "CCD_AMI__SECRET": secrets.token_hex(16),
        "POSTGRES_PASSWORD": secrets.token_hex(12),
        "CCD_HTTP_PUBLISH": f"127.0.0.1:{http_port}",
        "CCD_SIP_PUBLISH": f"127.0.0.1:{free_port()}",
        "CCD_TARGET_CONTEXT": "ccd-sim",
        "CCD_ASTERISK_CUSTOM": str(custom),
        "CCD_BASE_IMAGE": "ccd-offline/debian:bookworm",
        "CCD_ASTERISK_BASE_IMAGE": "ccd-offline/asterisk:22",
        "CCD_POSTGRES_IMAGE": POSTGRES_IMAGE,
        "CCD_OFFLINE_BUILD": "1",
        "CCD_IMAGE": CCD_IMAGE,
        "CCD_ASTERISK_IMAGE": PBX_IMAGE,
    }
    env_file = work / "stack.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    env_file.chmod(0o600)
    compose = [
        *_compose_command(),
        "--project-name", PROJECT,
        "--env-file", str(env_file),
        "--file", str(context / "docker" / "compose.yaml"),
    ]  # fmt: skip
    stack = Stack(docker, f"http://127.0.0.1:{http_port}", compose)

    def compose_run(*args: str, timeout: float) -> None:
        _run([*compose, *args], f"docker-compose {args[0]}", timeout, docker.env)

    # A previous run killed before its teardown leaves its containers behind.
    compose_run("down", "--volumes", "--remove-orphans", timeout=120)
    started = time.monotonic()
    docker.run(
        "build", "--quiet", "--file", str(context / "docker" / "postgres" / "Dockerfile"),
        "--build-arg", "BASE_IMAGE=ccd-offline/debian:bookworm", "--tag", POSTGRES_IMAGE,
        str(context), what="docker build (postgres)", timeout=600,
    )  # fmt: skip
    compose_run("build", timeout=900)
    print(f"images built in {time.monotonic() - started:.0f} s")
    try:
        started = time.monotonic()
        compose_run("up", "--detach", timeout=300)
        _wait_healthy(stack, ["postgres", "asterisk", "ccd"], timeout=120)
        print(f"stack healthy in {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        logs = subprocess.run(
            [*compose, "logs", "--no-color", "--tail", "60"],
            capture_output=True, text=True, timeout=60, check=False, env=docker.env,
        )  # fmt: skip
        (work / "compose.log").write_text(logs.stdout + logs.stderr)
        compose_run("down", "--volumes", "--remove-orphans", timeout=120)
        # Layers of replaced images: the cache keeps what the next build reuses.
        docker.run("image", "prune", "--force", what="docker image prune")


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310 (a loopback http URL)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _post(url: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (a loopback http URL)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_stack_turns_healthy_and_ccd_answers_readyz(stack: Stack) -> None:
    assert _get(f"{stack.api}/readyz") == (200, {"status": "ready"})
    status, health = _get(f"{stack.api}/healthz")
    assert status == 200
    assert health["status"] == "ok"


def test_ccd_runs_as_the_non_root_ccd_user(stack: Stack) -> None:
    image = stack.docker.inspect("image", CCD_IMAGE)["Config"]
    assert image["User"] == "ccd"
    assert "/readyz" in " ".join(image["Healthcheck"]["Test"])
    assert {"/var/lib/ccd", "/var/spool/ccd/cdr"} <= set(image["Volumes"])
    # The process itself, as the host's kernel sees it (uid column of `docker top`).
    rows = stack.docker.run("top", stack.container("ccd"), "-o", "pid,uid,args").splitlines()
    ccd_run = [row.split(None, 2) for row in rows[1:] if "ccd run" in row]
    assert ccd_run, rows
    assert {uid for _, uid, _ in ccd_run} == {"10001"}
    # What ccd writes, it can: its data, the CDR spool, the shared recordings directory
    # (retention deletes there) — `test -w` exits non-zero otherwise and the exec fails.
    for directory in ("/var/lib/ccd", "/var/spool/ccd/cdr", "/var/spool/ccd/recordings"):
        stack.exec("ccd", "test", "-w", directory)


def test_ami_is_reachable_only_inside_the_asterisk_container(stack: Stack) -> None:
    # manager.conf is deploy/manager.conf with the secret filled in: loopback only.
    shipped = (REPO / "deploy" / "manager.conf").read_text().splitlines()
    running = stack.exec("asterisk", "cat", "/etc/asterisk/manager.conf").splitlines()
    differing = [(a, b) for a, b in zip(shipped, running, strict=True) if a != b]
    assert [a for a, _ in differing] == ["secret = CHANGE-ME"]
    # Another container on the stack's network finds no AMI (nor FastAGI) at the address
    # of the namespace Asterisk and ccd share.
    for port in (5038, 4573):
        probe = subprocess.run(
            [_docker_command(), "exec", stack.container("postgres"), "bash", "-c",
             f"exec 3<>/dev/tcp/net/{port}"],
            capture_output=True, text=True, timeout=30, check=False, env=stack.docker.env,
        )  # fmt: skip
        assert probe.returncode != 0
        assert "Connection refused" in probe.stderr


def test_ccd_is_ready_again_after_asterisk_restarts(stack: Stack) -> None:
    stack.docker.run("restart", stack.container("asterisk"), what="docker restart asterisk")
    # ccd reconnects (backoff up to ami.reconnect_max_s, 30 s) to the new Asterisk in
    # the same namespace; its API stayed published all along.
    deadline = time.monotonic() + 90
    ready = _get(f"{stack.api}/readyz")
    while time.monotonic() < deadline and ready[0] != 200:
        time.sleep(1)
        ready = _get(f"{stack.api}/readyz")
    assert ready == (200, {"status": "ready"})
    _wait_healthy(stack, ["asterisk", "ccd"], timeout=60)
    # Ready again because it logged in again (not because it had not noticed yet).
    logs = _run(
        [_docker_command(), "logs", stack.container("ccd")], "docker logs", 60, stack.docker.env
    )
    logins = [
        line
        for line in (logs.stdout + logs.stderr).splitlines()
        if '"event": "ami logged in"' in line
    ]
    assert len(logins) == 2, logins


def test_a_call_runs_through_the_ivr_and_its_cdr_is_in_postgres(stack: Stack) -> None:
    token = stack.exec(
        "ccd", "ccd", "token", "create", "--role", "admin", "--label", "container-test"
    ).strip()
    status, placed = _post(
        f"{stack.api}/api/v1/calls",
        token,
        # Local/5000@ccd-ivr: one half enters ccd's IVR (DID 5000, flow "main") through
        # the shipped dialplan and FastAGI; the other is dialled to 5000 in ccd-sim,
        # which answers and hangs up after 2 s — the whole call ends.
        {"endpoint": "Local/5000@ccd-ivr", "destination": "5000"},
    )
    assert status in (200, 201, 202), placed
    deadline = time.monotonic() + 60
    cdrs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not cdrs:
        status, page = _get(f"{stack.api}/api/v1/cdrs", token)
        assert status == 200, page
        cdrs = page["cdrs"]
        time.sleep(0.5)
    assert len(cdrs) == 1, cdrs
    cdr = cdrs[0]
    assert cdr["callee_num"] == "5000"
    assert cdr["disposition"] == "answered"
    assert cdr["ended_at"] is not None
    # The flow's entry node first; where it went next depends on the hour in Paris.
    assert cdr["ivr_path"][0]["node"] == "hours"
    stored = stack.exec(
        "postgres", "psql", "--username=ccd", "--dbname=ccd", "--tuples-only", "--no-align",
        "--command", "SELECT linkedid, disposition FROM cdrs",
    )  # fmt: skip
    assert stored.split() == [f"{cdr['linkedid']}|answered"]
