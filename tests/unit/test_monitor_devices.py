"""Which devices a supervisor may have ccd ring (``[monitor] devices``)."""

from __future__ import annotations

import pytest

from ccd.monitor.devices import MonitorDevices, pattern_problem


@pytest.mark.parametrize("device", ["PJSIP/2001", "PJSIP/supervisor-7", "PJSIP/+15551234"])
def test_the_default_allows_plain_pjsip_endpoints(device: str) -> None:
    assert MonitorDevices().allows(device)


@pytest.mark.parametrize(
    "device",
    [
        "PJSIP/+15551234@trunk",  # an endpoint's outbound AOR: reaches an outside number
        "PJSIP/trunk/sip:+1555@x",  # a trunk's dial URI
        "PJSIP/trunk/2001",  # a second '/' without '@'
        "Local/2001@phones",  # another technology, and a dialplan context
        "Local/listen@ccd-monitor",
        "pjsip/2001",  # case-sensitive, like Asterisk's technology names are not
        "IAX2/2001",
    ],
)
def test_the_default_refuses_what_reaches_elsewhere(device: str) -> None:
    assert not MonitorDevices().allows(device)


def test_a_pattern_with_at_admits_its_context_only() -> None:
    devices = MonitorDevices(("Local/*@phones",))
    assert devices.allows("Local/2001@phones")
    assert not devices.allows("Local/2001@ccd-monitor")
    assert not devices.allows("Local/2001@phones-outbound")
    assert not devices.allows("PJSIP/2001")


def test_a_star_pattern_does_not_smuggle_at_or_a_second_slash() -> None:
    devices = MonitorDevices(("PJSIP/*", "Local/2*"))
    assert devices.allows("Local/2001")
    assert not devices.allows("Local/2001@from-trunk")
    assert not devices.allows("PJSIP/a/b")


def test_a_pattern_with_at_can_admit_a_trunk_uri_on_purpose() -> None:
    devices = MonitorDevices(("PJSIP/office/sip:*@pbx.example",))
    assert devices.allows("PJSIP/office/sip:2001@pbx.example")
    assert not devices.allows("PJSIP/office/sip:2001@evil.example")


def test_the_refusal_lists_the_patterns() -> None:
    refusal = MonitorDevices(("PJSIP/2*", "Local/*@phones")).refusal()
    assert refusal.startswith("is not an allowed monitoring device")
    assert "'PJSIP/2*', 'Local/*@phones'" in refusal


@pytest.mark.parametrize("pattern", ["PJSIP/*", "PJSIP/2???", "Local/*@phones", "PJSIP/[12]*"])
def test_good_patterns(pattern: str) -> None:
    assert pattern_problem(pattern) is None


@pytest.mark.parametrize("pattern", ["", "PJSIP", "/x", "PJ*/x", "PJSIP/a b", "PJSIP/a&b"])
def test_bad_patterns(pattern: str) -> None:
    assert pattern_problem(pattern) is not None


# ---- several Asterisk servers ---------------------------------------------------------

PER_SERVER = MonitorDevices(
    ("PJSIP/*",), {"east": ("PJSIP/1*",), "west": ("PJSIP/2*", "Local/*@phones")}
)


def test_a_device_is_allowed_on_the_servers_whose_patterns_it_matches() -> None:
    assert PER_SERVER.allows_on("PJSIP/2001", "west")
    assert not PER_SERVER.allows_on("PJSIP/2001", "east")
    assert PER_SERVER.servers_of("PJSIP/1001") == ("east",)
    assert PER_SERVER.servers_of("Local/2001@phones") == ("west",)
    # Allowed somewhere (no 422): the per-server patterns, not [monitor] devices' PJSIP/*.
    assert PER_SERVER.allows("PJSIP/1001")
    assert PER_SERVER.allows("Local/2001@phones")
    assert not PER_SERVER.allows("PJSIP/3001")
    # The "@" rule holds per server too.
    assert not PER_SERVER.allows_on("PJSIP/2001@trunk", "west")


def test_one_server_uses_the_monitor_devices_patterns() -> None:
    devices = MonitorDevices(("PJSIP/*",))
    assert devices.allows_on("PJSIP/2001", "default")
    assert devices.allows("PJSIP/2001")
    assert devices.servers_of("PJSIP/2001") == ()


def test_the_refusal_for_another_servers_device_names_both_servers() -> None:
    assert PER_SERVER.elsewhere_refusal("PJSIP/1001", "west") == (
        "PJSIP/1001 is a device of Asterisk server east, but the call is on server west: "
        "Asterisk listens only to channels of its own server, so the supervisor's device "
        "must be one of server west's"
    )
    assert "'PJSIP/1*', 'PJSIP/2*', 'Local/*@phones'" in PER_SERVER.refusal()
