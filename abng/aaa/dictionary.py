"""RADIUS attribute registry loaded from FreeRADIUS-syntax dictionary files.

abng ships its own files in this package: ``dictionary`` (the RFC 2865/2866/2869/4679/5176 subset
abng uses) and ``dictionary.athena`` (vendor Athena = 12345, DECISIONS.md D21).  The same
``dictionary.athena`` can be ``$INCLUDE``d by a FreeRADIUS server.

Understood types: ``string octets ipaddr integer date integer64 vsa``; any other type is kept as
``octets`` so that a customer dictionary never breaks loading.  Values are converted by
:meth:`Dictionary.encode_value` / :meth:`Dictionary.decode_value`.
"""

from __future__ import annotations

import enum
import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path

from abng.core import ipv4

Value = str | int | bytes


class AttrType(enum.StrEnum):
    STRING = "string"
    OCTETS = "octets"
    IPADDR = "ipaddr"
    INTEGER = "integer"
    DATE = "date"
    INTEGER64 = "integer64"
    VSA = "vsa"


class DictionaryError(ValueError):
    """A dictionary file that cannot be parsed (with file name and line)."""


class ValueDecodeError(ValueError):
    """An attribute value whose length or content does not fit its type."""


@dataclass(frozen=True, slots=True)
class AttrDef:
    name: str
    code: int
    type: AttrType
    vendor: int = 0  # 0: standard attribute
    encrypt: int = 0  # 1: User-Password hiding (RFC 2865 §5.2)
    values: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    names: dict[int, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[int, int]:
        return (self.vendor, self.code)


class Dictionary:
    """Attributes by name and by (vendor, code); vendors by name."""

    def __init__(self) -> None:
        self.by_name: dict[str, AttrDef] = {}
        self.by_key: dict[tuple[int, int], AttrDef] = {}
        self.vendors: dict[str, int] = {}

    # ---- loading ----------------------------------------------------------------------------
    @classmethod
    def from_files(cls, *paths: Path) -> Dictionary:
        d = cls()
        for p in paths:
            d.parse(p.read_text(encoding="utf-8"), source=str(p), base=p.parent)
        return d

    def parse(self, text: str, source: str = "<string>", base: Path | None = None) -> None:
        vendor = 0
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            words = line.split()
            kw = words[0].upper()
            where = f"{source}({lineno})"
            try:
                if kw == "ATTRIBUTE":
                    self._attribute(words, vendor)
                elif kw == "VALUE":
                    self._value(words)
                elif kw == "VENDOR":
                    self.vendors[words[1]] = int(words[2], 0)
                elif kw == "BEGIN-VENDOR":
                    vendor = self.vendors[words[1]]
                elif kw == "END-VENDOR":
                    vendor = 0
                elif kw == "$INCLUDE" and base is not None:
                    inc = base / words[1]
                    self.parse(inc.read_text(encoding="utf-8"), str(inc), inc.parent)
                # other keywords (PROTOCOL, FLAGS, ...) are not needed by abng and ignored
            except (IndexError, ValueError, KeyError) as exc:
                raise DictionaryError(f"{where}: cannot parse {raw.strip()!r}: {exc}") from exc

    def _attribute(self, words: list[str], vendor: int) -> None:
        name, code_s, type_s = words[1], words[2], words[3]
        if "." in code_s:  # TLV children (e.g. 255.1): not used by abng
            return
        code = int(code_s, 0)
        if not 0 < code < 256:
            raise ValueError(f"attribute number {code} out of range")
        base_type = type_s.split("[", 1)[0].lower()
        atype = AttrType(base_type) if base_type in AttrType._value2member_map_ else AttrType.OCTETS
        encrypt = 0
        for flag in (w for extra in words[4:] for w in extra.split(",")):
            if flag.startswith("encrypt="):
                encrypt = int(flag.split("=", 1)[1])
        defn = AttrDef(name, code, atype, vendor, encrypt)
        old = self.by_name.get(name)
        if old is not None:  # keep VALUEs defined before a redefinition
            defn.values.update(old.values)
            defn.names.update(old.names)
        self.by_name[name] = defn
        self.by_key[defn.key] = defn

    def _value(self, words: list[str]) -> None:
        attr, vname, num = words[1], words[2], int(words[3], 0)
        defn = self.by_name[attr]
        defn.values[vname] = num
        defn.names.setdefault(num, vname)

    # ---- lookups ----------------------------------------------------------------------------
    def attr(self, name: str) -> AttrDef:
        """Definition by name; a KeyError is our own misuse (a name not in the dictionary)."""
        return self.by_name[name]

    def lookup(self, vendor: int, code: int) -> AttrDef | None:
        return self.by_key.get((vendor, code))

    # ---- values -----------------------------------------------------------------------------
    def encode_value(self, defn: AttrDef, value: Value) -> bytes:
        t = defn.type
        if t is AttrType.STRING or t is AttrType.OCTETS or t is AttrType.VSA:
            if isinstance(value, str):
                return value.encode("utf-8")
            if isinstance(value, bytes):
                return value
            raise TypeError(f"{defn.name}: str or bytes expected")
        if t is AttrType.IPADDR:
            return ipv4.packed(value)
        # INTEGER, DATE, INTEGER64
        if isinstance(value, str):
            value = defn.values[value] if value in defn.values else int(value)
        if not isinstance(value, int):
            raise TypeError(f"{defn.name}: integer expected")
        return (_U64 if t is AttrType.INTEGER64 else _U32).pack(value)

    def decode_value(self, defn: AttrDef, raw: bytes) -> Value:
        """Typed value; :class:`ValueDecodeError` when the length does not fit the type."""
        t = defn.type
        if t is AttrType.STRING:
            return raw.decode("utf-8", errors="replace")
        if t is AttrType.INTEGER or t is AttrType.DATE:
            if len(raw) != 4:
                raise ValueDecodeError(f"{defn.name}: 4 octets expected, got {len(raw)}")
            return int.from_bytes(raw, "big")
        if t is AttrType.IPADDR:
            if len(raw) != 4:
                raise ValueDecodeError(f"{defn.name}: 4 octets expected, got {len(raw)}")
            return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"
        if t is AttrType.INTEGER64:
            if len(raw) != 8:
                raise ValueDecodeError(f"{defn.name}: 8 octets expected, got {len(raw)}")
            return int.from_bytes(raw, "big")
        return bytes(raw)

    def value_name(self, defn: AttrDef, value: int) -> str | None:
        return defn.names.get(value)


_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")


PACKAGE_DIR = Path(__file__).resolve().parent
DICTIONARY_FILES = (PACKAGE_DIR / "dictionary", PACKAGE_DIR / "dictionary.athena")
ATHENA_VENDOR = 12345


@functools.cache
def default_dictionary() -> Dictionary:
    """The shipped dictionary (RFC subset + Athena VSAs), loaded once."""
    return Dictionary.from_files(*DICTIONARY_FILES)
