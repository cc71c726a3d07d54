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
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from abng.config.advice import config_warnings
from abng.config.edit import (
    canonical,
    changed_paths,
    delete_value,
    plain_copy,
    set_value,
    split_path,
    unified_diff,
)
from abng.config.files import (
    ARCHIVE_KEEP,
    Archive,
    ArchiveEntry,
    Meta,
    atomic_write,
    fsync_dir,
    parse_meta,
    remove_temporaries,
    render,
    utc_now_iso,
)
from abng.config.introspect import PathError
from abng.config.schema import Config, ConfigIssue, ConfigLoadError, parse_yaml, validate_config, with_lines

__all__ = ["ARCHIVE_KEEP", "CommitResult", "ConfigError", "ConfigStore", "default_config_path"]

RUNNING = "running-config.yaml"
CANDIDATE = "candidate-config.yaml"
ARCHIVE = "config-archive"
LOCK = ".config.lock"


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
    warnings: list[dict[str, str]] = field(default_factory=list)


def default_config_path() -> Path:
    """The default configuration shipped inside the package."""
    return Path(str(resources.files("abng.config").joinpath("default.yaml")))


def _load_candidate(text: str) -> dict[str, Any]:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    try:
        data = json.loads(body)
    except ValueError:
        return parse_yaml(text, CANDIDATE)  # edited by hand as YAML
    if not isinstance(data, dict):
        raise ConfigLoadError([ConfigIssue("", "the candidate is not a mapping")], CANDIDATE)
    return data


def _issues(issues: list[ConfigIssue]) -> list[dict[str, str]]:
    return [i.to_dict() for i in issues]


def _path_error(path: str | list[str], exc: PathError) -> ConfigError:
    try:
        dotted = ".".join(split_path(path))
    except PathError:
        dotted = str(path)
    return ConfigError(str(exc), [{"path": dotted, "message": str(exc)}])


