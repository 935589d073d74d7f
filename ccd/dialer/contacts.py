"""Contact lists and do-not-call files: numbers to E.164, the callee's time zones, and a
streaming CSV reader that reports every bad row while it yields the good ones.

Pure: no IO besides iterating the text lines it is given (the caller opens the file or
streams the HTTP body), so memory stays bounded whatever the file's size — only one
entry per distinct number is kept, to report duplicates within the file.

Numbers are parsed and validated with ``phonenumbers`` (Google's libphonenumber metadata)
with the campaign's default region for numbers written without a country code; the
callee's time zones come from the same metadata (``time_zones_for_number``: a number may
map to several zones, and a calling window must then hold in all of them). A time zone
column, when the file has one, wins; its IANA names are checked against ``zoneinfo``.

CSV format: a header row naming the columns; the phone column (``phone`` unless mapped)
is required, the name (``name``) and time zone (``time_zone``) columns are optional, and
every other named column is kept as a free field for the agent's screen. Rows are counted
as a spreadsheet does: the header is row 1, the first contact row 2.
"""

from __future__ import annotations

import csv
import functools
import uuid
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat, ValidationResult
from phonenumbers import timezone as phone_timezones

from ccd.dialer.model import Contact
from ccd.dialer.windows import UNKNOWN_ZONE  # libphonenumber's "cannot place it" answer

DEFAULT_PHONE_COLUMN = "phone"
DEFAULT_NAME_COLUMN = "name"
DEFAULT_TZ_COLUMN = "time_zone"
MAX_NAME_LENGTH = 200  # dialer_contacts.name
MAX_FIELD_NAME_LENGTH = 100
# Several zones in the time zone column: "America/New_York;America/Chicago".
TZ_SEPARATOR = ";"
# Namespace of the contact ids: uuid5(namespace, "<campaign>\n<E.164>"), stable forever.
CONTACT_NAMESPACE = uuid.UUID("6f0a3c52-5b8e-4c1e-9d0e-2f6c1f3b7a41")

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unparseable number: no valid country code "
    "(write it as +<country code>…, or set the campaign's default region)",
    NumberParseException.NOT_A_NUMBER: "unparseable number: not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "unparseable number: too short after the "
    "international prefix",
    NumberParseException.TOO_SHORT_NSN: "unparseable number: too short",
    NumberParseException.TOO_LONG: "unparseable number: too long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length",
}


class NumberProblem(ValueError):
    """A phone number that cannot be dialed; ``str()`` is the reason, for a person."""


class CsvUnusable(ValueError):
    """The file as a whole cannot be read (no header, no phone column, ...): nothing in it
    can be imported. ``problems`` says why, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


# --- numbers and zones -------------------------------------------------------------------


def check_region(region: str) -> str:
    """``region`` (ISO 3166 alpha-2, any case) as libphonenumber knows it, else ValueError."""
    upper = region.strip().upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {region!r} (an ISO 3166 code such as 'US')")
    return upper


def parse_number(raw: str, default_region: str) -> PhoneNumber:
    """``raw`` parsed and validated (NumberProblem naming the reason otherwise); a number
    without ``+`` and country code is read as a national number of ``default_region``."""
    text = raw.strip()
    if not text:
        raise NumberProblem("empty phone number")
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        raise NumberProblem(_PARSE_REASONS.get(exc.error_type, "unparseable number")) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE and possible in _POSSIBLE_REASONS:
        raise NumberProblem(f"not a valid number: {_POSSIBLE_REASONS[possible]}")
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_number(number) or f"+{number.country_code}"
        raise NumberProblem(f"not a valid number (no such number range in {where})")
    if number.extension:
        raise NumberProblem(f"has an extension ({number.extension}): the dialer cannot dial it")
    return number


def normalise_number(raw: str, default_region: str) -> str:
    """``raw`` as E.164 (``+12125550100``); NumberProblem if it is not a valid number."""
    return e164(parse_number(raw, default_region))


def e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def zones_of_number(number: PhoneNumber) -> tuple[str, ...]:
    """The IANA zones the number may be in, sorted; NumberProblem when libphonenumber
    cannot place it (the calling window could not be checked)."""
    zones = tuple(sorted(phone_timezones.time_zones_for_number(number)))
    if not zones or UNKNOWN_ZONE in zones:
        raise NumberProblem(
            "no time zone is known for this number: give one in the time zone column"
        )
    for zone in zones:
        if not is_known_zone(zone):
            raise NumberProblem(
                f"time zone {zone!r} of this number is not in this system's time zone "
                "database: give one in the time zone column"
            )
    return zones


@functools.lru_cache(maxsize=1024)
def is_known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone ``zoneinfo`` can load here."""
    if not name or name != name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_zones(raw: str) -> tuple[str, ...]:
    """A time zone cell (one IANA name, or several separated by ``;``), checked and sorted;
    NumberProblem naming the first unknown zone."""
    names = [part.strip() for part in raw.split(TZ_SEPARATOR) if part.strip()]
    if not names:
        raise NumberProblem("empty time zone")
    for name in names:
        if not is_known_zone(name):
            raise NumberProblem(f"unknown time zone {name!r} (an IANA name: America/New_York)")
    return tuple(sorted(set(names)))


