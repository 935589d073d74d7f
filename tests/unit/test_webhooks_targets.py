"""Which webhook targets are refused without allow_private_targets (SSRF), pure."""

from __future__ import annotations

import pytest

from ccd.webhooks.catalog import matches, pattern_problem, subscribed
from ccd.webhooks.targets import address_problem, url_problem


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("100.64.0.1", "non-global"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
    ],
)
def test_internal_addresses_are_refused_and_named(address: str, kind: str) -> None:
    problem = address_problem(address)
    assert problem is not None
    assert kind in problem


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://crm.example/hook", "http or https"),
        ("https:///nohost", "host"),
        ("https://user:pw@crm.example/hook", "credentials"),
        ("https://crm.example:0/hook", "port 0"),
        ("https://crm.example:99999/hook", "valid URL"),
        ("https://crm.example/" + "a" * 2000, "2000"),
    ],
)
def test_bad_urls_are_named(url: str, why: str) -> None:
    problem = url_problem(url)
    assert problem is not None
    assert why in problem


def test_good_url() -> None:
    assert url_problem("https://crm.example:8443/ccd/hook?tenant=7") is None


def test_patterns() -> None:
    assert matches("queue.*", "queue.caller_joined")
    assert not matches("queue.*", "agent.state")
    assert matches("*", "call.ended")
    assert subscribed(("call.ringing", "agent.*"), "agent.state")
    assert not subscribed(("call.ringing",), "call.ended")
    assert pattern_problem("call.*") is None
    problem = pattern_problem("call.rang")
    assert problem is not None
    assert "call.ringing" in problem