class ConfigStore:
    """The configuration files of one abngd (see the module docstring)."""

    def __init__(
        self, config_dir: Path | str, default: Path | str | None = None, lock_timeout: float | None = 30.0
    ) -> None:
        self.config_dir = Path(config_dir)
        self.running_path = self.config_dir / RUNNING
        self.candidate_path = self.config_dir / CANDIDATE
        self.lock_timeout = lock_timeout
        self._default = Path(default) if default is not None else default_config_path()
        self._tlock = threading.RLock()
        self._running_text: str | None = None
        self._running_raw: dict[str, Any] = {}
        self._running: Config | None = None
        self._meta = Meta(0, "", None, None)
        self._candidate_cache: tuple[str, dict[str, Any]] | None = None
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.archive = Archive(self.config_dir / ARCHIVE)
        with self._locked():
            remove_temporaries(self.config_dir, self.archive.directory)
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

    def _create_running(self) -> None:
        data = parse_yaml(self._default.read_text(encoding="utf-8"), str(self._default))
        config, issues = validate_config(data)
        if config is None:
            raise ConfigLoadError(issues, str(self._default))
        data = canonical(data)
        # generation 0 on a fresh directory; after the archive's newest if running was removed
        generation = self.archive.newest_generation() + 1
        meta = Meta(generation, utc_now_iso(), None, f"initial configuration from {self._default.name}")
        text = render(meta, data)
        self.archive.add(meta, data, text)
        atomic_write(self.running_path, text)
        self._remember_running(text, data, config, meta)

    def _refresh(self) -> None:
        """Re-read the running file if it changed (keyed by its text: inode and mtime can
        repeat after a rename within one clock tick)."""
        text = self.running_path.read_text(encoding="utf-8")
        if text == self._running_text and self._running is not None:
            return
        data = parse_yaml(text, str(self.running_path))
        config, issues = validate_config(data)
        if config is None:
            raise ConfigLoadError(with_lines(text, issues), str(self.running_path))
        # A running file without our header was put there by hand: it counts as a generation
        # newer than everything archived, so that the next commit archives it first.
        meta = parse_meta(text, missing_generation=self.archive.newest_generation() + 1)
        self._running_raw, self._running, self._meta, self._running_text = data, config, meta, text

    def _remember_running(self, text: str, data: dict[str, Any], config: Config, meta: Meta) -> None:
        """Cache what was just written to the running file (saves parsing it again)."""
        self._running_raw, self._running, self._meta, self._running_text = data, config, meta, text

    def _read_candidate(self) -> dict[str, Any]:
        """A private copy of the candidate (parsed once per version of the file)."""
        try:
            text = self.candidate_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return plain_copy(self._running_raw)
        if self._candidate_cache is not None and self._candidate_cache[0] == text:
            return plain_copy(self._candidate_cache[1])
        try:
            data = _load_candidate(text)
        except ConfigLoadError:  # garbage written by hand: start again from running
            return plain_copy(self._running_raw)
        self._candidate_cache = (text, data)
        return plain_copy(data)

    def _write_candidate(self, data: dict[str, Any]) -> None:
        data = canonical(data)
        if data == self._running_raw:
            self._drop_candidate()
            return
        # JSON is YAML too, and much faster to write and read for big configurations
        head = f"# candidate based on generation {self._meta.generation}\n"
        text = head + json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self.candidate_path, text)
        self._candidate_cache = (text, plain_copy(data))

    def _drop_candidate(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.candidate_path.unlink()
            fsync_dir(self.config_dir)

    def _rollback_entries(self) -> list[ArchiveEntry]:
        entries = self.archive.upto(self._meta.generation)
        if not entries or entries[0].generation != self._meta.generation:
            entries.insert(0, ArchiveEntry(self._meta.generation, "", None))
        return entries[:ARCHIVE_KEEP]

    # --- reading ---------------------------------------------------------------------------------

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
        """The running configuration as written (only the keys that are set; not redacted)."""
        with self._locked():
            self._refresh()
            return plain_copy(self._running_raw)

    def candidate_dict(self) -> dict[str, Any]:
        """The candidate as written (the running configuration when nothing is staged)."""
        with self._locked():
            self._refresh()
            return self._read_candidate()

    def effective_dict(self) -> dict[str, Any]:
        """The running configuration with every default filled in."""
        return self.running.model_dump(mode="json")

    def show(self, source: str = "running", section: str | list[str] | None = None) -> Any:
        """A configuration (or one section of it) as written, not redacted; None if unset."""
        if source not in ("running", "candidate"):
            raise ConfigError(f"unknown source {source!r}: use running or candidate")
        data: Any = self.running_dict() if source == "running" else self.candidate_dict()
        for token in split_path(section) if section else []:
            if isinstance(data, dict):
                data = data.get(token)
            elif isinstance(data, list) and token.isdigit() and int(token) < len(data):
                data = data[int(token)]
            else:
                return None
        return data

    def compare(self) -> str:
        """Unified diff (YAML) from running to candidate; empty string when they are equal."""
        with self._locked():
            self._refresh()
            return unified_diff(self._running_raw, self._read_candidate(), "running", "candidate")

    def history(self) -> list[dict[str, Any]]:
        """``[{n, generation, timestamp, comment, user}]``, newest (the running config) first."""
        with self._locked():
            self._refresh()
            out = []
            for n, e in enumerate(self._rollback_entries()):
                meta = self._meta if e.path is None else parse_meta(e.path.read_text(encoding="utf-8"))
                out.append(
                    {"n": n, "generation": e.generation, "timestamp": meta.timestamp,
                     "comment": meta.comment, "user": meta.user}
                )  # fmt: skip
            return out

    # --- editing the candidate -------------------------------------------------------------------

    def set(self, path: str | list[str], value: object) -> Any:
        """Set a value in the candidate and return what was stored.

        A value that breaks a rule of its own field (type, range, unknown key) is refused at
        once; rules that involve other fields are checked by :meth:`commit`.
        """
        with self._locked():
            self._refresh()
            data = self._read_candidate()
            try:
                stored = set_value(data, path, value)
            except PathError as exc:
                raise _path_error(path, exc) from None
            dotted = ".".join(split_path(path))
            _, issues = validate_config(data, cross=False)
            mine = [i for i in issues if i.path == dotted or i.path.startswith(dotted + ".")]
            if mine:
                raise ConfigError(f"invalid value for {dotted}: {mine[0].message}", _issues(mine))
            self._write_candidate(data)
            return stored

    def delete(self, path: str | list[str]) -> None:
        """Remove a key, a list element or one value of a list from the candidate."""
        with self._locked():
            self._refresh()
            data = self._read_candidate()
            try:
                delete_value(data, path)
            except PathError as exc:
                raise _path_error(path, exc) from None
            self._write_candidate(data)

    def discard(self) -> None:
        """Drop every staged change."""
        with self._locked():
            self._drop_candidate()

    def rollback(self, n: int) -> None:
        """Load archived configuration ``n`` into the candidate (0 = running, D18)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < ARCHIVE_KEEP:
            raise ConfigError(
                f"rollback takes 0..{ARCHIVE_KEEP - 1}", [{"path": "n", "message": "out of range"}]
            )
        with self._locked():
            self._refresh()
            entries = self._rollback_entries()
            if n >= len(entries):
                raise ConfigError(
                    f"rollback {n} does not exist ({len(entries) - 1} previous configurations archived)",
                    [{"path": "n", "message": "no such archived configuration"}],
                )
            path = entries[n].path
            if n == 0 or path is None:
                self._write_candidate(plain_copy(self._running_raw))
                return
            try:
                data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
            except (OSError, ConfigLoadError) as exc:
                raise ConfigError(
                    f"rollback {n}: archived configuration unreadable: {exc}",
                    [{"path": "n", "message": "archived configuration unreadable"}],
                ) from None
            self._write_candidate(data)

    # --- commit ----------------------------------------------------------------------------------

    def commit(
        self, comment: str | None = None, user: str | None = None, check: bool = False
    ) -> CommitResult:
        """Validate the whole candidate and make it running.

        On any issue raise :class:`ConfigError` carrying every issue; running stays untouched.
        ``check`` validates only.  A candidate equal to running commits nothing
        (``committed=False``, same generation).
        """
        with self._locked():
            self._refresh()
            old = self._running
            assert old is not None
            data = self._read_candidate()
            new, issues = validate_config(data)
            if new is None:
                raise ConfigError(f"commit failed: {len(issues)} error(s)", _issues(issues))
            changes = changed_paths(old, new)
            warnings = _issues(config_warnings(new))
            if check or data == self._running_raw:
                return CommitResult(self._meta.generation, changes, old, new, False, warnings)
            current = self._meta
            if self._rollback_entries()[0].path is None:  # running not archived yet
                stamp = current.timestamp or utc_now_iso()
                self.archive.add(
                    Meta(current.generation, stamp, current.user, current.comment), self._running_raw
                )
            meta = Meta(current.generation + 1, utc_now_iso(), user, comment)
            self.archive.drop_from(meta.generation)
            data = canonical(data)
            # Order matters for crash safety: the archive entry first (ignored while running
            # is older), then the atomic rename of running, then the clean-up.
            text = render(meta, data)
            self.archive.add(meta, data, text)
            atomic_write(self.running_path, text)
            with contextlib.suppress(FileNotFoundError):
                self.candidate_path.unlink()
            self.archive.prune()
            self._remember_running(text, data, new, meta)
            return CommitResult(meta.generation, changes, old, new, True, warnings)
