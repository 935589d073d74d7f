"""What deliveries carry (pure), and the README's verification snippet for receivers run
against a signature ccd makes."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccd.domain.events import AgentRingStarted
from ccd.webhooks.payloads import body, call_ringing, from_message
from ccd.webhooks.signing import headers, new_secret, secret_key

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
README = Path(__file__).resolve().parents[2] / "README.md"


def test_live_messages_are_ordered_by_call_then_agent_then_campaign() -> None:
    by_call = from_message({"type": "queue.caller_joined", "call_id": "c1", "queue": "q"}, T0)
    by_agent = from_message({"type": "agent.state", "agent_id": "1001", "status": "idle"}, T0)
    by_campaign = from_message({"type": "campaign.state", "campaign_id": "k", "state": "x"}, T0)
    assert by_call is not None
    assert by_agent is not None
    assert by_campaign is not None
    assert (by_call.order_key, by_agent.order_key, by_campaign.order_key) == (
        "call:c1",
        "agent:1001",
        "campaign:k",
    )
    assert by_agent.data == {"agent_id": "1001", "status": "idle"}  # type and at are lifted
    assert from_message({"type": "call.started"}, T0) is None


def test_a_ring_without_a_live_call_still_names_queue_and_agent() -> None:
    event = call_ringing(AgentRingStarted(T0, "l1", "leg", "1001", "sales"), None)
    assert event.data["caller_num"] is None
    assert event.data["queue"] == "sales"
    assert event.data["ivr_variables"] == {}
    assert body(event).startswith(b'{"type":"call.ringing","timestamp":"2026-12-06T09:00:00')


def readme_verifier() -> Callable[..., bool]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Webhooks") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert snippet is not None, "the Webhooks section has a Python snippet"
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 - the README's own example
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_the_readme_snippet_accepts_ccd_signatures_and_nothing_else() -> None:
    verify = readme_verifier()
    secret = new_secret()
    payload = b'{"type":"call.ended","data":{}}'
    signed = headers(secret_key(secret), "msg_1", int(time.time()), payload)
    assert verify(secret, signed, payload)
    assert not verify(secret, signed, payload + b" ")
    assert not verify(new_secret(), signed, payload)
    stale = headers(secret_key(secret), "msg_1", int(time.time()) - 3600, payload)
    assert not verify(secret, stale, payload)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    two = {**signed, "webhook-signature": "v1,AAAA " + signed["webhook-signature"]}
    assert verify(secret, two, payload)  # any one valid signature of several
    assert not verify(other, two, payload)
