"""What the launcher adds inside a RAVE training process besides learning rates: gradient
norms, dead units and "save a checkpoint now" (SIGUSR1).

Loaded by ``launcher.py`` from its own folder by file path (never imported by the app), with
RAVE's Python. Standard library only at the top; torch is imported inside functions.

At each logging step (the steps Lightning logs RAVE's training scalars at, plus the run's first
batch and its last) the callback writes to the run's TensorBoard event file:

- ``grad_norm_generator`` / ``grad_norm_discriminator``: the L2 norm of all the gradients an
  optimizer is about to apply, read in a step pre-hook of that optimizer (RAVE optimizes
  manually: the generator's and the discriminator's steps alternate in phase 2, so each norm is
  logged at the first step its optimizer steps from a logging step on; the discriminator's never
  appears in phase 1, where it does not learn).
- ``dead_units_max_fraction``: over the activation layers (ReLU-like modules, Snake), the largest
  fraction of a layer's outputs that are exactly zero during that step's forward pass (the
  training batch, sampled at up to SAMPLE_POSITIONS time positions; forward hooks attached for
  that one step only), and ``dead_units_layers``, how many layers have more than half of their
  outputs exactly zero.

Between logging steps the cost is one Python call per optimizer step (the pre-hook sees it is
not armed). ``RAVE_GUI_MONITOR=0`` turns all of this off (not the checkpoint signal).

SIGUSR1 asks for a checkpoint: it is saved at the next batch boundary into the folder RAVE's
ModelCheckpoint writes to (``version_N/checkpoints``) as ``manual-epoch=E-step=S.ckpt``
(written under a temporary name, then renamed), and the launcher prints
``rave-gui: checkpoint saved PATH step=S``.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import Any

LINE_PREFIX = "rave-gui:"
MONITOR_ENV = "RAVE_GUI_MONITOR"
GRAD_TAGS = {"generator": "grad_norm_generator", "discriminator": "grad_norm_discriminator"}
DEAD_FRACTION_TAG = "dead_units_max_fraction"
DEAD_LAYERS_TAG = "dead_units_layers"
DEAD_LAYER_FRACTION = 0.5  # a layer counts as dead above this fraction of exact zeros
# Zeros are counted at up to this many evenly spaced positions along an output's last (time)
# axis, every batch example and channel: counting all of them costs as much as the forward
# pass itself (measured: bench/bench_launcher.py); a dead unit is zero at every position.
SAMPLE_POSITIONS = 256
ACTIVATIONS = (
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Hardswish",
    "Snake",
)

_save_requested = {"flag": False}


def _request_save(signum: int, frame: Any) -> None:
    _save_requested["flag"] = True


def install_save_signal() -> bool:
    """SIGUSR1 asks for a checkpoint at the next batch boundary (main thread only)."""
    sigusr1 = getattr(signal, "SIGUSR1", None)
    if sigusr1 is None:  # Windows
        return False
    try:
        signal.signal(sigusr1, _request_save)
        return True
    except (ValueError, OSError):
        return False


def monitor_enabled() -> bool:
    return os.environ.get(MONITOR_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def optimizer_roles(optimizers: list[Any], pl_module: Any) -> dict[int, str]:
    """Which optimizer index is the generator's, which the discriminator's (by their
    parameters; RAVE's configure_optimizers returns (generator, discriminator))."""
    roles: dict[int, str] = {}
    disc = getattr(pl_module, "discriminator", None)
    if disc is not None:
        disc_ids = {id(p) for p in disc.parameters()}
        for i, opt in enumerate(optimizers):
            params = [p for g in opt.param_groups for p in g["params"]]
            is_disc = bool(params) and all(id(p) in disc_ids for p in params)
            roles[i] = "discriminator" if is_disc else "generator"
    if sorted(roles.values()) != ["discriminator", "generator"]:
        names = ("generator", "discriminator")
        roles = {i: names[i] for i in range(min(2, len(optimizers)))}
    return roles


def grad_norm(optimizer: Any) -> float | None:
    """The L2 norm of the gradients of an optimizer's parameters (None: no gradient)."""
    import torch

    norms = [
        torch.linalg.vector_norm(p.grad.detach(), 2)
        for group in optimizer.param_groups
        for p in group["params"]
        if p.grad is not None
    ]
    if not norms:
        return None
    return float(torch.linalg.vector_norm(torch.stack(norms), 2))


def is_activation(module: Any) -> bool:
    return type(module).__name__ in ACTIVATIONS


class DeadUnitProbe:
    """Forward hooks on a model's activation layers that count exact zeros in their outputs,
    attached for one step (:meth:`attach`, then :meth:`collect`)."""

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._counts: dict[str, list[Any]] = {}

    def attach(self, model: Any) -> None:
        self.detach()
        for name, module in model.named_modules():
            if is_activation(module):
                self._handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if hasattr(output, "detach"):
                out = output.detach()
                if out.dim() >= 2 and out.shape[-1] > SAMPLE_POSITIONS:
                    out = out[..., :: out.shape[-1] // SAMPLE_POSITIONS]
                entry = self._counts.setdefault(name, [0, 0])
                entry[0] = entry[0] + (out == 0).sum()  # a tensor: no device sync here
                entry[1] += out.numel()

        return hook

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def collect(self) -> dict[str, float]:
        """Per layer, the fraction of its outputs that were exactly zero (and forget them)."""
        import torch

        self.detach()
        counts, self._counts = self._counts, {}
        names = [n for n, (_z, total) in counts.items() if total]
        if not names:
            return {}
        zeros = torch.stack([torch.as_tensor(counts[n][0]).float().cpu() for n in names])
        return {n: float(z) / counts[n][1] for n, z in zip(names, zeros.tolist(), strict=True)}


def _warn_once(state: dict[str, Any], what: str) -> None:
    if state.get("warned"):
        return
    state["warned"] = True
    try:
        sys.stderr.write(
            f"{LINE_PREFIX} training monitor failed ({what}); training continues without it\n"
            + traceback.format_exc()
        )
        sys.stderr.flush()
    except Exception:
        pass


def _say(text: str, trainer: Any) -> None:
    # A progress bar may be mid-line on stdout: start on a fresh line.
    lead = "\n" if getattr(trainer, "progress_bar_callback", None) else ""
    sys.stdout.write(f"{lead}{LINE_PREFIX} {text}\n")
    sys.stdout.flush()


def _log_metrics(trainer: Any, metrics: dict[str, float], step: int) -> None:
    for logger in getattr(trainer, "loggers", None) or []:
        logger.log_metrics(metrics, step=step)
        flush = getattr(getattr(logger, "experiment", None), "flush", None)
        if callable(flush):
            flush()


def checkpoint_dir(trainer: Any) -> str:
    """Where RAVE's ModelCheckpoint callbacks write (``version_N/checkpoints``)."""
    for cb in getattr(trainer, "checkpoint_callbacks", None) or []:
        dirpath = getattr(cb, "dirpath", None)
        if dirpath:
            return str(dirpath)
    return os.path.join(str(trainer.log_dir or trainer.default_root_dir), "checkpoints")


def make_monitor_callback(pl: Any) -> Any:
    """A ``pl.Callback`` class (``pl``: pytorch_lightning) doing what the module says."""

    class RaveGuiTrainingMonitor(pl.Callback):
        def __init__(self, monitor: bool = True) -> None:
            super().__init__()
            self.monitor = monitor
            self._state: dict[str, Any] = {}
            self._first_step: int | None = None
            self._armed: set[str] = set()  # optimizers whose next step is measured
            self._norms: dict[str, float] = {}  # measured, not logged yet
            self._hooked: set[int] = set()
            self._roles: dict[int, str] | None = None
            self._probe = DeadUnitProbe()
            self._probing = False

        # Nothing to save: checkpoints stay identical to those of plain `rave train`.
        def state_dict(self) -> dict[str, Any]:
            return {}

        @staticmethod
        def _step(trainer: Any) -> int:
            # Lightning 1.9 logs training scalars at _batches_that_stepped (see launcher.py)
            loop = trainer.fit_loop.epoch_loop
            return int(getattr(loop, "_batches_that_stepped", trainer.global_step))

        def _due(self, trainer: Any, step: int) -> bool:
            if self._first_step is None:
                self._first_step = step
            every = max(1, int(getattr(trainer, "log_every_n_steps", 50) or 50))
            max_steps = int(getattr(trainer, "max_steps", -1) or -1)
            return (
                step == self._first_step
                or (step + 1) % every == 0
                or (max_steps > 0 and step + 1 >= max_steps)
            )

        def _hook_optimizers(self, trainer: Any, pl_module: Any) -> None:
            optimizers = list(trainer.optimizers)
            if self._roles is None:
                self._roles = optimizer_roles(optimizers, pl_module)
            for i, role in self._roles.items():
                opt = optimizers[i]
                if id(opt) in self._hooked or not hasattr(opt, "register_step_pre_hook"):
                    continue
                self._hooked.add(id(opt))
                opt.register_step_pre_hook(self._pre_step(role))

        def _pre_step(self, role: str) -> Any:
            def hook(optimizer: Any, args: Any, kwargs: Any) -> None:
                if role not in self._armed:
                    return
                self._armed.discard(role)
                try:
                    value = grad_norm(optimizer)
                except Exception:
                    _warn_once(self._state, "gradient norm")
                    return
                if value is not None:
                    self._norms[GRAD_TAGS[role]] = value

            return hook

        def on_train_batch_start(self, trainer: Any, pl_module: Any, *a: Any, **kw: Any) -> None:
            if not self.monitor or self._state.get("warned"):
                return
            try:
                self._hook_optimizers(trainer, pl_module)
                if self._due(trainer, self._step(trainer)):
                    self._armed = set(GRAD_TAGS)
                    if getattr(trainer, "is_global_zero", True):
                        self._probe.attach(pl_module)
                        self._probing = True
            except Exception:
                self._probe.detach()
                _warn_once(self._state, "on_train_batch_start")

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *a: Any, **kw: Any) -> None:
            if self.monitor and not self._state.get("warned"):
                try:
                    self._log(trainer)
                except Exception:
                    self._probe.detach()
                    _warn_once(self._state, "on_train_batch_end")
            if _save_requested["flag"]:
                _save_requested["flag"] = False
                self._save_now(trainer)

        def _log(self, trainer: Any) -> None:
            metrics = dict(self._norms)
            self._norms.clear()
            if self._probing:
                self._probing = False
                fractions = self._probe.collect()
                if fractions:
                    metrics[DEAD_FRACTION_TAG] = max(fractions.values())
                    metrics[DEAD_LAYERS_TAG] = float(
                        sum(f > DEAD_LAYER_FRACTION for f in fractions.values())
                    )
            if metrics and getattr(trainer, "is_global_zero", True):
                _log_metrics(trainer, metrics, self._step(trainer))

        def _save_now(self, trainer: Any) -> None:
            step = self._step(trainer)
            if int(getattr(trainer, "world_size", 1) or 1) > 1:
                # saving waits for every process, and only this one got the signal
                sys.stderr.write(
                    f"{LINE_PREFIX} cannot save a checkpoint on request in multi-process "
                    "training; RAVE saves one at each validation\n"
                )
                return
            try:
                folder = checkpoint_dir(trainer)
                os.makedirs(folder, exist_ok=True)
                name = f"manual-epoch={int(trainer.current_epoch):04d}-step={step}.ckpt"
                path = os.path.join(folder, name)
                part = path + ".part"
                trainer.save_checkpoint(part)
                if getattr(trainer, "is_global_zero", True):
                    os.replace(part, path)
                    _say(f"checkpoint saved {path} step={step}", trainer)
            except Exception as exc:
                sys.stderr.write(f"{LINE_PREFIX} could not save a checkpoint now: {exc}\n")
                sys.stderr.flush()

    return RaveGuiTrainingMonitor


__all__ = [
    "DEAD_FRACTION_TAG",
    "DEAD_LAYERS_TAG",
    "GRAD_TAGS",
    "DeadUnitProbe",
    "checkpoint_dir",
    "grad_norm",
    "install_save_signal",
    "make_monitor_callback",
    "monitor_enabled",
    "optimizer_roles",
]
