"""Call direction from the originator's first context and trunk channel prefixes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ccd.cdr.direction import DirectionRules
from ccd.domain.cdr import Direction


@dataclass(frozen=True)
class Leg:
    channel: str
    context: str = "internal"


DEFAULT = DirectionRules()
TRUNKED = DirectionRules(trunk_prefixes=("PJSIP/trunk-", "IAX2/carrier"))


@pytest.mark.parametrize("context", ["from-trunk", "from-pstn", "ccd-inbound"])
def test_default_inbound_contexts(context: str) -> None:
    assert DEFAULT.classify(Leg("PJSIP/gw-00000001", context)) is Direction.INBOUND


def test_ccd_originate_is_outbound_by_default() -> None:
    originator = Leg("Local/1008@ccd-originate-0000000e;1", "ccd-originate")
    others = [Leg("Local/1008@ccd-sim-0000000f;1", "ccd-sim")]
    assert DEFAULT.classify(originator, others) is Direction.OUTBOUND


def test_phone_to_phone_is_internal() -> None:
    originator = Leg("PJSIP/alice-00000001", "from-internal")
    assert DEFAULT.classify(originator, [Leg("PJSIP/bob-00000002")]) is Direction.INTERNAL


def test_no_trunk_prefixes_by_default_so_a_trunk_named_leg_changes_nothing() -> None:
    originator = Leg("PJSIP/alice-00000001", "from-internal")
    others = [Leg("PJSIP/trunk-00000002")]
    assert DEFAULT.classify(originator, others) is Direction.INTERNAL


def test_originator_on_a_trunk_is_inbound_whatever_its_context() -> None:
    originator = Leg("PJSIP/trunk-00000001", "shared")
    assert TRUNKED.classify(originator, [Leg("PJSIP/alice-00000002")]) is Direction.INBOUND


def test_internal_phone_dialing_a_trunk_is_outbound() -> None:
    originator = Leg("PJSIP/alice-00000001", "from-internal")
    others = [Leg("Local/0612@out-00000002;1"), Leg("IAX2/carrier-77")]
    assert TRUNKED.classify(originator, others) is Direction.OUTBOUND


def test_inbound_context_wins_over_a_trunk_destination() -> None:
    # A call in from one trunk forwarded out another is still an inbound call.
    originator = Leg("PJSIP/gw-00000001", "from-trunk")
    assert TRUNKED.classify(originator, [Leg("PJSIP/trunk-00000002")]) is Direction.INBOUND


def test_custom_contexts_replace_the_defaults() -> None:
    rules = DirectionRules(
        inbound_contexts=frozenset({"did-in"}), outbound_contexts=frozenset({"dialer"})
    )
    assert rules.classify(Leg("PJSIP/x-1", "did-in")) is Direction.INBOUND
    assert rules.classify(Leg("PJSIP/x-1", "dialer")) is Direction.OUTBOUND
    assert rules.classify(Leg("PJSIP/x-1", "from-trunk")) is Direction.INTERNAL
    assert rules.classify(Leg("PJSIP/x-1", "ccd-originate")) is Direction.INTERNAL


def test_empty_trunk_prefix_does_not_match_every_channel() -> None:
    rules = DirectionRules(trunk_prefixes=("",))
    assert rules.classify(Leg("PJSIP/alice-1"), [Leg("PJSIP/bob-2")]) is Direction.INTERNAL
