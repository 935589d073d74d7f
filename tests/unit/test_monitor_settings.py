"""The [monitor] section: the supervisor's ring time, its bounds and the shipped sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.settings import parse_settings

ENV = {"CCD_AMI__SECRET": "s"}
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "ccd.toml"


def test_default_file_and_environment() -> None:
    assert parse_settings(None, source="t", environ=ENV).monitor.ring_timeout_s == 30
    from_file = parse_settings("[monitor]\nring_timeout_s = 45", source="ccd.toml", environ=ENV)
    assert from_file.monitor.ring_timeout_s == 45
    from_env = parse_settings(
        None, source="t", environ={**ENV, "CCD_MONITOR__RING_TIMEOUT_S": "12"}
    )
    assert from_env.monitor.ring_timeout_s == 12


def test_the_shipped_sample_sets_it() -> None:
    settings = parse_settings(SAMPLE.read_text(), source=str(SAMPLE), environ=ENV)
    assert settings.monitor.ring_timeout_s == 30


@pytest.mark.parametrize("value", ["4", "301", '"soon"'])
def test_out_of_range_names_the_key(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(f"[monitor]\nring_timeout_s = {value}", source="ccd.toml", environ=ENV)
    assert any(p.startswith("ccd.toml: monitor.ring_timeout_s:") for p in caught.value.problems)


def test_devices_default_from_file_and_environment() -> None:
    assert parse_settings(None, source="t", environ=ENV).monitor.devices == ("PJSIP/*",)
    from_file = parse_settings(
        '[monitor]\ndevices = ["PJSIP/2*", "Local/*@phones"]', source="ccd.toml", environ=ENV
    )
    assert from_file.monitor.devices == ("PJSIP/2*", "Local/*@phones")
    from_env = parse_settings(
        None, source="t", environ={**ENV, "CCD_MONITOR__DEVICES": '["Local/*@phones"]'}
    )
    assert from_env.monitor.devices == ("Local/*@phones",)


def test_the_shipped_sample_allows_pjsip_endpoints() -> None:
    settings = parse_settings(SAMPLE.read_text(), source=str(SAMPLE), environ=ENV)
    assert settings.monitor.devices == ("PJSIP/*",)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("[]", "at least 1"),
        ('[""]', "must not be empty"),
        ('["*"]', "<technology>/<resource>"),
        ('["/2001"]', "<technology>/<resource>"),
        ('["*/2001"]', "without wildcards"),
        ('["PJSIP/20 01"]', "whitespace"),
        ('["PJSIP/2001,1001"]', "','"),
        ('["PJSIP/2001\\r\\n"]', "CR"),
    ],
)
def test_bad_device_patterns_name_the_key_and_file(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(f"[monitor]\ndevices = {value}", source="ccd.toml", environ=ENV)
    [problem] = caught.value.problems
    assert problem.startswith("ccd.toml: monitor.devices:"), problem
    assert reason in problem
