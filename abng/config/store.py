"""Running / candidate / archive configuration store (reference §4.1, DECISIONS.md D18).

Files in ``config_dir``:

* ``running-config.yaml``: the active configuration, with a header of ``# abng-...`` comment
  lines (generation, time, user, comment).  Always valid: it is only ever replaced by an
  atomic rename of a fully written and fsynced file that passed validation.
* ``candidate-config.yaml``: staged changes; absent means "same as running".
* ``config-archive/<UTC time>-g<generation>.yaml``: the last 50 running configurations, the
  current one included; ``rollback 0`` is the running config, ``rollback 1`` the one before the
  last commit, up to ``rollback 49``.
* ``.config.lock``: ``fcntl.flock`` lock that serializes every operation across processes.

The store is synchronous; every operation takes the lock, re-reads what other processes may
have changed, and leaves the files consistent whatever moment the process dies at.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from abng.config.edit import (
    canonical,
    changed_paths,
    delete_value,
    dump_yaml,
    set_value,
    split_path,
    unified_diff,
)
from abng.config.introspect import PathError
from abng.config.schema import Config, ConfigIssue, ConfigLoadError, parse_yaml, validate_config

RUNNING = "running-config.yaml"
CANDIDATE = "candidate-config.yaml"
ARCHIVE = "config-archive"
LOCK = ".config.lock"
ARCHIVE_KEEP = 50
_ARCHIVE_RE = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-g(\d+)\.yaml$")
_HEADER_RE = re.compile(r"^# abng-([a-z]+): ?(.*)$")


class ConfigError(Exception):
    """A configuration operation that was refused; ``issues`` lists ``{path, message}`` dicts."""

    def __init__(self, message: str, issues: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.issues: list[dict[str, str]] = issues or []


@dataclass(frozen=True, slots=True)
class CommitResult:
    generation: int
    changes: list[str]
    old: Config
    new: Config
    committed: bool = True


@dataclass(frozen=True, slots=True)
class _Meta:
    generation: int
    timestamp: str
    user: str | None
    comment: str | None


def default_config_path() -> Path:
    """The default configuration shipped inside the package."""
    return Path(str(resources.files("abng.config").joinpath("default.yaml")))


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split())[:200] or None


def _render(meta: _Meta, data: dict[str, Any]) -> str:
    head = [f"# abng-generation: {meta.generation}", f"# abng-timestamp: {meta.timestamp}"]
    if meta.user:
        head.append(f"# abng-user: {_one_line(meta.user)}")
    if meta.comment:
        head.append(f"# abng-comment: {_one_line(meta.comment)}")
    return "\n".join(head) + "\n" + (dump_yaml(data) if data else "{}\n")


def _parse_meta(text: str) -> _Meta:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _HEADER_RE.match(line)
        if m is None:
            if line.startswith("#") or not line.strip():
                continue
            break
        fields[m.group(1)] = m.group(2)
    try:
        generation = int(fields.get("generation", "0"))
    except ValueError:
        generation = 0
    return _Meta(generation, fields.get("timestamp", ""), fields.get("user"), fields.get("comment"))


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash leaves either the old or the new file."""
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
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _issues(issues: list[ConfigIssue]) -> list[dict[str, str]]:
    return [i.to_dict() for i in issues]


