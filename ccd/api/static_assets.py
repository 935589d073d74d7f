"""Packaged files served as they are (the wallboard page, the API docs viewer).

Every file is read once at start into memory and looked up by its bare name, so no path
is ever joined from a URL. Answers carry an ETag and ``Cache-Control: no-cache`` (an
upgraded ccd serves its new files at once) plus the caller's security headers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from aiohttp import hdrs, web

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def page_headers(content_security_policy: str) -> dict[str, str]:
    """What every packaged page and file is served with: its CSP, no sniffing, no
    referrer, no framing, revalidated on every use."""
    return {
        "Content-Security-Policy": content_security_policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


@dataclass(frozen=True, slots=True)
class StaticAsset:
    body: bytes
    content_type: str
    etag: str


def load_files(entries: Iterable[Traversable]) -> dict[str, StaticAsset]:
    """The files among ``entries`` with a known content type, by name."""
    assets: dict[str, StaticAsset] = {}
    for entry in entries:
        suffix = "." + entry.name.rpartition(".")[2]
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[entry.name] = StaticAsset(body, CONTENT_TYPES[suffix], etag)
    return assets


def serve(request: web.Request, asset: StaticAsset, headers: Mapping[str, str]) -> web.Response:
    if asset.etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
        response = web.Response(status=304)
    else:
        response = web.Response(body=asset.body, content_type=None)
        response.headers[hdrs.CONTENT_TYPE] = asset.content_type
    response.headers[hdrs.ETAG] = asset.etag
    response.headers.update(headers)
    return response
