"""AMI is a line protocol: a CR, LF or NUL inside a field value injects headers.

panoramisk writes field values verbatim, so every value that could come from outside
(API input, config, database) is checked here before it is sent — and the API rejects it
earlier with a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping

FORBIDDEN = frozenset("\r\n\0")


class UnsafeAmiValue(ValueError):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: must not contain CR, LF or NUL characters")
        self.field = field


def is_ami_safe(value: str) -> bool:
    return not any(ch in FORBIDDEN for ch in value)


def check_ami_fields(fields: Mapping[str, str | list[str]]) -> None:
    """Raise ``UnsafeAmiValue`` naming the first field (key or value) that is unsafe."""
    for key, value in fields.items():
        if not is_ami_safe(key) or ":" in key:
            raise UnsafeAmiValue(repr(key))
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not is_ami_safe(item):
                raise UnsafeAmiValue(key)
