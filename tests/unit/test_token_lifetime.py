"""Token lifetimes as an admin types them, and the source address of a request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccd.domain.client_address import client_address, parse_networks
from ccd.domain.token_lifetime import expiry, parse_duration, parse_instant

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("90d", timedelta(days=90)),
        ("2w", timedelta(weeks=2)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_durations(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1.5d", "90 d", "1y", "3651d", "1dd"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longest lifetime"):
        parse_duration(text)


def test_instants_need_an_offset_and_are_kept_in_utc() -> None:
    assert parse_instant("2027-03-01T00:00Z") == datetime(2027, 3, 1, tzinfo=UTC)
    assert parse_instant("2027-03-01T02:00+02:00") == datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2027-03-01T00:00")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        parse_instant("next tuesday")


def test_expiry() -> None:
    assert expiry(NOW) is None
    assert expiry(NOW, expires_in="90d") == NOW + timedelta(days=90)
    assert expiry(NOW, expires_at="2027-01-01T00:00Z") == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not both"):
        expiry(NOW, expires_in="1d", expires_at="2027-01-01T00:00Z")
    with pytest.raises(ValueError, match="not in the future"):
        expiry(NOW, expires_at="2026-12-06T12:00Z")
    with pytest.raises(ValueError, match="more than 3650d away"):
        expiry(NOW, expires_at="2040-01-01T00:00Z")


PROXIES = parse_networks(["10.0.0.5", "192.168.0.0/16"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        # Not a trusted proxy: what it claims is ignored.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        # Read from the right: the client could have written the left part itself.
        ("10.0.0.5", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        # Two proxies deep: the first untrusted hop from the right.
        ("10.0.0.5", "1.2.3.4, 198.51.100.1, 192.168.4.4", "198.51.100.1"),
        ("10.0.0.5", "192.168.4.4", "10.0.0.5"),  # only proxies: account to the peer
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5"),
        (None, "198.51.100.1", "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded_for: str | None, client: str) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_bad_proxy_entries_are_named() -> None:
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address or network"):
        parse_networks(["10.0.0.1", "proxy.local"])
