"""FreeRADIUS for ``abng-lab up --radius``: a config generated in the lab dir, run in the BNG namespace.

A copy of /etc/freeradius/3.0 without eap and inner-tunnel, a small virtual server on
127.0.0.1 (auth and accounting ports given), ``authorize { preprocess chap files pap }``,
accounting to a detail file, Message-Authenticator in every reply (DECISIONS.md D22), abng's
``dictionary.athena`` included.  Users: the lab's PPPoE users (``sub<N>@lab``) and, for DHCP
(User-Name and User-Password = the MAC, reference §6.2), every MAC of the lab's prefix.
:func:`write_raddb` is the general form, also used by the tests' fixture (tests/helpers/freeradius.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from abng.aaa.dictionary import PACKAGE_DIR
from abng.lab.subscribers import lab_user

SOURCE = Path("/etc/freeradius/3.0")
AUTH_PORT, ACCT_PORT = 1812, 1813

_SITE = """
server default {
    listen {
        type = auth
        ipaddr = 127.0.0.1
        port = %(auth)d
    }
    listen {
        type = acct
        ipaddr = 127.0.0.1
        port = %(acct)d
    }
    authorize {
        preprocess
        chap
        files
        pap
    }
    authenticate {
        Auth-Type PAP {
            pap
        }
        Auth-Type CHAP {
            chap
        }
    }
    preacct {
        preprocess
        acct_unique
    }
    accounting {
        %(acct_ma)s
        detail
        ok
    }
    post-auth {
        %(ma)s
        Post-Auth-Type REJECT {
            %(ma)s
        }
    }
}
"""

_MA = "update reply {\n            Message-Authenticator := 0x00\n        }"

_DEFAULT_USERS = (("user1@lab", "pass1"), ("user2@lab", "pass2"), ("user3@lab", "pass3"))


def users_file(pppoe_users: int) -> str:
    lines = [f'"{u}" Cleartext-Password := "{p}"' for u, p in _DEFAULT_USERS]
    for i in range(1, pppoe_users + 1):
        name, password = lab_user(i)
        lines.append(f'"{name}" Cleartext-Password := "{password}"')
    # DHCP subscribers of the lab (MACs 02:ab:02:xx:xx:xx): accepted, addressed from the pool.
    lines.append('DEFAULT User-Name =~ "^02:ab:02:", Auth-Type := Accept')
    return "\n".join(lines) + "\n"


def write_raddb(
    root: Path,
    users: str,
    auth_port: int,
    acct_port: int,
    *,
    extra_clients: Sequence[tuple[str, str]] = (),
    message_authenticator: bool = True,
    acct_message_authenticator: bool = False,
    detail_file: Path | None = None,
) -> Path:
    """Write a FreeRADIUS config under ``root`` (``raddb``, ``log``, ``run``); returns the raddb directory.

    ``users`` is the ``files`` module's authorize text; ``extra_clients`` are (address, secret)
    pairs appended to clients.conf; accounting goes to ``detail_file`` (default ``root/detail``).
    ``message_authenticator`` adds a Message-Authenticator to every Access reply (D22),
    ``acct_message_authenticator`` to Accounting-Responses too.
    """
    raddb, logdir, rundir = root / "raddb", root / "log", root / "run"
    if raddb.exists():
        shutil.rmtree(raddb)
    logdir.mkdir(parents=True, exist_ok=True)
    rundir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SOURCE, raddb, symlinks=True)
    for p in ("mods-enabled/eap", "sites-enabled/inner-tunnel", "sites-enabled/default"):
        (raddb / p).unlink(missing_ok=True)
    conf = (raddb / "radiusd.conf").read_text()
    conf = re.sub(r"(?m)^(\s*)(user|group) = ", r"\1#\2 = ", conf)
    conf = re.sub(r"(?m)^logdir = .*$", f"logdir = {logdir}", conf)
    conf = re.sub(r"(?m)^run_dir = .*$", f"run_dir = {rundir}", conf)
    conf = re.sub(r"(?m)^raddbdir = .*$", f"raddbdir = {raddb}", conf)
    (raddb / "radiusd.conf").write_text(conf)
    (raddb / "mods-enabled" / "detail").unlink()
    (raddb / "mods-enabled" / "detail").write_text(
        f"detail {{\n  filename = {detail_file or root / 'detail'}\n  escape_filenames = no\n"
        '  permissions = 0600\n  header = "%t"\n}\n'
    )
    ma = _MA if message_authenticator else ""
    acct_ma = _MA if acct_message_authenticator else ""
    site = _SITE % {"auth": auth_port, "acct": acct_port, "ma": ma, "acct_ma": acct_ma}
    (raddb / "sites-enabled" / "default").write_text(site)
    with (raddb / "dictionary").open("a") as f:
        f.write(f"\n$INCLUDE {PACKAGE_DIR / 'dictionary.athena'}\n")
    if extra_clients:
        with (raddb / "clients.conf").open("a") as f:
            for i, (addr, secret) in enumerate(extra_clients):
                f.write(f"\nclient extra{i} {{\n  ipaddr = {addr}\n  secret = {secret}\n}}\n")
    (raddb / "mods-config" / "files" / "authorize").write_text(users)
    return raddb


def prepare(root: Path, pppoe_users: int, auth_port: int = AUTH_PORT, acct_port: int = ACCT_PORT) -> Path:
    """The lab's server config under ``root``; returns the raddb directory."""
    return write_raddb(root, users_file(pppoe_users), auth_port, acct_port)


def command(raddb: Path) -> list[str]:
    """Foreground, no debug output (``-X`` costs too much at benchmark rates)."""
    return ["freeradius", "-f", "-d", str(raddb)]
