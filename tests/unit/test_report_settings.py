"""The ``[reports]`` settings: defaults, the file, the environment, one clear problem per
bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.settings import Settings, parse_settings

FILE = "config/ccd.toml"
SECRET_ENV = {"CCD_AMI__SECRET": "s3cret-value"}


def load(toml: str | None, env: dict[str, str] | None = None) -> Settings:
    return parse_settings(toml, source=FILE, environ=SECRET_ENV if env is None else env)


def test_defaults() -> None:
    reports = load(None).reports
    assert (reports.zone, reports.short_abandon_s, reports.fcr_window_h) == ("UTC", 5.0, 72.0)
    assert reports.unresolved_dispositions == ("call-back",)


def test_file_and_environment() -> None:
    toml = (
        '[reports]\nzone = "Europe/Paris"\nshort_abandon_s = 3\n'
        'unresolved_dispositions = ["call-back", "escalated"]\n'
    )
    reports = load(toml, {**SECRET_ENV, "CCD_REPORTS__FCR_WINDOW_H": "24"}).reports
    assert reports.zone == "Europe/Paris"
    assert reports.short_abandon_s == 3.0
    assert reports.fcr_window_h == 24.0
    assert reports.unresolved_dispositions == ("call-back", "escalated")


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[reports]\nzone = "Mars/Olympus"\n', "reports.zone"),
        ("[reports]\nshort_abandon_s = -1\n", "reports.short_abandon_s"),
        ("[reports]\nfcr_window_h = 100000\n", "reports.fcr_window_h"),
    ],
)
def test_a_bad_value_names_the_file_and_key(toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(toml)
    [problem] = caught.value.problems
    assert problem.startswith(f"{FILE}: {key}:")


def test_the_sample_config_file_loads_with_its_reports_section() -> None:
    sample = Path(__file__).resolve().parents[2] / FILE
    reports = load(sample.read_text()).reports
    assert reports.zone == "UTC"
