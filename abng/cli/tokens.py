"""Splitting a command line into words, pipe stages and ``;``-separated commands.

Double quotes group words (``"AthenaBNG 01"``) and are kept in :attr:`Token.text` so that the
configuration layer can tell a quoted string from a bare word; :attr:`Token.value` is the
unquoted value.  ``|`` and ``;`` outside quotes are separators even without spaces around them.
"""

from __future__ import annotations

from dataclasses import dataclass


class TokenError(ValueError):
    """A line that cannot be split (an unterminated quote)."""


@dataclass(frozen=True)
class Token:
    text: str  # as typed, quotes included
    value: str  # unquoted
    start: int  # offset in the line
    quoted: bool = False

    @property
    def end(self) -> int:
        return self.start + len(self.text)


SEPARATORS = "|;"


def tokenize(line: str, *, partial: bool = False) -> list[Token]:
    """Split ``line``; ``|`` and ``;`` become tokens of their own.

    With ``partial`` an unterminated quote is accepted (the user is still typing).
    """
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        if ch in SEPARATORS:
            tokens.append(Token(ch, ch, i))
            i += 1
            continue
        start, value, quoted = i, [], False
        while i < n and not line[i].isspace() and line[i] not in SEPARATORS:
            if line[i] == '"':
                quoted = True
                i += 1
                while i < n and line[i] != '"':
                    if line[i] == "\\" and i + 1 < n:
                        i += 1
                    value.append(line[i])
                    i += 1
                if i >= n:
                    if not partial:
                        raise TokenError(f"unterminated quote at column {start + 1}")
                    break
                i += 1
            else:
                value.append(line[i])
                i += 1
        tokens.append(Token(line[start:i], "".join(value), start, quoted))
    return tokens


def split_on(tokens: list[Token], sep: str) -> list[list[Token]]:
    """Split a token list on separator tokens (``|`` or ``;``)."""
    groups: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.text == sep and not tok.quoted:
            groups.append([])
        else:
            groups[-1].append(tok)
    return groups


def split_commands(line: str) -> list[str]:
    """``a; b`` -> ``["a", "b"]`` (quotes respected); empty commands dropped."""
    out: list[str] = []
    start = 0
    for tok in tokenize(line):
        if tok.text == ";" and not tok.quoted:
            out.append(line[start : tok.start])
            start = tok.end
    out.append(line[start:])
    return [c.strip() for c in out if c.strip()]


def quote(value: str) -> str:
    """Quote a value for display if it would not survive :func:`tokenize` as one word."""
    if value and not any(c.isspace() or c in SEPARATORS or c == '"' for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
