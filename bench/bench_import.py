"""Benchmark: importing a RAVE run whose event files hold 1,000,000 scalar points.

Prints figures; asserts nothing about time. Run: .venv/bin/python bench/bench_import.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from rave_gui.backend.manager import TrainingManager
from rave_gui.backend.rave.eventproto import ScalarPoint
from rave_gui.backend.rave.tfevents import write_scalar_events
from rave_gui.backend.runs.engine import import_run

TAGS = (
    "fullband_spectral_distance", "multiband_spectral_distance", "regularization",
    "beta_factor", "adversarial", "feature_matching", "loss_dis", "pred_real",
    "pred_fake", "lr_generator",
)  # fmt: skip
STEPS = 100_000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "big_d744cc98b7" / "version_0"
        run.mkdir(parents=True)
        rng = np.random.default_rng(0)
        values = rng.random((len(TAGS), STEPS)).tolist()
        t0 = time.perf_counter()
        write_scalar_events(
            run / "events.out.tfevents.1.bench.0",
            (
                ScalarPoint(tag, s * 50 + 49, values[i][s], 1.7e9 + s)
                for s in range(STEPS)
                for i, tag in enumerate(TAGS)
            ),
        )
        size = (run / "events.out.tfevents.1.bench.0").stat().st_size
        print(
            f"wrote {len(TAGS) * STEPS:,} points ({size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t0:.1f} s (test writer, not timed below)"
        )
        tm = TrainingManager(Path(tmp) / "db.sqlite3")
        t0 = time.perf_counter()
        exp = import_run(tm, run.parent)
        dt = time.perf_counter() - t0
        n = len(TAGS) * STEPS
        print(f"runs import (read + store + summary + tiles): {dt:.2f} s, {n / dt:,.0f} points/s")
        t0 = time.perf_counter()
        for tag in TAGS:
            tm.metrics.reduced(exp, tag, buckets=2000)
        dt = time.perf_counter() - t0
        print(f"first reduced read of all {len(TAGS)} series: {dt:.2f} s")
        t0 = time.perf_counter()
        for tag in TAGS:
            tm.metrics.reduced(exp, tag, buckets=2000)
        dt = time.perf_counter() - t0
        print(f"reduced read of all {len(TAGS)} series afterwards: {dt * 1000:.0f} ms")
        tm.close()


if __name__ == "__main__":
    main()
