"""Do-not-call lists as the API answers them (``ccd.api.dnc``). Numbers are E.164."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(extra="forbid", frozen=True)


class DncEntryView(BaseModel):
    model_config = STRICT

    number: str = Field(description="E.164")
    campaign_id: str | None = Field(description="null: the global list")
    added_at: str = Field(description="ISO 8601, UTC")
    source: str = Field(
        description=(
            "how it came: api, api-import, import:<file> (the CLI),"
            " disposition:<campaign>/<attempt>"
        )
    )


class DncPage(BaseModel):
    model_config = STRICT

    campaign_id: str | None = Field(description="the list shown; null: the global list")
    entries: list[DncEntryView] = Field(description="by number")
    next_cursor: str | None = Field(
        description="more may follow: ask again with cursor=next_cursor; null at the end"
    )


class DncAdded(BaseModel):
    model_config = STRICT

    number: str = Field(description="E.164")
    campaign_id: str | None = Field(description="null: the global list")
    added: bool = Field(description="false: it was on the list already (answered 200)")


class DncListing(BaseModel):
    """A list the number is on."""

    model_config = STRICT

    list: Literal["global", "campaign"]
    campaign_id: str | None = Field(description="null for the global list")
    added_at: str = Field(description="ISO 8601, UTC")
    source: str


class DncCheck(BaseModel):
    model_config = STRICT

    number: str = Field(description="E.164")
    campaign_id: str | None = Field(description="the campaign asked about; null: none")
    blocked: bool = Field(description="on the global list or the campaign's")
    lists: list[DncListing]
