"""The wheel as an admin gets it: built from this tree, installed into a fresh virtualenv,
run from outside the source tree (about 20 s: a build and an install). `ccd init` must
write the repository's own samples and the written configuration must pass
`ccd check-config`."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

import ccd
from ccd.samples.catalog import SAMPLES
from tests.integration.clirun import REPO, SECRET, clean_env


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    outside: Path  # a working directory with no source tree in sight

    def run(self, *args: str, secret: bool = True) -> subprocess.CompletedProcess[str]:
        env = clean_env(CCD_AMI__SECRET=SECRET) if secret else clean_env()
        env.pop("PYTHONPATH", None)
        return subprocess.run(
            list(args),
            cwd=self.outside,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _check(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # hatchling comes from the dev tools (requirements.lock): the build needs no network.
    _check(
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", REPO],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    )
    (wheel,) = (root / "dist").glob("ccd-*.whl")
    venv = root / "venv"
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", venv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    )
    python = venv / "bin" / "python"
    _check(
        subprocess.run(
            [*pip, "--python", python, "install", "--no-deps", "--no-index", wheel],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    )
    # ccd's dependencies are borrowed from the dev environment (a .pth line, after the new
    # site-packages), so the test runs offline in seconds; ccd itself comes only from the
    # wheel: .pth files of an added path are not processed, so the editable install of the
    # source tree stays invisible (checked below).
    site_packages = Path(
        _check(
            subprocess.run(
                [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        ).strip()
    )
    (site_packages / "ccd_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    outside = root / "work"
    outside.mkdir()
    return Installed(wheel, venv, outside)


def test_ccd_runs_from_the_wheel_not_the_source_tree(installed: Installed) -> None:
    where = _check(
        installed.run(
            str(installed.venv / "bin" / "python"), "-c", "import ccd; print(ccd.__file__)"
        )
    )
    assert Path(where.strip()).is_relative_to(installed.venv), where
    assert not Path(where.strip()).is_relative_to(REPO)


def test_version_is_the_wheels(installed: Installed) -> None:
    out = _check(installed.run(str(installed.venv / "bin" / "ccd"), "--version"))
    assert out == f"ccd {ccd.__version__}\n"
    assert installed.wheel.name.startswith(f"ccd-{ccd.__version__}-")


def test_init_writes_the_repositorys_samples_and_the_config_validates(
    installed: Installed,
) -> None:
    target = installed.outside / "etc-ccd"
    out = _check(installed.run(str(installed.venv / "bin" / "ccd"), "init", str(target)))
    assert out.count("\nwrote ") + out.startswith("wrote ") == len(SAMPLES)
    for sample in SAMPLES:
        written = target / sample.target
        assert written.read_bytes() == (REPO / sample.source).read_bytes(), sample.target
        assert os.stat(written).st_mode & 0o777 == sample.mode
    checked = _check(
        installed.run(
            str(installed.venv / "bin" / "ccd"),
            "check-config",
            "--config",
            str(target / "ccd.toml"),
        )
    )
    assert checked.splitlines() == [
        f"config OK: {target / 'ccd.toml'}, environment (CCD_AMI__SECRET)",
        f"IVR OK: 2 flow(s) from {target / 'ivr'}",
    ]


def test_the_wheel_carries_the_migrations_too(installed: Installed) -> None:
    # Outside the source tree the migration scripts come from inside the package.
    ccd_bin = str(installed.venv / "bin" / "ccd")
    _check(installed.run(ccd_bin, "db", "upgrade", secret=False))
    current = _check(installed.run(ccd_bin, "db", "current", secret=False))
    assert current.strip().endswith("(head)"), current
    assert (installed.outside / "var" / "ccd.sqlite3").is_file()
