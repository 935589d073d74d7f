"""``ccd token create --expires-in/--expires-at`` and ``ccd token list`` with expiry and
last use, as an admin runs them (real subprocess, SQLite file)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ccd.db.engine import create_engine
from ccd.db.tokens import TokenStore
from tests.integration.clirun import assert_user_error, ccd


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ccd.toml").write_text(f'data_dir = "{tmp_path / "state"}"\n')
    return tmp_path


def database_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'state' / 'ccd.sqlite3'}"


def note_use(workdir: Path, token_id: str, source: str) -> None:
    """What the running service does on a successful request and at its next flush."""

    async def use() -> None:
        engine = create_engine(database_url(workdir))
        try:
            store = TokenStore(engine)
            store.record_use(token_id, source)
            await store.flush()
        finally:
            await engine.dispose()

    asyncio.run(use())


def test_create_with_a_lifetime_and_list_expiry_and_last_use(workdir: Path) -> None:
    before = datetime.now(UTC)
    created = ccd(
        "token",
        "create",
        "--role",
        "integrator",
        "--label",
        "crm",
        "--expires-in",
        "90d",
        cwd=workdir,
    )
    assert created.code == 0, created
    token_id = created.out.strip().split("_")[1]
    assert ", expires 20" in created.err
    forever = ccd("token", "create", "--role", "analyst", cwd=workdir)
    assert "never expires" in forever.err
    at = ccd(
        "token", "create", "--role", "qa", "--expires-at", "2030-01-01T00:00+01:00", cwd=workdir
    )
    assert at.code == 0, at
    note_use(workdir, token_id, "198.51.100.7")

    rows = {row["id"]: row for row in json.loads(ccd("token", "list", "--json", cwd=workdir).out)}
    crm = rows[token_id]
    expires = datetime.fromisoformat(str(crm["expires_at"]))
    assert before + timedelta(days=90) - timedelta(seconds=1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=90)
    assert crm["status"] == "active"
    assert crm["last_used_from"] == "198.51.100.7"
    assert crm["last_used_at"] is not None
    qa = rows[at.out.strip().split("_")[1]]
    assert qa["expires_at"] == "2029-12-31T23:00:00+00:00"
    assert qa["last_used_at"] is None

    listed = ccd("token", "list", cwd=workdir).out.splitlines()
    assert listed[0].split() == [
        "ID", "ROLE", "AGENT", "LABEL", "CREATED", "EXPIRES", "LAST", "USED", "FROM", "STATUS"
    ]  # fmt: skip
    [row] = [line for line in listed if line.startswith(token_id)]
    cells = row.split()
    assert cells[1:4] == ["integrator", "-", "crm"]
    assert cells[5] == crm["expires_at"]
    assert cells[6:] == [str(crm["last_used_at"]), "198.51.100.7", "active"]
    [never] = [line for line in listed if line.startswith(forever.out.strip().split("_")[1])]
    assert never.split()[5:] == ["never", "never", "-", "active"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--expires-in", "90"], "'90' is not a duration"),
        (["--expires-in", "20y"], "is not a duration"),
        (["--expires-at", "2020-01-01T00:00Z"], "is not in the future"),
        (["--expires-at", "2099-01-01T00:00"], "has no UTC offset"),
        (["--expires-in", "1d", "--expires-at", "2099-01-01T00:00Z"], "not allowed with"),
    ],
)
def test_bad_lifetimes_are_usage_errors(workdir: Path, args: list[str], expected: str) -> None:
    result = ccd("token", "create", "--role", "admin", *args, cwd=workdir)
    assert_user_error(result, expected)
    assert result.out == ""
