"""Errors the CLI shows to the operator (never a traceback)."""

from __future__ import annotations


class CliError(Exception):
    """A command that failed: printed as ``error: <message>``; ``-c`` exits with ``status``."""

    status = 1

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class SyntaxErr(CliError):
    """A line the parser does not accept; ``column`` (0-based) is where it went wrong."""

    status = 2

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column
