"""How sizes, durations, rates, metric values and times read to a person: one formatter each,
used by every page, dialog and the command line (no Qt).

Every function takes ``None`` (and NaN where a number cannot be shown) and returns ``missing``
("–" unless the caller asks for another mark), so a missing value never raises.
"""

from __future__ import annotations

import datetime as dt
import math

MISSING = "–"

_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def format_bytes(n: float | None, *, missing: str = MISSING) -> str:
    """A size in decimal (SI) units, as the file managers of Linux desktops show it:
    1 kB = 1000 bytes, 1 MB = 1000 kB. 512 -> "512 B"; 1536 -> "1.5 kB";
    120_718_811 -> "120.7 MB"; 80 GiB of GPU memory -> "85.9 GB". Bytes are whole, the larger
    units have one decimal; None or NaN -> ``missing``."""
    if n is None or not math.isfinite(n):
        return missing
    sign = "-" if n < 0 else ""
    size = abs(float(n))
    if round(size) < 1000:
        return f"{sign}{size:.0f} B"
    for unit in _BYTE_UNITS[1:]:
        size /= 1000
        # Step up when the value would round to 1000.0 in this unit ("1.0 MB", not "1000.0 kB").
        if round(size, 1) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{sign}{size:,.1f} {unit}"
    raise AssertionError("unreachable")


def format_duration(seconds: float | None, *, missing: str = MISSING) -> str:
    """A length of time in its two largest units, cut (not rounded) to whole seconds:
    52 -> "52 s"; 200 -> "3 min 20 s"; 7500 -> "2 h 05 min"; 3 days 4 hours -> "3 d 04 h".
    Used for elapsed times, ETAs and audio lengths alike. Negative values keep their sign;
    None, NaN and infinities -> ``missing``."""
    if seconds is None or not math.isfinite(seconds):
        return missing
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    if s < 60:
        return f"{sign}{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{sign}{m} min {s:02d} s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{sign}{h} h {m:02d} min"
    d, h = divmod(h, 24)
    return f"{sign}{d:,} d {h:02d} h"


def format_value(v: float | None, *, missing: str = MISSING) -> str:
    """A metric value with 6 significant digits: 0.123456789 -> "0.123457"; 1234567 ->
    "1.23457e+06"; NaN -> "nan"; infinities -> "inf" / "-inf" (a diverged loss stays readable);
    None -> ``missing``."""
    if v is None:
        return missing
    return f"{float(v):.6g}"


def format_rate(steps_per_s: float | None, *, missing: str = MISSING) -> str:
    """Training speed: "3.20 steps/s" at one step a second or faster, else "2.50 s/step";
    None, zero, negative or NaN -> ``missing``."""
    if steps_per_s is None or not steps_per_s > 0 or math.isinf(steps_per_s):
        return missing
    if steps_per_s >= 1:
        return f"{steps_per_s:.2f} steps/s"
    return f"{1 / steps_per_s:.2f} s/step"


def format_datetime(ts: float | None, *, missing: str = MISSING) -> str:
    """A Unix time as local date and minute: "2024-11-20 21:23"; None, NaN or a time out of
    the calendar's range -> ``missing``."""
    if ts is None or not math.isfinite(ts):
        return missing
    try:
        return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return missing


__all__ = [
    "MISSING",
    "format_bytes",
    "format_datetime",
    "format_duration",
    "format_rate",
    "format_value",
]
