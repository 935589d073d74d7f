"""`ccd init DIR`: the shipped samples written out as an admin runs it (a real subprocess,
real files), and `ccd --version`."""

from __future__ import annotations

import stat
from importlib import metadata
from pathlib import Path

from ccd.samples.catalog import SAMPLES
from tests.integration.clirun import REPO, assert_user_error, ccd, clean_env


def test_init_writes_every_sample_as_in_the_repository_and_lists_them(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "ccd"  # created, parents too
    result = ccd("init", str(target), cwd=tmp_path)
    assert result.code == 0, result
    listed = [line.split()[:2] for line in result.out.splitlines() if line.startswith("wrote")]
    assert listed == [["wrote", str(target / sample.target)] for sample in SAMPLES]
    assert "ccd.env" in result.out.splitlines()[-1]  # the next step names the secrets file
    for sample in SAMPLES:
        written = target / sample.target
        assert written.read_bytes() == (REPO / sample.source).read_bytes(), sample.target
        assert stat.S_IMODE(written.stat().st_mode) == sample.mode, sample.target
    assert stat.S_IMODE((target / "ccd.env").stat().st_mode) == 0o600
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == sorted(
        Path(sample.target).name for sample in SAMPLES
    )


def test_the_written_config_passes_check_config_as_written(tmp_path: Path) -> None:
    target = tmp_path / "ccd-conf"
    assert ccd("init", str(target), cwd=tmp_path).code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = ccd("check-config", "--config", str(target / "ccd.toml"), cwd=elsewhere)
    assert checked.code == 0, checked
    assert checked.out.splitlines() == [
        f"config OK: {target / 'ccd.toml'}, environment (CCD_AMI__SECRET)",
        f"IVR OK: 2 flow(s) from {target / 'ivr'}",
    ]
    # Without the secret (the env file not filled in yet) it says what is missing.
    unset = ccd(
        "check-config", "--config", str(target / "ccd.toml"), cwd=elsewhere, env=clean_env()
    )
    assert_user_error(unset, "CCD_AMI__SECRET")


def test_init_refuses_to_overwrite_names_the_files_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "conf"
    (target / "asterisk").mkdir(parents=True)
    (target / "ccd.toml").write_text("# mine\n")
    (target / "asterisk" / "manager.conf").write_text("; mine\n")
    result = ccd("init", str(target), cwd=tmp_path)
    assert_user_error(
        result,
        "refusing to overwrite 2 existing file(s)",
        str(target / "ccd.toml"),
        str(target / "asterisk" / "manager.conf"),
        "--force",
    )
    assert (target / "ccd.toml").read_text() == "# mine\n"
    assert not (target / "ivr").exists()
    assert not (target / "ccd.env").exists()


def test_init_force_overwrites_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "conf"
    target.mkdir()
    (target / "ccd.toml").write_text("# mine\n")
    result = ccd("init", "--force", str(target), cwd=tmp_path)
    assert result.code == 0, result
    assert f"overwrote {target / 'ccd.toml'}" in result.out
    assert f"wrote     {target / 'ccd.env'}" in result.out
    assert (target / "ccd.toml").read_bytes() == (REPO / "config" / "ccd.toml").read_bytes()


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_user_error(ccd("init", str(tmp_path / "file"), cwd=tmp_path), "not a directory")


def test_version_is_the_installed_packages(tmp_path: Path) -> None:
    result = ccd("--version", cwd=tmp_path)
    assert result.code == 0, result
    assert result.out == f"ccd {metadata.version('ccd')}\n"
