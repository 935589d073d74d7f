"""The contact and do-not-call readers: E.164 and time zones from phonenumbers, every bad
row reported with its row, column and reason, good rows kept, bounded state."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from ccd.dialer.contacts import (
    BadRow,
    ColumnMapping,
    ContactRow,
    CsvUnusable,
    DncNumber,
    GoodRow,
    NumberProblem,
    Problem,
    contact_id,
    describe,
    normalise_number,
    parse_zones,
    read_contacts,
    read_dnc,
)


def rows(text: str, mapping: ColumnMapping | None = None) -> list[ContactRow]:
    reader = read_contacts(
        io.StringIO(text),
        campaign_id="spring",
        default_region="US",
        mapping=mapping or ColumnMapping(),
    )
    return list(reader)


def good(result: list[ContactRow]) -> list[GoodRow]:
    return [row for row in result if isinstance(row, GoodRow)]


def bad(result: list[ContactRow]) -> dict[int, tuple[Problem, ...]]:
    return {row.row: row.problems for row in result if isinstance(row, BadRow)}


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(212) 555-0100", "US", "+12125550100"),
        ("212.555.0100", "us", "+12125550100"),
        ("+1 212 555 0100", "FR", "+12125550100"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
        ("00 44 7911 123456", "FR", "+447911123456"),
        ("tel:+1-212-555-0100", "US", "+12125550100"),
    ],
)
def test_numbers_become_e164_with_the_default_region(raw: str, region: str, expected: str) -> None:
    assert normalise_number(raw, region.upper()) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty phone number"),
        ("call me", "unparseable number"),
        ("12", "not a valid number: too short"),
        ("212 555 01001234567", "not a valid number"),
        ("+1 099 555 0100", "not a valid number"),  # no US area code starts with 0
        ("212 555 0100 ext. 12", "has an extension (12)"),
    ],
)
def test_bad_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(NumberProblem, match=reason.replace("(", r"\(").replace(")", r"\)")):
        normalise_number(raw, "US")


def test_contacts_with_zones_from_the_number_and_free_fields() -> None:
    result = rows(
        "Phone,Name,Plan,Agent notes\n"
        "(212) 555-0100,Alice Martin,gold,VIP\n"
        "+33 6 12 34 56 78,Bob,silver,\n"
        "+7 912 345 67 89,Ivan,,\n"
    )
    alice, bob, ivan = (row.contact for row in good(result))
    assert [row.row for row in good(result)] == [2, 3, 4]
    assert alice.number == "+12125550100"
    assert alice.time_zones == ("America/New_York",)
    assert alice.name == "Alice Martin"
    assert alice.fields == {"Plan": "gold", "Agent notes": "VIP"}
    assert alice.campaign_id == "spring"
    assert bob.time_zones == ("Europe/Paris",)
    # A Russian mobile may be anywhere from Kaliningrad to Kamchatka: every zone is kept
    # (a calling window must hold in all of them).
    assert {"Europe/Moscow", "Asia/Vladivostok"} <= set(ivan.time_zones)
    assert list(ivan.time_zones) == sorted(ivan.time_zones)


def test_time_zone_column_wins_and_is_checked_against_zoneinfo() -> None:
    result = rows(
        "phone,time_zone\n"
        "212 555 0100,America/Chicago\n"
        "212 555 0101,America/Denver; America/Chicago\n"
        "212 555 0102,Mars/Olympus_Mons\n"
        "212 555 0103,\n"
        "+800 1234 5678,Asia/Tokyo\n"
        "+800 1234 5679,\n"
    )
    zones = {row.row: row.contact.time_zones for row in good(result)}
    assert zones == {
        2: ("America/Chicago",),
        3: ("America/Chicago", "America/Denver"),
        5: ("America/New_York",),  # empty cell: from the number
        6: ("Asia/Tokyo",),  # a non-geographic number, placed by the file
    }
    assert bad(result) == {
        4: (Problem("time_zone", "unknown time zone 'Mars/Olympus_Mons' (an IANA name: "
                    "America/New_York)"),),
        7: (Problem("phone", "no time zone is known for this number: give one in the time "
                    "zone column"),),
    }  # fmt: skip


def test_every_bad_row_is_reported_and_good_rows_kept() -> None:
    text = (
        "phone,name,time_zone\n"
        "212 555 0100,Alice,\n"
        ",Nobody,\n"
        "not a number,Typo,\n"
        "212 555 0100,Alice again,\n"
        "\n"
        "12,Short,Nowhere/Land\n"
        "212 555 0104,Too,many,cells\n"
        "+1 212 555 0105,Bob,\n"
    )
    result = rows(text)
    assert [(row.row, row.contact.name) for row in good(result)] == [(2, "Alice"), (9, "Bob")]
    problems = bad(result)
    assert problems[3] == (Problem("phone", "empty phone number"),)
    assert problems[4] == (Problem("phone", "unparseable number: not a phone number"),)
    assert problems[5] == (Problem("phone", "duplicate: same number as row 2"),)
    # Row 6 is blank (skipped, still counted as a row: row numbers match the file's lines).
    assert problems[7] == (
        Problem("phone", "not a valid number: too short"),
        Problem("time_zone", "unknown time zone 'Nowhere/Land' (an IANA name: America/New_York)"),
    )
    assert problems[8] == (Problem("", "4 cells but 3 columns (1 extra)"),)
    assert describe(problems[7]).startswith("column 'phone': not a valid number")


def test_bad_text_and_broken_csv_are_rows_not_the_end_of_the_file() -> None:
    result = rows(
        "phone,name\n"
        "212 555 0100,Caf\ufffd\n"  # invalid UTF-8, decoded with errors="replace"
        '212 555 0101,"Bob "the" Builder"\n'  # a stray quote (strict CSV)
        "212 555 0102,Carol\n"
        "212 555 0103,Nul\x00\n"
    )
    assert [row.contact.name for row in good(result)] == ["Carol"]
    problems = bad(result)
    assert problems[2] == (Problem("name", "not UTF-8 text"),)
    assert problems[3][0].column == ""
    assert problems[3][0].reason.startswith("not valid CSV: ")
    assert problems[5] == (Problem("name", "contains a NUL character"),)


def test_column_mapping_and_unusable_files() -> None:
    mapping = ColumnMapping(phone="Mobile", name="Full name", time_zone="TZ")
    result = rows(
        "full name,mobile,tz,extra\nAlice,212 555 0100,America/Chicago,x\n", mapping=mapping
    )
    [row] = good(result)
    assert row.contact.name == "Alice"
    assert row.contact.time_zones == ("America/Chicago",)
    assert row.contact.fields == {"extra": "x"}

    with pytest.raises(CsvUnusable, match="no phone column 'phone' in the header"):
        rows("number,name\n212 555 0100,A\n")
    with pytest.raises(CsvUnusable, match="no name column 'Client'"):
        rows("phone\n212 555 0100\n", mapping=ColumnMapping(name="Client"))
    with pytest.raises(CsvUnusable, match="the file is empty"):
        rows("\n\n")
    with pytest.raises(CsvUnusable, match="appears twice"):
        rows("phone,Phone\n1,2\n")
    with pytest.raises(CsvUnusable, match="unknown default region 'XX'"):
        list(read_contacts(["phone\n"], campaign_id="c", default_region="XX"))
    # An unnamed trailing column (a trailing comma on every line) is ignored.
    [trailing] = good(rows("phone,name,\n212 555 0100,A,\n"))
    assert trailing.contact.fields == {}


def test_contact_ids_are_stable_per_campaign_and_number() -> None:
    first = good(rows("phone\n212 555 0100\n"))[0].contact
    again = good(rows("phone,name\n+1 (212) 555-0100,Other\n"))[0].contact
    assert first.id == again.id == contact_id("spring", "+12125550100")
    assert contact_id("autumn", "+12125550100") != first.id
    assert len(first.id) <= 64


def test_the_reader_streams() -> None:
    """Rows come out while the input is still being read: nothing buffers the file."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        yield "phone\n"
        for index in range(1_000_000):
            consumed += 1
            yield f"+1212555{index % 10_000:04d}\n"

    reader = read_contacts(lines(), campaign_id="c", default_region="US")
    first = next(reader)
    assert isinstance(first, GoodRow)
    assert consumed < 10


