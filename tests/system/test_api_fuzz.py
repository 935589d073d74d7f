"""The live API fuzzed against its own OpenAPI document (schemathesis), as every role.

``ccd run`` serves the sandbox Asterisk and a PostgreSQL database of its own; the test
loads ``/api/v1/openapi.json`` from it and, for every operation, sends what schemathesis
generates from the document with each role's token (and none): requests the document
allows (positive) and requests it does not (negative). Every answer must be no 5xx, a
documented status, the documented content type, a body matching its schema and the
documented headers; a request the document forbids must be refused (4xx).

A role the operation does not allow is refused before its input is read (403), so it
gets a few examples only; the roles it allows get ``CCD_FUZZ_EXAMPLES`` each (default
10; e.g. ``CCD_FUZZ_EXAMPLES=200`` to go deeper locally). The run is derandomized: the
same document gives the same requests in CI; ``CCD_FUZZ_SEED=<n>`` draws others.

Seeded objects (an agent, a queue, a pause reason, a campaign, a webhook to a local
receiver, a QA form) let reads and updates on their ids reach past the 404: such
operations are fuzzed a second time with the path naming the seeded object. Deletions
and token revocation only ever see generated ids (404): they stay in the run, but cannot
remove what the rest of it needs (a token id is 12 random hex digits).

``positive_data_acceptance`` is not checked: the document describes the shape of a
request, not the state it needs (a campaign that can start, an evaluation of a CDR that
exists, an agent logged in before pausing), and such refusals (409, 422) are answers,
not defects. Every failure found is listed with the curl command that reproduces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation

from ccd.db import migrate
from ccd.db.engine import create_engine
from ccd.db.tokens import TokenStore
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.ports import free_port
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.rig import CCD, create_database, daemon_environment, quiet_sandbox

pytestmark = [pytest.mark.asterisk, pytest.mark.postgres]

EXAMPLES = int(os.environ.get("CCD_FUZZ_EXAMPLES", "10"))
# A refused role or a missing token is answered before the input is read.
REFUSED_EXAMPLES = min(EXAMPLES, 2)
SEED = os.environ.get("CCD_FUZZ_SEED")
ANONYMOUS = "anonymous"
REQUEST_TIMEOUT_S = 30.0
DOCUMENT_PATH = "/api/v1/openapi.json"
READY_WITHIN_S = 30.0

# A 5xx is a failure (the default expects 2xx-4xx); a request outside the document must
# be refused with a 4xx that says so (or the caller's 401/403/404 before it is read).
# The token is the test's to send (each role's, or none): schemathesis does not generate
# or drop the Authorization header itself.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"with-security-parameters": False},
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "413", "415", "422"]
            }
        },
    }
)
ANSWER_CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]
CHECKS = [*ANSWER_CHECKS, schemathesis.checks.negative_data_rejection]
# A CSV upload is any text: schemathesis "negates" it by sending e.g. a JSON array, which
# is text too and gets its answer (every row rejected, counted, named) — not a defect.
TEXT_BODIES = frozenset({"text/csv"})

Operation = APIOperation[Any, Any, Any, Any]

SEEDED_AGENT = "7001"
SEEDED_QUEUE = "fuzz-queue"
SEEDED_PAUSE_REASON = "fuzz-break"
SEEDED_CAMPAIGN = "fuzz-campaign"
SEEDED_FORM = "fuzz-form"


@dataclass
class LiveApi:
    base_url: str
    tokens: dict[str, str]
    # path template prefix -> the path variables naming a seeded object under it
    seeded: dict[str, dict[str, str]]
    log_path: Path
    requests_sent: int = 0
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def headers(self, identity: str) -> dict[str, str]:
        if identity == ANONYMOUS:
            return {}
        return {"Authorization": f"Bearer {self.tokens[identity]}"}


class _Receiver(BaseHTTPRequestHandler):
    """The seeded webhook's target: takes every delivery."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture(scope="module")
def webhook_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def _api(base_url: str, token: str, method: str, path: str, body: dict[str, Any]) -> Any:
    response = requests.request(
        method,
        base_url + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT_S,
    )
    assert response.status_code in (200, 201), (method, path, response.text)
    return response.json()


