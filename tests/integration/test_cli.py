"""The ``ccd`` command as an admin runs it: a real subprocess, real files, real SQLite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ccd.db import migrate
from tests.integration.clirun import REPO, SECRET, assert_user_error, ccd, clean_env

HEAD = migrate.head_revisions()[0]

SAMPLE_CONFIG = REPO / "config" / "ccd.toml"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    # check-config and run validate the IVR flows too (default flows_dir: config/ivr: the
    # samples main and csat).
    shutil.copytree(REPO / "config" / "ivr", tmp_path / "config" / "ivr")
    return tmp_path


def write_config(workdir: Path, text: str) -> Path:
    path = workdir / "config" / "ccd.toml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------- configuration


def test_check_config_ok_names_its_sources(workdir: Path) -> None:
    write_config(workdir, "[ami]\nport = 5039\n")
    result = ccd("check-config", cwd=workdir)
    assert result.code == 0, result
    first, second = result.out.strip().splitlines()
    assert first == "config OK: config/ccd.toml, environment (CCD_AMI__SECRET)"
    assert second == f"IVR OK: 2 flow(s) from {workdir / 'config' / 'ivr'}"


def test_relative_paths_in_the_file_are_taken_from_its_directory(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = write_config(workdir, 'data_dir = "../state"\n[ivr]\nflows_dir = "ivr"\n')
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    checked = ccd("check-config", "--config", str(config), cwd=elsewhere)
    assert checked.code == 0, checked
    assert checked.out.splitlines()[1] == f"IVR OK: 2 flow(s) from {workdir / 'config' / 'ivr'}"
    printed = json.loads(
        ccd("--config", str(config), "print-config", "--format", "json", cwd=elsewhere).out
    )
    assert printed["data_dir"] == str(workdir / "state")


def test_a_configured_flows_dir_that_does_not_exist_names_key_and_file(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = write_config(workdir, '[ivr]\nflows_dir = "flows"\n')
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = ccd("check-config", "--config", str(config), cwd=elsewhere)
    assert_user_error(
        result, f"{config}: ivr.flows_dir: no such directory {workdir / 'config' / 'flows'}"
    )
    assert "IVR off" not in result.out
    from_env = ccd(
        "check-config",
        cwd=workdir,
        env=clean_env(CCD_AMI__SECRET=SECRET, CCD_IVR__FLOWS_DIR="gone"),
    )
    # Environment values are relative to the working directory.
    assert_user_error(
        from_env,
        f"environment CCD_IVR__FLOWS_DIR: ivr.flows_dir: no such directory {workdir / 'gone'}",
    )


def test_shipped_sample_config_is_valid_and_documents_every_key(workdir: Path) -> None:
    result = ccd("--config", str(SAMPLE_CONFIG), "print-config", "--format", "json", cwd=workdir)
    assert result.code == 0, result
    effective = json.loads(result.out)
    sample = tomllib.loads(SAMPLE_CONFIG.read_text())
    sample_text = SAMPLE_CONFIG.read_text()
    for section, values in effective.items():
        if not isinstance(values, dict):
            assert section in sample or f"# {section}" in sample_text, section
            continue
        for key in values:
            # Secrets are documented as comments: they are not allowed in the file.
            assert key in sample.get(section, {}) or f"# {key}" in sample_text, (section, key)


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ('[ami]\nport = "abc"\n', {}, "config/ccd.toml: ami.port: Input should be a valid integer"),
        ("[ami]\nprot = 1\n", {}, "config/ccd.toml: ami.prot: unknown key"),
        ('[ami]\nsecret = "x"\n', {}, "set CCD_AMI__SECRET in the environment instead"),
        ("[ami]\nport = = 1\n", {}, "config/ccd.toml: invalid TOML: "),
        ("", {"CCD_LOG__LEVEL": "loud"}, "environment CCD_LOG__LEVEL: log.level: Input should be"),
        ("", {"CCD_AMI_HOST": "x"}, "nested keys use a double underscore: CCD_AMI__HOST"),
    ],
)
def test_config_errors_exit_2_with_one_clear_line(
    workdir: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    write_config(workdir, toml)
    result = ccd("check-config", cwd=workdir, env=clean_env(CCD_AMI__SECRET=SECRET, **env))
    assert_user_error(result, "ccd: configuration is invalid:", expected)
    assert result.out == ""


def test_bad_toml_error_gives_the_line(workdir: Path) -> None:
    write_config(workdir, '[ami]\nhost = "h"\n\nport = = 1\n')
    assert_user_error(ccd("check-config", cwd=workdir), "line 4")


def test_missing_secret(workdir: Path) -> None:
    result = ccd("check-config", cwd=workdir, env=clean_env())
    assert_user_error(result, "environment CCD_AMI__SECRET: missing — set it in the environment")


def test_missing_explicit_config_file_is_an_error(workdir: Path) -> None:
    result = ccd("--config", "nowhere.toml", "check-config", cwd=workdir)
    assert_user_error(result, "nowhere.toml: config file not found")
    env = clean_env(CCD_AMI__SECRET=SECRET, CCD_CONFIG="from-env.toml")
    assert_user_error(ccd("check-config", cwd=workdir, env=env), "from-env.toml: config file")


def test_config_option_after_the_subcommand_and_from_ccd_config(workdir: Path) -> None:
    other = workdir / "other.toml"
    other.write_text("[http]\nport = 9000\n")
    result = ccd("print-config", "--config", str(other), "--format", "json", cwd=workdir)
    assert json.loads(result.out)["http"]["port"] == 9000
    env = clean_env(CCD_AMI__SECRET=SECRET, CCD_CONFIG=str(other))
    result = ccd("print-config", "--format", "json", cwd=workdir, env=env)
    assert json.loads(result.out)["http"]["port"] == 9000


def test_run_refuses_an_invalid_config_before_starting(workdir: Path) -> None:
    write_config(workdir, "[http]\nport = -1\n")
    assert_user_error(ccd("run", cwd=workdir), "config/ccd.toml: http.port:")


def test_print_config_masks_secrets(workdir: Path) -> None:
    write_config(workdir, "[log]\nlevel = 'debug'\n")
    env = clean_env(CCD_AMI__SECRET=SECRET, CCD_DATABASE__URL="postgresql://ccd:db-pass-123@db/ccd")
    result = ccd("print-config", cwd=workdir, env=env)
    assert result.code == 0, result
    assert SECRET not in result.out + result.err
    assert "db-pass-123" not in result.out + result.err
    printed = tomllib.loads(result.out)
    assert printed["ami"]["secret"] == "***"
    assert printed["database"]["url"] == "postgresql+asyncpg://ccd:***@db/ccd"
    assert printed["log"]["level"] == "DEBUG"


def test_python_dash_m_ccd(workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ccd", "--version"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("ccd ")


def test_unknown_command_is_a_usage_error(workdir: Path) -> None:
    assert_user_error(ccd("frobnicate", cwd=workdir), "invalid choice")


# ------------------------------------------------------------------------ database, tokens


@pytest.fixture
def db_config(workdir: Path) -> Path:
    """A config whose SQLite database lives in the test's tmp dir, given by absolute path
    so commands work from any working directory."""
    return write_config(workdir, f'data_dir = "{workdir / "state"}"\n')


def test_db_upgrade_from_any_directory_then_no_op(
    db_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    assert ccd("--config", str(db_config), "db", "current", cwd=elsewhere).out.startswith("none")
    first = ccd("--config", str(db_config), "db", "upgrade", cwd=elsewhere)
    assert first.code == 0, first
    assert "Running upgrade  -> 0001" in first.err
    assert (db_config.parent.parent / "state" / "ccd.sqlite3").is_file()

    again = ccd("--config", str(db_config), "db", "upgrade", cwd=elsewhere)
    assert again.code == 0, again
    assert "Running upgrade" not in again.err
    assert "db.upgrade.noop" in again.err
    assert ccd("--config", str(db_config), "db", "current", cwd=elsewhere).out == f"{HEAD} (head)\n"


def test_db_downgrade_upgrade_round_trip(db_config: Path) -> None:
    cwd = db_config.parent.parent
    assert ccd("db", "upgrade", cwd=cwd).code == 0
    down = ccd("db", "downgrade", "base", cwd=cwd)
    assert down.code == 0, down
    assert "Running downgrade 0001 -> " in down.err  # the last step down
    assert ccd("db", "current", cwd=cwd).out.startswith("none")
    assert ccd("db", "upgrade", cwd=cwd).code == 0
    assert ccd("db", "current", cwd=cwd).out == f"{HEAD} (head)\n"


def test_db_commands_do_not_need_the_ami_secret(db_config: Path) -> None:
    result = ccd("db", "upgrade", cwd=db_config.parent.parent, env=clean_env())
    assert result.code == 0, result


def test_db_bad_revision_is_a_usage_error(db_config: Path) -> None:
    result = ccd("db", "downgrade", "0099", cwd=db_config.parent.parent)
    assert_user_error(result, "ccd: error: migration: Can't locate revision")


def test_unreachable_database_is_one_line_without_the_password(workdir: Path) -> None:
    env = clean_env(CCD_DATABASE__URL="postgresql://ccd:db-pass-123@127.0.0.1:1/ccd")
    result = ccd("db", "upgrade", cwd=workdir, env=env)
    assert_user_error(
        result, "ccd: error: database postgresql+asyncpg://ccd:***@127.0.0.1:1/ccd: ", code=1
    )
    assert "db-pass-123" not in result.err


def test_token_lifecycle(db_config: Path) -> None:
    cwd = db_config.parent.parent
    assert ccd("db", "upgrade", cwd=cwd).code == 0

    created = ccd(
        "token", "create", "--role", "agent", "--agent", "1001", "--label", "desk 3", cwd=cwd
    )
    assert created.code == 0, created
    token = created.out.strip()
    assert token.startswith("ccd_")
    assert "\n" not in token
    assert "only time the token is shown" in created.err
    token_id = token.split("_")[1]

    listed = ccd("token", "list", cwd=cwd)
    assert token not in listed.out  # never shown again
    [row] = [line for line in listed.out.splitlines() if line.startswith(token_id)]
    assert row.split()[1:4] == ["agent", "1001", "desk"]
    assert row.rstrip().endswith("active")

    revoked = ccd("token", "revoke", token_id, cwd=cwd)
    assert revoked.code == 0, revoked
    assert revoked.out.strip() == f"revoked token {token_id}"
    [entry] = json.loads(ccd("token", "list", "--json", cwd=cwd).out)
    assert entry["id"] == token_id
    assert entry["revoked_at"] is not None

    assert_user_error(ccd("token", "revoke", "nope", cwd=cwd), "no token with id 'nope'")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--role", "agent"], "an agent token needs --agent"),
        (["--role", "admin", "--agent", "1001"], "--agent is only for agent tokens"),
        (["--role", "root"], "unknown role 'root'"),
    ],
)
def test_token_create_validation(db_config: Path, args: list[str], expected: str) -> None:
    cwd = db_config.parent.parent
    assert_user_error(ccd("token", "create", *args, cwd=cwd), expected)


@pytest.mark.parametrize(
    "command",
    [
        ["token", "create", "--role", "admin"],
        ["token", "list"],
        ["seed", str(REPO / "config" / "acd-seed.toml")],
    ],
    ids=" ".join,
)
def test_a_fresh_embedded_database_migrates_on_first_use(
    db_config: Path, command: list[str]
) -> None:
    cwd = db_config.parent.parent
    result = ccd(*command, cwd=cwd)
    assert result.code == 0, result
    assert "Running upgrade  -> 0001" in result.err
    assert ccd("db", "current", cwd=cwd).out == f"{HEAD} (head)\n"
    # Only the first command migrates; the next ones find the schema current.
    again = ccd(*command, cwd=cwd)
    assert again.code == 0, again
    assert "upgrade" not in again.err


def test_token_create_on_a_fresh_embedded_database_prints_only_the_token(
    db_config: Path,
) -> None:
    result = ccd("token", "create", "--role", "admin", cwd=db_config.parent.parent)
    assert result.code == 0, result
    assert result.out.startswith("ccd_")
    assert len(result.out.splitlines()) == 1  # TOKEN=$(ccd token create ...) still works


def test_a_configured_database_is_never_migrated_implicitly(workdir: Path) -> None:
    # Any database.url (PostgreSQL in production) keeps `ccd db upgrade` an explicit step.
    url = f"sqlite+aiosqlite:///{workdir / 'state' / 'shared.sqlite3'}"
    write_config(workdir, f'database.url = "{url}"\n')
    result = ccd("token", "create", "--role", "admin", cwd=workdir)
    assert_user_error(result, f"database {url} is never migrated", "run `ccd db upgrade` first")
    assert result.out == ""
    assert ccd("db", "current", cwd=workdir).out.startswith("none")


def test_an_outdated_configured_database_names_its_revision(workdir: Path) -> None:
    url = f"sqlite+aiosqlite:///{workdir / 'state' / 'shared.sqlite3'}"
    write_config(workdir, f'database.url = "{url}"\n')
    assert ccd("db", "upgrade", "0001", cwd=workdir).code == 0
    result = ccd("token", "list", cwd=workdir)
    assert_user_error(
        result,
        f"database {url} is at revision 0001, this ccd needs revision {HEAD}",
        "run `ccd db upgrade` first",
    )
    assert ccd("db", "current", cwd=workdir).out.startswith("0001 ")
