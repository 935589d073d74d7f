"""Building frozen slots dataclasses on the AMI hot path.

A frozen dataclass's generated ``__init__`` calls ``object.__setattr__`` once per field;
for the snapshots and call views built on every relevant AMI event that is most of their
cost. ``slot_setters`` returns the slots' own setters instead, so a hot path can build
the same frozen object in about a third of the time. The field list is checked against
the class at import, so a field added later cannot be silently left unset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

Setter = Callable[[object, object], None]

new_object = object.__new__


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Setter, ...]:
    """The slot setters of ``cls`` for ``names``, which must be all its fields in order."""
    if tuple(field.name for field in fields(cls)) != names or hasattr(cls, "__post_init__"):
        raise RuntimeError(f"{cls.__name__} changed: update the slot_setters() that builds it")
    return tuple(getattr(cls, name).__set__ for name in names)
