"""Where a webhook may be sent (SSRF guard). Pure: the caller resolves names.

A URL must be http(s), have a host and no credentials. An address in a loopback,
link-local, private, shared (CGNAT), multicast, reserved or unspecified range is refused
unless the admin allowed private targets (``[webhooks] allow_private_targets``). ccd checks
the URL when a subscription is written and every address a name resolves to at delivery
time (a name may be re-pointed at an internal address after it was accepted).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target, or None (addresses are checked apart)."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (sign with the secret instead)"
    if port == 0:
        return "must not use port 0"
    if any(c in url for c in " \r\n\t\0"):
        return "must not contain whitespace or control characters"
    return None


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_problem(address: str) -> str | None:
    """Why a target at ``address`` is refused (without allow_private_targets), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for refused, kind in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-global"),
    ):
        if refused:
            return f"{ip} is a {kind} address (set [webhooks] allow_private_targets to allow)"
    return None
