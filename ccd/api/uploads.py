"""CSV uploads (contacts, do-not-call): the request body streamed to a temporary file in
chunks, then read back line by line by the pure CSV readers, so memory stays bounded
whatever the file's size. Only these routes read past ``http.max_body_bytes``: they never
call ``request.read()`` (where aiohttp enforces ``client_max_size``); their own cap is
``MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import IO, Any

from aiohttp import web

from ccd.api.openapi.operation import Payload
from ccd.api.problems import ApiProblem, FieldError, validation_problem
from ccd.api.validation import check_path_param
from ccd.db.dialer_store import ImportCounts
from ccd.dialer.contacts import BadRow

MAX_UPLOAD_BYTES = 1 << 30  # 1 GiB: some ten million contact rows
CHUNK_BYTES = 1 << 16
MAX_CSV_LINE = 1 << 20
MAX_BAD_ROWS = 1000
CSV_TYPES = frozenset({"text/csv", "text/plain", "application/csv"})
# The request body of every CSV upload route, as the OpenAPI document describes it.
CSV_UPLOAD = Payload(
    "text/csv",
    "A CSV file (UTF-8, a BOM allowed) with a header row; also accepted as text/plain or"
    " application/csv. Up to 1 GiB.",
)


@asynccontextmanager
async def csv_lines(request: web.Request) -> AsyncIterator[Iterator[str]]:
    """The body's text lines (UTF-8, a BOM dropped, invalid bytes as U+FFFD so that their
    row is rejected, never the file). 415 unless the body is CSV, 413 over the cap."""
    if request.content_type not in CSV_TYPES:
        raise ApiProblem(415, "the request body must be a CSV file (Content-Type: text/csv)")
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise _too_large()
    with tempfile.TemporaryFile() as spool:
        size = 0
        async for chunk in request.content.iter_chunked(CHUNK_BYTES):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise _too_large()
            spool.write(chunk)
        spool.seek(0)
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield _lines(text)
        finally:
            text.detach()


def _lines(handle: IO[str]) -> Iterator[str]:
    while line := handle.readline(MAX_CSV_LINE):
        yield line


def _too_large() -> ApiProblem:
    return ApiProblem(413, f"the CSV file is larger than the limit of {MAX_UPLOAD_BYTES} bytes")


def query_param(request: web.Request, name: str) -> str | None:
    """A query parameter given at most once, free of CR/LF/NUL (422 naming it)."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise validation_problem([FieldError(name, "must be given at most once")])
    if not values:
        return None
    return check_path_param(name, values[0])


class BadRows:
    """The first ``MAX_BAD_ROWS`` bad rows, one entry per problem, for the report."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __call__(self, row: BadRow) -> None:
        for problem in row.problems:
            if len(self.rows) >= MAX_BAD_ROWS:
                return
            self.rows.append({"row": row.row, "column": problem.column, "reason": problem.reason})


def import_report(counts: ImportCounts, bad: BadRows) -> dict[str, Any]:
    return {
        "read": counts.read,
        "imported": counts.accepted,
        "new": counts.new,
        "already_there": counts.already_there,
        "rejected": counts.rejected,
        "bad_rows": bad.rows,
        "bad_rows_truncated": len(bad.rows) >= MAX_BAD_ROWS,
    }
