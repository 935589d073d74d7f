"""The document lists the query parameters each route really takes (the models its
handler validates with): a parameter another route of the family takes is a 422 here."""

from __future__ import annotations

from typing import Any

import pytest

from ccd.api.openapi.routes import document_of
from ccd.api.rolematrix import served_app

COMMON_REPORT_PARAMETERS = ["from", "to", "interval", "zone", "format"]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return document_of(served_app())


def _query(document: dict[str, Any], path: str) -> list[str]:
    parameters = document["paths"][path]["get"].get("parameters", [])
    return [p["name"] for p in parameters if p["in"] == "query"]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v1/reports/queues", "queue"),
        ("/api/v1/reports/agents", "agent"),
        ("/api/v1/reports/campaigns", "campaign"),
    ],
)
def test_each_report_documents_only_its_own_key(
    document: dict[str, Any], path: str, key: str
) -> None:
    assert _query(document, path) == [*COMMON_REPORT_PARAMETERS, key]
    [from_] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "from"]
    assert from_["required"] is True


def test_the_cdr_export_takes_the_list_filters_without_paging(document: dict[str, Any]) -> None:
    listed = _query(document, "/api/v1/cdrs")
    exported = _query(document, "/api/v1/cdrs.csv")
    assert listed == [*exported, "limit", "cursor"]
    assert "from" in exported


def test_the_forecast_requires_queue_and_date_only(document: dict[str, Any]) -> None:
    parameters = document["paths"]["/api/v1/forecast"]["get"]["parameters"]
    assert {p["name"] for p in parameters if p["required"]} == {"queue", "date"}
    assert {p["name"] for p in parameters} == {
        "queue",
        "date",
        "interval",
        "weeks",
        "sl_target_pct",
        "sl_seconds",
        "max_occupancy_pct",
        "shrinkage_pct",
    }


def test_answers_keep_their_wire_names(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "from" in schemas["QueueReport"]["properties"]
    assert "from" in schemas["HistoryWeek"]["properties"]
    assert "secret" in schemas["WebhookCreated"]["properties"]
    assert "secret" not in schemas["WebhookView"]["properties"]