def contact_id(campaign_id: str, number: str) -> str:
    """The contact's id: the same for the same campaign and E.164 number, whoever imports
    it and however often (re-importing a file changes nothing)."""
    return str(uuid.uuid5(CONTACT_NAMESPACE, f"{campaign_id}\n{number}"))


# --- reading files -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which header names hold the phone, name and time zone. ``None``: the conventional
    name (``phone``, ``name``, ``time_zone``), optional for name and time zone; a name
    given here must be in the header. Names match case-insensitively."""

    phone: str | None = None
    name: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a row was rejected: the column (header name, or ``""`` for the whole row) and
    the reason."""

    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class GoodRow:
    row: int
    contact: Contact


@dataclass(frozen=True, slots=True)
class BadRow:
    row: int
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class DncNumber:
    row: int
    number: str  # E.164


ContactRow = GoodRow | BadRow
DncRow = DncNumber | BadRow


@dataclass(frozen=True, slots=True)
class _Columns:
    header: tuple[str, ...]  # as written, stripped
    phone: int
    name: int | None
    time_zone: int | None
    free: tuple[int, ...] = field(default=())


def _resolve(header: Sequence[str], mapping: ColumnMapping) -> _Columns:
    names = tuple(cell.strip() for cell in header)
    index: dict[str, int] = {}
    problems: list[str] = []
    for position, name in enumerate(names):
        if not name:
            continue  # an unnamed column (a trailing comma): its cells are ignored
        key = name.casefold()
        if key in index:
            problems.append(f"column {name!r} appears twice in the header")
        elif len(name) > MAX_FIELD_NAME_LENGTH:
            problems.append(f"column name {name[:20]!r}… is longer than {MAX_FIELD_NAME_LENGTH}")
        else:
            index[key] = position

    def find(wanted: str | None, default: str, what: str, required: bool) -> int | None:
        name = default if wanted is None else wanted.strip()
        position = index.get(name.casefold())
        if position is None and (required or wanted is not None):
            shown = ", ".join(repr(n) for n in names if n) or "none"
            problems.append(f"no {what} column {name!r} in the header (columns: {shown})")
        return position

    phone = find(mapping.phone, DEFAULT_PHONE_COLUMN, "phone", True)
    name_at = find(mapping.name, DEFAULT_NAME_COLUMN, "name", False)
    tz_at = find(mapping.time_zone, DEFAULT_TZ_COLUMN, "time zone", False)
    if problems or phone is None:
        raise CsvUnusable(problems)
    mapped = {phone, name_at, tz_at}
    free = tuple(p for p in sorted(index.values()) if p not in mapped)
    return _Columns(names, phone, name_at, tz_at, free)