class ConfigStore:
    """The configuration files of one abngd (see the module docstring)."""

    def __init__(
        self, config_dir: Path | str, default: Path | str | None = None, lock_timeout: float | None = 30.0
    ) -> None:
        self.lock_timeout = lock_timeout
        self.config_dir = Path(config_dir)
        self.archive_dir = self.config_dir / ARCHIVE
        self.running_path = self.config_dir / RUNNING
        self.candidate_path = self.config_dir / CANDIDATE
        self._default = Path(default) if default is not None else default_config_path()
        self._tlock = threading.RLock()
        self._stat: tuple[int, int, int] | None = None
        self._running_raw: dict[str, Any] = {}
        self._running: Config | None = None
        self._meta = _Meta(0, "", None, None)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.archive_dir.mkdir(exist_ok=True)
        with self._locked():
            self._cleanup_tmp()
            if not self.running_path.exists():
                self._create_running()
            self._refresh()

    # --- locking and loading ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._tlock:
            fd = os.open(self.config_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o640)
            try:
                self._flock(fd)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    def _flock(self, fd: int) -> None:
        """Take the cross-process lock; TimeoutError after ``lock_timeout`` seconds."""
        if self.lock_timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError("the configuration is locked by another process") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _cleanup_tmp(self) -> None:
        for directory in (self.config_dir, self.archive_dir):
            for tmp in directory.glob(".*.tmp.*"):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    def _create_running(self) -> None:
        text = self._default.read_text(encoding="utf-8")
        data = parse_yaml(text, str(self._default))
        config, issues = validate_config(data)
        if config is None:
            raise ConfigLoadError(issues, str(self._default))
        meta = _Meta(0, _iso(_now()), None, f"initial configuration from {self._default.name}")
        self._archive(meta, data)
        atomic_write(self.running_path, _render(meta, data))

    def _refresh(self) -> None:
        st = os.stat(self.running_path)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._stat and self._running is not None:
            return
        text = self.running_path.read_text(encoding="utf-8")
        data = parse_yaml(text, str(self.running_path))
        config, issues = validate_config(data)
        if config is None:
            raise ConfigLoadError(issues, str(self.running_path))
        self._running_raw, self._running, self._meta, self._stat = data, config, _parse_meta(text), key

    def _read_candidate(self) -> dict[str, Any]:
        try:
            text = self.candidate_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return copy.deepcopy(self._running_raw)
        try:
            return parse_yaml(text, str(self.candidate_path))
        except ConfigLoadError:
            return copy.deepcopy(self._running_raw)

    def _write_candidate(self, data: dict[str, Any]) -> None:
        data = canonical(data)
        if data == self._running_raw:
            with contextlib.suppress(FileNotFoundError):
                self.candidate_path.unlink()
                _fsync_dir(self.config_dir)
            return
        head = f"# candidate based on generation {self._meta.generation}\n"
        atomic_write(self.candidate_path, head + (dump_yaml(data) if data else "{}\n"))

    # --- archive -----------------------------------------------------------------------------------

    def _archive_entries(self) -> list[tuple[int, str, Path]]:
        """(generation, stamp, path), newest first."""
        out = []
        for p in self.archive_dir.iterdir():
            m = _ARCHIVE_RE.match(p.name)
            if m is not None:
                out.append((int(m.group(2)), m.group(1), p))
        out.sort(key=lambda e: (e[0], e[1]), reverse=True)
        return out

    def _archive(self, meta: _Meta, data: dict[str, Any]) -> None:
        stamp = meta.timestamp.replace("-", "").replace(":", "") or _iso(_now()).replace("-", "").replace(
            ":", ""
        )
        atomic_write(self.archive_dir / f"{stamp}-g{meta.generation}.yaml", _render(meta, data))

    def _visible_archive(self) -> list[tuple[int, str, Path]]:
        current = self._meta.generation
        entries = [e for e in self._archive_entries() if e[0] <= current]
        seen: set[int] = set()
        unique = []
        for e in entries:
            if e[0] not in seen:
                seen.add(e[0])
                unique.append(e)
        return unique

    # --- public API --------------------------------------------------------------------------------

    @property
    def running(self) -> Config:
        with self._locked():
            self._refresh()
            assert self._running is not None
            return self._running

    @property
    def generation(self) -> int:
        with self._locked():
            self._refresh()
            return self._meta.generation

    def running_dict(self) -> dict[str, Any]:
        """The running configuration as written (only the keys that are set)."""
        with self._locked():
            self._refresh()
            return copy.deepcopy(self._running_raw)

    def candidate_dict(self) -> dict[str, Any]:
        with self._locked():
            self._refresh()
            return self._read_candidate()

    def effective_dict(self) -> dict[str, Any]:
        """The running configuration with every default filled in."""
        return self.running.model_dump(mode="json")

    def show(self, source: str = "running", section: str | list[str] | None = None) -> Any:
        """A configuration (or one section of it) as written, not redacted."""
        if source not in ("running", "candidate"):
            raise ConfigError(f"unknown source {source!r}: use running or candidate")
        data: Any = self.running_dict() if source == "running" else self.candidate_dict()
        for token in split_path(section) if section else []:
            if isinstance(data, dict):
                data = data.get(token)
            elif isinstance(data, list) and token.isdigit() and int(token) < len(data):
                data = data[int(token)]
            else:
                data = None
            if data is None:
                return None
        return data

    def set(self, path: str | list[str], value: object) -> Any:
        """Set a value in the candidate; type errors at that path are refused at once."""
        with self._locked():
            self._refresh()
            data = self._read_candidate()
            try:
                stored = set_value(data, path, value)
            except PathError as exc:
                raise ConfigError(
                    str(exc), [{"path": ".".join(split_path(path)), "message": str(exc)}]
                ) from None
            dotted = ".".join(split_path(path))
            _, issues = validate_config(data, cross=False)
            mine = [i for i in issues if i.path == dotted or i.path.startswith(dotted + ".")]
            if mine:
                raise ConfigError(f"invalid value for {dotted}: {mine[0].message}", _issues(mine))
            self._write_candidate(data)
            return stored

    def delete(self, path: str | list[str]) -> None:
        with self._locked():
            self._refresh()
            data = self._read_candidate()
            try:
                delete_value(data, path)
            except PathError as exc:
                raise ConfigError(
                    str(exc), [{"path": ".".join(split_path(path)), "message": str(exc)}]
                ) from None
            self._write_candidate(data)

    def compare(self) -> str:
        """Unified diff (YAML) from running to candidate; empty string when they are equal."""
        with self._locked():
            self._refresh()
            return unified_diff(self._running_raw, self._read_candidate(), "running", "candidate")

    def discard(self) -> None:
        with self._locked(), contextlib.suppress(FileNotFoundError):
            self.candidate_path.unlink()
            _fsync_dir(self.config_dir)

    def commit(
        self, comment: str | None = None, user: str | None = None, check: bool = False
    ) -> CommitResult:
        """Validate the whole candidate and make it running; on any issue raise ConfigError."""
        with self._locked():
            self._refresh()
            old = self._running
            assert old is not None
            data = self._read_candidate()
            new, issues = validate_config(data)
            if new is None:
                raise ConfigError(f"commit failed: {len(issues)} error(s)", _issues(issues))
            changes = changed_paths(old, new)
            if check or data == self._running_raw:
                return CommitResult(self._meta.generation, changes, old, new, committed=False)
            current = self._meta
            if not any(e[0] == current.generation for e in self._visible_archive()):
                self._archive(
                    current
                    if current.timestamp
                    else _Meta(current.generation, _iso(_now()), current.user, current.comment),
                    self._running_raw,
                )
            meta = _Meta(current.generation + 1, _iso(_now()), user, comment)
            for gen, _, p in self._archive_entries():  # leftovers of an interrupted commit
                if gen >= meta.generation:
                    p.unlink()
            data = canonical(data)
            self._archive(meta, data)
            atomic_write(self.running_path, _render(meta, data))
            with contextlib.suppress(FileNotFoundError):
                self.candidate_path.unlink()
            self._prune()
            self._refresh()
            return CommitResult(meta.generation, changes, old, new)

    def _prune(self) -> None:
        for _, _, p in self._archive_entries()[ARCHIVE_KEEP:]:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        _fsync_dir(self.archive_dir)

    def rollback(self, n: int) -> None:
        """Load archived configuration ``n`` into the candidate (0 = running, D18)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < ARCHIVE_KEEP:
            raise ConfigError(
                f"rollback takes 0..{ARCHIVE_KEEP - 1}", [{"path": "n", "message": "out of range"}]
            )
        with self._locked():
            self._refresh()
            if n == 0:
                self._write_candidate(copy.deepcopy(self._running_raw))
                return
            entries = self._rollback_entries()
            if n >= len(entries):
                raise ConfigError(
                    f"rollback {n} does not exist ({len(entries) - 1} previous configurations archived)",
                    [{"path": "n", "message": "no such archived configuration"}],
                )
            path = entries[n][2]
            assert path is not None
            self._write_candidate(parse_yaml(path.read_text(encoding="utf-8"), str(path)))

    def _rollback_entries(self) -> list[tuple[int, str, Path | None]]:
        entries: list[tuple[int, str, Path | None]] = list(self._visible_archive())
        if not entries or entries[0][0] != self._meta.generation:
            entries.insert(0, (self._meta.generation, "", None))
        return entries[:ARCHIVE_KEEP]

    def history(self) -> list[dict[str, Any]]:
        """``[{n, generation, timestamp, comment, user}]``, newest (the running config) first."""
        with self._locked():
            self._refresh()
            out = []
            for n, (gen, _, path) in enumerate(self._rollback_entries()):
                meta = self._meta if path is None else _parse_meta(path.read_text(encoding="utf-8"))
                out.append(
                    {
                        "n": n,
                        "generation": gen,
                        "timestamp": meta.timestamp,
                        "comment": meta.comment,
                        "user": meta.user,
                    }
                )
            return out
