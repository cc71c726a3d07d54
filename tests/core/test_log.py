"""logfmt lines: one event per line whatever a peer puts in a username (log injection)."""

from __future__ import annotations

import logging

from abng.core.log import LogfmtFormatter


def _line(msg: str, *args: object, **extra: object) -> str:
    record = logging.LogRecord("abng.test", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return LogfmtFormatter().format(record)


def test_control_characters_are_escaped() -> None:
    evil = "bob\rlevel=error msg=forged\x1b[2J\x9b\u2028x\ty"
    line = _line("login by %s", evil, username=evil)
    assert line.isprintable(), repr(line)
    assert 'username="bob\\x0dlevel=error msg=forged\\x1b[2J\\x9b\\u2028x\\ty"' in line


def test_plain_values_stay_bare() -> None:
    line = _line("session up", session_id=7, username="alice", ip="100.64.0.7")
    assert line.endswith("session_id=7 username=alice ip=100.64.0.7")
    assert 'msg="session up"' in line
    assert 'username="a\\"b\\\\c"' in _line("x", username='a"b\\c')
