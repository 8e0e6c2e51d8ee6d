"""Benchmark of what the launcher adds to a RAVE training step (rave/trainwatch.py): gradient
norms and dead units at the logging steps, a no-op optimizer pre-hook at the others.

Needs RAVE (acids-rave 2.3.1, torch, Lightning): run it with RAVE's Python. It trains the real
``v2_small`` model with Lightning on the CPU (batch 2, 131,072 samples of synthetic audio, as
``rave train`` does in phase 1) twice: without and with the monitor callback, in the same
process, each step timed from the first callback's batch start to the last one's batch end.
It also times the monitor's own work directly (gradient norms, the forward pass with the
dead-unit hooks attached), which is far less noisy than comparing whole steps on a busy machine.
Goal (issue 10): under 2 % added per training step at RAVE's logging interval (50 steps).

    <rave python> bench/bench_launcher.py [--steps 12] [--every 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAINWATCH = ROOT / "rave_gui" / "backend" / "rave" / "trainwatch.py"


def _trainwatch() -> Any:
    spec = importlib.util.spec_from_file_location("rave_gui_trainwatch", TRAINWATCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model() -> Any:
    import gin
    import rave

    configs = Path(rave.__file__).parent / "configs"
    gin.clear_config()
    gin.add_config_file_search_path(str(configs))
    gin.parse_config_files_and_bindings([str(configs / "v2_small.gin")], [])
    return rave.RAVE(n_channels=1)


def _loader(steps: int, batch: int, n_signal: int) -> Any:
    import torch

    t = torch.linspace(0, n_signal / 44100, n_signal)
    clips = []
    for i in range(batch * steps):
        f = 110.0 * (1 + i % 7)
        x = 0.3 * torch.sin(2 * torch.pi * f * t) + 0.05 * torch.randn(n_signal)
        clips.append(x[None])
    data = torch.stack(clips)
    return torch.utils.data.DataLoader(data, batch_size=batch, shuffle=False, drop_last=True)


def _fit(steps: int, every: int, monitor: bool, batch: int, n_signal: int) -> list[float]:
    """Step times (s) of a real Lightning fit of v2_small, with or without the monitor."""
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger

    times: list[float] = []
    start = {"t": 0.0}

    class Begin(pl.Callback):
        def on_train_batch_start(self, *a: Any, **k: Any) -> None:
            start["t"] = time.perf_counter()

    class End(pl.Callback):
        def on_train_batch_end(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter() - start["t"])

    callbacks: list[Any] = [Begin()]
    if monitor:
        callbacks.append(_trainwatch().make_monitor_callback(pl)(monitor=True))
    callbacks.append(End())
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(
            max_steps=steps,
            accelerator="cpu",
            logger=TensorBoardLogger(tmp),
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            log_every_n_steps=every,
            limit_val_batches=0,
            callbacks=callbacks,
        )
        trainer.fit(_model(), train_dataloaders=_loader(steps, batch, n_signal))
    return times


def _components(batch: int, n_signal: int, repeats: int) -> dict[str, float]:
    """The monitor's own work, timed on v2_small after a real backward pass (seconds)."""
    import torch

    watch = _trainwatch()
    model = _model()
    gen_params = [*model.encoder.parameters(), *model.decoder.parameters()]
    opt = torch.optim.Adam(gen_params, 1e-3)
    x = _loader(1, batch, n_signal).dataset[:batch]

    def forward() -> Any:
        z = model.encode(x)
        z = model.encoder.reparametrize(z)[0]
        return model.decode(z)

    def median(fn: Any) -> float:
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return statistics.median(out)

    def median_of_one(fn: Any) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def step() -> None:
        opt.zero_grad()
        y = forward()
        (y - x).abs().mean().backward()
        opt.step()

    step()  # warm up, and leave gradients in place
    probe = watch.DeadUnitProbe()

    def probed() -> None:
        probe.attach(model)
        forward()
        probe.collect()

    plain, hooked = [], []
    for _ in range(repeats):  # interleaved: the machine's noise falls on both
        plain.append(median_of_one(forward))
        hooked.append(median_of_one(probed))
    return {
        "step": median(step),
        "grad_norm": median(lambda: watch.grad_norm(opt)),
        "forward": statistics.median(plain),
        "forward_probed": statistics.median(hooked),
        "hooked_layers": float(sum(watch.is_activation(m) for m in model.modules())),
        "params": float(sum(p.numel() for p in gen_params)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="training steps per fit")
    parser.add_argument("--every", type=int, default=50, help="RAVE's logging interval")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="fits without and with, in turn")
    parser.add_argument("--no-fit", action="store_true", help="time the monitor's work only")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--n-signal", type=int, default=131072)
    a = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.manual_seed(0)
    c = _components(a.batch, a.n_signal, a.repeats)
    dead = c["forward_probed"] - c["forward"]
    print(f"v2_small on the CPU ({torch.get_num_threads()} threads), batch {a.batch}")
    print(f"  generator parameters             {c['params'] / 1e6:8.2f} M")
    print(f"  activation layers hooked         {c['hooked_layers']:8.0f}")
    print(f"  forward+backward+step (L1 loss)  {1e3 * c['step']:8.1f} ms")
    print(f"  gradient norm (all parameters)   {1e3 * c['grad_norm']:8.2f} ms")
    print(f"  forward                          {1e3 * c['forward']:8.1f} ms")
    print(
        f"  forward with dead-unit hooks     {1e3 * c['forward_probed']:8.1f} ms "
        f"(+{1e3 * dead:.2f})"
    )

    if a.no_fit:
        return 0
    # A real Lightning step of v2_small (phase 1), with the monitor logging at every step (the
    # worst case) and without it; Lightning logs RAVE's scalars at every step in both.
    steps = max(a.steps, 4)
    without: list[float] = []
    with_all: list[float] = []
    for r in range(a.rounds):  # alternated, in both orders: the machine's noise falls on both
        for monitor in (False, True) if r % 2 == 0 else (True, False):
            times = _fit(steps, 1, monitor, a.batch, a.n_signal)[2:]  # RAVE's scalars each step
            (with_all if monitor else without).extend(times)
            label = "with monitor" if monitor else "no monitor  "
            print(f"  round {r}, {label}: median {1e3 * statistics.median(times):8.1f} ms")
    base, logged = statistics.median(without), statistics.median(with_all)
    print(
        f"  Lightning training step, no monitor       {1e3 * base:8.1f} ms (median, {len(without)})"
    )
    print(
        f"  Lightning step, monitor logging each step {1e3 * logged:8.1f} ms "
        f"(median, {len(with_all)})"
    )

    logging_cost = c["grad_norm"] + max(dead, 0.0)
    per_step = logging_cost / a.every
    print(f"monitor work at a logging step: {1e3 * logging_cost:.1f} ms = "
          f"{100 * logging_cost / base:.2f} % of that step")  # fmt: skip
    print(f"added per training step at a logging interval of {a.every}: {1e3 * per_step:.3f} ms "
          f"= {100 * per_step / base:.3f} % (goal: under 2 %)")  # fmt: skip
    print(f"whole-step difference, monitor at every step: {100 * (logged - base) / base:+.1f} % "
          "(includes the machine's noise)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
