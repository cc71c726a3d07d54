"""``abng``: the JunOS-style CLI (reference §7).

    abng                              interactive (abng> / abng#)
    abng -c "show subscribers"        one command (several with ';'); exit status 0 on success
    echo "show version" | abng        commands from standard input, one per line

Exit status: 0 success; 1 the command failed (abngd's error on stderr); 2 syntax error;
3 abngd unreachable.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from abng.cli.errors import CliError
from abng.cli.shell import Shell
from abng.cli.tokens import TokenError, split_commands

DEFAULT_RUN_DIR = "/opt/athena-bng/run"


def socket_path(args: argparse.Namespace) -> str:
    if args.socket:
        return str(args.socket)
    run_dir = args.run_dir or os.environ.get("ABNG_RUN_DIR") or DEFAULT_RUN_DIR
    return str(Path(run_dir) / "abngd.sock")


def history_path(args: argparse.Namespace) -> str:
    return str(args.history_file or os.environ.get("ABNG_HISTORY") or Path.home() / ".abng_history")


def batch(shell: Shell, commands: Iterable[str]) -> int:
    """Run commands in order; stop at the first failure and return its exit status."""
    for command in commands:
        try:
            result = shell.execute(command)
            for line in result.lines:
                print(line, flush=True)
        except CliError as exc:
            sys.stdout.flush()
            print(f"error: {exc.message}", file=sys.stderr)
            return exc.status
        except KeyboardInterrupt:
            return 130
        if result.failed:
            return 1
        if shell.done:
            break
    return 0


def _batch_to_pipe(shell: Shell, commands: Iterable[str]) -> int:
    """:func:`batch`, quiet when the reader goes away (``abng -c '...' | head``)."""
    try:
        return batch(shell, commands)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _stdin_commands() -> Iterable[str]:
    for line in sys.stdin:
        yield from split_commands(line)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abng", description="abng command-line interface (JunOS style)")
    p.add_argument("-c", "--command", help="run one command line ('a; b' runs several) and exit")
    p.add_argument("--socket", type=Path, help="abngd socket (default <run-dir>/abngd.sock)")
    p.add_argument("--run-dir", help=f"abngd run directory (env ABNG_RUN_DIR, default {DEFAULT_RUN_DIR})")
    p.add_argument("--history-file", help="command history (env ABNG_HISTORY, default ~/.abng_history)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for abngd (default 30)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shell = Shell(socket_path(args), user=getpass.getuser(), timeout=args.timeout)
    try:
        if args.command is not None:
            try:
                commands = split_commands(args.command)
            except TokenError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            return _batch_to_pipe(shell, commands)
        if not sys.stdin.isatty():
            return _batch_to_pipe(shell, _stdin_commands())
        from abng.cli.repl import interactive

        return interactive(shell, history_path(args))
    finally:
        shell.close()


if __name__ == "__main__":
    sys.exit(main())