def _seed(base_url: str, admin: str, receiver: str) -> dict[str, dict[str, str]]:
    """Objects a user would have set up, through the API as an admin would."""
    _api(base_url, admin, "POST", "/api/v1/pause-reasons", {"code": SEEDED_PAUSE_REASON})
    _api(base_url, admin, "POST", "/api/v1/queues", {"id": SEEDED_QUEUE})
    _api(
        base_url,
        admin,
        "POST",
        "/api/v1/agents",
        {"id": SEEDED_AGENT, "interface": f"Local/{SEEDED_AGENT}@{contract.AGENT_SIM_CONTEXT}"},
    )
    _api(
        base_url,
        admin,
        "POST",
        "/api/v1/campaigns",
        {"id": SEEDED_CAMPAIGN, "mode": "progressive", "caller_id": "+12125550100"},
    )
    webhook = _api(
        base_url, admin, "POST", "/api/v1/webhooks", {"url": receiver, "event_types": ["call.*"]}
    )
    form = {
        "id": SEEDED_FORM,
        "name": "Fuzz",
        "sections": [
            {
                "title": "Opening",
                "questions": [{"id": "greeting", "text": "Greeted?", "kind": "yes_no"}],
            }
        ],
    }
    _api(base_url, admin, "POST", "/api/v1/quality/forms", form)
    return {
        "/api/v1/agents/{id}": {"id": SEEDED_AGENT},
        "/api/v1/queues/{id}": {"id": SEEDED_QUEUE},
        "/api/v1/pause-reasons/{code}": {"code": SEEDED_PAUSE_REASON},
        "/api/v1/campaigns/{id}": {"id": SEEDED_CAMPAIGN},
        "/api/v1/webhooks/{id}": {"id": str(webhook["id"])},
        "/api/v1/quality/forms/{id}": {"id": SEEDED_FORM},
    }


