"""The [cdr] section: defaults, the spool under data_dir, environment overrides, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.errors import ConfigError
from ccd.settings import parse_settings

ENV = {"CCD_AMI__SECRET": "s"}


def test_defaults_put_the_spool_under_the_data_dir() -> None:
    settings = parse_settings(None, source="t", environ={**ENV, "CCD_DATA_DIR": "/srv/ccd"})
    assert settings.cdr_spool_dir == Path("/srv/ccd/spool/cdr")
    assert settings.cdr.batch_size == 500
    assert settings.cdr.flush_interval_s == 0.05
    assert settings.cdr.retry_max_s == 10.0
    assert "ccd-originate" in settings.cdr.outbound_contexts


def test_file_and_environment_values() -> None:
    toml = '[cdr]\nspool_dir = "/var/spool/ccd"\ntrunk_prefixes = ["PJSIP/trunk-"]\n'
    settings = parse_settings(
        toml, source="ccd.toml", environ={**ENV, "CCD_CDR__BATCH_SIZE": "1000"}
    )
    assert settings.cdr_spool_dir == Path("/var/spool/ccd")
    assert settings.cdr.trunk_prefixes == ("PJSIP/trunk-",)
    assert settings.cdr.batch_size == 1000


def test_the_shipped_config_file_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "config" / "ccd.toml"
    settings = parse_settings(path.read_text(), source=str(path), environ=ENV)
    assert settings.cdr.segment_max_records == 2000


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[cdr]\nbatch_size = 0", "ccd.toml: cdr.batch_size: Input should be greater than"),
        ("[cdr]\nflush_interval_s = -1", "ccd.toml: cdr.flush_interval_s:"),
        ('[cdr]\ninbound_contexts = [""]', "ccd.toml: cdr.inbound_contexts: names must"),
        ('[cdr]\nspool = "x"', "ccd.toml: cdr.spool: unknown key (known keys: spool_dir"),
    ],
)
def test_bad_values_name_the_key(toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(toml, source="ccd.toml", environ=ENV)
    assert any(problem.startswith(expected) for problem in caught.value.problems), (
        caught.value.problems
    )
