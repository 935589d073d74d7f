"""``ccd seed FILE`` as an admin runs it: a real subprocess, real files, real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.acd.seed import AcdConfig, load_seed
from ccd.db.acd_store import AcdStore
from ccd.db.engine import create_engine
from tests.integration.clirun import REPO, assert_user_error, ccd

SAMPLE_SEED = REPO / "config" / "acd-seed.toml"

BAD_SEED = """
[[pause_reasons]]
code = "lunch"
billable = "no"

[[queues]]
id = "sales"
strategy = "fastest"

[[queues]]
id = "support"
overflow_target = "queue:nowhere"

[[queues]]
id = "billing"
callback_key = "A"

[[agents]]
id = "2001"
interface = "PJSIP/2001,PJSIP/2002"
skills = { support = 11 }

[[agents]]
id = "2002"
interface = "PJSIP/2002"
queues = ["support", "sales", "ghost"]

[[agents]]
id = "2002"
interface = "PJSIP/2003"
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ccd.toml").write_text(f'data_dir = "{tmp_path / "state"}"\n')
    return tmp_path


def database_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'state' / 'ccd.sqlite3'}"


async def stored(workdir: Path) -> AcdConfig:
    engine = create_engine(database_url(workdir))
    try:
        return await AcdStore(engine).load()
    finally:
        await engine.dispose()


@pytest.fixture
def migrated(workdir: Path) -> Path:
    result = ccd("db", "upgrade", cwd=workdir)
    assert result.code == 0, result
    return workdir


async def test_sample_seed_loads_with_progress_and_summary(migrated: Path) -> None:
    result = ccd("seed", str(SAMPLE_SEED), cwd=migrated)
    assert result.code == 0, result
    assert result.out.splitlines() == [
        f"seeding 8 rows from {SAMPLE_SEED}",
        "  pause reasons 3/3",
        "  queues 2/2",
        "  agents 3/3",
        "seeded: pause reasons 3/3 (3 new, 0 updated), queues 2/2 (2 new, 0 updated), "
        "agents 3/3 (3 new, 0 updated)",
    ]
    config = await stored(migrated)
    assert config == load_seed(SAMPLE_SEED)
    assert config.queues["sales"].max_wait_s == 120.0
    assert config.memberships["1003"] == {"support"}


async def test_reseed_is_idempotent(migrated: Path) -> None:
    assert ccd("seed", str(SAMPLE_SEED), cwd=migrated).code == 0
    first = await stored(migrated)
    again = ccd("seed", str(SAMPLE_SEED), cwd=migrated)
    assert again.code == 0, again
    assert "agents 3/3 (0 new, 3 updated)" in again.out
    assert await stored(migrated) == first


async def test_invalid_seed_lists_every_problem_and_writes_nothing(migrated: Path) -> None:
    seed = migrated / "bad.toml"
    seed.write_text(BAD_SEED)
    result = ccd("seed", str(seed), cwd=migrated)
    assert_user_error(
        result,
        "nothing was written",
        "pause_reasons[0] 'lunch': field 'billable'",
        "queues[0] 'sales': field 'strategy'",
        "queues[2] 'billing': field 'callback_key'",
        "queues[1] 'support': field 'overflow_target': unknown queue 'nowhere'",
        "agents[0] '2001': field 'interface'",
        "agents[0] '2001': field 'skills.support'",
        "agents[1] '2002': field 'queues.2': unknown queue 'ghost'",
        "agents[2] '2002': field 'id': already defined by agents[1]",
        "a pause reason with code 'no-answer' is required",
    )
    problems = [line for line in result.err.splitlines() if line.startswith(f"  {seed}")]
    assert len(problems) == 9, result.err
    assert result.out == ""
    assert await stored(migrated) == AcdConfig()


async def test_seed_may_refer_to_stored_queues_and_reasons(migrated: Path) -> None:
    assert ccd("seed", str(SAMPLE_SEED), cwd=migrated).code == 0
    more = migrated / "more.toml"
    more.write_text(
        '[[agents]]\nid = "2001"\ninterface = "PJSIP/2001"\nqueues = ["sales"]\n'
        '[[agents]]\nid = "1001"\ninterface = "PJSIP/1001"\n'
    )
    result = ccd("seed", str(more), cwd=migrated)
    assert result.code == 0, result
    assert "agents 2/2 (1 new, 1 updated)" in result.out
    config = await stored(migrated)
    assert config.memberships["2001"] == {"sales"}
    # No "queues" key: 1001 keeps its memberships; the rest of the file changed it.
    assert config.memberships["1001"] == {"sales", "support"}
    assert config.agents["1001"].interface == "PJSIP/1001"
    assert len(config.queues) == 2


async def test_seed_migrates_a_fresh_embedded_database(workdir: Path) -> None:
    result = ccd("seed", str(SAMPLE_SEED), cwd=workdir)
    assert result.code == 0, result
    assert await stored(workdir) == load_seed(SAMPLE_SEED)


def test_unreadable_or_broken_files_are_one_line(migrated: Path) -> None:
    missing = ccd("seed", str(migrated / "nope.toml"), cwd=migrated)
    assert_user_error(missing, "nope.toml: cannot read")
    broken = migrated / "broken.toml"
    broken.write_text("[[queues]\nid=")
    assert_user_error(ccd("seed", str(broken), cwd=migrated), "broken.toml: not valid TOML")


async def test_an_agents_server_must_be_one_the_configuration_connects_to(migrated: Path) -> None:
    config = migrated / "config" / "ccd.toml"
    config.write_text(
        config.read_text() + '[[asterisk]]\nname = "paris"\n[[asterisk]]\nname = "lyon"\n'
    )
    assert ccd("seed", str(SAMPLE_SEED), cwd=migrated).code == 0
    more = migrated / "servers.toml"
    more.write_text(
        '[[agents]]\nid = "2001"\ninterface = "PJSIP/2001"\nserver = "lyon"\n'
        '[[agents]]\nid = "2002"\ninterface = "PJSIP/2002"\nserver = "nice"\n'
    )
    assert_user_error(
        ccd("seed", str(more), cwd=migrated),
        "nothing was written",
        "agents[1] '2002': field 'server': no Asterisk server named 'nice' "
        "(configured: paris, lyon)",
    )
    assert "2001" not in (await stored(migrated)).agents

    more.write_text('[[agents]]\nid = "2001"\ninterface = "PJSIP/2001"\nserver = "lyon"\n')
    result = ccd("seed", str(more), cwd=migrated)
    assert result.code == 0, result
    assert (await stored(migrated)).agents["2001"].server == "lyon"
