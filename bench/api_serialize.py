"""What building REST answers costs per request: a page of ``GET /api/v1/cdrs`` (50, 500
and 1,000 rows, the most a page holds), and how much of the handler's CPU would go if the
CDR views built their response models directly.

The rows are real: ``--rows`` CDRs (mixed answered/unanswered, queued with an agent or
not, IVR paths of two nodes, a post-call survey on some) in a migrated SQLite database,
read back by ccd's own ``CdrQueries`` into ``StoredCdr`` objects. Each page is then
turned into the HTTP body by

  current     ``ccd.api.cdrs``: ``cdr_view`` (a dict per row, datetimes as ISO text) →
              ``CdrView.model_validate`` per row → ``CdrPage`` → ``model_json``
              (``model_dump_json`` into the response); timed as its three steps
  one call    the same dicts validated as one ``CdrPage.model_validate`` call (pydantic
              validates the whole list in its core, no Python call per row)
  direct      the models built from the ``StoredCdr`` fields, no dict view between:
              ``CdrView(**fields)`` (validated) → ``CdrPage`` → ``model_json``
  construct   the same with ``model_construct`` (not validated at all)

``read`` is ``CdrQueries.page`` alone (the SQLite query, rows into ``StoredCdr``) and,
for the share, the whole request: ``GET /api/v1/cdrs?limit=N`` through the real
aiohttp app (``tests/integration/apifakes.running_api``: routing, auth, query parsing,
the SQLite read, the answer), CPU time of this process per request (client included; it
only reads the body). Every figure is CPU time (``time.process_time``) per page, the
median of ``--rounds`` rounds, paths interleaved within each round.

Run:  .venv/bin/python bench/api_serialize.py   (--rows, --rounds, --repeat)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from ccd.api.cdrs import CSV_FIELDS, cdr_view  # noqa: E402
from ccd.api.handlers import model_json  # noqa: E402
from ccd.api.models.cdrs import CdrPage, CdrView  # noqa: E402
from ccd.api.serialize import iso  # noqa: E402
from ccd.cdr.queries import CdrFilter, CdrSort, StoredCdr  # noqa: E402
from ccd.db import migrate  # noqa: E402
from ccd.db.cdr_queries import CdrQueries  # noqa: E402
from ccd.db.engine import create_engine  # noqa: E402
from ccd.logging import configure_logging  # noqa: E402
from tests.cdrrows import T0, cdr_row, insert_rows  # noqa: E402
from tests.integration.apifakes import running_api  # noqa: E402
from tests.reportrows import insert_rows as insert_table_rows  # noqa: E402

PAGE_SIZES = (50, 500, 1000)
NEXT_CURSOR = "eyJ2IjoxfQ.AAAAAAAAAAAAAAAA"  # a page in the middle has one (its size only)


def sample_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        started = T0 + timedelta(seconds=37 * n)
        answered = n % 4 != 0
        queued = n % 3 != 0
        rows.append(
            cdr_row(
                f"1764000000.{n}",
                started_at=started,
                caller_num=f"+1212555{n % 10000:04d}",
                caller_name=f"Caller {n}",
                answered_at=started + timedelta(seconds=7) if answered else None,
                talk_s=61.5 if answered else 0.0,
                disposition="answered" if answered else "abandoned",
                hung_up_by="caller" if answered else None,
                ivr_path=[
                    {"node": "menu", "at": started.isoformat(), "digits": "1"},
                    {"node": "to_sales", "at": started.isoformat()},
                ],
                queue="sales" if queued else None,
                wait_s=12.25 if queued else None,
                agent_id=f"10{n % 50:02d}" if queued and answered else None,
                wrapup_s=5.0 if queued and answered else None,
            )
        )
    return rows


def survey_rows(linkedids: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "linkedid": linkedid,
            "question": question,
            "score": score,
            "answered_at": T0,
        }
        for index, linkedid in enumerate(linkedids)
        if index % 5 == 0
        for question, score in (("q1", 4), ("q2", None))
    ]


# -- the three ways to build the body ---------------------------------------------------


def current(page: Sequence[StoredCdr]) -> tuple[float, float, float]:
    """ccd.api.cdrs.list_cdrs' way, its three steps timed apart."""
    t0 = time.process_time()
    views = [cdr_view(cdr) for cdr in page]
    t1 = time.process_time()
    body = CdrPage(cdrs=[CdrView.model_validate(view) for view in views], next_cursor=NEXT_CURSOR)
    t2 = time.process_time()
    model_json(body)
    t3 = time.process_time()
    return t1 - t0, t2 - t1, t3 - t2


def one_call(page: Sequence[StoredCdr]) -> None:
    views = [cdr_view(cdr) for cdr in page]
    model_json(CdrPage.model_validate({"cdrs": views, "next_cursor": NEXT_CURSOR}))


def model_fields(cdr: StoredCdr) -> dict[str, Any]:
    """The response model's fields straight from the row (``*_at`` are the datetimes)."""
    fields: dict[str, Any] = {"id": cdr.linkedid}
    for name in CSV_FIELDS:
        value = getattr(cdr, name)
        fields[name] = iso(value) if name.endswith("_at") else value
    return fields


def direct(page: Sequence[StoredCdr]) -> None:
    body = CdrPage(cdrs=[CdrView(**model_fields(cdr)) for cdr in page], next_cursor=NEXT_CURSOR)
    model_json(body)


def construct(page: Sequence[StoredCdr]) -> None:
    body = CdrPage.model_construct(
        cdrs=[CdrView.model_construct(**model_fields(cdr)) for cdr in page],
        next_cursor=NEXT_CURSOR,
    )
    model_json(body)


