"""ccd's configuration: ``config/ccd.toml`` < environment (``CCD_`` prefix, ``__`` nesting).

Secrets (the AMI secret, a database password) are only read from the environment, so the
TOML file can be world-readable and kept in version control. Every problem is reported as
one line naming where the value came from (file or environment variable), the key and the
reason; ``load_settings`` collects them all into one ``ConfigError``.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ccd.domain.client_address import parse_networks
from ccd.domain.safety import is_ami_safe
from ccd.domain.servers import DEFAULT_SERVER_NAME, SERVER_NAME_PATTERN
from ccd.errors import ConfigError
from ccd.monitor.devices import DEFAULT_PATTERNS as DEFAULT_DEVICE_PATTERNS
from ccd.monitor.devices import pattern_problem

DEFAULT_CONFIG_PATH = Path("config/ccd.toml")
CONFIG_PATH_ENV = "CCD_CONFIG"
ENV_PREFIX = "CCD_"
AMI_SECRET_ENV = "CCD_AMI__SECRET"  # noqa: S105 - a variable name, not a secret
DATABASE_URL_ENV = "CCD_DATABASE__URL"
MASK = "***"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["auto", "json", "console"]

# Drivers ccd ships with; a plain "postgresql://" or "sqlite://" URL gets the async driver.
_DRIVER_FOR_BACKEND = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_not_above(section: BaseModel, low: str, high: str) -> None:
    """Raise ``ValueError`` if the setting named ``low`` exceeds the one named ``high``."""
    low_value, high_value = getattr(section, low), getattr(section, high)
    if low_value > high_value:
        raise ValueError(f"{low} ({low_value}) must not exceed {high} ({high_value})")


def _check_ami_safe(value: str) -> str:
    if not is_ami_safe(value):
        raise ValueError("must not contain CR, LF or NUL characters")
    return value


class AmiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(default="ccd", min_length=1)
    # Required, but only from the environment (CCD_AMI__SECRET); load_settings enforces that.
    secret: SecretStr
    action_timeout_s: float = Field(default=10.0, gt=0)
    ping_interval_s: float = Field(default=5.0, gt=0)
    ping_timeout_s: float = Field(default=5.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    _safe_username = field_validator("username", "host")(_check_ami_safe)

    @model_validator(mode="after")
    def _backoff_bounds(self) -> AmiSettings:
        _check_not_above(self, "reconnect_min_s", "reconnect_max_s")
        return self


SERVER_SECRET_ENV_PREFIX = "CCD_ASTERISK_SECRET_"  # noqa: S105 - a variable name


def server_secret_env(name: str) -> str:
    """The environment variable holding the AMI secret of the ``[[asterisk]]`` server
    ``name`` (``CCD_ASTERISK_SECRET_`` + the name in upper case, ``-`` as ``_``)."""
    return SERVER_SECRET_ENV_PREFIX + name.upper().replace("-", "_")


class AsteriskServerSettings(_Section):
    """One Asterisk server of several (``[[asterisk]]``); the timeouts and backoff of
    ``[ami]`` apply to every server."""

    name: str = Field(pattern=SERVER_NAME_PATTERN)
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(default="ccd", min_length=1)
    # Only from the environment (server_secret_env(name), else CCD_AMI__SECRET).
    secret: SecretStr = SecretStr("")
    # Recording (ccd.recording.places): where ccd reads the files THIS Asterisk writes
    # (absolute). Unset: [recording] dir for the first server; no recording on the others
    # (a config error when [recording] is configured, see _server_recording_dirs).
    recording_dir: Path | None = None
    # Where this Asterisk writes them, as it sees them. Unset: [recording] asterisk_dir.
    recording_asterisk_dir: PurePosixPath | None = None
    # Live monitoring: the supervisors' devices on this server (patterns as [monitor]
    # devices). Unset: [monitor] devices. ChanSpy hears only its own server's channels.
    monitor_devices: tuple[str, ...] | None = Field(default=None, min_length=1)

    _safe_username = field_validator("username", "host")(_check_ami_safe)

    @field_validator("recording_dir")
    @classmethod
    def _absolute_recording_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_absolute():
            raise ValueError("must be an absolute path")
        return None if value is None else value.expanduser()

    @field_validator("recording_asterisk_dir")
    @classmethod
    def _absolute_asterisk_dir(cls, value: PurePosixPath | None) -> PurePosixPath | None:
        if value is None:
            return None
        if not value.is_absolute():
            raise ValueError("must be an absolute path (Asterisk's own view of it)")
        _check_ami_safe(str(value))
        return value

    @field_validator("monitor_devices")
    @classmethod
    def _monitor_device_patterns(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        problems = [p for p in map(pattern_problem, value or ()) if p is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return value


@dataclass(frozen=True, slots=True)
class AmiServer:
    """One configured Asterisk server, resolved: where and as whom to log in."""

    name: str
    host: str
    port: int
    username: str
    secret: SecretStr


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    # 0 lets the OS pick a free port (tests, several instances on one box).
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)


def normalize_database_url(raw: str) -> str:
    """Parse ``raw``, give a bare ``postgresql://``/``sqlite://`` URL its async driver, and
    reject backends ccd does not support. Raises ``ValueError`` with a readable reason."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError(
            "not a valid database URL (expected e.g. postgresql+asyncpg://user@host/db "
            "or sqlite+aiosqlite:///path/to/file.sqlite3)"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        backend = "postgresql"
    expected = _DRIVER_FOR_BACKEND.get(backend)
    if expected is None:
        raise ValueError(f"unsupported database {url.drivername!r} (use postgresql or sqlite)")
    if driver and driver != expected:
        raise ValueError(
            f"unsupported driver {url.drivername!r} (use {backend}+{expected}, ccd is async)"
        )
    return url.set(drivername=f"{backend}+{expected}").render_as_string(hide_password=False)