def test_parse_zones_sorts_and_dedupes() -> None:
    assert parse_zones("Europe/Paris;Europe/Paris; America/New_York") == (
        "America/New_York",
        "Europe/Paris",
    )
    for raw in ("", " ; ", "UTC/../etc", "../../etc/passwd"):
        with pytest.raises(NumberProblem):
            parse_zones(raw)


def test_dnc_files_with_a_header_or_one_number_per_line() -> None:
    plain = list(
        read_dnc(io.StringIO("+12125550100\n212 555 0101\n\nnonsense\n"), default_region="US")
    )
    assert plain == [
        DncNumber(1, "+12125550100"),
        DncNumber(2, "+12125550101"),
        BadRow(4, (Problem("", "unparseable number: not a phone number"),)),
    ]
    with_header = list(
        read_dnc(io.StringIO("name,Phone\nA,06 12 34 56 78\nB,\n"), default_region="FR")
    )
    assert with_header == [
        DncNumber(2, "+33612345678"),
        BadRow(3, (Problem("phone", "empty phone number"),)),
    ]
    with pytest.raises(CsvUnusable, match="no phone column 'phone'"):
        list(read_dnc(io.StringIO("a,b\n1,2\n"), default_region="US"))
    with pytest.raises(CsvUnusable, match="no phone column 'tel'"):
        list(read_dnc(io.StringIO("+12125550100\n"), default_region="US", phone_column="tel"))
