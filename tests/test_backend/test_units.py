"""units: the one formatter for sizes, durations, rates, metric values and times."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from rave_gui.backend.system.units import (
    MISSING,
    format_bytes,
    format_datetime,
    format_duration,
    format_rate,
    format_value,
)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (512, "512 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1536, "1.5 kB"),
        (999_949, "999.9 kB"),
        (999_950, "1.0 MB"),  # never "1,000.0 kB"
        (120_718_811, "120.7 MB"),
        (80 * 1024**3, "85.9 GB"),  # binary sizes read in decimal units too
        (3.2e12, "3.2 TB"),
        (4.5e15, "4.5 PB"),
        (2e21, "2,000.0 EB"),  # beyond the largest unit: a bigger number, not an error
        (-1536, "-1.5 kB"),
        (-512, "-512 B"),
        (12.7, "13 B"),
    ],
)
def test_format_bytes_uses_decimal_units(n: float, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize("n", [None, math.nan, math.inf, -math.inf])
def test_format_bytes_of_nothing_is_the_missing_mark(n: float | None) -> None:
    assert format_bytes(n) == MISSING == "–"
    assert format_bytes(n, missing="-") == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.9, "0 s"),  # cut to whole seconds: an elapsed time never runs ahead
        (52, "52 s"),
        (59.99, "59 s"),
        (60, "1 min 00 s"),
        (200, "3 min 20 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (7500, "2 h 05 min"),
        (86_399, "23 h 59 min"),
        (3 * 86_400 + 4 * 3600, "3 d 04 h"),
        (10_000 * 86_400, "10,000 d 00 h"),
        (1e18, "11,574,074,074,074 d 01 h"),
        (-200, "-3 min 20 s"),
    ],
)
def test_format_duration_shows_the_two_largest_units(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [None, math.nan, math.inf, -math.inf])
def test_format_duration_of_nothing_is_the_missing_mark(seconds: float | None) -> None:
    assert format_duration(seconds) == "–"


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (0, "0"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1, "1"),
        (0.123456789, "0.123457"),
        (-2.5, "-2.5"),
        (1234567.0, "1.23457e+06"),
        (1e-9, "1e-09"),
        (1e300, "1e+300"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (None, "–"),
    ],
)
def test_format_value_has_six_significant_digits(v: float | None, text: str) -> None:
    assert format_value(v) == text


def test_format_value_missing_mark_is_the_callers_choice() -> None:
    assert format_value(None, missing="-") == "-"
    assert format_value(math.nan, missing="-") == "nan"  # NaN is a value, not a missing one


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (3.2, "3.20 steps/s"),
        (1, "1.00 steps/s"),
        (0.4, "2.50 s/step"),
        (0, "–"),
        (-1, "–"),
        (None, "–"),
        (math.nan, "–"),
        (math.inf, "–"),
    ],
)
def test_format_rate(rate: float | None, text: str) -> None:
    assert format_rate(rate) == text


def test_format_datetime_is_local_date_and_minute() -> None:
    ts = dt.datetime(2024, 11, 20, 21, 23, 59).timestamp()
    assert format_datetime(ts) == "2024-11-20 21:23"
    assert format_datetime(0) == dt.datetime.fromtimestamp(0).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize("ts", [None, math.nan, math.inf, 1e20, -1e20])
def test_format_datetime_of_no_time_or_an_impossible_one_is_missing(ts: float | None) -> None:
    assert format_datetime(ts) == "–"
    assert format_datetime(ts, missing="-") == "-"
