"""The [api] section: the failed-authentication limit, trusted proxies, the sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.settings import parse_settings

ENV = {"CCD_AMI__SECRET": "s"}
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "ccd.toml"


def test_defaults_file_and_environment() -> None:
    default = parse_settings(None, source="t", environ=ENV).api
    assert (default.auth_fail_limit, default.auth_fail_window_s) == (10, 60.0)
    assert default.auth_fail_max_addresses == 10_000
    assert default.trusted_proxies == ()
    from_file = parse_settings(
        '[api]\nauth_fail_limit = 5\ntrusted_proxies = ["10.0.0.5", "fd00::/8"]',
        source="ccd.toml",
        environ=ENV,
    ).api
    assert from_file.auth_fail_limit == 5
    assert from_file.trusted_proxies == ("10.0.0.5", "fd00::/8")
    from_env = parse_settings(
        None, source="t", environ={**ENV, "CCD_API__AUTH_FAIL_WINDOW_S": "300"}
    ).api
    assert from_env.auth_fail_window_s == 300


def test_the_shipped_sample_sets_the_defaults() -> None:
    settings = parse_settings(SAMPLE.read_text(), source=str(SAMPLE), environ=ENV)
    assert settings.api == parse_settings(None, source="t", environ=ENV).api


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("auth_fail_limit = 0", "auth_fail_limit"),
        ("auth_fail_window_s = 0", "auth_fail_window_s"),
        ("auth_fail_max_addresses = 0", "auth_fail_max_addresses"),
        ('trusted_proxies = ["proxy.local"]', "trusted_proxies"),
    ],
)
def test_bad_values_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(f"[api]\n{text}", source="ccd.toml", environ=ENV)
    assert any(p.startswith(f"ccd.toml: api.{key}:") for p in caught.value.problems), caught.value
