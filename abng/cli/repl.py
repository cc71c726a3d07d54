"""The interactive shell: prompt_toolkit glue around :class:`~abng.cli.shell.Shell` (kept thin).

Tab completes and ``?`` lists what may come next (both from the one parser); history persists
in a file; long output goes through a small ``---(more)---`` pager unless ``| no-more``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Iterable, Iterator

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from abng.cli.errors import CliError, SyntaxErr
from abng.cli.shell import Shell
from abng.cli.tokens import TokenError, split_commands

MORE = "---(more)---"


class ShellCompleter(Completer):
    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        for c in self.shell.complete(text):
            yield Completion(
                c.word + " ", start_position=c.start - len(text), display=c.word, display_meta=c.help
            )


class PrivateHistory(FileHistory):
    """History file (mode 0600) that never stores lines carrying a password or secret."""

    def __init__(self, filename: str, shell: Shell) -> None:
        super().__init__(filename)
        self.shell = shell
        with contextlib.suppress(OSError):
            fd = os.open(filename, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            os.close(fd)
            os.chmod(filename, 0o600)

    def append_string(self, string: str) -> None:
        if self.shell.is_sensitive(string):
            return
        super().append_string(string)


def help_lines(items: list[tuple[str, str]]) -> list[str]:
    if not items:
        return ["No valid completions"]
    w = min(max(len(word) for word, _ in items), 30)
    return ["Possible completions:", *(f"  {word:<{w}}  {help_}".rstrip() for word, help_ in items)]


def _bindings(shell: Shell) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("?")
    def _(event: KeyPressEvent) -> None:
        buf = event.current_buffer
        text = buf.document.text_before_cursor
        if text.count('"') % 2:  # inside a quoted string: a literal '?'
            buf.insert_text("?")
            return
        lines = help_lines(shell.help(text))
        run_in_terminal(lambda: print("\n".join(lines)))

    return kb


def _read_key() -> str:
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        return os.read(fd, 1).decode(errors="replace")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def page(lines: Iterable[str], paginate: bool) -> None:
    """Print ``lines``; with ``paginate`` stop every screenful (space: page, Enter: line, q: quit)."""
    height = shutil.get_terminal_size((80, 24)).lines - 1
    budget = height
    for line in lines:
        if paginate and budget <= 0:
            sys.stdout.write(MORE)
            sys.stdout.flush()
            key = _read_key()
            sys.stdout.write("\r" + " " * len(MORE) + "\r")
            if key in ("q", "Q", "\x03"):
                return
            budget = 1 if key in ("\r", "\n") else height
        print(line, flush=True)
        budget -= 1


def show_error(exc: CliError, line: str, prompt: str) -> None:
    if isinstance(exc, SyntaxErr) and exc.column is not None:
        print(" " * (len(prompt) + exc.column) + "^")
    print(f"error: {exc.message}")


def run_line(shell: Shell, line: str) -> None:
    # Ctrl-C while a command runs must raise KeyboardInterrupt here, whatever handler the
    # prompt's event loop left behind
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        commands = split_commands(line)
    except TokenError as exc:
        print(f"error: {exc}")
        return
    for command in commands:
        prompt = shell.prompt
        try:
            result = shell.execute(command)
            page(result.lines, result.paginate and sys.stdout.isatty())
        except CliError as exc:
            show_error(exc, command, prompt if command == line.strip() else "")
            return
        except KeyboardInterrupt:
            print()
            return


def interactive(shell: Shell, history_file: str) -> int:
    session: PromptSession[str] = PromptSession(
        history=PrivateHistory(history_file, shell),
        completer=ShellCompleter(shell),
        complete_while_typing=False,
        key_bindings=_bindings(shell),
    )
    while not shell.done:
        try:
            line = session.prompt(shell.prompt)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if line.strip():
            run_line(shell, line)
    return 0
