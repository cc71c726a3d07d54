"""The abng configuration schema (reference §4, DECISIONS.md D2, D4, D18-D20).

One pydantic model per section; :class:`Config` is the whole file.  ``Config.model_validate``
enforces every per-field rule and every cross-section rule; :func:`validate_config` returns all
problems at once as :class:`ConfigIssue` (dotted path + message) instead of raising.

The same models drive the CLI's completion and ``?`` help (:mod:`abng.config.introspect`), the
API's JSON schema and secret redaction (:mod:`abng.config.redact`).
"""

from __future__ import annotations

import difflib
import zoneinfo
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from abng.config.rules import cross_checks
from abng.config.schema_access import (
    AAA,
    DHCP,
    Demux,
    DemuxProfile,
    Interfaces,
    LocalSubscriber,
    Pool,
    PPPoE,
)
from abng.config.schema_services import (
    CGNAT,
    Api,
    ApiUser,
    Bgp,
    BgpNeighbor,
    Monitoring,
    OverheadProfile,
    QoS,
    Radius,
    RadiusServer,
    Routing,
    Snmp,
)
from abng.config.types import ConfigIssue, Hostname, Section, field

__all__ = [
    "AAA",
    "CGNAT",
    "DHCP",
    "Api",
    "ApiUser",
    "Bgp",
    "BgpNeighbor",
    "Config",
    "ConfigIssue",
    "ConfigLoadError",
    "Demux",
    "DemuxProfile",
    "Interfaces",
    "LocalSubscriber",
    "Monitoring",
    "OverheadProfile",
    "PPPoE",
    "Pool",
    "QoS",
    "Radius",
    "RadiusServer",
    "Routing",
    "Snmp",
    "System",
    "load_config_file",
    "parse_yaml",
    "validate_config",
]


class System(Section):
    hostname: Hostname = field(description="BNG host name (also the DHCP Option 82 Remote-ID)")
    router_id: IPv4Address | None = field(None, description="Router ID (BGP/OSPF)")
    timezone: str = field("UTC", description="IANA time zone, e.g. 'Europe/Berlin'")
    log_level: Literal["debug", "info", "warning", "error"] = field("info", description="Log level")
    dataplane: Literal["auto", "kernel", "userspace"] = field(
        "auto", description="Dataplane backend: auto picks kernel when the kernel has the features (D4)"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class Config(Section):
    """The whole configuration file."""

    system: System = field(description="System identity, logging and dataplane choice")
    interfaces: Interfaces = field(description="Interfaces the BNG uses")
    demux: Demux = field(default_factory=Demux, description="VLAN demultiplexer")
    pppoe: PPPoE = field(default_factory=PPPoE, description="PPPoE server")
    dhcp: DHCP = field(default_factory=DHCP, description="Built-in DHCP server (IPoE)")
    aaa: AAA = field(default_factory=AAA, description="Local AAA: subscribers and address pools")
    radius: Radius = field(default_factory=Radius, description="RADIUS client and CoA")
    qos: QoS = field(default_factory=QoS, description="Per-subscriber shaping")
    cgnat: CGNAT = field(default_factory=CGNAT, description="CGNAT VRF steering")
    routing: Routing = field(default_factory=Routing, description="BGP and OSPF")
    api: Api = field(default_factory=Api, description="REST API")
    snmp: Snmp = field(default_factory=Snmp, description="SNMP AgentX sub-agent")
    monitoring: Monitoring = field(default_factory=Monitoring, description="Prometheus and syslog")

    @model_validator(mode="after")
    def _cross(self, info: ValidationInfo) -> Config:
        issues = list(cross_checks(self))
        if not issues:
            return self
        ctx = info.context
        if isinstance(ctx, dict) and isinstance(ctx.get("cross_issues"), list):
            ctx["cross_issues"].extend(issues)
            return self
        raise ValueError("; ".join(f"{i.path}: {i.message}" for i in issues))

    def pool(self, name: str | None) -> Pool | None:
        return None if name is None else self.aaa.pools.get(name)


# --- validation entry points --------------------------------------------------------------------


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigLoadError(ValueError):
    """A configuration file that does not parse or validate; ``issues`` lists every problem."""

    def __init__(self, issues: list[ConfigIssue], source: str = "configuration") -> None:
        self.issues = issues
        lines = "\n".join(
            f"  {i.path or '<root>'}: {i.message}" + (f" (line {i.line})" if i.line else "") for i in issues
        )
        super().__init__(f"{source} is invalid:\n{lines}")


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "[key]")


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        hint = _suggest(loc[:-1], key)
        return f"unknown key {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")
    if kind == "missing":
        return "required"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if loc and loc[-1] == "[key]":
        msg = f"invalid key: {msg}"
    return msg


def _suggest(parent: tuple[int | str, ...], key: str) -> str | None:
    from abng.config.introspect import model_at

    model = model_at([str(p) for p in parent])
    if model is None:
        return None
    close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
    return close[0] if close else None


def issues_from_validation_error(exc: ValidationError) -> list[ConfigIssue]:
    return [ConfigIssue(_dotted(err["loc"]), _message(err)) for err in exc.errors()]


def validate_config(data: Any, *, cross: bool = True) -> tuple[Config | None, list[ConfigIssue]]:
    """Validate a whole configuration dict; return the model or every issue found.

    With ``cross=False`` only per-field rules are checked (what ``set`` refuses at once); the
    cross-section rules wait for ``commit``.
    """
    if not isinstance(data, dict):
        return None, [ConfigIssue("", "the configuration must be a mapping of sections")]
    cross_issues: list[ConfigIssue] = []
    try:
        config = Config.model_validate(data, context={"cross_issues": cross_issues})
    except ValidationError as exc:
        return None, issues_from_validation_error(exc)
    if cross_issues and cross:
        return None, cross_issues
    return config, []


def parse_yaml(text: str, source: str = "configuration") -> dict[str, Any]:
    """Parse YAML text into a dict (empty text is an empty dict)."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (libyaml when present)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigLoadError([ConfigIssue("", f"YAML syntax error: {where}{problem}")], source) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigLoadError([ConfigIssue("", "the configuration must be a mapping of sections")], source)
    return data


def load_config_file(path: Path | str) -> Config:
    """Read and validate a YAML configuration file; raise :class:`ConfigLoadError` on any problem."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    data = parse_yaml(text, str(p))
    config, issues = validate_config(data)
    if config is None:
        raise ConfigLoadError(with_lines(text, issues), str(p))
    return config


def with_lines(text: str, issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Add the YAML line of each issue's path (the deepest part of the path found)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return issues
    return [ConfigIssue(i.path, i.message, _line_of(root, i.path)) for i in issues]


def _line_of(node: Any, path: str) -> int | None:
    line = None
    for part in path.split(".") if path else []:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not match:
                break
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line
