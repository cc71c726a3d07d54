"""The package imports and reports its version."""

import abng
from abng.config.rates import RateError, format_rate, parse_rate


def test_version_is_semver() -> None:
    parts = abng.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_rates_round_trip() -> None:
    assert parse_rate("100mbit") == 100_000_000
    assert parse_rate("25Mbit") == 25_000_000
    assert parse_rate("2.5gbit") == 2_500_000_000
    assert parse_rate(40_000_000) == 40_000_000
    assert parse_rate("40000000") == 40_000_000
    assert format_rate(100_000_000) == "100mbit"
    assert format_rate(1_500_000) == "1500kbit"


def test_rates_rejected() -> None:
    for bad in ("fast", "10 furlongs", "-5mbit", "0", True, 1.5, "1.00001kbit", "999tbit"):
        try:
            parse_rate(bad)  # type: ignore[arg-type]
        except RateError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
