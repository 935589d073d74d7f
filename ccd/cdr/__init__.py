"""Call detail records: the pure builder (events → ``CallRecord``) and direction rules."""

from ccd.cdr.builder import CdrBuilder
from ccd.cdr.direction import DirectionRules

__all__ = ["CdrBuilder", "DirectionRules"]
