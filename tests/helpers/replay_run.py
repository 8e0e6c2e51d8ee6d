#!/usr/bin/env python3
"""Replay a captured `rave train` run as a live process (standard library only).

    python replay_run.py FIXTURE_DIR --out OUT [--name NAME] [--duration S] [--fail]
                         [--workers N] [--seed N] [--tick-every S --max-steps N]

FIXTURE_DIR is one of ``shared/fixtures/rave/run_*`` (``train.stdout``, ``train.stderr``,
``events.out.tfevents.*``, ``config.gin``). The replay behaves like the real command, compressed
to ``--duration`` seconds:

- stderr's start (absl/gin noise, warnings, the model summary) comes first, line by line;
- stdout (plain lines, then carriage-return progress bars) follows in small random-size chunks
  (cut anywhere, even inside a UTF-8 character, as a pipe may deliver them);
- meanwhile the fixture's event file is appended to ``OUT/NAME_d744cc98b7/version_0/`` in
  random-size chunks that know nothing of TFRecord boundaries, and half-way through a small fake
  ``epoch-epoch=0001.ckpt`` and ``best.ckpt`` appear in ``version_0/checkpoints/``;
- stderr's end (`` `Trainer.fit` stopped: ...``, the profiler report) closes the run; exit 0.

``--fail``: at the first validation (``--fail-at`` of the way) a real-looking traceback ending
in RAVE's PCA ``ValueError`` is printed on stderr and the process exits 1.
SIGINT (to the process or its group): ``Detected KeyboardInterrupt, attempting graceful
shutdown...`` on stderr, exit 0 within about 0.1 s, like RAVE (``--interrupt-time S``: after
S seconds, as a real run takes to shut down; a second SIGINT meanwhile is ignored).
``--workers N`` forks N children that just sleep in the same process group, like data-loader
workers; they end with the run.
Pauses (SIGSTOP/SIGCONT) just delay the replay: it sleeps between steps, it does not catch up.
``--tick-every S --max-steps N``: like rave-gui's launcher, a ``rave-gui: step=K`` line on
stdout every S seconds while the bars go on (after a whole bar, on a fresh line), K growing
with the replay up to N.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import time
import zipfile
from pathlib import Path

RUN_HASH = "d744cc98b7"
FAIL_REASON = "ValueError: n_components=128 must be between 0 and min(n_samples, n_features)=64"
INTERRUPT_TEXT = "Detected KeyboardInterrupt, attempting graceful shutdown...\n"
MAX_SLICE_S = 0.05  # longest single sleep (keeps the replay responsive)

TRACEBACK = (
    """\
Traceback (most recent call last):
  File "/opt/venv/bin/rave", line 8, in <module>
    sys.exit(main())
             ^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/scripts/main_cli.py", line 30, in main
    app.run(train.main)
  File "/opt/venv/lib/python3.11/site-packages/absl/app.py", line 308, in run
    _run_main(main, args)
  File "/opt/venv/lib/python3.11/site-packages/absl/app.py", line 254, in _run_main
    sys.exit(main(argv))
             ^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/scripts/train.py", line 277, in main
    trainer.fit(model, train, val, ckpt_path=run)
  File "/opt/venv/lib/python3.11/site-packages/pytorch_lightning/trainer/trainer.py", \
