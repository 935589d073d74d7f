"""Request bodies, validated with pydantic at the edge (strict types, no extra fields).

Nothing here lets a client choose an Originate Application or Data (CVE-2024-42365):
the body names an endpoint to ring and a destination extension in ccd's own context.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ccd.domain.servers import SERVER_NAME_PATTERN

ENDPOINT_PATTERN = r"^(PJSIP|SIP|IAX2|DAHDI|Local)/[A-Za-z0-9@._+#*-]{1,80}$"
DESTINATION_PATTERN = r"^[0-9A-Za-z*#+_.-]{1,40}$"
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# ccd sets its own CCD_* channel variables to reconcile originates; clients may not
# overwrite them.
RESERVED_VARIABLE_PREFIX = "CCD_"
MAX_VARIABLES = 32
MAX_VARIABLE_VALUE = 1024


class OriginateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    endpoint: Annotated[str, Field(pattern=ENDPOINT_PATTERN)]
    destination: Annotated[str, Field(pattern=DESTINATION_PATTERN)]
    # Any printable text ("Sales" <100>), but no control characters at all.
    caller_id: (
        Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")] | None
    ) = None
    variables: Annotated[
        dict[str, Annotated[str, Field(max_length=MAX_VARIABLE_VALUE)]],
        Field(max_length=MAX_VARIABLES),
    ] = Field(default_factory=dict)
    ring_timeout_s: Annotated[int, Field(ge=1, le=120)] = 30
    # Several Asterisk servers: which one places the call (a configured name; default:
    # the first server).
    server: Annotated[str, Field(pattern=SERVER_NAME_PATTERN)] | None = None

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for name in variables:
            if not VARIABLE_NAME.match(name):
                raise PydanticCustomError(
                    "variable_name",
                    "variable name '{name}' must match {pattern}",
                    {"name": name, "pattern": VARIABLE_NAME.pattern},
                )
            if name.upper().startswith(RESERVED_VARIABLE_PREFIX):
                raise PydanticCustomError(
                    "variable_reserved",
                    "variable name '{name}' is reserved for ccd (prefix CCD_)",
                    {"name": name},
                )
        return variables