def mask_database_url(raw: str) -> str:
    """The URL with its password (if any) replaced by ``***``: safe to print and log."""
    try:
        url: URL = make_url(raw)
    except ArgumentError:
        return MASK
    return url.render_as_string(hide_password=True)


class DatabaseSettings(_Section):
    # None: the embedded SQLite database in ``data_dir`` (see Settings.database_url).
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else normalize_database_url(value)


class LogSettings(_Section):
    level: LogLevel = "INFO"
    # auto: pretty console output on a TTY, JSON lines otherwise.
    format: LogFormat = "auto"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class OriginateSettings(_Section):
    # Dialplan context the REST originate runs the answered call in (shipped in dialplan/).
    context: str = Field(default="ccd-originate", min_length=1)
    default_ring_timeout_s: int = Field(default=30, ge=1, le=600)
    max_ring_timeout_s: int = Field(default=120, ge=1, le=600)

    _safe_context = field_validator("context")(_check_ami_safe)

    @model_validator(mode="after")
    def _default_within_max(self) -> OriginateSettings:
        _check_not_above(self, "default_ring_timeout_s", "max_ring_timeout_s")
        return self


class MonitorSettings(_Section):
    # How long a supervisor's device rings for a live-monitoring session before it ends
    # unanswered (ccd.monitor).
    ring_timeout_s: int = Field(default=30, ge=5, le=300)
    # fnmatch-style patterns (case-sensitive) a supervisor's device must match
    # (ccd.monitor.devices): a device with "@" or a second "/" only by a pattern with "@".
    devices: tuple[str, ...] = Field(default=DEFAULT_DEVICE_PATTERNS, min_length=1)

    @field_validator("devices")
    @classmethod
    def _device_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems = [p for p in map(pattern_problem, value) if p is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return value


class CdrSettings(_Section):
    # Unset: <data_dir>/spool/cdr (see Settings.cdr_spool_dir).
    spool_dir: Path | None = None
    batch_size: int = Field(default=500, ge=1, le=10_000)
    flush_interval_s: float = Field(default=0.05, gt=0, le=5)
    retry_max_s: float = Field(default=10.0, gt=0, le=300)
    segment_max_records: int = Field(default=2000, ge=1, le=1_000_000)
    # Direction rules (ccd.cdr.direction.DirectionRules).
    inbound_contexts: tuple[str, ...] = ("from-trunk", "from-pstn", "ccd-inbound")
    outbound_contexts: tuple[str, ...] = ("ccd-originate",)
    trunk_prefixes: tuple[str, ...] = ()

    @field_validator("spool_dir")
    @classmethod
    def _absolute_spool(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().absolute()

    @field_validator("inbound_contexts", "outbound_contexts", "trunk_prefixes")
    @classmethod
    def _no_blank_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not name.strip() for name in value):
            raise ValueError("names must not be empty")
        return value


class AgiSettings(_Section):
    # FastAGI server the dialplan's ccd-ivr context connects to (CCD_AGI_HOST/PORT globals).
    host: str = "127.0.0.1"
    # 0 lets the OS pick a free port (tests; the dialplan must then be told the port).
    port: int = Field(default=4573, ge=0, le=65535)
    header_timeout_s: float = Field(default=5.0, gt=0, le=60)
    command_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_sessions: int = Field(default=5000, ge=1, le=100_000)


class IvrSettings(_Section):
    # Directory of IVR flow files (*.toml). Relative paths: see Settings.data_dir.
    flows_dir: Path = Field(default=Path("config/ivr"), validate_default=True)
    # Upper bound on any lookup node's HTTP call, whatever the flow asks for.
    lookup_timeout_cap_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("flows_dir")
    @classmethod
    def _absolute_flows(cls, value: Path) -> Path:
        return value.expanduser().absolute()


class DialerSettings(_Section):
    # The compliance report's days and the pacing's "today" start at midnight here (an
    # IANA name; the seller's own zone is the natural choice).
    report_zone: str = "UTC"
    # An outbound call's wrap-up lasts until the agent's disposition, at most this long.
    max_wrapup_s: float = Field(default=120.0, ge=0, le=3600)

    @field_validator("report_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Paris)"
            ) from None
        return value


class RecordingSettings(_Section):
    # Where Asterisk writes recordings, as Asterisk sees it (absolute; inside its chroot
    # when it runs in one). ccd names every file itself: <recording id>.wav.
    asterisk_dir: PurePosixPath = PurePosixPath("/var/spool/asterisk/monitor/ccd")
    # The same directory as ccd reads it (playback, size, retention). Unset: asterisk_dir
    # (ccd and Asterisk on one file system, no chroot). Relative: see Settings.data_dir.
    dir: Path | None = None
    # Recordings older than this many days are deleted (file removed, row kept, marked).
    retention_days: int = Field(default=90, ge=1, le=36_500)
    # How often the retention sweep runs.
    retention_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    # Integrators (CRM, helpdesk) may play recordings only when this is true.
    integrators_may_play: bool = False

    @field_validator("asterisk_dir")
    @classmethod
    def _absolute_for_asterisk(cls, value: PurePosixPath) -> PurePosixPath:
        if not value.is_absolute():
            raise ValueError("must be an absolute path (Asterisk's own view of it)")
        _check_ami_safe(str(value))
        return value

    @field_validator("dir")
    @classmethod
    def _absolute_dir(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().absolute()

    @property
    def local_dir(self) -> Path:
        """Where ccd reads recordings: ``dir``, else ``asterisk_dir``."""
        return self.dir if self.dir is not None else Path(self.asterisk_dir)


class ReportSettings(_Section):
    # The zone whose wall clock draws report intervals and days (an IANA name); a report's
    # ``zone`` parameter overrides it.
    zone: str = "UTC"
    # An abandon before this many seconds of waiting is a short abandon: counted apart,
    # left out of service level and abandonment rate.
    short_abandon_s: float = Field(default=5.0, ge=0, le=600)
    # First-contact resolution: a repeat call from the same number to the same queue (or
    # campaign) within this many hours means the first was not resolved.
    fcr_window_h: float = Field(default=72.0, ge=0, le=24 * 90)
    # Agent dispositions (dialer) that mean "not resolved".
    unresolved_dispositions: tuple[str, ...] = ("call-back",)

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return DialerSettings._known_zone(value)


@dataclass(frozen=True)
class _LoadInputs:
    file_data: dict[str, Any]
    environ: Mapping[str, str]


# load_settings hands the parsed file and the environment to the sources through this, so
# ``Settings()`` itself keeps pydantic-settings' normal constructor.
_inputs: ContextVar[_LoadInputs | None] = ContextVar("ccd_settings_inputs", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ
    (tests pass their own environment; no process-global state)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class _FileDataSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class WallboardSettings(_Section):
    # The service-level target the wallboard compares each queue's SL today with: the
    # "80" of "80 % answered within the queue's service_level_s"; per queue id overrides.
    service_level_target_pct: float = Field(default=80.0, ge=0, le=100)
    queue_targets_pct: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=dict
    )


class SurveySettings(_Section):
    # Post-call survey answers not yet in the database (an outage) kept in memory; past
    # this the oldest are dropped (and logged).
    max_pending: int = Field(default=10_000, ge=1, le=1_000_000)
    # Retry delays while the database refuses the answers (backoff with jitter).
    retry_min_s: float = Field(default=0.5, gt=0, le=60)
    retry_max_s: float = Field(default=10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _ordered(self) -> SurveySettings:
        if self.retry_min_s > self.retry_max_s:
            raise ValueError("retry_min_s must not exceed retry_max_s")
        return self


class WebhookSettings(_Section):
    # Targets in loopback, link-local, private or other non-global ranges are refused
    # (SSRF) unless this is true — at subscription time and at every delivery.
    allow_private_targets: bool = False
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # The whole attempt (connect, send, answer) must finish within this.
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # At most this much of a receiver's answer is read (the rest is cut off).
    max_response_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Deliveries in flight to one subscription at most (a slow receiver holds only these).
    per_subscription_concurrency: int = Field(default=4, ge=1, le=64)
    # Retries: exponential backoff with full jitter between attempts, dead letter after
    # give_up_after_h hours.
    retry_min_s: float = Field(default=5.0, gt=0, le=3600)
    retry_max_s: float = Field(default=3600.0, gt=0, le=86_400)
    give_up_after_h: float = Field(default=24.0, gt=0, le=24 * 14)
    # How often the outbox is read when nothing woke the worker (rows written by another
    # process's transaction, retries due).
    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    # Delivery log lines carry the payload body only when this is true.
    log_bodies: bool = False
    # Delivered rows are forgotten after this many days (dead ones stay until replayed or
    # their subscription is deleted); the statistics count what is kept.
    keep_delivered_days: float = Field(default=7.0, gt=0, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> WebhookSettings:
        if self.retry_min_s > self.retry_max_s:
            raise ValueError("retry_min_s must not exceed retry_max_s")
        return self


class ApiSettings(_Section):
    # Failed authentication per source address: after auth_fail_limit failures within
    # auth_fail_window_s of the first, the address gets 429 (with Retry-After) for the
    # rest of that window, whatever token it sends.
    auth_fail_limit: int = Field(default=10, ge=1, le=10_000)
    auth_fail_window_s: float = Field(default=60.0, gt=0, le=86_400)
    # Addresses remembered at most (the least recently failing one is forgotten first).
    auth_fail_max_addresses: int = Field(default=10_000, ge=1, le=1_000_000)
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed;
    # empty: the peer address is the client (behind a proxy, every client shares it).
    trusted_proxies: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_networks(value)
        return value


class ForecastSettings(_Section):
    # Defaults of a staffing forecast's parameters (GET /api/v1/forecast, `ccd forecast`);
    # its days and intervals are drawn in [reports] zone.
    interval_minutes: Literal[15, 30, 60] = 30
    weeks: int = Field(default=6, ge=1, le=52)
    sl_target_pct: float = Field(default=80.0, gt=0, lt=100)
    sl_seconds: float = Field(default=20.0, gt=0, le=3600)
    max_occupancy_pct: float = Field(default=85.0, ge=10, le=100)  # as the API's (>= 10)
    shrinkage_pct: float = Field(default=0.0, ge=0, le=90)


class HaSettings(_Section):
    # High availability (ccd.ha): several instances against one Asterisk and one
    # PostgreSQL, exactly one active. Off: this instance is always active (one instance).
    enabled: bool = False
    # This instance's name in the leadership row, logs and the standby's leader hint.
    instance: str = Field(default_factory=socket.gethostname, min_length=1, max_length=200)
    # The active instance's lease: renewed every renew_interval_s; not renewed for lease_s
    # it stops acting and exits; a standby takes over once the lease has run out.
    lease_s: float = Field(default=5.0, ge=1, le=300)
    renew_interval_s: float = Field(default=1.0, ge=0.1, le=60)
    # The URL clients reach this instance's API at; a standby names the active one's in its
    # 503 answers to writes (Location, and "leader" in the body).
    api_url: str | None = Field(default=None, max_length=500)

    @field_validator("instance")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip():
            raise ValueError("must be printable text without surrounding spaces")
        return value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.startswith(("http://", "https://")) or not value.isprintable()
        ):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _lease_covers_renewals(self) -> HaSettings:
        if self.lease_s < 2 * self.renew_interval_s:
            raise ValueError(
                f"lease_s ({self.lease_s:g}) must be at least twice renew_interval_s "
                f"({self.renew_interval_s:g})"
            )
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
    )

    ami: AmiSettings
    # Several Asterisk servers ([[asterisk]] tables); empty: the one server of [ami].
    asterisk: tuple[AsteriskServerSettings, ...] = ()
    http: HttpSettings = Field(default_factory=HttpSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    originate: OriginateSettings = Field(default_factory=OriginateSettings)
    cdr: CdrSettings = Field(default_factory=CdrSettings)
    agi: AgiSettings = Field(default_factory=AgiSettings)
    ivr: IvrSettings = Field(default_factory=IvrSettings)
    dialer: DialerSettings = Field(default_factory=DialerSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    wallboard: WallboardSettings = Field(default_factory=WallboardSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    ha: HaSettings = Field(default_factory=HaSettings)
    # Relative paths (this and every other path key) are taken from the directory of the
    # config file that names them; from the environment or as defaults, from the working
    # directory at load time. Then made absolute so a later chdir cannot move the database.
    data_dir: Path = Path("var")

    _sources: tuple[str, ...] = PrivateAttr(default=())
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("asterisk")
    @classmethod
    def _unique_server_names(
        cls, value: tuple[AsteriskServerSettings, ...]
    ) -> tuple[AsteriskServerSettings, ...]:
        names = [server.name for server in value]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError("server names must be unique; repeated: " + ", ".join(duplicated))
        return value

    @property
    def servers(self) -> tuple[AmiServer, ...]:
        """Every Asterisk server ccd connects to, the first being the default one."""
        if not self.asterisk:
            ami = self.ami
            return (AmiServer(DEFAULT_SERVER_NAME, ami.host, ami.port, ami.username, ami.secret),)
        return tuple(
            AmiServer(server.name, server.host, server.port, server.username, server.secret)
            for server in self.asterisk
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        inputs = _inputs.get()
        if inputs is None:
            return (init_settings, env_settings)
        # Earlier sources win: init kwargs > environment > file.
        return (
            init_settings,
            _MappingEnvSource(settings_cls, inputs.environ),
            _FileDataSource(settings_cls, inputs.file_data),
        )

    @property
    def database_url(self) -> str:
        """The database to use: ``database.url``, or the embedded SQLite file in data_dir."""
        if self.database.url is not None:
            return self.database.url
        return f"sqlite+aiosqlite:///{self.data_dir / 'ccd.sqlite3'}"

    @property
    def cdr_spool_dir(self) -> Path:
        """Where finished CDRs wait for the database: ``cdr.spool_dir`` or data_dir/spool/cdr."""
        if self.cdr.spool_dir is not None:
            return self.cdr.spool_dir
        return self.data_dir / "spool" / "cdr"

    @property
    def sources(self) -> tuple[str, ...]:
        """Where the values came from, for humans: the file read and the CCD_ variables."""
        return self._sources

    def origin(self, key: str) -> str | None:
        """Where the dotted ``key`` (e.g. ``ivr.flows_dir``) was set, in the words of
        problem messages (the file name, or ``environment CCD_...``); None for a default."""
        return self._origins.get(key)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration as plain data with every secret masked."""
        data: dict[str, Any] = self.model_dump(mode="json")
        secret = self.ami.secret.get_secret_value()
        data["ami"]["secret"] = MASK if secret else "(not set)"
        for server, shown in zip(self.asterisk, data["asterisk"], strict=True):
            shown["secret"] = MASK if server.secret.get_secret_value() else "(not set)"
        data["database"]["url"] = mask_database_url(self.database_url)
        return data


# ---------------------------------------------------------------------------------- loading


def resolve_config_path(
    config_path: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (a named file must exist)."""
    if config_path is not None:
        return Path(config_path), True
    from_env = _lookup(environ, CONFIG_PATH_ENV)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    require_ami_secret: bool = True,
) -> Settings:
    """Read the config file (``config_path``, else $CCD_CONFIG, else ``config/ccd.toml`` if it
    exists) and the environment. Raises ``ConfigError`` listing every problem.

    ``require_ami_secret=False`` is for commands that never talk to Asterisk (database and
    token management, print-config): the secret then defaults to empty."""
    env = os.environ if environ is None else environ
    path, explicit = resolve_config_path(config_path, env)
    text: str | None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError([f"{path}: config file not found"]) from None
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc}"]) from None
    return parse_settings(
        text, source=str(path), environ=env, require_ami_secret=require_ami_secret
    )


def parse_settings(
    toml_text: str | None,
    *,
    source: str,
    environ: Mapping[str, str],
    require_ami_secret: bool = True,
) -> Settings:
    """Build Settings from TOML text (None: no file) and an environment mapping. Pure: the
    file name ``source`` is used in messages, and its directory is where relative paths in
    the file are taken from."""
    file_data: dict[str, Any] = {}
    if toml_text is not None:
        try:
            file_data = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{source}: invalid TOML: {exc}"]) from None

    problems = _secrets_in_file(file_data, source)
    _resolve_paths_in_file(file_data, Path(source).parent)
    origins = _origins(file_data, source, environ)  # before the placeholder secret below
    problems += _misspelled_env_vars(environ)

    secret = _lookup(environ, AMI_SECRET_ENV)
    servers = file_data.get("asterisk")
    if isinstance(servers, list) and servers:
        problems += _server_secrets(servers, source, secret, environ, require_ami_secret)
    elif not secret and require_ami_secret:
        problems.append(
            f"environment {AMI_SECRET_ENV}: "
            + ("missing" if secret is None else "empty")
            + " — set it in the environment (the AMI secret is never read from the file)"
        )
    # A placeholder keeps validation going so every other problem is reported in one run.
    ami_section = file_data.get("ami")
    if isinstance(ami_section, dict) and "secret" not in ami_section:
        ami_section["secret"] = ""
    elif "ami" not in file_data:
        file_data["ami"] = {"secret": ""}

    token = _inputs.set(_LoadInputs(file_data=file_data, environ=environ))
    try:
        settings = Settings()  # type: ignore[call-arg]  # "ami" comes from the sources
    except ValidationError as exc:
        problems += [_describe(error, source, environ) for error in exc.errors()]
        raise ConfigError(problems) from None
    finally:
        _inputs.reset(token)
    problems += _server_recording_dirs(settings, source, origins)
    if problems:
        raise ConfigError(problems)

    used_env = sorted(
        name.upper()
        for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() != CONFIG_PATH_ENV
    )
    sources = [source] if toml_text is not None else [f"defaults (no {source})"]
    if used_env:
        sources.append("environment (" + ", ".join(used_env) + ")")
    settings._sources = tuple(sources)
    settings._origins = origins
    return settings


def _server_secrets(
    servers: list[Any],
    source: str,
    shared_secret: str | None,
    environ: Mapping[str, str],
    required: bool,
) -> list[str]:
    """Put each ``[[asterisk]]`` server's secret from the environment into its table;
    the problems of those missing."""
    problems = []
    for server in servers:
        if not isinstance(server, dict) or not isinstance(server.get("name"), str):
            continue  # validation names what is wrong with it
        own = server_secret_env(server["name"])
        if "secret" in server:
            problems.append(
                f"{source}: asterisk.{server['name']}.secret: secrets are not read from the "
                f"file — set {own} in the environment instead"
            )
            continue
        value = _lookup(environ, own) or shared_secret
        server["secret"] = value or ""
        if not value and required:
            problems.append(
                f"environment {own}: missing — set it (or {AMI_SECRET_ENV}, shared by every "
                f"server) in the environment (AMI secrets are never read from the file)"
            )
    return problems


def _server_recording_dirs(
    settings: Settings, source: str, origins: Mapping[str, str]
) -> list[str]:
    """Each Asterisk writes its recordings on its own file system: once ``[recording]``
    says where (file or environment), every server after the first must say where ccd
    reads that server's files — the first server's directory would hold none of them."""
    if origins.get("recording.asterisk_dir") is None and origins.get("recording.dir") is None:
        return []
    return [
        f"{source}: asterisk.{server.name}.recording_dir: required when [recording] is "
        "configured — where ccd reads the recordings this Asterisk server writes (absolute)"
        for server in settings.asterisk[1:]
        if server.recording_dir is None
    ]


def _leaf_fields(model: type[BaseModel] = Settings) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf key of the settings as a path of names, ("ivr", "flows_dir"), with its
    type annotation."""
    leaves: list[tuple[tuple[str, ...], Any]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves += [((name, *key), inner) for key, inner in _leaf_fields(annotation)]
        else:
            leaves.append(((name,), annotation))
    return leaves


_SETTING_KEYS = tuple(key for key, _ in _leaf_fields())
_PATH_KEYS = tuple(
    key for key, annotation in _leaf_fields() if annotation is Path or Path in get_args(annotation)
)


def _resolve_paths_in_file(file_data: dict[str, Any], base_dir: Path) -> None:
    """Make every relative path key of the file relative to ``base_dir`` (the file's own
    directory), so ``--config /etc/ccd/ccd.toml`` means the same from any directory.
    Values of the wrong type are left for validation to report."""
    for key in _PATH_KEYS:
        table: Any = file_data
        for name in key[:-1]:
            table = table.get(name) if isinstance(table, dict) else None
        value = table.get(key[-1]) if isinstance(table, dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            # normpath: "../var" next to config/ shows as <repo>/var in messages and logs.
            table[key[-1]] = os.path.normpath(base_dir / value)


def _origins(
    file_data: Mapping[str, Any], source: str, environ: Mapping[str, str]
) -> dict[str, str]:
    origins: dict[str, str] = {}
    for key in _SETTING_KEYS:
        env_name = _env_var_for(key, environ)
        if env_name is not None:
            origins[".".join(key)] = f"environment {env_name}"
            continue
        table: Any = file_data
        for name in key:
            table = table.get(name) if isinstance(table, dict) else None
        if table is not None:
            origins[".".join(key)] = source
    return origins


def _lookup(environ: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive, like pydantic-settings' own matching."""
    if name in environ:
        return environ[name]
    for key, value in environ.items():
        if key.upper() == name:
            return value
    return None


_SECRET_KEYS = frozenset({"secret", "password", "passwd"})


def _secrets_in_file(data: Mapping[str, Any], source: str, prefix: str = "") -> list[str]:
    problems: list[str] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        env_name = ENV_PREFIX + dotted.upper().replace(".", "__")
        if isinstance(value, dict):
            problems += _secrets_in_file(value, source, f"{dotted}.")
        elif key.lower() in _SECRET_KEYS:
            problems.append(
                f"{source}: {dotted}: secrets are not read from the file — "
                f"set {env_name} in the environment instead"
            )
        elif dotted == "database.url" and isinstance(value, str) and _has_password(value):
            problems.append(
                f"{source}: database.url: contains a password — set {DATABASE_URL_ENV} "
                "in the environment instead"
            )
    return problems


def _has_password(raw: str) -> bool:
    try:
        return make_url(raw).password is not None
    except ArgumentError:
        return False  # reported by validation


def _misspelled_env_vars(environ: Mapping[str, str]) -> list[str]:
    """``CCD_AMI_HOST`` (one underscore) is silently ignored by pydantic-settings; name it."""
    sections = [
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    ]
    problems = []
    for raw_name in environ:
        name = raw_name.upper()
        for section in sections:
            single = f"{ENV_PREFIX}{section.upper()}_"
            if name.startswith(single) and not name.startswith(single + "_"):
                suggestion = single + "_" + name[len(single) :]
                problems.append(
                    f"environment {raw_name}: not a ccd setting — nested keys use a double "
                    f"underscore: {suggestion}"
                )
    return sorted(problems)


def _env_var_for(loc: tuple[int | str, ...], environ: Mapping[str, str]) -> str | None:
    """The CCD_ variable that supplied the value at ``loc``, if the environment did."""
    names = {key.upper(): key for key in environ}
    parts = [str(part).upper() for part in loc]
    for end in range(len(parts), 0, -1):
        candidate = ENV_PREFIX + "__".join(parts[:end])
        if candidate in names:
            return names[candidate]
    return None


def _is_secret_loc(loc: tuple[int | str, ...]) -> bool:
    keys = [str(part).lower() for part in loc]
    return bool(keys) and (keys[-1] in _SECRET_KEYS or keys[-2:] == ["database", "url"])


def _describe(error: Any, source: str, environ: Mapping[str, str]) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    dotted = ".".join(str(part) for part in loc) or "(top level)"
    env_name = _env_var_for(loc, environ)
    where = f"environment {env_name}" if env_name else source
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: {dotted}: unknown key{_known_keys(loc)}"
    if kind == "missing":
        return f"{where}: {dotted}: missing"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    # A table or a list of tables (``[[asterisk]]``) may hold secrets: never echoed.
    if _is_secret_loc(loc) or kind == "model_type" or isinstance(error.get("input"), dict | list):
        return f"{where}: {dotted}: {message}"
    shown = repr(error.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{where}: {dotted}: {message} (got {shown})"


def _known_keys(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    return " (known keys: " + ", ".join(model.model_fields) + ")"
