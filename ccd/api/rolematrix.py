"""The role x endpoint matrix: every route the API serves, and which of the six roles may
call it, as the Markdown table of the README's "Roles" section.

Read from what the server enforces: the routes ``build_api`` registers and the role table
``ccd.api.policy.ROUTE_ROLES`` that the auth middleware checks. Public routes (no token)
say ``public``. Run ``scripts/role-matrix`` to print the table, ``--write README.md`` to
replace it between the README's markers, ``--check README.md`` to exit 1 when it differs
(tests/integration/test_role_matrix.py does the same check).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from ccd.api.policy import PUBLIC_ROUTES, ROUTE_ROLES
from ccd.domain.auth import Role

ROLE_ORDER = (
    Role.ADMIN,
    Role.SUPERVISOR,
    Role.AGENT,
    Role.INTEGRATOR,
    Role.QA,
    Role.ANALYST,
)
START_MARKER = "<!-- role-matrix:start (scripts/role-matrix --write README.md) -->"
END_MARKER = "<!-- role-matrix:end -->"
ALLOWED = "yes"
REFUSED = "no"
PUBLIC = "public"


@dataclass(frozen=True, slots=True)
class RouteEntry:
    method: str
    path: str
    name: str


def routes_of(app: web.Application) -> list[RouteEntry]:
    """Every (method, path) the app serves, in registration order; the HEAD twins aiohttp
    adds to GET routes are left out."""
    entries: list[RouteEntry] = []
    seen: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        info = route.resource.get_info()
        path = str(info.get("path") or info.get("formatter") or info.get("prefix") or "")
        key = (route.method, path)
        if key in seen:
            continue
        seen.add(key)
        entries.append(RouteEntry(route.method, path, route.name or ""))
    return entries


def matrix_table(
    routes: Iterable[RouteEntry],
    roles_by_route: Mapping[str, frozenset[Role]],
    public: frozenset[str] = PUBLIC_ROUTES,
) -> str:
    """The Markdown table: one row per route, one column per role."""
    header = "| route | " + " | ".join(role.value for role in ROLE_ORDER) + " |"
    rule = "|---|" + "---|" * len(ROLE_ORDER)
    rows = [header, rule]
    for route in routes:
        if route.name in public:
            cells = [PUBLIC] * len(ROLE_ORDER)
        else:
            allowed = roles_by_route.get(route.name, frozenset())
            cells = [ALLOWED if role in allowed else REFUSED for role in ROLE_ORDER]
        rows.append(f"| `{route.method} {route.path}` | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``."""
    start = readme.index(START_MARKER) + len(START_MARKER)
    end = readme.index(END_MARKER, start)
    return readme[:start] + "\n" + table + readme[end:]


def table_in(readme: str) -> str:
    """The table currently between the README's markers."""
    start = readme.index(START_MARKER) + len(START_MARKER)
    end = readme.index(END_MARKER, start)
    return readme[start:end].removeprefix("\n")


class _NoComponent:
    """Stands in for every component: listing routes calls none of them."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the role matrix lists routes only; {name} was called")


def served_routes() -> list[RouteEntry]:
    """The routes of the API as ``build_api`` registers them."""
    return routes_of(served_app())


def served_app() -> web.Application:
    """The API as ``build_api`` builds it, with no component behind it: for reading its
    routes (the role matrix, the OpenAPI document), never for serving."""
    from ccd.api.app import build_api  # here: build_api imports every route module
    from ccd.api.hub import EventHub

    none: Any = cast(Any, _NoComponent())
    return build_api(
        tokens=none,
        calls=none,
        control=none,
        readiness=none,
        hub=EventHub(),
        cdrs=none,
        max_body_bytes=1,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="role-matrix", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="README", help="replace the table in it")
    group.add_argument("--check", type=Path, metavar="README", help="exit 1 if it differs")
    args = parser.parse_args(argv)
    table = matrix_table(served_routes(), ROUTE_ROLES)
    if args.write is not None:
        text = args.write.read_text(encoding="utf-8")
        args.write.write_text(with_table(text, table), encoding="utf-8")
        return 0
    if args.check is not None:
        if table_in(args.check.read_text(encoding="utf-8")) != table:
            print(f"{args.check}: the role matrix is out of date; run scripts/role-matrix --write")
            return 1
        return 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
