"""Rate parsing edge cases: absurd input is a RateError (-32602 / a config issue), never a crash."""

from __future__ import annotations

import pytest

from abng.config.rates import RateError, parse_rate


@pytest.mark.parametrize("text", ["9" * 400, "9" * 400 + "gbit", "1" * 5000 + ".5kbit", "0.0000000001gbit"])
def test_huge_or_fractional_strings_are_rate_errors(text: str) -> None:
    with pytest.raises(RateError):
        parse_rate(text)


def test_exact_decimal_scaling() -> None:
    assert parse_rate("2.5gbit") == 2_500_000_000
    assert parse_rate("0.008mbit") == 8_000
    assert parse_rate("399.999999999gbit") == 399_999_999_999
