"""A pseudo-terminal driver for the ``abng`` console script (pexpect), reading what a person sees.

prompt_toolkit paints with escape sequences (cursor moves, colours), so the text is matched
after stripping them: :meth:`Term.expect` waits until a regex appears in the cleaned output
received since the last match.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pexpect

from tests.helpers.daemon import REPO

ABNG = REPO / ".venv" / "bin" / "abng"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\r")
PROMPT = r"abng[>#]"


class Term:
    def __init__(self, socket: Path, home: Path, *args: str, rows: int = 50, cols: int = 120) -> None:
        env = {
            **os.environ,
            "TERM": "xterm",
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "HOME": str(home),
            "NO_COLOR": "1",
        }
        env.pop("ABNG_HISTORY", None)
        self.child = pexpect.spawn(
            str(ABNG), ["--socket", str(socket), *args], env=env, encoding="utf-8",
            dimensions=(rows, cols), timeout=10,
        )  # fmt: skip
        self.seen = ""  # cleaned output not yet consumed by expect()

    def _pump(self, timeout: float) -> None:
        try:
            chunk = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return
        self.seen += ANSI.sub("", chunk)

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait for ``pattern`` in the cleaned output; consume the output up to the match."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.seen)
            if m is not None:
                self.before = self.seen[: m.start()]
                self.seen = self.seen[m.end() :]
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not seen; output was:\n{self.seen[-3000:]}")
            try:
                self._pump(0.1)
            except pexpect.EOF as exc:
                raise AssertionError(f"abng exited before {pattern!r}; output:\n{self.seen[-3000:]}") from exc

    def run(self, line: str, prompt: str = PROMPT) -> str:
        """Type ``line`` + Enter, wait for the next prompt, return the output in between."""
        self.child.send(line + "\r")
        # prompt_toolkit paints the line as it is typed, then once more on Enter, then a newline
        self.expect(re.escape(line.rstrip()) + r"\s*\n")
        self.expect(prompt)
        return self.before

    def submit(self, text: str, prompt: str = PROMPT) -> str:
        """Finish the line being edited with ``text`` + Enter; return the command's output."""
        self.settle(0.1)
        self.seen = ""
        self.child.send(text + "\r")
        self.expect(r"\n")  # the line is painted once more on Enter, then a newline
        self.expect(prompt)
        return self.before

    def send(self, text: str) -> None:
        self.child.send(text)

    def tab(self, text: str = "") -> None:
        """Type ``text`` and Tab, then wait until the terminal is quiet (completion is applied)."""
        self.child.send(text)
        self.settle()
        start = len(self.seen)
        self.child.send("\t")
        deadline = time.monotonic() + 10
        while len(self.seen) == start and time.monotonic() < deadline:  # the completion is painted
            self._pump(0.05)
        self.settle()

    def settle(self, quiet: float = 0.3) -> None:
        """Read until the terminal has been quiet for ``quiet`` seconds."""
        quiet_since = time.monotonic()
        deadline = quiet_since + 10
        while time.monotonic() - quiet_since < quiet and time.monotonic() < deadline:
            before = len(self.seen)
            self._pump(0.05)
            if len(self.seen) != before:
                quiet_since = time.monotonic()

    def close(self) -> int | None:
        if self.child.isalive():
            self.child.sendcontrol("u")  # Ctrl-D only means EOF on an empty line
            self.child.sendcontrol("d")
            try:
                self.child.expect(pexpect.EOF, timeout=5)
            except pexpect.TIMEOUT:
                self.child.terminate(force=True)
        self.child.close()
        status: int | None = self.child.exitstatus
        return status
