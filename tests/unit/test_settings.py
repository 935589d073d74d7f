"""Settings: file < environment, secrets only from the environment, and one readable line
per problem naming where the value came from. Pure: TOML text and environment mappings
are passed in, nothing is read from disk or os.environ."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.settings import (
    DEFAULT_CONFIG_PATH,
    Settings,
    parse_settings,
    resolve_config_path,
)

FILE = "config/ccd.toml"
SECRET_ENV = {"CCD_AMI__SECRET": "s3cret-value"}


def load(toml: str | None, env: dict[str, str] | None = None, **kwargs: bool) -> Settings:
    return parse_settings(toml, source=FILE, environ=SECRET_ENV if env is None else env, **kwargs)


def problems(toml: str | None, env: dict[str, str] | None = None, **kwargs: bool) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(toml, env, **kwargs)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return list(caught.value.problems)


def test_defaults_need_only_the_ami_secret() -> None:
    settings = load(None)
    assert settings.ami.host == "127.0.0.1"
    assert settings.ami.port == 5038
    assert settings.ami.username == "ccd"
    assert settings.ami.secret.get_secret_value() == "s3cret-value"
    assert settings.http.port == 8080
    assert settings.http.max_body_bytes == 1024 * 1024
    assert settings.log.level == "INFO"
    assert settings.log.format == "auto"
    assert settings.originate.context == "ccd-originate"
    assert settings.data_dir == Path("var").absolute()
    assert settings.database.url is None
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('var').absolute()}/ccd.sqlite3"
    assert settings.sources == (f"defaults (no {FILE})", "environment (CCD_AMI__SECRET)")


def test_environment_overrides_the_file_key_by_key() -> None:
    toml = '[ami]\nhost = "10.0.0.5"\nport = 6000\n[log]\nlevel = "debug"\n'
    env = {**SECRET_ENV, "CCD_AMI__PORT": "7000", "ccd_http__port": "0"}
    settings = load(toml, env)
    assert settings.ami.host == "10.0.0.5"  # from the file
    assert settings.ami.port == 7000  # the environment wins
    assert settings.http.port == 0  # names are case-insensitive, like pydantic-settings'
    assert settings.log.level == "DEBUG"
    assert settings.sources[0] == FILE
    assert "CCD_AMI__PORT" in settings.sources[1]


def test_top_level_data_dir_from_environment_moves_the_default_database() -> None:
    settings = load(None, {**SECRET_ENV, "CCD_DATA_DIR": "/srv/ccd"})
    assert settings.data_dir == Path("/srv/ccd")
    assert settings.database_url == "sqlite+aiosqlite:////srv/ccd/ccd.sqlite3"


def test_bad_type_in_file_names_file_key_reason_and_value() -> None:
    [line] = problems('[ami]\nport = "abc"\n')
    assert line.startswith(f"{FILE}: ami.port: Input should be a valid integer")
    assert line.endswith("(got 'abc')")


def test_bad_type_in_environment_names_the_variable() -> None:
    [line] = problems("[ami]\nport = 5038\n", {**SECRET_ENV, "CCD_AMI__PORT": "x"})
    assert line.startswith("environment CCD_AMI__PORT: ami.port: Input should be a valid integer")


def test_out_of_range_value_is_reported() -> None:
    [line] = problems("[ami]\nport = 70000\n")
    assert line.startswith(f"{FILE}: ami.port: Input should be less than or equal to 65535")


def test_unknown_key_lists_the_known_ones() -> None:
    [line] = problems("[ami]\nprot = 5038\n")
    assert line.startswith(f"{FILE}: ami.prot: unknown key (known keys: host, port,")


def test_unknown_section_and_unknown_environment_key() -> None:
    lines = problems("[amii]\nhost = 'x'\n", {**SECRET_ENV, "CCD_HTTP__PROT": "1"})
    assert any(line.startswith(f"{FILE}: amii: unknown key (known keys: ami,") for line in lines)
    assert any(
        line.startswith("environment CCD_HTTP__PROT: http.prot: unknown key") for line in lines
    )


def test_missing_secret_says_to_set_it_in_the_environment() -> None:
    [line] = problems(None, {})
    assert line.startswith("environment CCD_AMI__SECRET: missing — set it in the environment")


def test_empty_secret_is_not_accepted() -> None:
    [line] = problems(None, {"CCD_AMI__SECRET": ""})
    assert line.startswith("environment CCD_AMI__SECRET: empty")


def test_secret_in_file_is_rejected_without_echoing_it() -> None:
    lines = problems('[ami]\nsecret = "from-the-file"\n', SECRET_ENV)
    assert lines == [
        f"{FILE}: ami.secret: secrets are not read from the file — "
        "set CCD_AMI__SECRET in the environment instead"
    ]
    assert "from-the-file" not in "\n".join(lines)


def test_database_password_in_file_is_rejected() -> None:
    [line] = problems('[database]\nurl = "postgresql://ccd:hunter2@db/ccd"\n')
    assert line.startswith(f"{FILE}: database.url: contains a password — set CCD_DATABASE__URL")
    assert "hunter2" not in line


def test_bad_toml_syntax_gives_the_line_number() -> None:
    [line] = problems('[ami]\nhost = "127.0.0.1"\nport = = 1\n')
    assert line.startswith(f"{FILE}: invalid TOML: ")
    assert "line 3" in line


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    toml = '[ami]\nport = "abc"\nsecret = "x"\n[log]\nformat = "xml"\n'
    lines = problems(toml, {})
    assert len(lines) == 4
    joined = "\n".join(lines)
    for fragment in ("ami.port", "ami.secret", "CCD_AMI__SECRET: missing", "log.format"):
        assert fragment in joined


def test_inconsistent_backoff_names_both_keys() -> None:
    [line] = problems("[ami]\nreconnect_min_s = 60\nreconnect_max_s = 30\n")
    assert line.startswith(f"{FILE}: ami: reconnect_min_s (60.0) must not exceed reconnect_max_s")


def test_ami_values_with_line_breaks_are_rejected() -> None:
    [line] = problems(None, {**SECRET_ENV, "CCD_AMI__USERNAME": "ccd\r\nAction: Originate"})
    assert line.startswith("environment CCD_AMI__USERNAME: ami.username: must not contain CR")


def test_single_underscore_env_var_gets_a_suggestion() -> None:
    [line] = problems(None, {**SECRET_ENV, "CCD_AMI_HOST": "10.0.0.1"})
    assert line == (
        "environment CCD_AMI_HOST: not a ccd setting — nested keys use a double "
        "underscore: CCD_AMI__HOST"
    )


def test_unrelated_ccd_variables_are_left_alone() -> None:
    # Helper scripts use their own CCD_* variables (e.g. the test PostgreSQL password).
    settings = load(None, {**SECRET_ENV, "CCD_PG_PASSWORD": "x", "CCD_CONFIG": "a.toml"})
    assert settings.ami.port == 5038


def test_plain_database_urls_get_the_async_driver() -> None:
    env = {**SECRET_ENV, "CCD_DATABASE__URL": "postgresql://ccd:pw@db.example:5433/calls"}
    assert load(None, env).database_url == "postgresql+asyncpg://ccd:pw@db.example:5433/calls"
    toml = '[database]\nurl = "sqlite:////tmp/x.sqlite3"\n'
    assert load(toml).database_url == "sqlite+aiosqlite:////tmp/x.sqlite3"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://db/ccd", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://db/ccd", "unsupported driver 'postgresql+psycopg2'"),
        ("not a url", "not a valid database URL"),
    ],
)
def test_unsupported_database_urls(url: str, reason: str) -> None:
    [line] = problems(f'[database]\nurl = "{url}"\n')
    assert line.startswith(f"{FILE}: database.url: {reason}")


def test_redacted_masks_the_secret_and_the_database_password() -> None:
    env = {**SECRET_ENV, "CCD_DATABASE__URL": "postgresql://ccd:hunter2@db/ccd"}
    data = load(None, env).redacted()
    assert data["ami"]["secret"] == "***"
    assert data["database"]["url"] == "postgresql+asyncpg://ccd:***@db/ccd"
    assert "hunter2" not in repr(data)
    assert "s3cret-value" not in repr(data)


def test_admin_commands_can_load_without_the_ami_secret() -> None:
    settings = load(None, {}, require_ami_secret=False)
    assert settings.redacted()["ami"]["secret"] == "(not set)"


def test_config_path_explicit_then_env_then_default() -> None:
    assert resolve_config_path("a.toml", {"CCD_CONFIG": "b.toml"}) == (Path("a.toml"), True)
    assert resolve_config_path(None, {"CCD_CONFIG": "b.toml"}) == (Path("b.toml"), True)
    assert resolve_config_path(None, {}) == (DEFAULT_CONFIG_PATH, False)


def test_relative_paths_in_the_file_are_taken_from_the_file_directory() -> None:
    toml = 'data_dir = "state"\n[cdr]\nspool_dir = "../spool"\n[ivr]\nflows_dir = "ivr"\n'
    settings = parse_settings(toml, source="/etc/ccd/ccd.toml", environ=SECRET_ENV)
    assert settings.data_dir == Path("/etc/ccd/state")
    assert settings.cdr_spool_dir == Path("/etc/spool")
    assert settings.ivr.flows_dir == Path("/etc/ccd/ivr")
    # A relative file name is read from the working directory, and so is its directory.
    relative = parse_settings(toml, source="config/ccd.toml", environ=SECRET_ENV)
    assert relative.ivr.flows_dir == Path("config/ivr").absolute()


def test_absolute_and_home_paths_in_the_file_are_kept() -> None:
    toml = 'data_dir = "/srv/ccd"\n[ivr]\nflows_dir = "~/ivr"\n'
    settings = parse_settings(toml, source="/etc/ccd/ccd.toml", environ=SECRET_ENV)
    assert settings.data_dir == Path("/srv/ccd")
    assert settings.ivr.flows_dir == Path("~/ivr").expanduser()


def test_relative_paths_from_the_environment_are_taken_from_the_working_directory() -> None:
    env = {**SECRET_ENV, "CCD_DATA_DIR": "state", "CCD_IVR__FLOWS_DIR": "flows"}
    toml = 'data_dir = "ignored"\n[ivr]\nflows_dir = "ignored"\n'
    settings = parse_settings(toml, source="/etc/ccd/ccd.toml", environ=env)
    assert settings.data_dir == Path("state").absolute()
    assert settings.ivr.flows_dir == Path("flows").absolute()


def test_a_path_of_the_wrong_type_is_reported_not_resolved() -> None:
    [line] = problems("[ivr]\nflows_dir = 3\n")
    assert line.startswith(f"{FILE}: ivr.flows_dir: ")


def test_origin_names_the_file_or_variable_that_set_a_key() -> None:
    env = {**SECRET_ENV, "CCD_HTTP__PORT": "0"}
    settings = load('[ivr]\nflows_dir = "ivr"\n[http]\nport = 1\n', env)
    assert settings.origin("ivr.flows_dir") == FILE
    assert settings.origin("http.port") == "environment CCD_HTTP__PORT"
    assert settings.origin("data_dir") is None  # a default


def test_agi_and_ivr_defaults_and_overrides() -> None:
    settings = load(None)
    assert (settings.agi.host, settings.agi.port, settings.agi.max_sessions) == (
        "127.0.0.1",
        4573,
        5000,  # IVR callers plus every caller waiting in a queue
    )
    assert settings.ivr.flows_dir == Path("config/ivr").absolute()
    moved = load(
        '[ivr]\nflows_dir = "/etc/ccd/ivr"\n[agi]\nport = 0\n',
        {**SECRET_ENV, "CCD_IVR__LOOKUP_TIMEOUT_CAP_S": "2.5"},
    )
    assert moved.ivr.flows_dir == Path("/etc/ccd/ivr")
    assert moved.agi.port == 0
    assert moved.ivr.lookup_timeout_cap_s == 2.5


def test_bad_agi_and_ivr_values_name_the_key() -> None:
    found = problems("[agi]\nport = 70000\nmax_sessions = 0\n[ivr]\nlookup_timeout_cap_s = 0\n")
    assert any(p.startswith(f"{FILE}: agi.port:") for p in found)
    assert any(p.startswith(f"{FILE}: agi.max_sessions:") for p in found)
    assert any(p.startswith(f"{FILE}: ivr.lookup_timeout_cap_s:") for p in found)


def test_dialer_report_zone_is_an_iana_zone() -> None:
    assert load(None).dialer.report_zone == "UTC"
    assert load('[dialer]\nreport_zone = "America/New_York"\n').dialer.report_zone == (
        "America/New_York"
    )
    [problem] = problems('[dialer]\nreport_zone = "Mars/Olympus"\n')
    assert "dialer.report_zone" in problem
    assert "Mars/Olympus" in problem
    assert FILE in problem
