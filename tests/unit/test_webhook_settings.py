"""[webhooks] settings: defaults, the sample config, the environment, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.settings import parse_settings

AMI = "[ami]\nusername = 'ccd'\n"
ENV = {"CCD_AMI__SECRET": "s"}
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "ccd.toml"


def test_defaults_refuse_private_targets_and_retry_for_24_hours() -> None:
    webhooks = parse_settings(AMI, source="ccd.toml", environ=ENV).webhooks
    assert webhooks.allow_private_targets is False
    assert webhooks.give_up_after_h == 24.0
    assert webhooks.max_response_bytes == 65536
    assert webhooks.log_bodies is False


def test_the_sample_config_states_the_defaults() -> None:
    sample = parse_settings(SAMPLE.read_text(), source=str(SAMPLE), environ=ENV).webhooks
    assert sample == parse_settings(AMI, source="ccd.toml", environ=ENV).webhooks


def test_the_environment_allows_private_targets() -> None:
    env = {**ENV, "CCD_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"}
    assert parse_settings(AMI, source="ccd.toml", environ=env).webhooks.allow_private_targets


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("retry_min_s = 10\nretry_max_s = 5", "retry_min_s"),
        ("timeout_s = 0", "timeout_s"),
        ("per_subscription_concurrency = 0", "per_subscription_concurrency"),
    ],
)
def test_bad_values_are_named(section: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_settings(f"{AMI}[webhooks]\n{section}\n", source="ccd.toml", environ=ENV)
