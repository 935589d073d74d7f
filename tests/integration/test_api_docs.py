"""The OpenAPI document and its docs page, as an integrator's tools and browser get them."""

from __future__ import annotations

from typing import Any

import pytest

from ccd.api.openapi.routes import CONTENT_SECURITY_POLICY
from tests.chromium import CHROMIUM, NOT_INSTALLED, chromium_page
from tests.integration.apifakes import Api, running_api

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=NOT_INSTALLED)


@pytest.fixture
async def api() -> Any:
    async with running_api() as api:
        yield api


async def test_the_document_is_public_json_describing_the_served_routes(api: Api) -> None:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    calls = document["paths"]["/api/v1/calls"]
    assert set(calls) == {"get", "post"}
    assert calls["post"]["x-ccd-roles"] == ["admin", "supervisor"]
    assert calls["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CallList"
    }
    # The same bytes on every request (built once, when the router is frozen).
    again = await api.client.get("/api/v1/openapi.json")
    assert await again.read() == await response.read()


async def test_the_docs_page_and_its_files_are_served_from_the_package(api: Api) -> None:
    page = await api.client.get("/api/docs")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = await page.text()
    for asset in ("docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/docs.js"):
        assert asset in html
        served = await api.client.get("/api/" + asset)
        assert served.status == 200, asset
        assert served.headers["ETag"]
    cached = await api.client.get(
        "/api/docs/docs.js", headers={"If-None-Match": served.headers["ETag"]}
    )
    assert cached.status == 304
    for missing in ("/api/docs/nope.js", "/api/docs/index.html", "/api/docs/..%2fpolicy.py"):
        assert (await api.client.get(missing)).status == 404, missing


@needs_chromium
async def test_a_browser_shows_every_operation_without_leaving_the_origin(api: Api) -> None:
    document = await (await api.client.get("/api/v1/openapi.json")).json()
    operations = sum(len(item) for item in document["paths"].values())
    origin = str(api.client.make_url("/")).rstrip("/")
    async with chromium_page() as page:
        await page.goto(origin + "/api/docs")
        shown = await page.wait_for("document.querySelectorAll('.opblock').length", within_s=20)
        # Tags start expanded: every operation is on the page once.
        await page.wait_for(f"document.querySelectorAll('.opblock').length === {operations}")
        assert shown
        title = await page.evaluate("document.querySelector('.info .title').textContent")
        assert title.startswith("ccd REST API")
        fetched = await page.evaluate(
            "performance.getEntriesByType('resource').map(entry => entry.name)"
        )
        assert fetched
        assert all(url.startswith(origin) for url in fetched), fetched
        assert page.script_problems() == []
