"""``ccd openapi``: the document a client generator needs, printed offline — no
configuration, no database, no running ccd — and the same one the API serves."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from tests.integration.apifakes import running_api
from tests.integration.clirun import ccd, clean_env


async def test_prints_the_document_the_api_serves_without_any_configuration(
    tmp_path: Path,
) -> None:
    result = ccd("openapi", cwd=tmp_path, env=clean_env())
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    validate(printed)
    assert printed["openapi"] == "3.1.0"
    assert printed["paths"]["/api/v1/calls"]["post"]["x-ccd-roles"] == ["admin", "supervisor"]
    async with running_api() as api:
        served = await (await api.client.get("/api/v1/openapi.json")).json()
    assert printed == served
