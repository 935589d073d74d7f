"""What ops see on stderr: JSON lines off a TTY, one line per event however often logging is
configured, stdlib loggers in the same shape, bound context present, secrets masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from ccd.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_reconfiguring_does_not_duplicate_lines(capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        configure_logging("INFO", "json")
    structlog.get_logger("ccd.test").info("call.finished", linkedid="1700000000.1")
    [line] = json_lines(capsys.readouterr().err)
    assert line["event"] == "call.finished"
    assert line["level"] == "info"
    assert line["logger"] == "ccd.test"
    assert line["linkedid"] == "1700000000.1"
    assert line["timestamp"].endswith("Z")


def test_auto_format_is_json_when_stderr_is_not_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "auto")  # pytest's captured stderr is not a terminal
    structlog.get_logger("ccd.test").warning("ami.disconnected")
    [line] = json_lines(capsys.readouterr().err)
    assert line["event"] == "ami.disconnected"


def test_console_format_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "console")
    structlog.get_logger("ccd.test").info("hello", queue="sales")
    err = capsys.readouterr().err
    assert "hello" in err
    assert "queue=sales" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])


def test_stdlib_loggers_share_the_json_shape_and_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    structlog.contextvars.bind_contextvars(linkedid="42.7")
    logging.getLogger("aiohttp.access").info("GET /calls %s", 200)
    logging.getLogger("panoramisk.manager").info("not shown: panoramisk is kept at WARNING")
    logging.getLogger("panoramisk.manager").warning("connection lost")
    lines = json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("aiohttp.access", "GET /calls 200"),
        ("panoramisk.manager", "connection lost"),
    ]
    assert all(line["linkedid"] == "42.7" for line in lines)


def test_level_filters_ccd_loggers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    log = structlog.get_logger("ccd.test")
    log.info("dropped")
    log.error("kept")
    assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["kept"]


def test_secrets_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    structlog.get_logger("ccd.test").info(
        "login",
        secret="hunter2",
        api_token="ccd_abc_def",
        headers={"Authorization": "Bearer ccd_abc_def", "Accept": "json"},
        token_id="abc",
    )
    logging.getLogger("panoramisk").warning("Action: Login Secret: hunter2")
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "ccd_abc_def" not in err
    first, second = json_lines(err)
    assert first["secret"] == "***"
    assert first["headers"] == {"Authorization": "***", "Accept": "json"}
    assert first["token_id"] == "abc"  # ids are not secrets
    assert second["event"] == "Action: Login Secret: ***"


def test_exceptions_are_rendered_without_locals(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    secret = "hunter2"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger("ccd.test").exception("failed")
    err = capsys.readouterr().err
    [line] = json_lines(err)
    assert line["exception"][0]["exc_type"] == "RuntimeError"
    assert secret not in err