def _records(lines: Iterable[str]) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(row number, cells or the csv error of that row); the header is row 1. The csv
    module goes on with the next row after an error (an over-long field, a stray quote)."""
    reader = csv.reader(lines, strict=True)
    row = 0
    while True:
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield row, csv.Error(f"{exc} (at line {reader.line_num})")
            continue
        yield row, cells


def _cell(cells: Sequence[str], position: int | None) -> str:
    if position is None or position >= len(cells):
        return ""
    return cells[position].strip()


def _text_problems(columns: _Columns, cells: Sequence[str]) -> list[Problem]:
    """Cells that cannot be text for a person: invalid UTF-8 (decoded as U+FFFD) or NUL."""
    found = []
    for position, value in enumerate(cells[: len(columns.header)]):
        if "\ufffd" in value:
            found.append(Problem(columns.header[position], "not UTF-8 text"))
        elif "\x00" in value:
            found.append(Problem(columns.header[position], "contains a NUL character"))
    return found


def read_contacts(
    lines: Iterable[str],
    *,
    campaign_id: str,
    default_region: str,
    mapping: ColumnMapping = ColumnMapping(),
) -> Iterator[ContactRow]:
    """One ``GoodRow`` or ``BadRow`` per contact row of a CSV file, in file order (blank
    lines are skipped). Raises CsvUnusable at once when the header is missing or does not
    name the mapped columns, or the default region is unknown."""
    try:
        region = check_region(default_region)
    except ValueError as exc:
        raise CsvUnusable([str(exc)]) from None
    records = _records(lines)
    columns = _header(records, mapping)
    # E.164 digits as an int -> first row: the only per-row state kept (about 100 bytes
    # per distinct number), to report duplicates within the file.
    seen: dict[int, int] = {}
    for row, cells in records:
        if isinstance(cells, csv.Error):
            yield BadRow(row, (Problem("", f"not valid CSV: {cells}"),))
            continue
        if not cells or not any(cell.strip() for cell in cells):
            continue
        yield _contact_row(row, cells, columns, campaign_id, region, seen)


def _header(
    records: Iterator[tuple[int, list[str] | csv.Error]], mapping: ColumnMapping
) -> _Columns:
    for row, cells in records:
        if isinstance(cells, csv.Error):
            raise CsvUnusable([f"row {row}: the header is not valid CSV: {cells}"])
        if any(cell.strip() for cell in cells):
            return _resolve(cells, mapping)
    raise CsvUnusable(["the file is empty: the first row must name the columns"])


def _contact_row(
    row: int,
    cells: Sequence[str],
    columns: _Columns,
    campaign_id: str,
    region: str,
    seen: dict[int, int],
) -> ContactRow:
    problems = _text_problems(columns, cells)
    if len(cells) > len(columns.header):
        extra = len(cells) - len(columns.header)
        problems.append(
            Problem("", f"{len(cells)} cells but {len(columns.header)} columns ({extra} extra)")
        )
    if problems:
        return BadRow(row, tuple(problems))

    phone_column = columns.header[columns.phone]
    number: str | None = None
    parsed: PhoneNumber | None = None
    try:
        parsed = parse_number(_cell(cells, columns.phone), region)
        number = e164(parsed)
    except NumberProblem as exc:
        problems.append(Problem(phone_column, str(exc)))

    zones: tuple[str, ...] = ()
    tz_text = _cell(cells, columns.time_zone)
    if columns.time_zone is not None and tz_text:
        try:
            zones = parse_zones(tz_text)
        except NumberProblem as exc:
            problems.append(Problem(columns.header[columns.time_zone], str(exc)))
    elif parsed is not None:
        try:
            zones = zones_of_number(parsed)
        except NumberProblem as exc:
            problems.append(Problem(phone_column, str(exc)))

    name = _cell(cells, columns.name)
    if columns.name is not None and len(name) > MAX_NAME_LENGTH:
        problems.append(
            Problem(columns.header[columns.name], f"longer than {MAX_NAME_LENGTH} characters")
        )

    key = 0 if number is None else int(number[1:])  # E.164 has no leading zero
    if number is not None and not problems:
        first = seen.get(key)
        if first is not None:
            problems.append(Problem(phone_column, f"duplicate: same number as row {first}"))
    if problems or number is None:
        return BadRow(row, tuple(problems))
    seen[key] = row
    fields = {columns.header[p]: _cell(cells, p) for p in columns.free}
    contact = Contact(
        id=contact_id(campaign_id, number),
        campaign_id=campaign_id,
        number=number,
        time_zones=zones,
        name=name,
        fields=fields,
    )
    return GoodRow(row, contact)


def read_dnc(
    lines: Iterable[str], *, default_region: str, phone_column: str | None = None
) -> Iterator[DncRow]:
    """The numbers of a do-not-call file, E.164, one ``DncNumber`` or ``BadRow`` per row.

    Either a CSV file whose header names the phone column (``phone`` unless given; other
    columns are ignored), or a plain list: one number per line and no header. A file whose
    first row has one cell that is not the phone column's name is a plain list; a first
    row of several cells without the phone column is CsvUnusable. Duplicates are left to
    the store (a list is a set: adding a number twice changes nothing)."""
    try:
        region = check_region(default_region)
    except ValueError as exc:
        raise CsvUnusable([str(exc)]) from None
    wanted = (phone_column or DEFAULT_PHONE_COLUMN).strip()
    records = _records(lines)
    position: int | None = None
    column = wanted
    for row, cells in records:
        if isinstance(cells, csv.Error):
            if position is None and row == 1:
                raise CsvUnusable([f"row 1: not valid CSV: {cells}"])
            yield BadRow(row, (Problem("", f"not valid CSV: {cells}"),))
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if position is None:
            names = [cell.strip().casefold() for cell in cells]
            if wanted.casefold() in names:
                position = names.index(wanted.casefold())
                continue
            if len(cells) > 1 or phone_column is not None:
                shown = ", ".join(repr(cell.strip()) for cell in cells)
                raise CsvUnusable([f"no phone column {wanted!r} in the header (columns: {shown})"])
            position, column = 0, ""
        raw = _cell(cells, position)
        try:
            number = normalise_number(raw, region)
        except NumberProblem as exc:
            yield BadRow(row, (Problem(column, str(exc)),))
            continue
        yield DncNumber(row, number)


def describe(problems: Iterable[Problem]) -> str:
    """``column 'phone': reason; …`` for a report line."""
    return "; ".join(f"column {p.column!r}: {p.reason}" if p.column else p.reason for p in problems)