async def _token(database_url: str, role: Role, agent_id: str | None = None) -> str:
    engine = create_engine(database_url)
    try:
        _id, token = await TokenStore(engine).create(role, agent_id, label=f"fuzz {role.value}")
        return token
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def live_api(
    asterisk_sandbox: AsteriskSandbox,
    postgres_cluster: PostgresCluster,
    webhook_receiver: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveApi]:
    data = tmp_path_factory.mktemp("fuzz")
    database_url = asyncio.run(create_database(postgres_cluster))
    asyncio.run(migrate.upgrade(database_url))
    asyncio.run(quiet_sandbox(asterisk_sandbox))
    env = {**os.environ, **daemon_environment(asterisk_sandbox, data / "data")}
    env.update(
        {
            "CCD_HTTP__PORT": str(free_port()),
            "CCD_LOG__FORMAT": "json",
            "CCD_DATABASE__URL": database_url,
            "CCD_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on 127.0.0.1
            # Every request comes from 127.0.0.1, many without a token: the failed-login
            # limiter (tested on its own) would answer 429 to the rest of the run.
            "CCD_API__AUTH_FAIL_LIMIT": "10000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path = data / "ccd.log"
    base_url = f"http://127.0.0.1:{env['CCD_HTTP__PORT']}"
    with log_path.open("ab") as log:
        process = subprocess.Popen([str(CCD), "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(base_url, process, log_path)
        tokens = {Role.ADMIN.value: asyncio.run(_token(database_url, Role.ADMIN))}
        seeded = _seed(base_url, tokens[Role.ADMIN.value], webhook_receiver)
        for role in Role:
            if role is not Role.ADMIN:
                agent_id = SEEDED_AGENT if role is Role.AGENT else None
                tokens[role.value] = asyncio.run(_token(database_url, role, agent_id))
        yield LiveApi(base_url=base_url, tokens=tokens, seeded=seeded, log_path=log_path)
    finally:
        process.kill()
        process.wait()
        asterisk_sandbox.hangup_all()


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text(errors="replace")
        with contextlib.suppress(requests.ConnectionError):  # not listening yet
            if requests.get(base_url + "/readyz", timeout=REQUEST_TIMEOUT_S).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"ccd run not ready within {READY_WITHIN_S} s", pytrace=False)


def _seeded_path(api: LiveApi, operation: Operation) -> dict[str, str] | None:
    """Path variables naming seeded objects, for an operation that neither deletes nor
    revokes."""
    if operation.method.upper() == "DELETE" or not operation.path_parameters:
        return None
    for prefix, variables in api.seeded.items():
        if operation.path == prefix or operation.path.startswith(prefix + "/"):
            names = {parameter.name for parameter in operation.path_parameters}
            if names <= variables.keys():
                return {name: variables[name] for name in names}
            # e.g. /agents/{id}/queues/{queue_id}: the seeded queue is the one to join
            if names == {"id", "queue_id"} and prefix == "/api/v1/agents/{id}":
                return {"id": variables["id"], "queue_id": SEEDED_QUEUE}
    return None


@dataclass
class _Callers:
    """Who sends each generated request: the roles the operation allows (every example)
    and the others, anonymous included (the first few: they are refused before the input
    is read)."""

    allowed: list[str]
    refused: list[str]

    @classmethod
    def of(cls, operation: Operation) -> _Callers:
        raw = operation.definition.raw
        if raw.get("security") == []:
            return cls(allowed=[ANONYMOUS], refused=[])  # public: a token changes nothing
        roles = set(raw.get("x-ccd-roles", []))
        identities = [ANONYMOUS, *(role.value for role in Role)]
        return cls(
            allowed=[i for i in identities if i in roles],
            refused=[i for i in identities if i not in roles],
        )


def _fuzz(
    api: LiveApi,
    operation: Operation,
    callers: _Callers,
    mode: GenerationMode,
    path: Mapping[str, str] | None = None,
) -> None:
    """``EXAMPLES`` requests generated in ``mode``, each sent as every allowed caller (and
    the first ``REFUSED_EXAMPLES`` as every refused one); every answer checked."""
    session = requests.Session()
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters=dict(path) if path else None
    )
    where = "seeded path" if path else "generated path"
    generated = 0
    text_body = any(body.media_type in TEXT_BODIES for body in operation.body)
    checks = ANSWER_CHECKS if text_body else CHECKS

    def send(case: schemathesis.Case[Any]) -> None:
        nonlocal generated
        generated += 1
        identities = callers.allowed
        if generated <= REFUSED_EXAMPLES:
            identities = identities + callers.refused
        for identity in identities:
            headers = api.headers(identity)
            response = case.call(
                base_url=api.base_url, session=session, headers=headers, timeout=REQUEST_TIMEOUT_S
            )
            api.requests_sent += 1
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    key = (operation.label, identity, f"{failure.title} [{mode.value}, {where}]")
                    answer = f"answered {response.status_code}: {response.text[:300]}"
                    api.failures.setdefault(
                        key, f"{failure.message}\n{answer}\n{case.as_curl_command(headers)}"
                    )

    test = hypothesis.given(case=strategy)(send)
    settings = hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    test = settings(test)
    if SEED is not None:
        test = hypothesis.seed(int(SEED))(test)
    # Unsatisfiable: the schema allows fewer distinct requests than asked; all were sent.
    with session, contextlib.suppress(hypothesis.errors.Unsatisfiable):
        test()


# 10 examples: 77 s on an idle 2-core box, 10 min on a heavily loaded one.
@pytest.mark.timeout(max(1200, EXAMPLES * 120))
def test_every_operation_as_every_role_answers_as_documented(live_api: LiveApi) -> None:
    document_url = live_api.base_url + DOCUMENT_PATH
    schema = schemathesis.openapi.from_url(document_url, config=CONFIG)
    schema.config.update(base_url=live_api.base_url)
    results = list(schema.get_all_operations())
    invalid = [str(result.err()) for result in results if not isinstance(result, Ok)]
    assert not invalid, invalid
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 9
    started = time.monotonic()
    for operation in operations:
        callers = _Callers.of(operation)
        seeded = _seeded_path(live_api, operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(live_api, operation, callers, mode)
            if seeded is not None:
                _fuzz(live_api, operation, callers, mode, seeded)
    elapsed = time.monotonic() - started
    print(
        f"\nfuzzed {len(operations)} operations, {live_api.requests_sent} requests"
        f" in {elapsed:.0f} s (up to {EXAMPLES} examples per operation, mode and role)"
    )
    report = "\n\n".join(
        f"== {label} as {identity}: {title}\n{detail}"
        for (label, identity, title), detail in sorted(live_api.failures.items())
    )
    assert not live_api.failures, f"{len(live_api.failures)} failures:\n\n{report}"


def test_websocket_operations_answer_a_plain_get_426(live_api: LiveApi) -> None:
    document = requests.get(live_api.base_url + DOCUMENT_PATH, timeout=REQUEST_TIMEOUT_S).json()
    websockets = [
        (path, item["get"])
        for path, item in document["paths"].items()
        if "101" in item.get("get", {}).get("responses", {})
    ]
    assert websockets, "no websocket operation in the document"
    for path, op in websockets:
        role = op["x-ccd-roles"][0]
        response = requests.get(
            live_api.base_url + path, headers=live_api.headers(role), timeout=REQUEST_TIMEOUT_S
        )
        assert response.status_code == 426, (path, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.headers["Upgrade"] == "websocket"
        assert json.loads(response.text)["status"] == 426
        assert "426" in op["responses"]
