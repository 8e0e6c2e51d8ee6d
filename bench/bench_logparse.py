"""Benchmark of the log parser (backend/rave/logparse) on the real captured RAVE output."""

# The stdout and stderr of both captured runs are repeated until there are at least 1,000,000
# lines (segments ended by \r, \n or \r\n) and fed in 64 KiB reads: once as one merged stream
# (as with 2>&1), and once as two streams with a parser each (as the GUI reads them). CPU time
# of this process is reported beside wall time: on a shared, loaded machine the wall time
# mostly measures the other processes.
# Run: python bench/bench_logparse.py [--lines N] [--repeat N] [--fixtures DIR]

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rave_gui.backend.rave.logparse import LogParser  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "rave"  # /work/shared/fixtures/rave
RUNS = ("run_40steps", "run_110steps")
CHUNK = 64 * 1024
_BREAK_RE = re.compile(rb"\r\n|\r|\n")


def load(fixtures: Path, names: tuple[str, ...]) -> bytes:
    """The named capture files of both runs, one after the other."""
    parts = [(fixtures / run / name).read_bytes() for run in RUNS for name in names]
    # a capture's last line may lack its break: add one so that files do not glue together
    return b"".join(p if p.endswith((b"\n", b"\r")) else p + b"\n" for p in parts)


def count_lines(data: bytes) -> int:
    """Segments terminated by \\r, \\n or \\r\\n."""
    return len(_BREAK_RE.findall(data))


def feed_all(streams: list[bytes], keep: bool = False) -> tuple[int, Counter[str]]:
    """Feed each stream to its own parser in CHUNK-sized reads, as a consumer would: events
    are counted and dropped (``keep``: counted by type too, which costs time of its own)."""
    events = 0
    kinds: Counter[str] = Counter()
    for data in streams:
        parser = LogParser()
        feed = parser.feed
        for i in range(0, len(data), CHUNK):
            out = feed(data[i : i + CHUNK])
            events += len(out)
            if keep:
                kinds.update(type(e).__name__ for e in out)
        out = parser.flush()
        events += len(out)
        if keep:
            kinds.update(type(e).__name__ for e in out)
    return events, kinds


def measure(streams: list[bytes], repeat: int) -> tuple[float, float, int]:
    """Best CPU time and best wall time over ``repeat`` runs, and the number of events."""
    best_cpu = best_wall = float("inf")
    events = 0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        events, _ = feed_all(streams)
        c1, w1 = time.process_time(), time.perf_counter()
        best_cpu, best_wall = min(best_cpu, c1 - c0), min(best_wall, w1 - w0)
    return best_cpu, best_wall, events


def report(title: str, streams: list[bytes], lines: int, repeat: int) -> None:
    size = sum(len(s) for s in streams)
    cpu, wall, events = measure(streams, repeat)
    _, counts = feed_all(streams, keep=True)
    print(f"\n{title}: {size / 1e6:.1f} MB, {lines:,} lines, {CHUNK // 1024} KiB reads")
    print(f"  CPU time  {cpu:6.3f} s  {lines / cpu:>12,.0f} lines/s  {size / cpu / 1e6:6.1f} MB/s")
    print(
        f"  wall time {wall:6.3f} s  {lines / wall:>12,.0f} lines/s  {size / wall / 1e6:6.1f} MB/s"
    )
    detail = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    print(f"  {events:,} events ({detail})")


def profile(run: Callable[[], object], top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    start = text.find("   ncalls")
    return text[start:].rstrip() if start >= 0 else text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--lines", type=int, default=1_000_000, help="at least this many lines")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs; the best is reported")
    ap.add_argument("--profile-top", type=int, default=12)
    args = ap.parse_args()

    stdout = load(args.fixtures, ("train.stdout",))
    stderr = load(args.fixtures, ("train.stderr",))
    merged = load(args.fixtures, ("train.stdout", "train.stderr"))
    per = count_lines(merged)
    reps = -(-args.lines // per)
    lines = per * reps
    print(
        f"sample: {len(merged):,} bytes, {per:,} lines (stdout {count_lines(stdout):,}, "
        f"stderr {count_lines(stderr):,}); repeated {reps:,} times"
    )
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )

    report("merged stream (stdout+stderr, one parser)", [merged * reps], lines, args.repeat)
    report("two streams (a parser each)", [stdout * reps, stderr * reps], lines, args.repeat)

    data = [merged * reps]
    print("\nprofile of the merged stream (cProfile, by own time; cProfile slows it down):")
    print(profile(lambda: feed_all(data), args.profile_top))


if __name__ == "__main__":
    main()
