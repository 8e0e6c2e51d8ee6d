"""Benchmark of the event-file reader (backend/rave/tfevents) on 1,000,000 points."""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rave_gui.backend.rave.eventproto import ScalarPoint  # noqa: E402
from rave_gui.backend.rave.tfevents import (  # noqa: E402
    EventDirFollower,
    EventFileReader,
    read_scalars,
    write_scalar_events,
)

# what a long RAVE run logs every log_every_n_steps (adversarial phase included)
TAGS = (
    "fullband_spectral_distance",
    "multiband_spectral_distance",
    "regularization",
    "beta_factor",
    "adversarial",
    "feature_matching",
    "loss_dis",
    "pred_real",
    "pred_fake",
    "epoch",
)


def make_points(steps: int, t0: float = 1.795e9) -> Iterator[ScalarPoint]:
    """len(TAGS) scalars per step, one step every 50 (Lightning's log_every_n_steps)."""
    for k in range(steps):
        step = 49 + 50 * k
        wall = t0 + 0.3 * step
        for j, tag in enumerate(TAGS):
            yield ScalarPoint(tag, step, math.exp(-step / 1e6) + 0.01 * j, wall + 1e-5 * j)


def timed(label: str, fn, nbytes: int) -> tuple[object, float]:
    """Run fn once; print wall and CPU time (CPU time is steadier on a shared machine)."""
    t, c = time.perf_counter(), time.process_time()
    result = fn()
    dt, dc = time.perf_counter() - t, time.process_time() - c
    n = len(result) if isinstance(result, list) else result
    print(
        f"{label:<32} {dt:6.2f} s wall {dc:6.2f} s cpu  "
        f"{n / dt / 1e6:5.2f} ({n / dc / 1e6:5.2f}) M points/s  "
        f"{nbytes / dt / 1e6:5.1f} ({nbytes / dc / 1e6:5.1f}) MB/s"
    )
    return result, dt


def follow_in_chunks(path: Path, chunk: int) -> int:
    """Copy the file into a new one chunk by chunk, polling a follower after each append."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp, "run")
        (run / "version_0").mkdir(parents=True)
        dst = run / "version_0" / path.name
        follower = EventDirFollower(run)
        total = 0
        with open(path, "rb") as src, open(dst, "wb") as out:
            while block := src.read(chunk):
                out.write(block)
                out.flush()
                total += len(follower.poll())
        total += len(follower.poll())
        return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100_000, help="steps (x10 tags = points)")
    ap.add_argument("--chunk", type=int, default=256 * 1024, help="bytes per append when following")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "events.out.tfevents.1795382534.bench.1.0")
        n_points = args.steps * len(TAGS)
        t = time.perf_counter()
        write_scalar_events(path, make_points(args.steps))
        dt = time.perf_counter() - t
        size = os.path.getsize(path)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}"
        )
        print(f"file: {n_points:,} points ({len(TAGS)} tags), {size / 1e6:.1f} MB")
        print(
            f"{'write_scalar_events':<32} {dt:6.2f} s wall  {n_points / dt / 1e6:5.2f} M points/s"
        )
        print("(figures in parentheses: per CPU second)")

        points, _ = timed("read_scalars (one shot)", lambda: read_scalars(path), size)
        assert len(points) == n_points, len(points)
        del points
        timed(
            "EventFileReader.read_new(4 MB)",
            lambda: _read_in_steps(path, 4 * 1024 * 1024),
            size,
        )
        timed(
            f"follow, appends of {args.chunk // 1024} KB",
            lambda: follow_in_chunks(path, args.chunk),
            size,
        )

        if not args.no_profile:
            prof = cProfile.Profile()
            prof.enable()
            read_scalars(path)
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(8)
            print("\ncProfile of read_scalars (tottime, top 8):")
            print("\n".join(line for line in s.getvalue().splitlines() if line.strip())[:3000])


def _read_in_steps(path: Path, max_bytes: int) -> int:
    reader = EventFileReader(path)
    total = 0
    while batch := reader.read_new(max_bytes):
        total += len(batch)
    return total


if __name__ == "__main__":
    main()
