"""Several Asterisk servers: ``[[asterisk]]`` tables, each secret from the environment;
an ``[ami]`` section alone still means one server, named ``default``."""

from __future__ import annotations

import pytest

from ccd.errors import ConfigError
from ccd.settings import Settings, parse_settings

FILE = "config/ccd.toml"
TWO_SERVERS = """
[ami]
action_timeout_s = 3

[[asterisk]]
name = "paris"
host = "10.0.0.1"

[[asterisk]]
name = "lyon"
host = "10.0.0.2"
port = 5039
username = "ccd-lyon"
"""


def load(toml: str | None, env: dict[str, str]) -> Settings:
    return parse_settings(toml, source=FILE, environ=env)


def problems(toml: str | None, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(toml, env)
    return list(caught.value.problems)


def test_an_ami_section_alone_is_one_server_named_default() -> None:
    settings = load('[ami]\nhost = "10.1.1.1"\nport = 5040\n', {"CCD_AMI__SECRET": "s"})
    [server] = settings.servers
    assert (server.name, server.host, server.port, server.username) == (
        "default",
        "10.1.1.1",
        5040,
        "ccd",
    )
    assert server.secret.get_secret_value() == "s"


def test_each_server_reads_its_own_secret_from_the_environment() -> None:
    env = {"CCD_ASTERISK_SECRET_PARIS": "p-secret", "CCD_ASTERISK_SECRET_LYON": "l-secret"}
    settings = load(TWO_SERVERS, env)
    paris, lyon = settings.servers
    assert (paris.name, paris.host, paris.port, paris.username) == (
        "paris",
        "10.0.0.1",
        5038,
        "ccd",
    )
    assert (lyon.name, lyon.host, lyon.port, lyon.username) == (
        "lyon",
        "10.0.0.2",
        5039,
        "ccd-lyon",
    )
    assert paris.secret.get_secret_value() == "p-secret"
    assert lyon.secret.get_secret_value() == "l-secret"
    assert settings.ami.action_timeout_s == 3
    shown = settings.redacted()["asterisk"]
    assert [server["secret"] for server in shown] == ["***", "***"]


def test_the_shared_ami_secret_serves_servers_without_their_own() -> None:
    env = {"CCD_AMI__SECRET": "shared", "CCD_ASTERISK_SECRET_LYON": "l-secret"}
    paris, lyon = load(TWO_SERVERS, env).servers
    assert paris.secret.get_secret_value() == "shared"
    assert lyon.secret.get_secret_value() == "l-secret"


def test_a_missing_server_secret_names_its_variable() -> None:
    found = problems(TWO_SERVERS, {"CCD_ASTERISK_SECRET_PARIS": "p"})
    assert len(found) == 1
    assert found[0].startswith("environment CCD_ASTERISK_SECRET_LYON: missing")


def test_a_secret_in_the_file_is_refused() -> None:
    found = problems('[[asterisk]]\nname = "a"\nsecret = "x"\n', {"CCD_ASTERISK_SECRET_A": "s"})
    assert found == [
        f"{FILE}: asterisk.a.secret: secrets are not read from the file — "
        "set CCD_ASTERISK_SECRET_A in the environment instead"
    ]


def test_duplicated_and_malformed_names_name_key_and_file() -> None:
    twice = '[[asterisk]]\nname = "a"\n[[asterisk]]\nname = "a"\n'
    assert problems(twice, {"CCD_AMI__SECRET": "s"}) == [
        f"{FILE}: asterisk: server names must be unique; repeated: a"
    ]
    malformed = '[[asterisk]]\nname = "Bad Name"\n'
    [found] = problems(malformed, {"CCD_AMI__SECRET": "s"})
    assert found.startswith(f"{FILE}: asterisk.0.name: String should match pattern")


def test_an_unknown_server_key_is_named() -> None:
    found = problems('[[asterisk]]\nname = "a"\nhots = "x"\n', {"CCD_AMI__SECRET": "s"})
    assert found[0].startswith(f"{FILE}: asterisk.0.hots: unknown key")


# ---- recording and monitoring per server -----------------------------------------------

SECRETS = {"CCD_AMI__SECRET": "s"}
RECORDING_SERVERS = """
[recording]
asterisk_dir = "/var/spool/asterisk/monitor/ccd"
dir = "/srv/paris/monitor"

[[asterisk]]
name = "paris"

[[asterisk]]
name = "lyon"
"""


def test_once_recording_is_configured_every_further_server_needs_its_recording_dir() -> None:
    assert problems(RECORDING_SERVERS, SECRETS) == [
        f"{FILE}: asterisk.lyon.recording_dir: required when [recording] is configured — "
        "where ccd reads the recordings this Asterisk server writes (absolute)"
    ]
    # From the environment too.
    env = {**SECRETS, "CCD_RECORDING__DIR": "/srv/paris/monitor"}
    assert len(problems('[[asterisk]]\nname = "a"\n[[asterisk]]\nname = "b"\n', env)) == 1
    # Without [recording], nothing is required (such a server records nothing).
    assert load(TWO_SERVERS, SECRETS).asterisk[1].recording_dir is None


def test_server_recording_and_monitoring_keys() -> None:
    toml = RECORDING_SERVERS + (
        'recording_dir = "/srv/lyon/monitor"\n'
        'recording_asterisk_dir = "/var/spool/asterisk/ccd"\n'
        'monitor_devices = ["PJSIP/2*"]\n'
    )
    lyon = load(toml, SECRETS).asterisk[1]
    assert str(lyon.recording_dir) == "/srv/lyon/monitor"
    assert str(lyon.recording_asterisk_dir) == "/var/spool/asterisk/ccd"
    assert lyon.monitor_devices == ("PJSIP/2*",)


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ('recording_dir = "monitor"', "recording_dir", "must be an absolute path"),
        ('recording_asterisk_dir = "spool"', "recording_asterisk_dir", "must be an absolute"),
        ('monitor_devices = ["PJ*/x"]', "monitor_devices", "without wildcards"),
        ("monitor_devices = []", "monitor_devices", "at least 1 item"),
    ],
)
def test_bad_server_recording_and_monitoring_keys_are_named(
    line: str, key: str, reason: str
) -> None:
    [found] = problems(f'[[asterisk]]\nname = "a"\n{line}\n', SECRETS)
    assert found.startswith(f"{FILE}: asterisk.0.{key}: ")
    assert reason in found
