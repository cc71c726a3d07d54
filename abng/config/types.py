"""Building blocks shared by the configuration schema modules.

Every section model derives from :class:`Section` (unknown keys are errors).  Fields are declared
with :func:`field` so that each one carries a short description (used by the CLI's ``?`` help and
the API's JSON schema) and, for secrets, the ``secret`` marker that :mod:`abng.config.redact`
reads (DECISIONS.md D20).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from abng.config.rates import RateError, parse_rate

SECRET_MASK = "********"  # noqa: S105 - the mask, not a password


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One validation problem: a dotted path (``radius.servers.0.secret``) and a message."""

    path: str
    message: str
    line: int | None = None  # 1-based line in the YAML file, when known

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class Section(BaseModel):
    """Base of every configuration model: unknown keys are rejected, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)


def field(default: Any = ..., description: str = "", *, secret: bool = False, **kw: Any) -> Any:
    """A pydantic ``Field`` with a mandatory description and an optional secret marker."""
    extra: dict[str, Any] = dict(kw.pop("json_schema_extra", None) or {})
    if secret:
        extra["secret"] = True
        kw.setdefault("repr", False)  # repr()/str() of a model (a log line, a traceback) never shows it
    return Field(default, description=description, json_schema_extra=extra or None, **kw)


# --- validators ---------------------------------------------------------------------------------

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.\-@:]{1,15}$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_RANGE_RE = re.compile(r"^\s*(\d{1,4})\s*(?:-\s*(\d{1,4})\s*)?$")


def _ifname(value: str) -> str:
    if not _IFNAME_RE.match(value) or value in (".", ".."):
        raise ValueError("interface name must be 1-15 characters of letters, digits and _ . - @ :")
    return value


def _hostname(value: str) -> str:
    if not 1 <= len(value) <= 253:
        raise ValueError("hostname must be 1-253 characters")
    if not all(_HOST_LABEL_RE.match(label) for label in value.rstrip(".").split(".")):
        raise ValueError("hostname labels are 1-63 letters, digits or '-' (not at either end)")
    return value


def _host(value: str) -> str:
    """An IPv4 address or a DNS name."""
    try:
        ipaddress.IPv4Address(value)
        return value
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", value):
        raise ValueError(f"{value!r} is not a valid IPv4 address")
    return _hostname(value)


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError("name must be 1-64 characters of letters, digits and underscore")
    return value


def _rate(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("a rate is an integer in bps or a string like '100mbit'")
    try:
        parse_rate(value)
    except RateError as exc:
        raise ValueError(str(exc)) from None
    return str(value)


def parse_vlan_range(value: str) -> tuple[int, int]:
    """``"100-999"`` -> (100, 999); a single ``"100"`` is (100, 100)."""
    m = _RANGE_RE.match(value)
    if m is None:
        raise ValueError(f"invalid VLAN range {value!r}: use 'start-end' like '100-999'")
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) is not None else start
    if not (1 <= start <= 4094 and 1 <= end <= 4094):
        raise ValueError(f"invalid VLAN range {value!r}: VLAN IDs are 1-4094")
    if start > end:
        raise ValueError(f"invalid VLAN range {value!r}: start is above end")
    return start, end


def _vlan_range(value: str) -> str:
    start, end = parse_vlan_range(value)
    return f"{start}-{end}"


def _duration_ms(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("a duration is like '20ms' or '1s'")
    if isinstance(value, int):
        value = f"{value}ms"
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)?(us|ms|s)", value.strip()):
        raise ValueError("a duration is <number>(us|ms|s), like '20ms'")
    return value.strip()


def _fwmark(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("fwmark is a hex string like '0x64' or an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 0)
        except ValueError:
            raise ValueError("fwmark is a hex string like '0x64' or an integer") from None
    else:
        raise ValueError("fwmark is a hex string like '0x64' or an integer")
    if not 1 <= number <= 0xFFFFFFFF:
        raise ValueError("fwmark must be 1-0xffffffff")
    return f"0x{number:x}"


_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def _mac(value: str) -> str:
    v = value.strip().lower()
    if not _MAC_RE.match(v):
        raise ValueError(f"invalid MAC address {value!r}: use aa:bb:cc:dd:ee:ff")
    digits = re.sub(r"[:-]", "", v)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _bcrypt(value: str) -> str:
    # The documented examples carry the placeholder "$2b$12$..."; we accept the bcrypt prefix
    # and let the API refuse logins against an incomplete hash (documented in configuration.md).
    if not re.match(r"^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$", value):
        raise ValueError("password_hash must be a bcrypt hash ($2b$12$...)")
    return value


def _no_surrounding_space(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not start or end with spaces")
    return value


IfName = Annotated[str, AfterValidator(_ifname)]
Hostname = Annotated[str, AfterValidator(_hostname)]
Host = Annotated[str, AfterValidator(_host)]
Name = Annotated[str, AfterValidator(_name)]
Rate = Annotated[str, BeforeValidator(_rate)]
VlanRange = Annotated[str, AfterValidator(_vlan_range)]
VlanId = Annotated[int, Field(ge=1, le=4094)]
Port = Annotated[int, Field(ge=1, le=65535)]
Duration = Annotated[str, BeforeValidator(_duration_ms)]
FwMark = Annotated[str, BeforeValidator(_fwmark)]
Mac = Annotated[str, AfterValidator(_mac)]
BcryptHash = Annotated[str, AfterValidator(_bcrypt)]
Text = Annotated[str, AfterValidator(_no_surrounding_space)]


#: Human names of the value formats above, for the CLI's help and the generated docs.
FORMATS: dict[Any, str] = {
    _ifname: "interface name (1-15 chars)",
    _hostname: "host name",
    _host: "IPv4 address or host name",
    _name: "name [A-Za-z0-9_]{1,64}",
    _rate: "rate: bps or '<n>kbit|mbit|gbit'",
    _vlan_range: "VLAN range 'start-end' (1-4094)",
    _duration_ms: "duration like '20ms'",
    _fwmark: "firewall mark like '0x64'",
    _mac: "MAC aa:bb:cc:dd:ee:ff",
    _bcrypt: "bcrypt hash",
}


def format_of(metadata: Any) -> str | None:
    """The human format name carried by a validator in ``metadata`` (an iterable), if any."""
    for meta in metadata:
        label = FORMATS.get(getattr(meta, "func", None))
        if label is not None:
            return label
    return None
