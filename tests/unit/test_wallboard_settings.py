"""``[wallboard]`` settings: the service-level targets the wallboard compares with."""

from __future__ import annotations

import pytest

from ccd.errors import ConfigError
from ccd.settings import parse_settings

FILE = "config/ccd.toml"
SECRET_ENV = {"CCD_AMI__SECRET": "s3cret-value"}


def test_default_target_is_80_percent_for_every_queue() -> None:
    settings = parse_settings(None, source=FILE, environ=SECRET_ENV)
    assert settings.wallboard.service_level_target_pct == 80.0
    assert settings.wallboard.queue_targets_pct == {}


def test_per_queue_targets_from_the_file_and_the_environment() -> None:
    toml = "[wallboard]\nservice_level_target_pct = 75\nqueue_targets_pct = { support = 90 }\n"
    settings = parse_settings(toml, source=FILE, environ=SECRET_ENV)
    assert settings.wallboard.service_level_target_pct == 75.0
    assert settings.wallboard.queue_targets_pct == {"support": 90.0}
    env = SECRET_ENV | {"CCD_WALLBOARD__SERVICE_LEVEL_TARGET_PCT": "85"}
    assert parse_settings(None, source=FILE, environ=env).wallboard.service_level_target_pct == 85


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[wallboard]\nservice_level_target_pct = 120\n", "wallboard.service_level_target_pct"),
        ("[wallboard]\nqueue_targets_pct = { sales = -1 }\n", "wallboard.queue_targets_pct.sales"),
    ],
)
def test_a_target_outside_0_to_100_names_the_key(toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(toml, source=FILE, environ=SECRET_ENV)
    [line] = caught.value.problems
    assert line.startswith(f"{FILE}: {key}: Input should be")
