"""The README's role x endpoint matrix is what the server enforces: generated from the
routes build_api registers and ROUTE_ROLES, and every role the auth-matrix tests see
succeed on a route is a "yes" in it."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from ccd.api.policy import PUBLIC_ROUTES, ROUTE_ROLES
from ccd.api.rolematrix import (
    END_MARKER,
    START_MARKER,
    RouteEntry,
    main,
    matrix_table,
    routes_of,
    served_routes,
    table_in,
)
from ccd.domain.auth import Role
from tests.integration import authmatrix
from tests.integration.apifakes import running_api
from tests.integration.authmatrix import Endpoint
from tests.integration.test_api_auth import ENDPOINTS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_served_matrix() -> None:
    expected = matrix_table(served_routes(), ROUTE_ROLES)
    assert table_in(README.read_text(encoding="utf-8")) == expected, (
        "README.md's role matrix is out of date: run scripts/role-matrix --write README.md"
    )


def test_every_policy_entry_is_a_served_route() -> None:
    names = {route.name for route in served_routes()}
    assert set(ROUTE_ROLES) <= names
    assert names - set(ROUTE_ROLES) <= PUBLIC_ROUTES


def test_every_role_the_auth_matrix_lets_through_is_a_yes() -> None:
    """A role a test sees succeed must be shown allowed (the README cannot under-promise);
    a role outside ROUTE_ROLES is refused by the middleware before any handler runs."""
    endpoints: dict[str, Endpoint] = dict(ENDPOINTS)
    for value in vars(authmatrix).values():
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(v, Endpoint) for v in value.values())
        ):
            endpoints.update(value)
    assert "quality.evaluations.acknowledge" in endpoints
    for name, endpoint in endpoints.items():
        allowed = {role.value for role in ROUTE_ROLES[name]}
        assert endpoint.allowed <= allowed, name


async def _ok(request: web.Request) -> web.Response:
    return web.Response()


def test_the_table_has_a_row_per_route_and_a_column_per_role() -> None:
    app = web.Application()
    app.router.add_get("/healthz", _ok, name="healthz")
    app.router.add_get("/api/v1/things/{id}", _ok, name="things.get")
    app.router.add_post("/api/v1/things", _ok, name="things.create")
    routes = routes_of(app)
    assert routes == [
        RouteEntry("GET", "/healthz", "healthz"),
        RouteEntry("GET", "/api/v1/things/{id}", "things.get"),
        RouteEntry("POST", "/api/v1/things", "things.create"),
    ]
    roles = {
        "things.get": frozenset({Role.AGENT, Role.ANALYST}),
        "things.create": frozenset({Role.ADMIN}),
    }
    assert matrix_table(routes, roles) == (
        "| route | admin | supervisor | agent | integrator | qa | analyst |\n"
        "|---|---|---|---|---|---|---|\n"
        "| `GET /healthz` | public | public | public | public | public | public |\n"
        "| `GET /api/v1/things/{id}` | no | no | yes | no | no | yes |\n"
        "| `POST /api/v1/things` | yes | no | no | no | no | no |\n"
    )


def test_write_puts_the_table_between_the_markers_and_check_sees_a_stale_one(
    tmp_path: Path,
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START_MARKER}\nold\n{END_MARKER}\n\nafter\n", encoding="utf-8")
    assert main(["--check", str(readme)]) == 1
    assert main(["--write", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(f"# x\n\n{START_MARKER}\n| route | admin |")
    assert text.endswith(f"{END_MARKER}\n\nafter\n")
    assert (
        "| `POST /api/v1/quality/evaluations/{id}/acknowledge` | no | no | yes | no | no | no |"
        in text
    )
    assert main(["--check", str(readme)]) == 0


def readme_matrix() -> dict[tuple[str, str], dict[str, str]]:
    """The README's table as (method, path) -> role -> cell."""
    lines = table_in(README.read_text(encoding="utf-8")).splitlines()
    roles = [cell.strip() for cell in lines[0].strip("|").split("|")][1:]
    matrix: dict[tuple[str, str], dict[str, str]] = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        method, path = cells[0].strip("`").split(" ", 1)
        matrix[(method, path)] = dict(zip(roles, cells[1:], strict=True))
    return matrix


def concrete(path: str) -> str:
    """A path with every ``{param}`` filled in (the value need not exist)."""
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_the_running_api_refuses_exactly_the_roles_the_readme_says_no_to() -> None:
    """Every README row called with every role's token on the running app: a "no" is the
    role policy's 403, a "yes" gets past it (whatever the handler then answers: missing
    components, unknown ids and empty bodies are fine here); "public" needs no token."""
    matrix = readme_matrix()
    assert len(matrix) > 50
    async with running_api(allow_server_errors=True) as api:
        for (method, path), cells in matrix.items():
            url = concrete(path)
            if set(cells.values()) == {"public"}:
                response = await api.client.request(method, url)
                assert response.status != 401, (method, path)
                continue
            for role, cell in cells.items():
                response = await api.client.request(method, url, headers=api.auth(role))
                body = await response.read()
                refused_by_policy = response.status == 403 and b"may not call" in body
                assert refused_by_policy == (cell == "no"), (method, path, role, response.status)
