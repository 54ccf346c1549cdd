"""The agent's TOML config, validated by pydantic, with errors that name the key.

Every section has embedded defaults, so `edgeagent demo` runs with no file
at all. A bad file never shows a traceback: `ConfigError` names the file,
the dotted key path (`drivers[2].pin`) and the reason.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from edgeagent import config_path
from edgeagent.config_roles import extra_roles, role_errors
from edgeagent.driver import Driver, DriverOptions, load_driver_class
from edgeagent.errors import ConfigError, UnknownDriverType, UnknownOutputType
from edgeagent.heuristics.settings import HeuristicsSettings
from edgeagent.i18n import N_, _
from edgeagent.names import canonical_role, canonical_room
from edgeagent.output import OutputOptions, load_output_class

# Beyond these no key means anything, and times this far out overflow datetime arithmetic
# (`retention_hours = 1e308` passed validation, then crashed `run`). Keys named for a unit
# get the ceiling of ten years in it; every other number the generic one.
MAX_MAGNITUDE = 1e12
_TEN_YEARS_IN = {"_hours": 87_600, "_days": 3_650, "minutes": 5_256_000, "_minutes": 5_256_000,
                 "_seconds": 315_360_000, "_s": 315_360_000, "_ms": 315_360_000_000}
MAX_DRIVERS = 1_000

# One config chain for every command (config_path.py loads without pydantic: fast commands).
ENV_CONFIG = config_path.ENV_CONFIG
DEFAULT_CONFIG_PATH = config_path.DEFAULT_CONFIG_PATH
resolve_config_path = config_path.resolve_config_path


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA zone name, checked against the zone database (for any options model)."""


# "22:00-07:00": when the check-in reminder keeps quiet (may wrap midnight; "" = never).
QUIET_HOURS = r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$"


