"""Benchmark: storing 1,000,000 metric points and reading them back reduced.

Prints figures; asserts nothing about time. Run: .venv/bin/python bench/bench_store.py
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np

from rave_gui.backend.manager import TrainingManager

N = 1_000_000
TAGS = 8  # RAVE logs about 8 scalars at each logging step


def _points(n: int, tags: int) -> list[tuple[str, int, float, float]]:
    steps = n // tags
    rng = np.random.default_rng(0)
    vals = (np.sin(np.arange(steps) / 500.0)[None, :] + rng.random((tags, steps)) * 0.1).tolist()
    now = time.time()
    return [(f"loss_{t}", s, vals[t][s], now + s * 0.01) for s in range(steps) for t in range(tags)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tm = TrainingManager(Path(tmp) / "bench.sqlite3")
        pts = _points(N, TAGS)
        for batch in (100, 1000, 10_000):  # a follower writes what arrived since its last poll
            exp = tm.start_training({"name": f"live_{batch}"})
            t0 = time.perf_counter()
            for i in range(0, N, batch):
                tm.metrics.add_points(exp, pts[i : i + batch])
            dt = time.perf_counter() - t0
            print(
                f"live writes, {batch:>6} points a transaction: {N / dt:>10,.0f} points/s "
                f"({dt:.2f} s for {N:,})"
            )

        exp = tm.start_training({"name": "bulk_tuples"})
        t0 = time.perf_counter()
        tm.metrics.add_points(exp, pts)
        dt = time.perf_counter() - t0
        print(f"bulk import, one transaction (tuples):  {N / dt:>10,.0f} points/s ({dt:.2f} s)")

        exp = tm.start_training({"name": "bulk_series"})
        steps = np.arange(N, dtype=np.int64)
        values = np.sin(steps / 5000.0) + np.random.default_rng(1).random(N) * 0.1
        values[123_456] = math.nan
        values[654_321] = 1e6
        t0 = time.perf_counter()
        tm.metrics.add_series(exp, {"loss": (steps, values, steps * 0.01)})
        dt = time.perf_counter() - t0
        print(f"bulk import, one transaction (arrays):  {N / dt:>10,.0f} points/s ({dt:.2f} s)")

        t0 = time.perf_counter()
        tm.metrics.reduced(exp, "loss", buckets=2000)
        dt = (time.perf_counter() - t0) * 1000
        print(f"first reduced read after the bulk import (builds the tiles): {dt:.0f} ms")
        for buckets in (2000, 500):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                out = tm.metrics.reduced(exp, "loss", buckets=buckets)
                times.append(time.perf_counter() - t0)
            assert any(b.nan_step == 123_456 for b in out)
            assert max(b.max_value for b in out) == 1e6
            print(
                f"reduced read of a 1M-point series to {buckets} buckets: "
                f"best {min(times) * 1000:.1f} ms, median {sorted(times)[2] * 1000:.1f} ms "
                f"({len(out)} buckets; NaN and spike kept)"
            )
        t0 = time.perf_counter()
        out = tm.metrics.reduced(exp, "loss", 400_000, 420_000, buckets=2000)
        dt = (time.perf_counter() - t0) * 1000
        print(f"zoomed read (20k steps -> 2000 buckets): {dt:.1f} ms ({len(out)} buckets)")
        _rave_spacing(tm)
        size = (Path(tmp) / "bench.sqlite3").stat().st_size
        wal = Path(tmp) / "bench.sqlite3-wal"
        size += wal.stat().st_size if wal.exists() else 0
        print(f"database size: {size / 1e6:.0f} MB for {6 * N:,} points")
        tm.close()


def _rave_spacing(tm: TrainingManager) -> None:
    """What the plot reads (``reduced_xy``) of a series at RAVE's spacing (a point every 50
    steps): 125,000 points written live, 1,000 a transaction (so no tile is built after the
    fact), then read whole to 2,000 buckets."""
    exp = tm.start_training({"name": "rave_spacing"})
    n, spacing = 125_000, 50
    steps = spacing * np.arange(n, dtype=np.int64)
    values = 3 * np.exp(-steps / 2e6) + np.random.default_rng(2).normal(0, 0.05, n)
    for i in range(0, n, 1000):
        tm.metrics.add_series(exp, {"loss": (steps[i : i + 1000], values[i : i + 1000], None)})
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        x, _y, _last = tm.metrics.reduced_xy(exp, "loss", buckets=2000)
        times.append(time.perf_counter() - t0)
    print(
        f"RAVE's spacing (a point every {spacing} steps), {n:,} points written live: "
        f"2000-bucket read (the plot's) first {times[0] * 1000:.1f} ms, then median "
        f"{sorted(times[1:])[3] * 1000:.1f} ms ({x.size:,} points to draw)"
    )


if __name__ == "__main__":
    main()
