"""The catalog of samples `ccd init` writes: complete, consistent with the repository, and
the decision to write or refuse."""

from __future__ import annotations

from pathlib import Path

from ccd.samples.catalog import SAMPLES, Sample, plan_init

REPO = Path(__file__).resolve().parents[2]


def _ami_user(path: Path, section: str) -> list[tuple[str, str]]:
    """The (key, value) lines of one manager.conf section, repeated keys kept, in order."""
    lines: list[tuple[str, str]] = []
    current = None
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif "=" in line and current == section:
            key, value = (part.strip() for part in line.split("=", 1))
            lines.append((key, value))
    return lines


def test_every_source_exists_and_targets_are_distinct_relative_paths() -> None:
    for sample in SAMPLES:
        assert (REPO / sample.source).is_file(), sample.source
        assert not sample.target.startswith("/")
        assert ".." not in sample.target.split("/")
    assert len({sample.target for sample in SAMPLES}) == len(SAMPLES)


def test_every_ivr_flow_sample_is_shipped() -> None:
    flows = {f"config/ivr/{path.name}" for path in (REPO / "config" / "ivr").glob("*.toml")}
    assert flows
    assert flows <= {sample.source for sample in SAMPLES}


def test_every_sample_is_in_the_wheel() -> None:
    # pyproject.toml's force-include carries each source as ccd/_samples/<source>.
    pyproject = (REPO / "pyproject.toml").read_text()
    for sample in SAMPLES:
        covered = [
            line
            for line in pyproject.splitlines()
            if line.startswith('"')
            and "ccd/_samples/" in line
            and sample.source.startswith(line.split('"')[1])
        ]
        assert covered, f"{sample.source} is not force-included in the wheel"


def test_only_the_secrets_file_is_private() -> None:
    private = [sample.target for sample in SAMPLES if sample.private]
    assert private == ["ccd.env"]
    assert {sample.mode for sample in SAMPLES if not sample.private} == {0o644}


def test_the_manager_conf_sample_grants_what_the_sandbox_login_has() -> None:
    # The sandbox's [ccd] login is what the system tests prove sufficient; the shipped
    # sample must grant exactly that (and loopback only), with its own placeholder secret.
    shipped = _ami_user(REPO / "deploy" / "manager.conf", "ccd")
    sandbox = _ami_user(REPO / "docker" / "asterisk" / "manager.conf", "ccd")
    assert [kv for kv in shipped if kv[0] != "secret"] == [
        kv for kv in sandbox if kv[0] != "secret"
    ]
    assert ("read", "call,agent,cdr,user,dtmf") in shipped
    assert ("secret", "CHANGE-ME") in shipped
    general = dict(_ami_user(REPO / "deploy" / "manager.conf", "general"))
    sandbox_general = dict(_ami_user(REPO / "docker" / "asterisk" / "manager.conf", "general"))
    assert general["bindaddr"] == "127.0.0.1"
    assert general["channelvars"] == sandbox_general["channelvars"]
    assert general["timestampevents"] == "yes"


A = Sample("a.toml", "a.toml", "a")
B = Sample("b.conf", "sub/b.conf", "b", private=True)


def test_plan_writes_everything_into_an_empty_directory() -> None:
    plan = plan_init([A, B], set(), force=False)
    assert plan.writes == (A, B)
    assert plan.overwrites == ()
    assert plan.refused == ()


def test_plan_refuses_and_writes_nothing_when_a_target_exists() -> None:
    plan = plan_init([A, B], {"sub/b.conf"}, force=False)
    assert plan.writes == ()
    assert plan.refused == (B,)


def test_plan_with_force_overwrites_and_says_which() -> None:
    plan = plan_init([A, B], {"sub/b.conf"}, force=True)
    assert plan.writes == (A, B)
    assert plan.overwrites == (B,)
    assert plan.refused == ()
