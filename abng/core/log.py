"""Structured logs on stderr (logfmt: ``level=info logger=... msg="..." session_id=7``).

journald keeps stderr lines as they are; each line is one event with key=value pairs, so
``journalctl -u abngd | grep session_id=7`` follows one subscriber.  Pass context with
``log.info("session up", extra={"session_id": 7})``.
"""

from __future__ import annotations

import logging
import sys
import time

#: ``extra`` keys rendered after the message, in this order.
CONTEXT_KEYS = ("session_id", "username", "type", "ip", "reason", "method", "peer", "generation")


#: Control characters become visible escapes: a peer-chosen username (PPP, DHCP hostname...)
#: cannot break a line, return the carriage or drive a terminal (log injection, CWE-117).
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029",
}  # fmt: skip


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=') or not text.isprintable():
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').translate(_ESCAPES) + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key in CONTEXT_KEYS:
            value = record.__dict__.get(key)
            if value is not None:
                parts.append(f"{key}={_quote(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