line 608, in fit
    call._call_and_handle_interrupt(
  File "/opt/venv/lib/python3.11/site-packages/pytorch_lightning/trainer/call.py", \
line 38, in _call_and_handle_interrupt
    return trainer_fn(*args, **kwargs)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/pytorch_lightning/loops/epoch/\
evaluation_epoch_loop.py", line 214, in _evaluation_epoch_end
    self.trainer._call_lightning_module_hook("validation_epoch_end", outputs)
  File "/opt/venv/lib/python3.11/site-packages/rave/model.py", line 478, in \
validation_epoch_end
    pca = PCA(z.shape[-1]).fit(z.cpu())
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/sklearn/decomposition/_pca.py", line 434, in fit
    self._fit(X)
  File "/opt/venv/lib/python3.11/site-packages/sklearn/decomposition/_pca.py", line 510, in _fit
    return self._fit_full(X, n_components)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/sklearn/decomposition/_pca.py", line 524, in \
_fit_full
    raise ValueError(
"""
    + FAIL_REASON
    + "\n"
)


def _chunks(data: bytes, rng: random.Random, low: int, high: int) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.randint(low, high)
        out.append(data[i : i + n])
        i += n
    return out


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _spread(items: list, start: float, end: float) -> list[tuple[float, object]]:
    """Place items evenly between two fractions of the run."""
    if not items:
        return []
    step = (end - start) / len(items)
    return [(start + i * step, it) for i, it in enumerate(items)]


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


class Replay:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.fixture = Path(args.fixture)
        self.rng = random.Random(args.seed)
        self.run_folder = Path(args.out) / f"{args.name}_{RUN_HASH}"
        self.version = self.run_folder / "version_0"
        self.workers: list[int] = []
        self.stdout = (self.fixture / "train.stdout").read_bytes()
        self.out_pos = 0  # bytes of stdout written so far
        events = sorted(self.fixture.glob("events.out.tfevents.*"))
        if not events:
            raise SystemExit(f"no event file in {self.fixture}")
        self.events_src = events[0]
        self.events_dst = self.version / events[0].name

    # --- actions -------------------------------------------------------------------------------
    def schedule(self) -> list[tuple[float, str, object]]:
        rng = self.rng
        stderr = (self.fixture / "train.stderr").read_bytes()
        cut = stderr.find(b"`Trainer.fit` stopped")
        head, tail = (stderr, b"") if cut < 0 else (stderr[:cut], stderr[cut:])
        plan: list[tuple[float, str, object]] = [(0.0, "setup", None)]
        plan += [(t, "err", b) for t, b in _spread(_lines(head), 0.0, 0.08)]
        plan.append((0.09, "workers", None))
        sizes = [len(c) for c in _chunks(self.stdout, rng, 20, 400)]
        plan += [(t, "out", n) for t, n in _spread(sizes, 0.10, 0.90)]
        events = self.events_src.read_bytes()
        plan += [(t, "events", b) for t, b in _spread(_chunks(events, rng, 1, 65536), 0.12, 0.92)]
        plan.append((0.50, "checkpoints", None))
        if self.args.tick_every > 0 and self.args.max_steps > 0:
            n = int(0.8 * self.args.duration / self.args.tick_every)
            ticks = [int(self.args.max_steps * (i + 1) / (n + 1)) for i in range(n)]
            plan += [(t, "tick", k) for t, k in _spread(ticks, 0.10, 0.90)]
        plan += [(t, "err", b) for t, b in _spread(_lines(tail), 0.95, 0.99)]
        if self.args.fail:
            plan = [p for p in plan if p[0] < self.args.fail_at]
            plan.append((self.args.fail_at, "fail", None))
        plan.append((1.0, "end", None))
        plan.sort(key=lambda p: p[0])  # stable: equal times keep their order
        return plan

    def do(self, kind: str, payload: object) -> int | None:
        if kind == "setup":
            self.version.mkdir(parents=True, exist_ok=True)
            gin = self.fixture / "config.gin"
            if gin.exists():
                shutil.copyfile(gin, self.run_folder / "config.gin")
            (self.version / "hparams.yaml").write_text("{}\n")
        elif kind == "out":
            end = self.out_pos + payload  # type: ignore[operator]
            _write_all(1, self.stdout[self.out_pos : end])
            self.out_pos = end
        elif kind == "err":
            _write_all(2, payload)  # type: ignore[arg-type]
        elif kind == "events":
            with open(self.events_dst, "ab") as f:
                f.write(payload)  # type: ignore[arg-type]
        elif kind == "checkpoints":
            ckpts = self.version / "checkpoints"
            ckpts.mkdir(exist_ok=True)
            for name in ("epoch-epoch=0001.ckpt", "best.ckpt"):
                tmp = ckpts / f".{name}.tmp"
                with zipfile.ZipFile(tmp, "w") as z:  # a complete archive, as torch.save's
                    z.writestr("archive/data.pkl", b"fake checkpoint " + os.urandom(2048))
                os.replace(tmp, ckpts / name)
        elif kind == "tick":
            self.finish_bar()
            _write_all(1, f"\nrave-gui: step={payload}\n".encode())
        elif kind == "workers":
            self.start_workers(self.args.workers)
        elif kind == "fail":
            self.finish_bar()
            _write_all(2, TRACEBACK.encode())
            return 1
        elif kind == "end":
            return 0
        return None

    def finish_bar(self) -> None:
        """Write the rest of the progress bar being written: tqdm writes a bar in one call, so
        a crash or an interrupt comes after a whole bar (glued to its end, as in real logs)."""
        rest = self.stdout[self.out_pos :]
        ends = [i for i in (rest.find(b"\r"), rest.find(b"\n")) if i >= 0]
        j = min(ends) if ends else len(rest)
        if j < len(rest) and rest[j : j + 1] == b"\n":
            j += 1
        _write_all(1, rest[:j])
        self.out_pos += j

    # --- data-loader-like workers --------------------------------------------------------------
    def start_workers(self, n: int) -> None:
        parent = os.getpid()
        for _ in range(n):
            pid = os.fork()
            if pid == 0:  # the worker: sleep until told to go or orphaned
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    while os.getppid() == parent:
                        time.sleep(0.1)
                except BaseException:
                    pass
                finally:
                    os._exit(0)
            self.workers.append(pid)

    def stop_workers(self) -> None:
        for pid in self.workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.workers:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.workers = []

    # --- main loop -----------------------------------------------------------------------------
    def run(self) -> int:
        duration = max(self.args.duration, 0.0)
        now = 0.0
        try:
            for t, kind, payload in self.schedule():
                wait = (t - now) * duration
                now = t
                while wait > 0:  # relative sleeps: a paused replay resumes where it was
                    s = min(wait, MAX_SLICE_S)
                    time.sleep(s)
                    wait -= s
                code = self.do(kind, payload)
                if code is not None:
                    self.stop_workers()
                    return code
        except KeyboardInterrupt:
            self.finish_bar()
            _write_all(2, INTERRUPT_TEXT.encode())
            if self.args.interrupt_time > 0:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                time.sleep(self.args.interrupt_time)
            self.stop_workers()
            return 0
        self.stop_workers()
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fixture", help="a captured run folder (train.stdout, train.stderr, events)")
    ap.add_argument("--out", required=True, help="like rave train --out_path")
    ap.add_argument("--name", default="replay", help="like rave train --name")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds for the whole replay")
    ap.add_argument("--fail", action="store_true", help="crash at the first validation")
    ap.add_argument("--fail-at", type=float, default=0.45, help="fraction of the run to crash at")
    ap.add_argument("--workers", type=int, default=0, help="sleeping child processes to fork")
    ap.add_argument("--seed", type=int, default=0, help="seed of the chunk sizes")
    ap.add_argument("--tick-every", type=float, default=0.0, help="seconds between step lines")
    ap.add_argument("--max-steps", type=int, default=0, help="the step the step lines reach")
    ap.add_argument(
        "--interrupt-time", type=float, default=0.0, help="seconds to shut down after SIGINT"
    )
    args = ap.parse_args(argv)
    # Python's own handler (KeyboardInterrupt), even when started with SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return Replay(args).run()


if __name__ == "__main__":
    sys.exit(main())
