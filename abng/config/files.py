"""On-disk pieces of the configuration store: crash-safe writes, the ``# abng-...`` header that
carries a configuration's generation, and the archive directory (DECISIONS.md D18)."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abng.config.edit import dump_yaml

ARCHIVE_KEEP = 50
_ARCHIVE_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-g(\d+)\.yaml$")
_HEADER_RE = re.compile(r"^# abng-([a-z]+): ?(.*)$")


@dataclass(frozen=True, slots=True)
class Meta:
    """Who made a configuration generation, when and why."""

    generation: int
    timestamp: str
    user: str | None
    comment: str | None


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split())[:200] or None


def render(meta: Meta, data: dict[str, Any]) -> str:
    """A configuration file: the header, then the YAML body."""
    head = [f"# abng-generation: {meta.generation}", f"# abng-timestamp: {meta.timestamp}"]
    user, comment = _one_line(meta.user), _one_line(meta.comment)
    if user:
        head.append(f"# abng-user: {user}")
    if comment:
        head.append(f"# abng-comment: {comment}")
    return "\n".join(head) + "\n" + (dump_yaml(data) if data else "{}\n")


def parse_meta(text: str, missing_generation: int = 0) -> Meta:
    """Read the header; ``missing_generation`` when the file has none (edited by hand)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _HEADER_RE.match(line)
        if m is None:
            if line.startswith("#") or not line.strip():
                continue
            break
        fields[m.group(1)] = m.group(2)
    try:
        generation = int(fields["generation"])
    except (KeyError, ValueError):
        generation = missing_generation
    return Meta(generation, fields.get("timestamp", ""), fields.get("user"), fields.get("comment"))


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old or the new file:
    write a temporary file beside it, fsync it, rename it over ``path``, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(text.encode("utf-8"))
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_temporaries(*directories: Path) -> None:
    """Remove what interrupted :func:`atomic_write` calls left (call with the store locked)."""
    for directory in directories:
        for tmp in directory.glob(".*.tmp.*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    generation: int
    stamp: str
    path: Path | None  # None: the running file itself (not archived yet)


class Archive:
    """``config-archive/<UTC time>-g<generation>.yaml`` files, newest generation first."""

    def __init__(self, directory: Path, keep: int = ARCHIVE_KEEP) -> None:
        self.directory = directory
        self.keep = keep
        directory.mkdir(parents=True, exist_ok=True)

    def entries(self) -> list[ArchiveEntry]:
        out = []
        for p in self.directory.iterdir():
            m = _ARCHIVE_RE.match(p.name)
            if m is not None:
                out.append(ArchiveEntry(int(m.group(2)), m.group(1), p))
        out.sort(key=lambda e: (e.generation, e.stamp), reverse=True)
        return out

    def newest_generation(self) -> int:
        return max((e.generation for e in self.entries()), default=-1)

    def upto(self, generation: int) -> list[ArchiveEntry]:
        """One entry per generation up to ``generation`` (later ones are leftovers of a crash)."""
        seen: set[int] = set()
        out = []
        for e in self.entries():
            if e.generation <= generation and e.generation not in seen:
                seen.add(e.generation)
                out.append(e)
        return out

    def add(self, meta: Meta, data: dict[str, Any], text: str | None = None) -> None:
        """Archive ``data`` (``text``: its :func:`render`, when the caller already has it)."""
        stamp = (meta.timestamp or utc_now_iso()).replace("-", "").replace(":", "")
        body = render(meta, data) if text is None else text
        atomic_write(self.directory / f"{stamp}-g{meta.generation}.yaml", body)

    def drop_from(self, generation: int) -> None:
        """Remove entries of ``generation`` and later (left by a commit that did not finish)."""
        for e in self.entries():
            if e.generation >= generation and e.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    e.path.unlink()

    def prune(self) -> None:
        for e in self.entries()[self.keep :]:
            if e.path is not None:
                with contextlib.suppress(FileNotFoundError):
                    e.path.unlink()
        fsync_dir(self.directory)
