"""What a CSV upload (contacts, do-not-call numbers) answers (``ccd.api.uploads``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)


class BadRowView(BaseModel):
    model_config = STRICT

    row: int = Field(description="line number in the file, the header being 1")
    column: str = Field(description="the column at fault; empty: the whole row")
    reason: str


class ImportReport(BaseModel):
    model_config = STRICT

    read: int = Field(description="rows read (blank lines aside)")
    imported: int = Field(description="rows accepted: new + already_there")
    new: int
    already_there: int
    rejected: int
    bad_rows: list[BadRowView] = Field(description="one entry per problem, the first 1000")
    bad_rows_truncated: bool = Field(description="more problems than bad_rows lists")
