"""``ccd contacts import`` and ``ccd dnc import`` as an admin runs them: a real subprocess,
real files, real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.db.dialer_store import DialerStore, StoredContact
from ccd.db.engine import create_engine
from ccd.dialer.model import Campaign, DialMode
from tests.integration.clirun import assert_user_error, ccd

CAMPAIGN = Campaign(id="spring", name="Spring", mode=DialMode.PROGRESSIVE, caller_id="+12125550199")
CONTACTS = (
    "Mobile,Full name,Plan,TZ\n"
    "(212) 555-0100,Alice Martin,gold,\n"
    "212 555 0101,Bob,silver,America/Chicago\n"
    "call me,Typo,,\n"
    "+33 6 12 34 56 78,Chloé,gold,Mars/Olympus\n"
    "212-555-0100,Alice again,,\n"
    "+44 7911 123456,Dave,,\n"
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ccd.toml").write_text(f'data_dir = "{tmp_path / "state"}"\n')
    result = ccd("db", "upgrade", cwd=tmp_path)
    assert result.code == 0, result
    return tmp_path


def database_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{workdir / 'state' / 'ccd.sqlite3'}"


async def create_campaign(workdir: Path) -> None:
    engine = create_engine(database_url(workdir))
    try:
        await DialerStore(engine).put_campaign(CAMPAIGN)
    finally:
        await engine.dispose()


async def due(workdir: Path) -> list[StoredContact]:
    engine = create_engine(database_url(workdir))
    try:
        return await DialerStore(engine).due_contacts("spring", limit=1000)
    finally:
        await engine.dispose()


async def blocked(workdir: Path, number: str, campaign: str | None = None) -> bool:
    engine = create_engine(database_url(workdir))
    try:
        return await DialerStore(engine).is_blocked(number, campaign_id=campaign)
    finally:
        await engine.dispose()


MAPPING = ("--phone-column", "mobile", "--name-column", "Full name", "--tz-column", "tz")


async def test_import_reports_every_bad_row_and_keeps_the_good_ones(workdir: Path) -> None:
    await create_campaign(workdir)
    path = workdir / "spring.csv"
    path.write_text(CONTACTS, encoding="utf-8")
    result = ccd("contacts", "import", str(path), "--campaign", "spring", *MAPPING, cwd=workdir)
    assert result.code == 0, result
    assert result.out.splitlines() == [
        f"importing contacts from {path} into campaign spring",
        "  6 rows read, 3 imported, 3 rejected",
        f"imported: 3 contact(s) in campaign spring from {path}: 3 new, 0 already there; "
        "3 row(s) rejected",
    ]
    # (stderr also has the log: the import's summary event)
    assert [line for line in result.err.splitlines() if line.startswith("  ")] == [
        f"  {path}: row 4, column 'Mobile': unparseable number: not a phone number",
        f"  {path}: row 5, column 'TZ': unknown time zone 'Mars/Olympus' (an IANA name: "
        "America/New_York)",
        f"  {path}: row 6, column 'Mobile': duplicate: same number as row 2",
    ]
    contacts = {entry.contact.name: entry.contact for entry in await due(workdir)}
    assert set(contacts) == {"Alice Martin", "Bob", "Dave"}
    assert contacts["Bob"].time_zones == ("America/Chicago",)
    assert contacts["Alice Martin"].fields == {"Plan": "gold"}
    assert "Europe/London" in contacts["Dave"].time_zones

    again = ccd("contacts", "import", str(path), "--campaign", "spring", *MAPPING, cwd=workdir)
    assert again.code == 0, again
    assert "3 new" not in again.out
    assert "0 new, 3 already there" in again.out
    assert {entry.contact.id for entry in await due(workdir)} == {c.id for c in contacts.values()}


async def test_unusable_files_exit_2_and_write_nothing(workdir: Path) -> None:
    await create_campaign(workdir)
    no_phone = workdir / "nophone.csv"
    no_phone.write_text("number,name\n2125550100,Alice\n")
    result = ccd("contacts", "import", str(no_phone), "--campaign", "spring", cwd=workdir)
    assert_user_error(
        result,
        "cannot be imported; nothing was written",
        "no phone column 'phone' in the header (columns: 'number', 'name')",
    )
    all_bad = workdir / "allbad.csv"
    all_bad.write_text("phone\nnope\n12\n")
    result = ccd("contacts", "import", str(all_bad), "--campaign", "spring", cwd=workdir)
    assert_user_error(result, "row 2, column 'phone'", "row 3, column 'phone'", "no contact in")
    missing = ccd("contacts", "import", "nope.csv", "--campaign", "spring", cwd=workdir)
    assert_user_error(missing, "nope.csv: cannot read")
    unknown = ccd("contacts", "import", str(no_phone), "--campaign", "winter", cwd=workdir)
    assert_user_error(unknown, "no campaign 'winter'")
    missing_mapping = ccd(
        "contacts", "import", str(all_bad), "--campaign", "spring", "--tz-column", "zone",
        cwd=workdir,
    )  # fmt: skip
    assert_user_error(missing_mapping, "no time zone column 'zone'")
    assert await due(workdir) == []


async def test_spreadsheet_exports_bom_and_bad_bytes(workdir: Path) -> None:
    await create_campaign(workdir)
    path = workdir / "excel.csv"
    path.write_bytes(
        b"\xef\xbb\xbfphone,name\r\n212 555 0100,Caf\xe9\r\n212 555 0101,Zo\xc3\xab\r\n"
    )
    result = ccd("contacts", "import", str(path), "--campaign", "spring", cwd=workdir)
    assert result.code == 0, result
    assert f"{path}: row 2, column 'name': not UTF-8 text" in result.err
    [zoe] = await due(workdir)
    assert zoe.contact.name == "Zoë"


async def test_dnc_import_global_and_per_campaign(workdir: Path) -> None:
    await create_campaign(workdir)
    contacts = workdir / "spring.csv"
    contacts.write_text("phone\n212 555 0100\n212 555 0101\n212 555 0102\n")
    assert ccd("contacts", "import", str(contacts), "--campaign", "spring", cwd=workdir).code == 0

    global_list = workdir / "national-dnc.txt"
    global_list.write_text("+1 212 555 0100\nnot a number\n")
    result = ccd("dnc", "import", str(global_list), cwd=workdir)
    assert result.code == 0, result
    assert "  2 rows read, 1 listed, 1 rejected" in result.out
    assert "1 number(s) on the global do-not-call list" in result.out
    assert f"{global_list}: row 2: unparseable number" in result.err

    campaign_list = workdir / "spring-dnc.csv"
    campaign_list.write_text("name,phone\nBob,(212) 555-0101\n")
    result = ccd("dnc", "import", str(campaign_list), "--campaign", "spring", cwd=workdir)
    assert result.code == 0, result
    assert "campaign spring's do-not-call list" in result.out
    again = ccd("dnc", "import", str(campaign_list), "--campaign", "spring", cwd=workdir)
    assert "0 new, 1 already listed" in again.out

    assert [entry.contact.number for entry in await due(workdir)] == ["+12125550102"]
    assert await blocked(workdir, "+12125550100")
    assert not await blocked(workdir, "+12125550101")
    assert await blocked(workdir, "+12125550101", "spring")

    french = workdir / "fr.txt"
    french.write_text("06 12 34 56 78\n")
    assert ccd("dnc", "import", str(french), "--region", "FR", cwd=workdir).code == 0
    assert await blocked(workdir, "+33612345678")

    bad_header = workdir / "bad.csv"
    bad_header.write_text("a,b\n1,2\n")
    assert_user_error(ccd("dnc", "import", str(bad_header), cwd=workdir), "no phone column")
    assert_user_error(
        ccd("dnc", "import", str(french), "--campaign", "winter", cwd=workdir),
        "no campaign 'winter'",
    )
    assert_user_error(
        ccd("dnc", "import", str(french), "--region", "XX", cwd=workdir), "unknown default region"
    )
