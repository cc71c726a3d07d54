"""abng/core/ipv4.py gives and refuses exactly what ipaddress.IPv4Address does."""

from __future__ import annotations

import ipaddress
import random

import pytest

from abng.core import ipv4


def _texts() -> list[str]:
    rng = random.Random(4)
    out = ["0.0.0.0", "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1",
           " 1.2.3.4", "1.2.3.4\x00", "0x1.2.3.4", "1..2.3", "", "1.2.3.-4", "١.2.3.4"]  # fmt: skip
    for _ in range(3000):
        n = rng.getrandbits(32)
        text = ipaddress.IPv4Address(n).compressed
        i = rng.randrange(len(text))
        out += [text, text[:i] + rng.choice("0.9x -") + text[i:], text[:i] + text[i + 1 :]]
    return out


def test_text_forms_match_ipaddress() -> None:
    for text in _texts():
        try:
            want = ipaddress.IPv4Address(text)
        except ValueError:
            with pytest.raises(ValueError):
                ipv4.packed(text)
            with pytest.raises(ValueError):
                ipv4.to_int(text)
            continue
        assert ipv4.packed(text) == want.packed
        assert ipv4.to_int(text) == int(want)
        assert ipv4.to_text(int(want)) == str(want)


def test_other_types_and_errors() -> None:
    assert ipv4.packed(ipaddress.IPv4Address("10.0.0.1")) == b"\n\x00\x00\x01"
    assert ipv4.to_int(b"\n\x00\x00\x01") == 0x0A000001
    for bad in (-1, 1 << 32):
        with pytest.raises(ValueError):
            ipv4.to_int(bad)
        with pytest.raises(ValueError):
            ipv4.to_text(bad)
