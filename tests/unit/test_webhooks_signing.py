"""ccd signs by hand; the reference implementation (the ``standardwebhooks`` library)
must accept every signature, and reject it once anything signed changes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ccd.webhooks.signing import BadSecret, headers, new_secret, secret_key


def now() -> int:
    """The wall clock at the test's own run: the library refuses timestamps more than 5
    minutes off, and a suite takes longer than that between import and this test."""
    return int(datetime.now(UTC).timestamp())


def test_the_reference_library_verifies_ccd_signatures() -> None:
    secret = new_secret()
    body = b'{"type":"call.ringing","data":{"caller_num":"+4930123"}}'
    signed = headers(secret_key(secret), "msg_1", now(), body)
    assert Webhook(secret).verify(body, signed) == {
        "type": "call.ringing",
        "data": {"caller_num": "+4930123"},
    }


def test_the_reference_library_signs_what_ccd_signs() -> None:
    secret = new_secret()
    body = b'{"a":1}'
    stamp = datetime.fromtimestamp(now(), UTC)
    expected = Webhook(secret).sign("msg_2", stamp, body.decode())
    assert (
        headers(secret_key(secret), "msg_2", int(stamp.timestamp()), body)["webhook-signature"]
        == expected
    )


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret"])
def test_any_change_breaks_the_signature(tamper: str) -> None:
    secret = new_secret()
    body = b'{"a":1}'
    stamp = now()
    signed = headers(secret_key(secret), "msg_3", stamp, body)
    verifier = Webhook(secret)
    if tamper == "body":
        body = b'{"a":2}'
    elif tamper == "id":
        signed["webhook-id"] = "msg_4"
    elif tamper == "timestamp":
        signed["webhook-timestamp"] = str(stamp - 1)
    else:
        verifier = Webhook(new_secret())
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, signed)


def test_new_secrets_are_standard_and_distinct() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(secret_key(first)) == 32


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("abc", "start with"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
    ],
)
def test_bad_secrets_are_named(secret: str, why: str) -> None:
    with pytest.raises(BadSecret, match=why):
        secret_key(secret)
