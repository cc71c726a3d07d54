"""A real FreeRADIUS 3.2 server for tests, on 127.0.0.1 with random free ports.

Usage::

    from tests.helpers.freeradius import freeradius_server, free_udp_port

    USERS = 'alice Cleartext-Password := "secret1"\\n    Framed-IP-Address = 100.64.0.5\\n'
    with freeradius_server(tmp_path, USERS) as srv:
        srv.auth_port, srv.acct_port, srv.secret  # "testing123"
        srv.detail_records()                      # accounting records written so far

The server's configuration, written by ``abng.lab.radius.write_raddb``, is a copy of
/etc/freeradius/3.0 (eap and inner-tunnel removed) with a small virtual server:
``authorize { preprocess chap files pap }``, PAP and CHAP,
``accounting { detail }`` into one detail file, and abng's ``dictionary.athena`` included so
that users may carry Athena VSAs.  Replies carry a Message-Authenticator (DECISIONS.md D22;
``message_authenticator=False`` turns that off; ``acct_message_authenticator=True`` adds one to
Accounting-Responses too).  The process runs ``freeradius -X -f`` and is
stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from abng.aaa.dictionary import PACKAGE_DIR
from abng.lab.radius import write_raddb

SECRET = "testing123"


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FreeRadius:
    process: subprocess.Popen[bytes]
    auth_port: int
    acct_port: int
    secret: str
    raddb: Path
    detail_file: Path
    log_file: Path

    def detail_records(self) -> list[dict[str, str]]:
        """Accounting records from the detail file (attribute name -> value, quotes removed)."""
        if not self.detail_file.exists():
            return []
        records: list[dict[str, str]] = []
        for block in re.split(r"\n\s*\n", self.detail_file.read_text(errors="replace")):
            rec: dict[str, str] = {}
            for line in block.splitlines():
                m = re.match(r"^\s+([\w-]+) = (.*)$", line)
                if m:
                    rec[m.group(1)] = m.group(2).strip().strip('"')
            if rec:
                records.append(rec)
        return records

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@contextlib.contextmanager
def freeradius_server(
    tmp_path: Path,
    users: str,
    extra_clients: Sequence[tuple[str, str]] = (),
    auth_port: int | None = None,
    acct_port: int | None = None,
    message_authenticator: bool = True,
    name: str = "freeradius",
    acct_message_authenticator: bool = False,
) -> Iterator[FreeRadius]:
    """Start FreeRADIUS in the foreground; yield its ports; always stop it by PID."""
    auth_port = auth_port or free_udp_port()
    acct_port = acct_port or free_udp_port()
    root = tmp_path / name
    detail_file, log_file = root / "detail", root / "log" / "freeradius.out"
    raddb = write_raddb(
        root,
        users,
        auth_port,
        acct_port,
        extra_clients=extra_clients,
        message_authenticator=message_authenticator,
        acct_message_authenticator=acct_message_authenticator,
        detail_file=detail_file,
    )
    log = log_file.open("wb")
    proc = subprocess.Popen(
        ["freeradius", "-X", "-f", "-d", str(raddb)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    srv = FreeRadius(proc, auth_port, acct_port, SECRET, raddb, detail_file, log_file)
    try:
        deadline = time.monotonic() + 15
        while b"Ready to process requests" not in log_file.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"freeradius did not start (rc={proc.poll()}):\n{tail}")
            time.sleep(0.02)
        yield srv
    finally:
        srv.stop()
        log.close()


def radclient_dictdir(root: Path) -> Path:
    """A directory for ``radclient -d``: the stock dictionary plus abng's dictionary.athena."""
    d = root / "radclient"
    d.mkdir(parents=True, exist_ok=True)
    (d / "dictionary").write_text(
        f"$INCLUDE /usr/share/freeradius/dictionary\n$INCLUDE {PACKAGE_DIR / 'dictionary.athena'}\n"
    )
    return d


async def radclient(
    dictdir: Path, port: int, command: str, attrs: str, secret: str = SECRET, wait: float = 1.0
) -> tuple[int, str]:
    """Run ``radclient -x`` (one try) against 127.0.0.1:port; returns (rc, stdout)."""
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        "radclient",
        "-x",
        "-d",
        str(dictdir),
        "-r",
        "1",
        "-t",
        str(wait),
        f"127.0.0.1:{port}",
        command,
        secret,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(attrs.encode())
    return (proc.returncode or 0, out.decode(errors="replace"))
