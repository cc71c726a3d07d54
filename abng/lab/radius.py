"""FreeRADIUS for ``abng-lab up --radius``: a config generated in the lab dir, run in the BNG namespace.

A copy of /etc/freeradius/3.0 without eap and inner-tunnel, a small virtual server on
127.0.0.1 (auth and accounting ports given), ``authorize { preprocess chap files pap }``,
accounting to a detail file, Message-Authenticator in every reply (DECISIONS.md D22), abng's
``dictionary.athena`` included.  Users: the lab's PPPoE users (``sub<N>@lab``) and, for DHCP
(User-Name and User-Password = the MAC, reference §6.2), every MAC of the lab's prefix.
"""

from __future__ import annotations

import re
import shutil
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
        detail
        ok
    }
    post-auth {
        update reply {
            Message-Authenticator := 0x00
        }
        Post-Auth-Type REJECT {
            update reply {
                Message-Authenticator := 0x00
            }
        }
    }
}
"""

_DEFAULT_USERS = (("user1@lab", "pass1"), ("user2@lab", "pass2"), ("user3@lab", "pass3"))


def users_file(pppoe_users: int) -> str:
    lines = [f'"{u}" Cleartext-Password := "{p}"' for u, p in _DEFAULT_USERS]
    for i in range(1, pppoe_users + 1):
        name, password = lab_user(i)
        lines.append(f'"{name}" Cleartext-Password := "{password}"')
    # DHCP subscribers of the lab (MACs 02:ab:02:xx:xx:xx): accepted, addressed from the pool.
    lines.append('DEFAULT User-Name =~ "^02:ab:02:", Auth-Type := Accept')
    return "\n".join(lines) + "\n"


def prepare(root: Path, pppoe_users: int, auth_port: int = AUTH_PORT, acct_port: int = ACCT_PORT) -> Path:
    """Write the server's config under ``root``; returns the raddb directory."""
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
        f"detail {{\n  filename = {root / 'detail'}\n  escape_filenames = no\n"
        '  permissions = 0600\n  header = "%t"\n}\n'
    )
    (raddb / "sites-enabled" / "default").write_text(_SITE % {"auth": auth_port, "acct": acct_port})
    with (raddb / "dictionary").open("a") as f:
        f.write(f"\n$INCLUDE {PACKAGE_DIR / 'dictionary.athena'}\n")
    (raddb / "mods-config" / "files" / "authorize").write_text(users_file(pppoe_users))
    return raddb


def command(raddb: Path) -> list[str]:
    """Foreground, no debug output (``-X`` costs too much at benchmark rates)."""
    return ["freeradius", "-f", "-d", str(raddb)]
