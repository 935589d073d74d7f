"""The ``ccd`` command.

Every mistake a user can make (bad config, bad argument, unreachable database, unknown
token) ends as one readable message on stderr and a non-zero exit status (2 for usage and
configuration errors, 1 when a service such as the database is unavailable) — no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import ccd
from ccd.errors import CcdError, ConfigError, UsageError
from ccd.settings import Settings, load_settings

if TYPE_CHECKING:
    from ccd.db.dialer_store import ImportCounts
    from ccd.dialer.contacts import BadRow
    from ccd.ivr.flows import FlowSet

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except ConfigError as exc:
        _print_config_problems(exc)
        return exc.exit_code
    except CcdError as exc:
        print(f"ccd: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `ccd token list | head`: the reader left. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the subcommand; SUPPRESS keeps a value given
    # before it from being reset by the subparser's default.
    config_option = argparse.ArgumentParser(add_help=False)
    config_option.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML config file (default: $CCD_CONFIG, else config/ccd.toml if present)",
    )

    parser = argparse.ArgumentParser(
        prog="ccd",
        description="Call-center control daemon for Asterisk.",
        parents=[config_option],
        epilog="Settings: config file < environment (CCD_ prefix, __ nesting, "
        "e.g. CCD_AMI__HOST). Secrets only from the environment (CCD_AMI__SECRET).",
    )
    parser.add_argument("--version", action="version", version=f"ccd {ccd.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", parents=[config_option], help="run the daemon")
    run.set_defaults(handler=_cmd_run)

    init = commands.add_parser(
        "init",
        help="write the shipped samples (config, IVR flows, ACD seed, dialplan, "
        "manager.conf, systemd unit, secrets file) into DIR",
    )
    init.add_argument("directory", metavar="DIR", help="e.g. /etc/ccd (created if missing)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.set_defaults(handler=_cmd_init)

    check = commands.add_parser(
        "check-config", parents=[config_option], help="validate the configuration and exit"
    )
    check.set_defaults(handler=_cmd_check_config)

    reload = commands.add_parser(
        "reload",
        parents=[config_option],
        help="validate the IVR flows, then make the running ccd load them (SIGHUP)",
    )
    reload.set_defaults(handler=_cmd_reload)

    show = commands.add_parser(
        "print-config",
        parents=[config_option],
        help="print the effective configuration (secrets masked)",
    )
    show.add_argument("--format", choices=("toml", "json"), default="toml")
    show.set_defaults(handler=_cmd_print_config)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(title="token commands", metavar="ACTION")
    create = token_commands.add_parser(
        "create", parents=[config_option], help="create a token (shown once)"
    )
    create.add_argument(
        "--role", required=True, help="admin, supervisor, agent, integrator, qa or analyst"
    )
    create.add_argument("--agent", metavar="ID", help="agent id (required for --role agent)")
    create.add_argument("--label", default="", help="free text: who or what uses the token")
    lifetime = create.add_mutually_exclusive_group()
    lifetime.add_argument(
        "--expires-in", metavar="DURATION", help="lifetime: 30m, 12h, 90d, 2w (default: never)"
    )
    lifetime.add_argument(
        "--expires-at", metavar="ISO", help="expiry as ISO 8601 with offset, e.g. 2027-03-01T00:00Z"
    )
    create.set_defaults(handler=_cmd_token_create)
    listing = token_commands.add_parser("list", parents=[config_option], help="list tokens")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_cmd_token_list)
    revoke = token_commands.add_parser("revoke", parents=[config_option], help="revoke a token")
    revoke.add_argument("token_id", metavar="ID")
    revoke.set_defaults(handler=_cmd_token_revoke)
    token.set_defaults(handler=_help_for(token))

    seed = commands.add_parser(
        "seed",
        parents=[config_option],
        help="load ACD pause reasons, queues and agents from a TOML file (upsert)",
    )
    seed.add_argument("file", metavar="FILE", help="seed file, e.g. config/acd-seed.toml")
    seed.set_defaults(handler=_cmd_seed)

    contacts = commands.add_parser("contacts", help="dialer contact lists")
    contacts_commands = contacts.add_subparsers(title="contacts commands", metavar="ACTION")
    contacts_import = contacts_commands.add_parser(
        "import",
        parents=[config_option],
        help="import a CSV file of contacts into a campaign (re-importing changes nothing)",
    )
    contacts_import.add_argument("file", metavar="FILE", help="CSV file with a header row")
    contacts_import.add_argument(
        "--campaign", metavar="ID", required=True, help="the campaign to import into"
    )
    contacts_import.add_argument(
        "--phone-column", metavar="NAME", help="column of the numbers (default: phone)"
    )
    contacts_import.add_argument(
        "--name-column", metavar="NAME", help="column of the names (default: name, if present)"
    )
    contacts_import.add_argument(
        "--tz-column",
        metavar="NAME",
        help="column of IANA time zones, ';' between several (default: time_zone, if "
        "present; else the zones come from each number)",
    )
    contacts_import.set_defaults(handler=_cmd_contacts_import)
    contacts.set_defaults(handler=_help_for(contacts))

    dnc = commands.add_parser("dnc", help="do-not-call lists")
    dnc_commands = dnc.add_subparsers(title="dnc commands", metavar="ACTION")
    dnc_import = dnc_commands.add_parser(
        "import",
        parents=[config_option],
        help="add the numbers of a file to the global do-not-call list or a campaign's",
    )
    dnc_import.add_argument(
        "file", metavar="FILE", help="one number per line, or CSV with a phone column"
    )
    dnc_import.add_argument(
        "--campaign", metavar="ID", help="the campaign's own list (default: the global list)"
    )
    dnc_import.add_argument(
        "--region",
        metavar="CC",
        help="region of numbers without a country code (default: the campaign's, else US)",
    )
    dnc_import.add_argument(
        "--phone-column", metavar="NAME", help="column of the numbers in a CSV (default: phone)"
    )
    dnc_import.set_defaults(handler=_cmd_dnc_import)
    dnc.set_defaults(handler=_help_for(dnc))

    forecast = commands.add_parser(
        "forecast",
        parents=[config_option],
        help="agents needed per interval of a day, forecast from a queue's call history",
    )
    forecast.add_argument("--queue", required=True, help="the queue (CDRs' queue)")
    forecast.add_argument(
        "--date", required=True, metavar="YYYY-MM-DD", help="the day, in [reports] zone"
    )
    for option, what in FORECAST_OPTIONS.items():
        forecast.add_argument(option, metavar="N", help=what)
    forecast.add_argument("--format", choices=("table", "csv", "json"), default="table")
    forecast.set_defaults(handler=_cmd_forecast)

    openapi = commands.add_parser(
        "openapi",
        help="print the REST API's OpenAPI 3.1 document (as GET /api/v1/openapi.json serves it)",
    )
    openapi.set_defaults(handler=_cmd_openapi)

    db = commands.add_parser("db", help="database schema migrations")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION")
    up = db_commands.add_parser(
        "upgrade", parents=[config_option], help="migrate to the newest schema"
    )
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_cmd_db_upgrade)
    down = db_commands.add_parser(
        "downgrade", parents=[config_option], help="revert to REV ('base': drop ccd's tables)"
    )
    down.add_argument("revision", metavar="REV")
    down.set_defaults(handler=_cmd_db_downgrade)
    cur = db_commands.add_parser(
        "current", parents=[config_option], help="show the database's schema revision"
    )
    cur.set_defaults(handler=_cmd_db_current)
    db.set_defaults(handler=_help_for(db))
    return parser


def _help_for(parser: argparse.ArgumentParser) -> Handler:
    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return show_help


def _print_config_problems(error: ConfigError) -> None:
    lines = [f"  {problem}" for problem in error.problems]
    print("ccd: configuration is invalid:\n" + "\n".join(lines), file=sys.stderr)


def _settings(args: argparse.Namespace, *, require_ami_secret: bool) -> Settings:
    return load_settings(getattr(args, "config", None), require_ami_secret=require_ami_secret)


def _settings_with_logging(args: argparse.Namespace, *, require_ami_secret: bool) -> Settings:
    from ccd.logging import configure_logging

    settings = _settings(args, require_ami_secret=require_ami_secret)
    configure_logging(settings.log.level, settings.log.format)
    return settings


def _run_async(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work())


# ---------------------------------------------------------------------------------- commands


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args, require_ami_secret=True)
    # Imported here: the daemon pulls in aiohttp, panoramisk, ... which the admin
    # commands do not need.
    from ccd import app

    return app.run(settings)


def _cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ccd.samples.catalog import SAMPLES
    from ccd.samples.files import init_directory

    directory = Path(args.directory)
    plan = init_directory(directory, SAMPLES, force=args.force)
    width = max(len(str(directory / sample.target)) for sample in plan.writes)
    for sample in plan.writes:
        verb = "overwrote" if sample in plan.overwrites else "wrote"
        mode = f" (mode {sample.mode:o})" if sample.private else ""
        path = str(directory / sample.target).ljust(width)
        print(f"{verb:9} {path}  {sample.what}{mode}")
    config = directory / "ccd.toml"
    print(
        f"next: put the AMI secret in {directory / 'ccd.env'}, then "
        f"`ccd check-config --config {config}` (README: Deploying with systemd)"
    )
    return EXIT_OK


def _cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args, require_ami_secret=True)
    flows = _load_ivr_flows(settings)
    print("config OK: " + ", ".join(settings.sources))
    if flows.flows:
        print(f"IVR OK: {len(flows.flows)} flow(s) from {settings.ivr.flows_dir}")
    else:
        print(f"IVR off: no flows directory {settings.ivr.flows_dir}")
    return EXIT_OK


def _load_ivr_flows(settings: Settings) -> FlowSet:
    from ccd.ivr.flows import load_flows

    # A ConfigError here lists every flow problem (file, flow, node, field); exit 2.
    return load_flows(settings.ivr.flows_dir, configured_in=settings.origin("ivr.flows_dir"))


def _cmd_reload(args: argparse.Namespace) -> int:
    import signal

    from ccd.app import pidfile_path

    settings = _settings(args, require_ami_secret=False)
    # Checked here too, so the admin sees the problems (the daemon only logs them).
    flows = _load_ivr_flows(settings)
    pidfile = pidfile_path(settings)
    try:
        pid = int(pidfile.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise CcdError(f"ccd is not running (no {pidfile}; is data_dir the same?)") from None
    except (OSError, ValueError) as exc:
        raise CcdError(f"cannot read {pidfile}: {exc}") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise CcdError(f"ccd is not running (stale {pidfile}: no process {pid})") from None
    except PermissionError:
        raise CcdError(f"not allowed to signal ccd (pid {pid}): run as its user") from None
    print(f"asked ccd (pid {pid}) to reload {len(flows.flows)} IVR flow(s)")
    return EXIT_OK


def _cmd_print_config(args: argparse.Namespace) -> int:
    settings = _settings(args, require_ami_secret=False)
    data = settings.redacted()
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(f"# effective configuration; sources: {', '.join(settings.sources)}")
        print(render_toml(data), end="")
    return EXIT_OK


def _cmd_seed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ccd.acd.seed import load_seed
    from ccd.db.acd_store import AcdStore, SeedResult

    settings = _settings_with_logging(args, require_ami_secret=False)
    path = Path(args.file)

    def progress(table: str, done: int, total: int) -> None:
        if done == total:
            print(f"  {table} {done}/{total}", flush=True)

    async def seed(engine: Any) -> SeedResult:
        store = AcdStore(engine)
        _agents, queues, reasons = await store.ids()
        # Validated against what is stored too: the file may refer to existing queues.
        config = load_seed(
            path,
            known_queues=queues,
            known_pause_reasons=reasons,
            # An agent's server must be one this configuration connects to.
            known_servers=[server.name for server in settings.servers],
        )
        total = len(config.pause_reasons) + len(config.queues) + len(config.agents)
        print(f"seeding {total} rows from {path}", flush=True)
        return await store.apply_seed(config, progress)

    try:
        result = _run_async(lambda: _with_current_database(settings, seed))
    except ConfigError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        print(
            f"ccd: seed file is invalid ({len(exc.problems)} problem(s)); nothing was written:\n"
            + lines,
            file=sys.stderr,
        )
        return EXIT_USAGE
    parts = [
        f"{label} {counts.total}/{counts.total} ({counts.created} new, {counts.updated} updated)"
        for label, counts in (
            ("pause reasons", result.pause_reasons),
            ("queues", result.queues),
            ("agents", result.agents),
        )
    ]
    print("seeded: " + ", ".join(parts))
    return EXIT_OK


# Longer lines are cut (and then rejected as rows): a file without newlines cannot make
# the import hold it in memory.
MAX_CSV_LINE = 1 << 20
PROGRESS_EVERY_S = 2.0


def _csv_lines(handle: Any) -> Iterator[str]:
    while line := handle.readline(MAX_CSV_LINE):
        yield line


class _ImportReport:
    """The progress line (rewritten in place on a terminal, a line every few seconds
    otherwise) and one stderr line per problem of each bad row, as they come."""

    def __init__(self, path: str, verb: str) -> None:
        from ccd.clock import SystemClock

        self._path = path
        self._verb = verb
        self._tty = sys.stdout.isatty()
        self._clock = SystemClock().monotonic
        self._last = self._clock()
        self._pending = False

    def line(self, counts: ImportCounts) -> str:
        return (
            f"  {counts.read} rows read, {counts.accepted} {self._verb}, {counts.rejected} rejected"
        )

    def progress(self, counts: ImportCounts) -> None:
        now = self._clock()
        if now - self._last < PROGRESS_EVERY_S and not self._tty:
            return
        self._last = now
        if self._tty:
            print("\r" + self.line(counts), end="", flush=True)
            self._pending = True
        else:
            print(self.line(counts), flush=True)

    def bad_row(self, row: BadRow) -> None:
        self.end_line()
        for problem in row.problems:
            where = f", column {problem.column!r}" if problem.column else ""
            print(f"  {self._path}: row {row.row}{where}: {problem.reason}", file=sys.stderr)

    def end_line(self) -> None:
        if self._pending:
            print(flush=True)
            self._pending = False

    def finish(self, counts: ImportCounts) -> None:
        if self._tty:
            print("\r" + self.line(counts), flush=True)
            self._pending = False
        else:
            print(self.line(counts), flush=True)


def _open_csv(path: str) -> Any:
    try:
        # utf-8-sig: spreadsheets put a BOM in front; invalid bytes become U+FFFD and
        # reject their row (never the file).
        return open(path, encoding="utf-8-sig", errors="replace", newline="")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _unusable(path: str, problems: Sequence[str]) -> int:
    lines = "\n".join(f"  {path}: {problem}" for problem in problems)
    print(f"ccd: {path} cannot be imported; nothing was written:\n{lines}", file=sys.stderr)
    return EXIT_USAGE


def _run_import(
    settings: Settings,
    run: Callable[[Any], Awaitable[ImportCounts]],
    report: _ImportReport,
    *,
    path: str,
    noun: str,
    done: str,
    summary: Callable[[ImportCounts], str],
) -> int:
    """Run an import, then say what it did: exit 2 when the file is unusable or no
    ``noun`` in it could be taken, else ``<done>: <summary>``."""
    from ccd.dialer.contacts import CsvUnusable

    try:
        counts = _run_async(lambda: _with_current_database(settings, run))
    except CsvUnusable as exc:
        report.end_line()
        return _unusable(path, exc.problems)
    report.finish(counts)
    if not counts.accepted:
        print(f"ccd: no {noun} in {path} could be {done} ({summary(counts)})", file=sys.stderr)
        return EXIT_USAGE
    print(f"{done}: {summary(counts)}")
    return EXIT_OK


def _cmd_contacts_import(args: argparse.Namespace) -> int:
    from ccd.db.dialer_store import DialerNotFound, DialerStore
    from ccd.dialer.contacts import ColumnMapping, read_contacts

    settings = _settings_with_logging(args, require_ami_secret=False)
    mapping = ColumnMapping(
        phone=args.phone_column, name=args.name_column, time_zone=args.tz_column
    )
    report = _ImportReport(args.file, "imported")

    async def run(engine: Any) -> ImportCounts:
        store = DialerStore(engine)
        stored = await store.get_campaign(args.campaign)
        if stored is None:
            raise DialerNotFound("campaign", args.campaign)
        with _open_csv(args.file) as handle:
            print(f"importing contacts from {args.file} into campaign {args.campaign}", flush=True)
            rows = read_contacts(
                _csv_lines(handle),
                campaign_id=args.campaign,
                default_region=stored.campaign.default_region,
                mapping=mapping,
            )
            return await store.import_contacts(
                args.campaign, rows, progress=report.progress, on_bad_row=report.bad_row
            )

    def summary(counts: ImportCounts) -> str:
        return (
            f"{counts.accepted} contact(s) in campaign {args.campaign} from {args.file}: "
            f"{counts.new} new, {counts.already_there} already there; {counts.rejected} "
            "row(s) rejected"
        )

    return _run_import(
        settings, run, report, path=args.file, noun="contact", done="imported", summary=summary
    )


def _cmd_dnc_import(args: argparse.Namespace) -> int:
    from ccd.db.dialer_store import DialerNotFound, DialerStore
    from ccd.dialer.contacts import read_dnc

    settings = _settings_with_logging(args, require_ami_secret=False)
    report = _ImportReport(args.file, "listed")
    target = f"campaign {args.campaign}'s" if args.campaign else "the global"

    async def run(engine: Any) -> ImportCounts:
        store = DialerStore(engine)
        region = args.region
        if args.campaign is not None:
            stored = await store.get_campaign(args.campaign)
            if stored is None:
                raise DialerNotFound("campaign", args.campaign)
            region = region or stored.campaign.default_region
        with _open_csv(args.file) as handle:
            print(f"adding the numbers of {args.file} to {target} do-not-call list", flush=True)
            rows = read_dnc(
                _csv_lines(handle),
                default_region=region or "US",
                phone_column=args.phone_column,
            )
            return await store.import_dnc(
                rows,
                campaign_id=args.campaign,
                source=f"import:{os.path.basename(args.file)}"[:200],
                progress=report.progress,
                on_bad_row=report.bad_row,
            )

    def summary(counts: ImportCounts) -> str:
        return (
            f"{counts.accepted} number(s) on {target} do-not-call list from {args.file}: "
            f"{counts.new} new, {counts.already_there} already listed; {counts.rejected} "
            "row(s) rejected"
        )

    return _run_import(
        settings, run, report, path=args.file, noun="number", done="listed", summary=summary
    )


# The forecast's optional parameters: option -> help (defaults: [forecast] settings).
FORECAST_OPTIONS = {
    "--interval": "interval length: 15, 30 or 60 minutes",
    "--weeks": "same weekdays of how many past weeks to learn from (1-52)",
    "--sl-target-pct": "service level target, percent answered within --sl-seconds",
    "--sl-seconds": "the service level's answer threshold in seconds",
    "--max-occupancy-pct": "most of their time agents may spend on calls, percent",
    "--shrinkage-pct": "share of scheduled time agents are off the phones, percent",
}


def _forecast_parameters(args: argparse.Namespace, defaults: Any) -> Any:
    from pydantic import ValidationError

    from ccd.forecast.parameters import ForecastParameters

    given: dict[str, object] = {"queue": args.queue, "date": args.date}
    for option in FORECAST_OPTIONS:
        value = getattr(args, option.removeprefix("--").replace("-", "_"))
        if value is not None:
            given[option.removeprefix("--").replace("-", "_")] = value
    try:
        return ForecastParameters.model_validate(defaults.fill(given))
    except ValidationError as exc:
        problems = [
            f"--{'-'.join(str(part) for part in err['loc']).replace('_', '-')}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors(include_url=False)
        ]
        raise UsageError("; ".join(problems)) from None


class _HistoryProgress:
    """One stderr line per history day or week read (rewritten in place on a terminal)."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int, what: str, calls: int) -> None:
        line = f"reading history: {done}/{total} ({what}: {calls} calls)"
        if self._tty:
            end = "\n" if done == total else ""
            print("\r" + line, end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def _cmd_forecast(args: argparse.Namespace) -> int:
    import csv
    from zoneinfo import ZoneInfo

    from ccd.clock import SystemClock
    from ccd.db.forecast_history import ForecastHistory
    from ccd.forecast.config import forecast_defaults
    from ccd.forecast.report import as_data, csv_rows, summary_lines, table_lines
    from ccd.forecast.run import run_forecast

    settings = _settings_with_logging(args, require_ami_secret=False)
    defaults = forecast_defaults(settings)
    params = _forecast_parameters(args, defaults)
    today = SystemClock().now().astimezone(ZoneInfo(defaults.zone)).date()
    progress = _HistoryProgress()
    report = _run_async(
        lambda: _with_current_database(
            settings,
            lambda engine: run_forecast(
                ForecastHistory(engine), params, defaults.zone, today, progress
            ),
        )
    )
    if args.format == "json":
        print(json.dumps(as_data(report), indent=2))
    elif args.format == "csv":
        csv.writer(sys.stdout, lineterminator="\n").writerows(csv_rows(report))
    else:
        print("\n".join([*summary_lines(report), "", *table_lines(report)]))
        if any(
            row.staffing.agents > row.staffing.agents_for_service_level for row in report.intervals
        ):
            print("* more agents than Erlang C needs: the occupancy cap")
    return EXIT_OK


def _cmd_openapi(_args: argparse.Namespace) -> int:
    # Built from the routes and models of this ccd, not from a running one: client
    # generators can work offline, with no configuration or database.
    from ccd.api.openapi.routes import document_of
    from ccd.api.rolematrix import served_app

    print(json.dumps(document_of(served_app()), indent=2))
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ccd.db import migrate

    settings = _settings_with_logging(args, require_ami_secret=False)
    _run_async(lambda: migrate.upgrade(settings.database_url, args.revision))
    return EXIT_OK


def _cmd_db_downgrade(args: argparse.Namespace) -> int:
    from ccd.db import migrate

    settings = _settings_with_logging(args, require_ami_secret=False)
    _run_async(lambda: migrate.downgrade(settings.database_url, args.revision))
    return EXIT_OK


def _cmd_db_current(args: argparse.Namespace) -> int:
    from ccd.db import migrate

    settings = _settings_with_logging(args, require_ami_secret=False)
    revision = _run_async(lambda: migrate.current(settings.database_url))
    heads = migrate.head_revisions()
    if revision is None:
        print("none (never migrated: run `ccd db upgrade`)")
    elif (revision,) == heads:
        print(f"{revision} (head)")
    else:
        print(f"{revision} (newest is {', '.join(heads)}: run `ccd db upgrade`)")
    return EXIT_OK


async def _with_current_database(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(engine)`` on the database: the embedded one is migrated first if needed,
    a configured one with an outdated schema is refused (``migrate.prepare``)."""
    from ccd.db import migrate
    from ccd.db.engine import create_engine

    engine = create_engine(settings.database_url)
    try:
        await migrate.prepare(engine, embedded=settings.database.url is None)
        return await work(engine)
    finally:
        await engine.dispose()


async def _with_token_store(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from ccd.db.tokens import TokenStore

    return await _with_current_database(settings, lambda engine: work(TokenStore(engine)))


def _cmd_token_create(args: argparse.Namespace) -> int:
    from ccd.clock import SystemClock
    from ccd.db.tokens import validate_token_request
    from ccd.domain.token_lifetime import expiry

    settings = _settings_with_logging(args, require_ami_secret=False)
    # Check the request before touching the database, so typos fail fast.
    validate_token_request(args.role, args.agent, args.label)
    try:
        expires_at = expiry(
            SystemClock().now(), expires_in=args.expires_in, expires_at=args.expires_at
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    token_id, token = _run_async(
        lambda: _with_token_store(
            settings,
            lambda store: store.create(args.role, args.agent, args.label, expires_at=expires_at),
        )
    )
    # stdout carries only the token (TOKEN=$(ccd token create ...)); the rest is for humans.
    print(token)
    agent = f", agent {args.agent}" if args.agent else ""
    lifetime = f", expires {_iso(expires_at)}" if expires_at else ", never expires"
    print(
        f"created token {token_id} (role {args.role}{agent}{lifetime}).\n"
        "warning: this is the only time the token is shown; store it now.",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_token_list(args: argparse.Namespace) -> int:
    from ccd.clock import SystemClock

    settings = _settings_with_logging(args, require_ami_secret=False)
    tokens = _run_async(lambda: _with_token_store(settings, lambda store: store.list()))
    now = SystemClock().now()
    rows = [
        {
            "id": info.token_id,
            "role": info.role.value,
            "agent": info.agent_id,
            "label": info.label,
            "status": info.status(now),
            "created_at": info.created_at.isoformat(timespec="seconds"),
            "expires_at": _iso(info.expires_at),
            "last_used_at": _iso(info.last_used_at),
            "last_used_from": info.last_used_from,
            "revoked_at": _iso(info.revoked_at),
        }
        for info in tokens
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no tokens (create one with `ccd token create --role admin`)")
        return EXIT_OK
    headers = ["ID", "ROLE", "AGENT", "LABEL", "CREATED", "EXPIRES", "LAST USED", "FROM", "STATUS"]
    table = [
        [
            str(row["id"]),
            str(row["role"]),
            row["agent"] or "-",
            row["label"] or "-",
            str(row["created_at"]),
            row["expires_at"] or "never",
            row["last_used_at"] or "never",
            row["last_used_from"] or "-",
            f"revoked {row['revoked_at']}" if row["revoked_at"] else str(row["status"]),
        ]
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [headers, *table]) for i in range(len(headers))]
    for cells in [headers, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)))
    return EXIT_OK


def _cmd_token_revoke(args: argparse.Namespace) -> int:
    settings = _settings_with_logging(args, require_ami_secret=False)
    revoked = _run_async(
        lambda: _with_token_store(settings, lambda store: store.revoke(args.token_id))
    )
    if revoked:
        print(f"revoked token {args.token_id}")
    else:
        print(f"token {args.token_id} was already revoked")
    return EXIT_OK


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat(timespec="seconds"))


def render_toml(data: dict[str, Any]) -> str:
    """Plain settings data (scalars and one level of tables) as TOML."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines = [_toml_pair(key, value) for key, value in scalars.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [_toml_pair(key, value) for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml_pair(key: str, value: Any) -> str:
    if value is None:
        return f"# {key} = (not set)"
    if isinstance(value, bool):
        return f"{key} = {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"{key} = {value!r}"
    if isinstance(value, list | tuple):  # e.g. cdr.inbound_contexts
        return f"{key} = [{', '.join(json.dumps(str(item)) for item in value)}]"
    # JSON string escapes are valid TOML basic-string escapes.
    return f"{key} = {json.dumps(str(value))}"
