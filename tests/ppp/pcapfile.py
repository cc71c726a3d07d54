"""Minimal classic-pcap reader for golden tests (struct only; untagged Ethernet)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

CAPTURES = Path("/work/shared/captures")


@dataclass(frozen=True)
class EthFrame:
    number: int
    time: float
    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes


def read_pcap(path: Path) -> list[EthFrame]:
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    assert linktype == 1, "Ethernet captures only"
    frames: list[EthFrame] = []
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", data, pos)
        raw = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ethertype = struct.unpack_from("!H", raw, 12)[0]
        t = sec + frac / (1e9 if nano else 1e6)
        frames.append(EthFrame(len(frames) + 1, t, raw[:6], raw[6:12], ethertype, raw[14:]))
    return frames