def cpu_of(run: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        run()
    return (time.process_time() - started) / repeat


def same_body(page: Sequence[StoredCdr]) -> None:
    """The paths answer byte for byte the same (or the comparison means nothing)."""
    views = [cdr_view(cdr) for cdr in page]
    expected = model_json(
        CdrPage(cdrs=[CdrView.model_validate(v) for v in views], next_cursor=NEXT_CURSOR)
    ).text
    for name, path_body in (
        ("one call", CdrPage.model_validate({"cdrs": views, "next_cursor": NEXT_CURSOR})),
        (
            "direct",
            CdrPage(cdrs=[CdrView(**model_fields(c)) for c in page], next_cursor=NEXT_CURSOR),
        ),
        (
            "construct",
            CdrPage.model_construct(
                cdrs=[CdrView.model_construct(**model_fields(c)) for c in page],
                next_cursor=NEXT_CURSOR,
            ),
        ),
    ):
        if model_json(path_body).text != expected:
            raise AssertionError(f"{name}: another body")


# -- the run ------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[int, dict[str, list[float]]]:
    directory = Path(tempfile.mkdtemp(prefix="ccd-api-serialize-"))
    url = f"sqlite+aiosqlite:///{directory / 'ccd.sqlite3'}"
    await migrate.upgrade(url)
    engine = create_engine(url)
    rows = sample_rows(args.rows)
    await insert_rows(engine, rows)
    await insert_table_rows(
        engine, "survey_responses", survey_rows([row["linkedid"] for row in rows])
    )
    reader = CdrQueries(engine)
    pages = {
        size: await reader.page(CdrFilter(), sort=CdrSort.NEWEST_FIRST, after=None, limit=size)
        for size in PAGE_SIZES
    }
    for size, page in pages.items():
        if len(page) != size:
            raise SystemExit(f"--rows {args.rows} is too few for a page of {size}")
    same_body(pages[PAGE_SIZES[-1]])
    results: dict[int, dict[str, list[float]]] = {size: {} for size in PAGE_SIZES}
    try:
        async with running_api(cdrs=reader) as api:
            headers = api.auth("admin")

            async def request(size: int) -> float:
                started = time.process_time()
                response = await api.client.get(f"/api/v1/cdrs?limit={size}", headers=headers)
                await response.read()
                if response.status != 200:
                    raise AssertionError(response.status)
                return time.process_time() - started

            for round_no in range(args.rounds):
                print(f"round {round_no + 1}/{args.rounds}", file=sys.stderr)
                for size, page in pages.items():
                    got = results[size]
                    split = [current(page) for _ in range(args.repeat)]
                    for index, step in enumerate(("view", "validate", "dump")):
                        got.setdefault(step, []).append(statistics.fmean(s[index] for s in split))
                    got.setdefault("current", []).append(
                        cpu_of(lambda p=page: current(p), args.repeat)  # type: ignore[misc]
                    )
                    got.setdefault("one call", []).append(
                        cpu_of(lambda p=page: one_call(p), args.repeat)  # type: ignore[misc]
                    )
                    got.setdefault("direct", []).append(
                        cpu_of(lambda p=page: direct(p), args.repeat)  # type: ignore[misc]
                    )
                    got.setdefault("construct", []).append(
                        cpu_of(lambda p=page: construct(p), args.repeat)  # type: ignore[misc]
                    )
                    reads = []
                    for _ in range(args.repeat):
                        started = time.process_time()
                        await reader.page(
                            CdrFilter(), sort=CdrSort.NEWEST_FIRST, after=None, limit=size
                        )
                        reads.append(time.process_time() - started)
                    got.setdefault("read", []).append(statistics.fmean(reads))
                    requests = [await request(size) for _ in range(args.repeat)]
                    got.setdefault("request", []).append(statistics.fmean(requests))
    finally:
        await engine.dispose()
    return results


def table(results: dict[int, dict[str, list[float]]]) -> str:
    header = [
        "rows",
        "whole request",
        "read",
        "view",
        "validate",
        "dump",
        "current",
        "one call",
        "direct",
        "construct",
        "current share",
        "direct saves",
        "construct saves",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for size, got in results.items():
        median = {key: statistics.median(values) * 1000 for key, values in got.items()}
        request = median["request"]
        lines.append(
            "| "
            + " | ".join(
                [
                    str(size),
                    f"{request:.2f}",
                    f"{median['read']:.2f}",
                    f"{median['view']:.2f}",
                    f"{median['validate']:.2f}",
                    f"{median['dump']:.2f}",
                    f"{median['current']:.2f}",
                    f"{median['one call']:.2f}",
                    f"{median['direct']:.2f}",
                    f"{median['construct']:.2f}",
                    f"{100 * median['current'] / request:.0f} %",
                    f"{100 * (median['current'] - median['direct']) / request:.0f} %",
                    f"{100 * (median['current'] - median['construct']) / request:.0f} %",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=1500, help="CDRs in the database (1500)")
    p.add_argument("--rounds", type=int, default=7, help="rounds, median taken (7)")
    p.add_argument("--repeat", type=int, default=10, help="pages per path per round (10)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING", fmt="console")
    # aiohttp's access log line per request is not what is measured here.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    started = describe()
    results = asyncio.run(run(args))
    print(
        f"\nGET /api/v1/cdrs page: CPU ms per page, median of {args.rounds} rounds of "
        f"{args.repeat} pages per path"
    )
    print(f"machine at the start: {started}")
    print(f"machine at the end:   {describe()}\n")
    print(table(results))
    print(
        "\ncurrent share: view + validate + dump as a share of the whole request's CPU;"
        "\ndirect / construct saves: (current - that path) as a share of the whole request's CPU"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
