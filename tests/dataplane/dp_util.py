"""Shared bits of the dataplane tests: a namespace with one veth end, and `tc -j` read-back."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from abng.dataplane.qos_htb import SHARD_MAJORS
from tests.helpers.netns import netns, ns_run, requires_root, veth_pair

__all__ = ["requires_root", "shaper_ns", "shard_filters", "subscriber_classes", "tc_json"]


def tc_json(ns: str, *args: str) -> list[dict[str, Any]]:
    out = ns_run(ns, "tc", "-j", *args).stdout.strip()
    return json.loads(out) if out else []


def tc_batch_json(ns: str, lines: list[str]) -> list[dict[str, Any]]:
    """Several `tc -j` commands in one `tc -batch` run; their JSON arrays concatenated."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "tc", "-j", "-batch", "-"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    out: list[dict[str, Any]] = []
    dec, text, pos = json.JSONDecoder(), proc.stdout, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        chunk, pos = dec.raw_decode(text, pos)
        out.extend(chunk)


_CLASS_RE = re.compile(r"^class htb (\S+) .*?\brate (\d+(?:\.\d+)?)([KMG]?)bit", re.MULTILINE)
_UNIT = {"": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


def subscriber_classes(ns: str, dev: str) -> dict[str, int]:
    """HTB classes inside the shard qdiscs: handle -> rate in bit/s.

    (iproute2 6.1 prints HTB classes as text even with ``-j``.)"""
    text = ns_run(ns, "tc", "class", "show", "dev", dev).stdout
    return {
        m[1]: round(float(m[2]) * _UNIT[m[3]])
        for m in _CLASS_RE.finditer(text)
        if int(m[1].split(":")[0], 16) in SHARD_MAJORS
    }


def shard_filters(ns: str, dev: str) -> list[dict[str, Any]]:
    """Terminal u32 filters (with a flowid) inside every shard qdisc."""
    lines = [f"filter show dev {dev} parent {major:x}:" for major in SHARD_MAJORS]
    return [f for f in tc_batch_json(ns, lines) if "flowid" in f.get("options", {})]


@pytest.fixture
def shaper_ns() -> Iterator[tuple[str, str]]:
    """A namespace holding one end (returned) of a veth pair whose other end is in a second one."""
    with netns("dps") as ns, netns("dpp") as peer:
        a, _b = veth_pair(ns, peer, prefix="dq")
        yield ns, a
