"""Benchmark: the health rules' cost. Prints figures; asserts nothing about time.

1. Live: the cost of feeding 1,000 new points (a RAVE-like mix: four training terms every
   50 steps, validation every 500) to a HealthMonitor whose state is restored from JSON and
   saved again, as each follower's store does.
2. Import: one pass over a 1M-point run (four training terms of 250,000 points and a
   validation every 100 steps), beside the time to build the lists it is read from.

Goal (issue 10): the checks under 5 % of a 1M-point import.
Run: .venv/bin/python bench/bench_health.py
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rave_gui.backend.runs.health import HealthMonitor, evaluate_series  # noqa: E402

TERMS = ("fullband_spectral_distance", "multiband_spectral_distance", "regularization", "loss_dis")


def _points(first_step: int, n: int) -> dict[str, list[tuple[int, float]]]:
    pts: dict[str, list[tuple[int, float]]] = {}
    step, made = first_step, 0
    while made < n:
        step += 50
        for t in TERMS:
            pts.setdefault(t, []).append((step, 2.0 + 8.0 * math.exp(-step / 1e6)))
            made += 1
        if step % 500 == 0:
            pts.setdefault("validation", []).append((step, 3.0 + 7.0 * math.exp(-step / 1e6)))
            made += 1
    return pts


def live(batches: int = 200) -> None:
    state = HealthMonitor().state()
    step = 0
    t0 = time.perf_counter()
    for _ in range(batches):
        batch = _points(step, 1000)
        step = max(s for p in batch.values() for s, _v in p)
        m = HealthMonitor(state=json.loads(json.dumps(state)))
        m.feed(batch)
        state = m.state()
    dt = (time.perf_counter() - t0) / batches
    print(f"live: {dt * 1000:.2f} ms per 1,000 new points (state restored and saved each time)")


def import_pass(n: int = 1_000_000) -> None:
    per = n // 4
    t0 = time.perf_counter()
    series = {}
    for name in TERMS:
        steps = list(range(per))
        series[name] = (steps, [2.0 + math.sin(s / 1e4) for s in steps])
    val = list(range(0, per, 100))
    series["validation"] = (val, [3.0 + math.exp(-s / 1e5) for s in val])
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    alerts, _state = evaluate_series(series)
    dt = time.perf_counter() - t0
    print(
        f"import: {dt:.2f} s for {n:,} points ({dt / n * 1e9:.0f} ns/point, {len(alerts)} alerts);"
        f" building the lists took {build:.2f} s"
    )


if __name__ == "__main__":
    live()
    import_pass()
