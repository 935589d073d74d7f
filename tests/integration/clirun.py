"""Running the ``ccd`` command as an admin would, for the CLI tests: a real subprocess
with a clean environment (test_cli, test_cli_ivr, test_cli_seed and test_cli_contacts
use it)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CCD = Path(sys.executable).with_name("ccd")
REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cret-ami-value"


@dataclass
class Result:
    code: int
    out: str
    err: str


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CCD_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CCD_")}
    return {**env, **extra}


def ccd(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Result:
    done = subprocess.run(
        [str(CCD), *args],
        cwd=cwd,
        env=clean_env(CCD_AMI__SECRET=SECRET) if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_user_error(result: Result, *fragments: str, code: int = 2) -> None:
    """A clean user error: exit ``code``, no traceback, every fragment on stderr."""
    assert result.code == code, result
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, result.err
