"""docker/compose.yaml and the Dockerfiles, checked without a Docker daemon: Debian's
docker-compose 1.29 must read the compose file as shipped, and the images must keep the
properties README "Containers" promises. tests/system/test_container.py builds and runs
them for real."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
SECRET = "0123456789abcdef0123"
# PyYAML (a dependency of the dev tools) reads what docker-compose 1.29 prints; untyped.
_yaml: Any = importlib.import_module("yaml")


def _compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail(
            "no docker-compose (Debian's package: apt-get install docker-compose)", pytrace=False
        )
    return subprocess.run(
        [compose, "--env-file", str(env_file), "--file", str(DOCKER_DIR / "compose.yaml"),
         "config"],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip


def _config(tmp_path: Path, **settings: str) -> dict[str, Any]:
    env_file = tmp_path / "stack.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    done = _compose_config(env_file)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = _yaml.safe_load(done.stdout)
    return config


def test_compose_puts_ccd_beside_asterisk_and_starts_it_after_the_migration(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, CCD_AMI__SECRET=SECRET, POSTGRES_PASSWORD="pw1")
    services = config["services"]
    assert set(services) == {"net", "postgres", "asterisk", "migrate", "ccd"}
    ccd = services["ccd"]
    # One network namespace for both, owned by neither (a restart strands no one).
    assert ccd["network_mode"] == services["asterisk"]["network_mode"] == "service:net"
    assert services["net"]["entrypoint"] == ["sleep", "infinity"]
    assert ccd["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "asterisk": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("ccd", "migrate"):
        assert services[name]["environment"] == {
            "CCD_AMI__SECRET": SECRET,
            "CCD_DATABASE__URL": "postgresql+asyncpg://ccd:pw1@postgres/ccd",
            "CCD_LOG__LEVEL": "INFO",
        }
    # The same secret reaches Asterisk's manager.conf; no other ccd variable does.
    assert services["asterisk"]["environment"]["CCD_AMI__SECRET"] == SECRET
    assert "/readyz" in " ".join(ccd["healthcheck"]["test"])
    # The REST API is published by the namespace's owner, on loopback.
    # (docker-compose 1.29 prints the short syntax: HOST_IP:PORT:TARGET/PROTOCOL.)
    assert "127.0.0.1:8080:8080/tcp" in services["net"]["ports"]
    assert sorted(ccd["volumes"]) == [
        "ccd-spool:/var/spool/ccd/cdr:rw",
        "recordings:/var/spool/ccd/recordings:rw",
    ]
    assert set(config["volumes"]) == {"pgdata", "ccd-spool", "recordings"}
    # Users keep their usual images unless they say otherwise.
    assert services["postgres"]["image"] == "postgres:15"
    assert ccd["build"]["args"]["BASE_IMAGE"] == "python:3.11-slim-bookworm"


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"
    env_file.write_text("POSTGRES_PASSWORD=pw1\n")
    done = _compose_config(env_file)
    assert done.returncode != 0
    assert "set CCD_AMI__SECRET in docker/.env" in done.stderr


def test_both_stages_of_the_ccd_image_build_from_the_base_image_argument() -> None:
    dockerfile = (DOCKER_DIR / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == ["${BASE_IMAGE}"] * 2
    assert re.search(r"^ARG BASE_IMAGE=\S+", dockerfile.split("\nFROM ", 1)[0], re.MULTILINE)
    runtime = dockerfile.rsplit("FROM ${BASE_IMAGE}", 1)[1]
    assert re.search(r"^USER ccd$", runtime, re.MULTILINE)
    assert "/readyz" in runtime.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    # Dependencies come only from the lock, hash-checked.
    assert "--require-hashes" in dockerfile
    assert "-r requirements.lock" in dockerfile


def test_the_asterisk_image_installs_the_shipped_dialplan_and_manager_conf() -> None:
    dockerfile = (DOCKER_DIR / "pbx" / "Dockerfile").read_text()
    assert "dialplan/extensions_ccd.conf" in dockerfile
    assert "deploy/manager.conf" in dockerfile
    # The sandbox's own AMI users and SIPp endpoints never reach the image.
    for sandbox_only in ("docker/asterisk/manager.conf", "docker/asterisk/pjsip.conf",
                         "docker/asterisk/extensions.conf"):  # fmt: skip
        assert sandbox_only not in dockerfile
    for copied in re.findall(r"docker/asterisk/(\S+\.conf)", dockerfile):
        assert (DOCKER_DIR / "asterisk" / copied).is_file(), copied


def test_the_asterisk_entrypoint_fills_in_the_secret_and_refuses_a_bad_one(
    tmp_path: Path,
) -> None:
    # The entrypoint's paths, moved under tmp_path: the script runs as it is in the image.
    script = (DOCKER_DIR / "pbx" / "entrypoint.sh").read_text()
    script = script.replace("/usr/share/ccd-pbx/", f"{REPO}/deploy/")
    script = script.replace("/etc/asterisk/", f"{tmp_path}/")
    (tmp_path / "entrypoint.sh").write_text(script)

    def start(secret: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", str(tmp_path / "entrypoint.sh"), "true"],
            env={"CCD_AMI__SECRET": secret, "CCD_TARGET_CONTEXT": "from-internal",
                 "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    done = start(SECRET)
    assert done.returncode == 0, done.stderr
    shipped = (REPO / "deploy" / "manager.conf").read_text()
    written = (tmp_path / "manager.conf").read_text()
    assert written == shipped.replace("secret = CHANGE-ME", f"secret = {SECRET}")
    assert (
        "CCD_TARGET_CONTEXT = from-internal" in (tmp_path / "extensions_globals.conf").read_text()
    )

    done = start("")
    assert done.returncode == 2
    assert "set CCD_AMI__SECRET" in done.stderr
    for bad in ("short", SECRET + ";comment", SECRET + "\nwrite = all"):
        done = start(bad)
        assert done.returncode == 2, bad
        assert "CCD_AMI__SECRET must" in done.stderr