class HomeConfig(_Section):
    id: str = Field(default="demo-001", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    timezone: TimeZoneName = "Asia/Shanghai"
    # The installer's own room names -> canonical rooms (`"主卧" = "bedroom"`); Chinese and
    # English names such as 卫生间, 厕所, 卧室, 厨房, 客厅, 玄关 and any case are built in.
    room_aliases: dict[str, str] = Field(default_factory=dict, max_length=200)
    # What the kit says to the resident ([[outputs]]): her language, how loud, and when the
    # daily check-in reminder keeps quiet (alarm-related announcements never do).
    language: Literal["zh_CN", "en"] = "en"
    volume: int = Field(default=80, ge=0, le=100)
    quiet_hours: str = Field(default="", pattern=QUIET_HOURS)


class MqttConfig(_Section):
    urls: list[str] = Field(default_factory=lambda: ["mqtt://127.0.0.1:1883"], min_length=1)
    # No wildcards, and no C0 controls or DEL: a NUL in a topic level truncates or splits it.
    topic_prefix: str = Field(default="care", pattern=r"^[^#+\x00-\x1f\x7f]+$")
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive: int = Field(default=30, ge=5, le=3600)
    client_id: str | None = None
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure_skip_verify: bool = False
    session_expiry: int = Field(default=7 * 24 * 3600, ge=0, le=0xFFFFFFFF)  # MQTT 5 limit
    max_inflight: int = Field(default=64, ge=1, le=65535)
    backoff_initial: float = Field(default=1.0, gt=0, le=3600)
    backoff_max: float = Field(default=120.0, gt=0, le=86_400)
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    # The retained status is refreshed this often (and on every connect); the Last Will
    # already reports a silent death, and at 60 s a city's status writes would outnumber
    # its events (docs/scale.md).
    status_interval: int = Field(default=600, ge=10, le=86_400)

    @field_validator("urls")
    @classmethod
    def _valid_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parsed = urlparse(url)
            if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
                raise ValueError(f"{url!r}: scheme must be mqtt:// or mqtts://")
            if not parsed.hostname:
                raise ValueError(f"{url!r}: no host")
        return urls


class OutboxConfig(_Section):
    path: Path = Path("/var/lib/edgeagent/outbox.db")
    max_bytes: int = Field(default=200_000_000, ge=1_000_000, le=10**12)
    retention_hours: float = Field(default=72.0, ge=0, le=87_600)
    send_raw_states: bool = True

    @field_validator("path")
    @classmethod
    def _not_a_symlink(cls, path: Path) -> Path:
        # SQLite follows links: a link to another database would get our tables written
        # into it. A link to the state directory's parent is fine; the file itself is not.
        for candidate in (path, *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal"))):
            if candidate.is_symlink():
                raise ValueError(f"{candidate} is a symbolic link; give the real path "
                                 "of a file the agent owns")
        return path


class ControlConfig(_Section):
    socket: Path = Path("/run/edgeagent/control.sock")


# A topic prefix: no wildcards, no control characters, no leading or trailing slash.
_TOPIC_PREFIX = r"^[^#+/\x00-\x1f]([^#+\x00-\x1f]*[^#+/\x00-\x1f])?$"


class CommandsConfig(_Section):
    enabled: bool = True
    allow_changes: bool = False
    # `doctor` and `bundle` disclose the config and logs: remote use must be opted into.
    allow_diagnostics: bool = False
    rate_per_minute: int = Field(default=10, ge=1, le=10_000)
    # MQTT 5 response topics under this prefix are honoured (besides `.../cmd/<name>/reply`).
    reply_prefix: str | None = Field(default=None, max_length=200, pattern=_TOPIC_PREFIX)
    # `cmd/config-set` may change [home], [mqtt], [outbox], [control], [commands], [updates].
    allow_remote_core: bool = False


class UpdatesConfig(_Section):
    """Remote updates (`cmd/update`, docs/updates.md): off until hosts are listed."""

    # Bundles are downloaded only from these host names (exact match, http or https).
    allowed_hosts: list[str] = Field(default_factory=list, max_length=32)
    max_bytes: int = Field(default=300_000_000, ge=1_000_000, le=10**10)
    # The trusted release keys (root-owned; installed by `edgeagent install`).
    keys_dir: Path = Path("/etc/edgeagent/update-keys")
    # How long a new release has to become healthy before the updater rolls it back.
    update_health_s: float = Field(default=120.0, ge=10, le=3600)
    # No update while a critical alert is open or was raised this recently.
    quiet_after_critical_s: float = Field(default=600.0, ge=0, le=86_400)


class AgentConfig(_Section):
    """The whole file. `drivers` holds each driver's own validated options."""

    home: HomeConfig = Field(default_factory=HomeConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    commands: CommandsConfig = Field(default_factory=CommandsConfig)
    updates: UpdatesConfig = Field(default_factory=UpdatesConfig)
    heuristics: HeuristicsSettings = Field(default_factory=HeuristicsSettings)
    drivers: list[DriverOptions] = Field(default_factory=list)
    outputs: list[OutputOptions] = Field(default_factory=list)
    source: str = Field(default="<defaults>", exclude=True)


def _key_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _first_error(exc: ValidationError, source: str, prefix: str = "") -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = _key_path(loc, prefix)
    reason = _validation_reason(err["type"], err["msg"], err.get("ctx") or {})
    if err["type"] not in ("extra_forbidden", "missing", "value_error") and "input" in err:
        reason = _("{reason} (got {value})").format(reason=reason, value=repr(err["input"]))
    more = len(exc.errors()) - 1
    if more:
        reason += " " + (_("(and 1 more error)") if more == 1 else
                         _("(and {count} more errors)").format(count=more))
    return ConfigError(source, key, reason)


# pydantic's common error types in the technician's language; any other keeps
# pydantic's own (English) message.
_VALIDATION_REASONS = {
    "extra_forbidden": N_("unknown key (typo? see the configuration reference in README.md)"),
    "missing": N_("required key is missing"),
    "int_type": N_("must be an integer"),
    "int_parsing": N_("must be an integer"),
    "int_from_float": N_("must be an integer"),
    "float_type": N_("must be a number"),
    "float_parsing": N_("must be a number"),
    "bool_type": N_("must be true or false"),
    "bool_parsing": N_("must be true or false"),
    "string_type": N_("must be a string"),
    "list_type": N_("must be a list"),
    "dict_type": N_("must be a table"),
    "model_type": N_("must be a table"),
    "greater_than": N_("must be greater than {gt}"),
    "greater_than_equal": N_("must be at least {ge}"),
    "less_than": N_("must be less than {lt}"),
    "less_than_equal": N_("must be at most {le}"),
    "literal_error": N_("must be one of {expected}"),
    "enum": N_("must be one of {expected}"),
    "string_too_short": N_("must have at least {min_length} characters"),
    "string_too_long": N_("must have at most {max_length} characters"),
    "too_short": N_("must have at least {min_length} items"),
    "too_long": N_("must have at most {max_length} items"),
}


def _validation_reason(kind: str, english: str, ctx: dict[str, Any]) -> str:
    """pydantic's message for one error, translated when its type is a common one."""
    template = _VALIDATION_REASONS.get(kind)
    if template is None:
        return english
    if kind in ("literal_error", "enum") and isinstance(ctx.get("expected"), str):
        ctx = {**ctx, "expected": ctx["expected"].replace(" or ", ", ")}  # 'a', 'b' or 'c'
    try:
        return _(template).format(**ctx)
    except (KeyError, IndexError, ValueError):
        return english


def _number_problem(key: str, value: float) -> str | None:
    """Why a number in the file is refused, or None: not finite, or beyond any sane range."""
    if isinstance(value, float) and not math.isfinite(value):
        return _("must be a finite number (got {value})").format(value=value)
    leaf = re.sub(r"\[\d+\]", "", key).rpartition(".")[2]
    ceiling = next((limit for suffix, limit in _TEN_YEARS_IN.items()
                    if leaf == suffix or leaf.endswith(suffix)), MAX_MAGNITUDE)
    if abs(value) > ceiling:
        shown = (f"{value:.6g}" if isinstance(value, float) or abs(value) < 10**15
                 else f"an integer of {len(str(abs(value)))} digits")
        return _("out of range: at most {ceiling:g} in magnitude (got {value})").format(
            ceiling=ceiling, value=shown)
    return None


def _check_numbers(data: dict[str, Any], source: str) -> None:
    """Every number anywhere in the document, drivers included, within a sane range."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # iterative: a deeply nested value must not exhaust the Python stack
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            problem = _number_problem(key, value)
            if problem:
                raise ConfigError(source, key, problem)


def _validate_drivers(raw: list[Any], source: str) -> list[DriverOptions]:
    if len(raw) > MAX_DRIVERS:
        raise ConfigError(source, "drivers", _(
            "{count} drivers configured; at most {limit} (one kit, one home)").format(
                count=len(raw), limit=MAX_DRIVERS))
    drivers: list[DriverOptions] = []
    names: dict[str, int] = {}
    pins: dict[int, str] = {}
    # Looking a type up scans every installed package's entry points (~1.5 ms): once per
    # type, not once per driver (20 000 drivers took 92 s to check).
    classes: dict[str, type[Driver]] = {}
    for index, table in enumerate(raw):
        where = f"drivers[{index}]"
        type_name = _table_type(table, source, where, _("must be a [[drivers]] table"))
        try:
            cls = classes.get(type_name) or load_driver_class(type_name)
        except UnknownDriverType as exc:
            raise ConfigError(source, f"{where}.type", str(exc)) from None
        classes[type_name] = cls
        try:
            options = cls.Options.model_validate(table)
        except ValidationError as exc:
            raise _first_error(exc, source, where) from None
        if options.name in names:
            raise ConfigError(
                source, f"{where}.name",
                _("driver name {name!r} already used by drivers[{index}]").format(
                    name=options.name, index=names[options.name]),
            )
        names[options.name] = index
        _claim_pins(options, pins, source, where)
        drivers.append(options)
    return drivers


def _table_type(table: Any, source: str, where: str, not_a_table: str) -> str:
    """The `type` of one `[[drivers]]` or `[[outputs]]` entry, which must be a table."""
    if not isinstance(table, dict):
        raise ConfigError(source, where, not_a_table)
    type_name = table.get("type")
    if not isinstance(type_name, str):
        raise ConfigError(source, f"{where}.type", _("required key is missing"))
    return type_name


def _claim_pins(options: DriverOptions | OutputOptions, pins: dict[int, str],
                source: str, where: str) -> None:
    """Record the GPIO pins `options` uses in `pins`; a pin already there is an error."""
    for pin in options.claimed_pins():
        if pin in pins:
            raise ConfigError(
                source, f"{where}.pin",
                _("GPIO pin {pin} is used by both {first!r} and {second!r}").format(
                    pin=pin, first=pins[pin], second=options.name),
            )
        pins[pin] = options.name


def _validate_outputs(raw: list[Any], drivers: list[DriverOptions],
                      source: str) -> list[OutputOptions]:
    """`[[outputs]]` tables, each by its own Options model; names unique, pins unshared."""
    outputs: list[OutputOptions] = []
    names: dict[str, int] = {}
    pins = {pin: d.name for d in drivers for pin in d.claimed_pins()}
    for index, table in enumerate(raw):
        where = f"outputs[{index}]"
        type_name = _table_type(table, source, where, _("must be an [[outputs]] table"))
        try:
            cls = load_output_class(type_name)
        except UnknownOutputType as exc:
            raise ConfigError(source, f"{where}.type", str(exc)) from None
        try:
            options = cls.Options.model_validate(table)
        except ValidationError as exc:
            raise _first_error(exc, source, where) from None
        if options.name in names:
            raise ConfigError(source, f"{where}.name", _(
                "output name {name!r} already used by outputs[{index}]").format(
                    name=options.name, index=names[options.name]))
        names[options.name] = index
        _claim_pins(options, pins, source, where)
        outputs.append(options)
    return outputs


def parse_config(data: dict[str, Any], source: str = "<memory>") -> AgentConfig:
    """Validate a parsed TOML document; drivers are validated by their own Options models."""
    raw_drivers = data.get("drivers", [])
    if not isinstance(raw_drivers, list):
        raise ConfigError(source, "drivers", _("must be an array of [[drivers]] tables"))
    _check_numbers(data, source)
    raw_outputs = data.get("outputs", [])
    if not isinstance(raw_outputs, list):
        raise ConfigError(source, "outputs", _("must be an array of [[outputs]] tables"))
    rest = {k: v for k, v in data.items() if k not in ("drivers", "outputs")}
    try:
        config = AgentConfig.model_validate(rest)
    except ValidationError as exc:
        raise _first_error(exc, source) from None
    config.drivers = _validate_drivers(raw_drivers, source)
    config.outputs = _validate_outputs(raw_outputs, config.drivers, source)
    config.source = source
    _canonical_heuristics_names(config)
    errors = role_errors(config.drivers, extra_roles(config.heuristics))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(source, errors[0].key, errors[0].message + more)
    return config


def _canonical_heuristics_names(config: AgentConfig) -> None:
    """The heuristics' room and role lists in the spelling readings arrive in (names.py)."""
    aliases = config.home.room_aliases

    def rooms(names: list[str]) -> list[str]:
        return [canonical_room(n, aliases) or n for n in names]

    def roles(names: list[str]) -> list[str]:
        return [canonical_role(n) or n for n in names]

    h = config.heuristics
    checks = [c.model_copy(update={"rooms": rooms(c.rooms), "roles": roles(c.roles)})
              for c in h.daily_checks]
    config.heuristics = h.model_copy(update={
        "bathroom_rooms": rooms(h.bathroom_rooms), "bedroom_rooms": rooms(h.bedroom_rooms),
        "distant_rooms": [(canonical_room(a, aliases) or a, canonical_room(b, aliases) or b)
                          for a, b in h.distant_rooms],
        "meal_roles": roles(h.meal_roles), "daily_checks": checks})


def load_config(path: str | os.PathLike[str] | None) -> AgentConfig:
    """Read and validate a config file; `None` means embedded defaults."""
    if path is None:
        return AgentConfig()
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", _("file not found")) from None
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", _("cannot read: {error}").format(error=exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", _("not valid TOML: {error}").format(error=exc)) from None
    except RecursionError:
        raise ConfigError(source, "", _("not valid TOML: arrays or tables nested too deeply "
                                        "for a config file")) from None
    return parse_config(data, source)
