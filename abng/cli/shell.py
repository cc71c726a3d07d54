"""The CLI session without a terminal: mode, RPC access, dynamic words, and ``execute(line)``.

The REPL (:mod:`abng.cli.repl`) and ``abng -c`` both drive a :class:`Shell`; unit tests can too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from abng.cli import commands, pipes, views
from abng.cli import schema as S
from abng.cli.errors import CliError
from abng.cli.parser import Completion, candidates, complete, parse
from abng.cli.tree import CONFIGURATION, OPERATIONAL, Node
from abng.core import errors as E
from abng.core.errors import RpcError
from abng.core.rpcclient import SyncRpcClient


def rpc_message(exc: RpcError) -> str:
    """An RPC error as the operator should read it: the path and the rule where there is one."""
    data = exc.data
    if exc.code == E.CONFIG_INVALID and isinstance(data, dict):
        issues = data.get("errors") or []
        lines = [f"  {i.get('path')}: {i.get('message')}" for i in issues if isinstance(i, dict)]
        return "\n".join(["commit failed: configuration invalid", *lines]) if lines else exc.message
    if exc.code == E.INVALID_PARAMS and isinstance(data, list) and data:
        return "; ".join(f"{i.get('path')}: {i.get('message')}" for i in data if isinstance(i, dict))
    if exc.code == E.UNAVAILABLE and isinstance(data, dict) and data.get("subsystem"):
        return f"{exc.message} (subsystem '{data['subsystem']}' not available)"
    return exc.message


@dataclass
class Result:
    lines: Iterator[str]
    paginate: bool
    failed: bool


class Shell:
    def __init__(
        self, socket_path: str, *, user: str, timeout: float = 30.0, width: int | None = None
    ) -> None:
        self.socket_path = socket_path
        self.user = user
        self.client = SyncRpcClient(socket_path, timeout=timeout)
        self.mode = "operational"
        self.done = False
        self._width = width
        self._schema: dict[str, Any] | None = None

    # --- state ---
    @property
    def root(self) -> Node:
        return CONFIGURATION if self.mode == "configuration" else OPERATIONAL

    @property
    def prompt(self) -> str:
        return "abng# " if self.mode == "configuration" else "abng> "

    def width(self) -> int:
        return self._width or shutil.get_terminal_size((100, 24)).columns

    def close(self) -> None:
        self.client.close()

    # --- abngd ---
    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.client.call(method, params)
        except RpcError as exc:
            raise CliError(rpc_message(exc)) from None
        except (ConnectionError, FileNotFoundError) as exc:
            raise CliError(str(exc), status=3) from None
        except OSError as exc:
            raise CliError(f"abngd at {self.socket_path}: {exc}", status=3) from None

    def _quiet(self, method: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self.call(method, params)
        except CliError:
            return None

    # --- parser Context (completion sources; never raise) ---
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = self.call("config.schema")
        return self._schema

    def config_data(self) -> Any:
        source = "candidate" if self.mode == "configuration" else "running"
        return self._quiet("config.show", {"source": source})

    def _sessions(self) -> list[dict[str, Any]]:
        r = self._quiet("show.subscribers", {"limit": 1000})
        return list(r) if isinstance(r, list) else []

    def session_ids(self) -> list[tuple[str, str]]:
        return [(str(s["id"]), f"{s.get('username')} {s.get('ip_address') or ''}") for s in self._sessions()]

    def interfaces(self) -> list[tuple[str, str]]:
        names: dict[str, str] = {}
        for s in self._sessions():
            for key in ("interface", "ppp_interface"):
                if s.get(key):
                    names.setdefault(str(s[key]), f"session {s['id']} ({s.get('username')})")
        for i in self._quiet("show.interfaces") or []:
            names.setdefault(str(i.get("name")), f"{i.get('kind') or ''} {i.get('role') or ''}".strip())
        return sorted(names.items())

    def rollbacks(self) -> list[tuple[str, str]]:
        items = self._quiet("config.history") or []
        return [
            (str(h["n"]), f"{h.get('timestamp')} {h.get('user') or ''} {h.get('comment') or ''}")
            for h in items
        ]

    # --- commands ---
    def complete(self, text: str) -> list[Completion]:
        try:
            return complete(text, self.root, self, config_mode=self.mode == "configuration")
        except CliError:
            return []

    def help(self, text: str) -> list[tuple[str, str]]:
        """``?``: what may follow ``text``, or the words matching the partial last word."""
        config_mode = self.mode == "configuration"
        if text and not text[-1].isspace():
            return [(c.word, c.help) for c in self.complete(text)]
        try:
            return candidates(text, self.root, self, config_mode=config_mode)
        except CliError:  # abngd unreachable: no schema
            return []

    def is_sensitive(self, line: str) -> bool:
        """True for lines carrying a secret (RADIUS test password, a ``secret`` config leaf):
        they are kept out of the history file."""
        try:
            parsed = parse(line, self.root, self, config_mode=self.mode == "configuration")
        except CliError:
            return "radius" in line or "secret" in line or "password" in line  # err on the safe side
        if parsed.handler == "request_radius_test":
            return True
        if parsed.handler == "config_set":
            try:
                return bool(S.walk(self.schema(), parsed.args["path"]).node.get("secret"))
            except (CliError, S.SchemaPathError):
                return True
        return False

    def execute(self, line: str) -> Result:
        parsed = parse(line, self.root, self, config_mode=self.mode == "configuration")
        opts = pipes.display_options(parsed.pipes)
        out = commands.run(self, parsed.handler, parsed.args, opts)
        lines = out.lines
        if opts.set:
            if out.config_path is None:
                raise CliError("'| display set' applies to configuration output only")
            lines = views.set_commands(out.data, out.config_path)
        elif opts.json and out.data is not None:
            lines = json.dumps(out.data, indent=2).split("\n")
        return Result(pipes.apply(lines, parsed.pipes), opts.paginate, out.failed)
