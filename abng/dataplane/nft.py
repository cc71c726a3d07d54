"""nftables through its JSON interface: ``nft -j -f -`` for a whole batch, ``nft -j list`` to read.

The only subprocess of the dataplane, run once per batch (a configuration change, or a batch of
session set elements), never once per session packet path.  ``netns`` runs it inside a named
namespace (``nsenter --net=/run/netns/NAME``), for tests and the start-up probe.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

NFT = "nft"
TIMEOUT = 10.0


class NftError(RuntimeError):
    """nft refused a batch; the message carries its stderr."""


def nft_available() -> bool:
    return shutil.which(NFT) is not None


def _argv(args: Sequence[str], netns: str | None) -> list[str]:
    argv = [NFT, *args]
    if netns is not None:
        argv = ["nsenter", f"--net=/run/netns/{netns}", *argv]
    return argv


def run_nft(commands: Sequence[dict[str, Any]], netns: str | None = None) -> None:
    """Apply ``{"nftables": [...commands]}`` atomically (one transaction)."""
    if not commands:
        return
    payload = json.dumps({"nftables": list(commands)})
    proc = subprocess.run(
        _argv(["-j", "-f", "-"], netns), input=payload, capture_output=True, text=True, timeout=TIMEOUT
    )
    if proc.returncode != 0:
        raise NftError(proc.stderr.strip() or f"nft exited with {proc.returncode}")


def list_json(what: Sequence[str], netns: str | None = None) -> list[dict[str, Any]]:
    """``nft -j list <what...>``; an absent object gives ``[]``."""
    proc = subprocess.run(
        _argv(["-j", "list", *what], netns), capture_output=True, text=True, timeout=TIMEOUT
    )
    if proc.returncode != 0:
        return []
    items: list[dict[str, Any]] = json.loads(proc.stdout).get("nftables", [])
    return items
