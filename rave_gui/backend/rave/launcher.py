"""Runs ``rave`` commands with RAVE's own Python, adding live learning-rate logging to training.

This file is a standalone script: the app runs it with the Python interpreter of the RAVE
installation, never imports it for its RAVE side, and it imports nothing from ``rave_gui``.
Top-level imports are standard library only; RAVE, torch and Lightning are imported inside
functions.

Usage::

    <rave python> launcher.py train <rave train flags...>
    <rave python> launcher.py --probe [--torch]
    <rave python> launcher.py <other rave command> <flags...>   # passed to rave unchanged

``train`` behaves like ``rave train`` (same flags, output, exit codes and Ctrl-C handling, with
SIGINT re-enabled if the parent left it ignored) and
adds a Lightning callback that writes the generator's and discriminator's learning rates to the
run's TensorBoard event file as ``lr_generator`` and ``lr_discriminator``, at the same step
numbers as RAVE's other training scalars (every ``log_every_n_steps`` batches, plus the run's
first batch), and prints, flushed::

    rave-gui: step=49 lr_generator=0.00099996 lr_discriminator=0.0001

At the same steps it logs gradient norms and dead units, and SIGUSR1 saves a checkpoint at
the next batch boundary (see trainwatch.py beside this file).

Optional: ``RAVE_GUI_LOG_EVERY_N_STEPS=N`` in the environment sets Lightning's
``log_every_n_steps`` (RAVE leaves it at 50) for all scalars; unset, nothing changes.

``--probe`` prints one JSON object on one line (see :func:`probe`) and exits 0.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PROBE_FORMAT = 1
LINE_PREFIX = "rave-gui:"
STEP_TICK_S = 2.0
LR_TAGS = ("lr_generator", "lr_discriminator")
LOG_EVERY_ENV = "RAVE_GUI_LOG_EVERY_N_STEPS"
RAVE_COMMANDS = (
    "preprocess",
    "train",
    "train_prior",
    "export",
    "export_onnx",
    "remote_dataset",
    "generate",
)
# Packages whose installed versions the probe reports (distribution names).
PROBE_PACKAGES = (
    "acids-rave",
    "torch",
    "torchaudio",
    "pytorch-lightning",
    "gin-config",
    "absl-py",
    "numpy",
    "tensorboard",
    "cached-conv",
    "nn-tilde",
)
# What each configuration shipped with acids-rave 2.3.1 does (the .gin files have no comments).
# "base": a full model, pass first; "modifier": changes a base, pass after it.
CONFIG_INFO: dict[str, tuple[str, str]] = {
    "v1": ("base", "original RAVE model (continuous latent, v1 encoder/decoder)"),
    "v2": ("base", "improved continuous model, the default (about 16 GB of GPU memory)"),
    "v2_small": ("base", "smaller v2 (capacity 48, about 8 GB), for stationary sounds/timbre"),
    "v2_nopqmf": ("base", "v2 variant with raw (non-PQMF) output and compression augmentation"),
    "v2_nopqmf_small": ("base", "smaller v2_nopqmf variant"),
    "v2_with_augs": (
        "base",
        "v2 with a mel-spectrogram encoder input, compression augmentation",
    ),
    "v3": ("base", "v2 + adain + snake + descript_discriminator, better for timbre transfer"),
    "discrete": ("base", "discrete model (residual vector quantization, like SoundStream/EnCodec)"),
    "discrete_v3": ("base", "discrete + snake + descript_discriminator"),
    "hybrid": ("base", "v2 with a mel-spectrogram encoder input and a GRU in the decoder"),
    "onnx": ("base", "noiseless, smaller v1 (capacity 32) for ONNX export"),
    "raspberry": ("base", "lightweight onnx model (capacity 16) for a Raspberry Pi"),
    "adain": ("modifier", "adaptive instance normalization in encoder and generator"),
    "causal": ("modifier", "causal convolutions: lower latency for realtime use, less quality"),
    "noise": ("modifier", "adds the v2 noise synthesizer to the generator"),
    "snake": ("modifier", "snake activation functions instead of leaky ReLU"),
    "descript_discriminator": ("modifier", "the Descript audio codec's discriminator"),
    "spectral_discriminator": ("modifier", "adds a multi-scale spectral discriminator"),
    "spherical": ("modifier", "spherical latent space (latent size 16)"),
    "wasserstein": ("modifier", "Wasserstein-regularized latent space (latent size 16)"),
    "normalize_ambient": ("modifier", "dataset compression augmentation for ambient sounds"),
    "augmentations/compress": ("augmentation", "random compression (use with --augment)"),
    "augmentations/gain": ("augmentation", "random gain (use with --augment)"),
    "augmentations/mute": ("augmentation", "random muting (use with --augment)"),
}


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


def _warn_once(state: dict[str, Any], what: str) -> None:
    """Report an exception of the learning-rate logger on stderr, the first time only."""
    if state.get("warned"):
        return
    state["warned"] = True
    try:
        sys.stderr.write(
            f"{LINE_PREFIX} learning-rate logging failed ({what}); training continues without it\n"
            + traceback.format_exc()
        )
        sys.stderr.flush()
    except Exception:
        pass


def make_lr_callback(pl: Any) -> Any:
    """A ``pl.Callback`` that logs the optimizers' learning rates (``pl``: pytorch_lightning)."""

    class RaveGuiLearningRateLogger(pl.Callback):
        """Logs ``lr_generator``/``lr_discriminator`` at the steps Lightning logs scalars at."""

        def __init__(self) -> None:
            super().__init__()
            self._state: dict[str, Any] = {}
            self._first_step: int | None = None
            self._last_step: int | None = None
            self._roles: dict[int, str] | None = None
            self._last_tick = 0.0

        # Nothing to save: checkpoints stay identical to those of plain `rave train`.
        def state_dict(self) -> dict[str, Any]:
            return {}

        def _identify(self, trainer: Any, pl_module: Any) -> dict[int, str]:
            """Which optimizer index is the generator's, which the discriminator's."""
            roles = _trainwatch().optimizer_roles(list(trainer.optimizers), pl_module)
            return {i: f"lr_{role}" for i, role in roles.items()}

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kw: Any) -> None:
            if self._state.get("warned"):
                return
            try:
                self._log(trainer, pl_module)
                self._tick(trainer)
            except Exception:
                _warn_once(self._state, "on_train_batch_end")

        def _tick(self, trainer: Any) -> None:
            # The live global step, at most every STEP_TICK_S: RAVE's progress bar only shows
            # the batch inside the epoch (training plus validation batches).
            now = time.monotonic()
            if now - self._last_tick < STEP_TICK_S or not getattr(trainer, "is_global_zero", 1):
                return
            self._last_tick = now
            loop = trainer.fit_loop.epoch_loop
            step = int(getattr(loop, "_batches_that_stepped", trainer.global_step))
            lead = "\n" if getattr(trainer, "progress_bar_callback", None) else ""
            sys.stdout.write(f"{lead}{LINE_PREFIX} step={step}\n")
            sys.stdout.flush()

        def _log(self, trainer: Any, pl_module: Any) -> None:
            # Lightning 1.9 logs training scalars with step=_batches_that_stepped (not
            # global_step, which counts optimizer steps), when (step + 1) % log_every_n_steps
            # == 0 or the trainer should stop. At this hook the counter still holds the
            # current batch's value, the one those scalars will carry.
            loop = trainer.fit_loop.epoch_loop
            step = int(getattr(loop, "_batches_that_stepped", trainer.global_step))
            if self._first_step is None:
                self._first_step = step
            every = max(1, int(getattr(trainer, "log_every_n_steps", 50) or 50))
            due = (
                step == self._first_step
                or (step + 1) % every == 0
                or bool(getattr(trainer, "should_stop", False))
            )
            if not due or step == self._last_step:
                return
            self._last_step = step
            if self._roles is None:
                self._roles = self._identify(trainer, pl_module)
            optimizers = list(trainer.optimizers)
            metrics: dict[str, float] = {}
            for i, tag in self._roles.items():
                metrics[tag] = float(optimizers[i].param_groups[0]["lr"])
            if not metrics:
                return
            if getattr(trainer, "is_global_zero", True):
                for logger in getattr(trainer, "loggers", None) or []:
                    logger.log_metrics(metrics, step=step)
                    experiment = getattr(logger, "experiment", None)
                    flush = getattr(experiment, "flush", None)
                    if callable(flush):
                        flush()
                values = " ".join(f"{k}={metrics[k]:.8g}" for k in LR_TAGS if k in metrics)
                # A progress bar may be mid-line on stdout: start on a fresh line.
                lead = "\n" if getattr(trainer, "progress_bar_callback", None) else ""
                sys.stdout.write(f"{lead}{LINE_PREFIX} step={step} {values}\n")
                sys.stdout.flush()

    return RaveGuiLearningRateLogger


def _env_log_every() -> int | None:
    """``$RAVE_GUI_LOG_EVERY_N_STEPS``: an opt-in override of Lightning's logging interval
    (default 50) for all training scalars, learning rates included."""
    value = os.environ.get(LOG_EVERY_ENV, "").strip()
    if not value:
        return None
    try:
        every = int(value)
    except ValueError:
        every = 0
    if every < 1:
        sys.stderr.write(f"{LINE_PREFIX} ignoring {LOG_EVERY_ENV}={value!r} (not a positive int)\n")
        return None
    return every


@functools.cache
def _trainwatch() -> Any:
    """trainwatch.py beside this file (gradient norms, dead units, save-now), loaded by path:
    this script's folder is not on sys.path."""
    path = Path(__file__).resolve().with_name("trainwatch.py")
    spec = importlib.util.spec_from_file_location("rave_gui_trainwatch", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_trainer_hook() -> None:
    """Make the next ``pytorch_lightning.Trainer(...)`` get the learning-rate callback and the
    training monitor (trainwatch.py) too, and SIGUSR1 save a checkpoint."""
    state: dict[str, Any] = {}
    try:
        import pytorch_lightning as pl

        callback_cls = make_lr_callback(pl)
        original_init = pl.Trainer.__init__
    except Exception:
        _warn_once(state, "setup")
        return
    extra: list[Any] = []
    try:
        watch = _trainwatch()
        watch.install_save_signal()
        extra.append(watch.make_monitor_callback(pl)(monitor=watch.monitor_enabled()))
    except Exception:
        sys.stderr.write(f"{LINE_PREFIX} training monitor unavailable\n{traceback.format_exc()}")

    @functools.wraps(original_init)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if not state.get("done"):
            state["done"] = True
            try:
                callbacks = kwargs.get("callbacks")
                if callbacks is None:
                    callbacks = []
                elif not isinstance(callbacks, (list, tuple)):
                    callbacks = [callbacks]
                kwargs["callbacks"] = [*callbacks, callback_cls(), *extra]
                every = _env_log_every()
                if every is not None and "log_every_n_steps" not in kwargs:
                    kwargs["log_every_n_steps"] = every
            except Exception:
                _warn_once(state, "Trainer hook")
        original_init(self, *args, **kwargs)

    pl.Trainer.__init__ = init


def _restore_sigint() -> None:
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt even if the parent left SIGINT ignored.

    A process started in the background by a non-interactive shell (``cmd &``) inherits
    SIGINT as ignored, and so would every child of an app started that way; Python then keeps
    it ignored and `rave train` cannot be stopped gracefully. Lightning turns the
    KeyboardInterrupt into its graceful shutdown (exit code 0)."""
    try:
        import signal

        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except Exception:
        pass


def run_rave(argv: list[str]) -> None:
    """Run ``rave <argv...>`` in this process, as the ``rave`` console script does."""
    if argv and argv[0] == "train":
        from absl import app

        from scripts import train  # acids-rave's scripts package

        install_trainer_hook()
        _restore_sigint()
        # Same argv as `rave train ...` after scripts.main_cli rewrites argv[0].
        sys.argv = [train.__name__, *argv]
        app.run(train.main)
    else:
        from scripts.main_cli import main

        sys.argv = ["rave", *argv]
        main()


# --------------------------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except Exception:
        return None


def _package_dir(name: str) -> Path | None:
    """A package's folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _rave_file(relative: str) -> Path | None:
    """A file of the acids-rave distribution (e.g. ``scripts/train.py``), without importing."""
    try:
        dist = importlib.metadata.distribution("acids-rave")
        for f in dist.files or []:
            if str(f).replace("\\", "/") == relative:
                path = Path(str(f.locate()))
                if path.is_file():
                    return path
    except Exception:
        pass
    top, _, rest = relative.partition("/")
    folder = _package_dir(top)
    if folder is not None and (folder / rest).is_file():
        return folder / rest
    return None


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except Exception:
        return ast.unparse(node)


def flags_from_source(path: Path) -> list[dict[str, Any]]:
    """The absl flags a RAVE script defines, read from its source (``flags.DEFINE_*`` calls)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[dict[str, Any]] = []
    params = ("name", "default", "help")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        kind = node.func.attr
        if not kind.startswith("DEFINE_"):
            continue
        values: dict[str, Any] = {}
        for i, arg in enumerate(node.args[: len(params)]):
            values[params[i]] = _literal(arg)
        for kw in node.keywords:
            if kw.arg in ("name", "default", "help", "required"):
                values[kw.arg] = _literal(kw.value)
            elif kw.arg == "enum_values":
                values["choices"] = _literal(kw.value)
            elif kw.arg in ("lower_bound", "upper_bound"):
                values[kw.arg] = _literal(kw.value)
        kind = kind[len("DEFINE_") :]
        default = values.get("default")
        if kind.startswith("multi_") and default is not None and not isinstance(default, list):
            values["default"] = [default]  # absl wraps a single default in a list
        if not isinstance(values.get("name"), str):
            continue
        entry: dict[str, Any] = {
            "line": node.lineno,
            "name": values["name"],
            "type": kind.replace("multi_", ""),
            "multi": kind.startswith("multi_"),
            "default": values.get("default"),
            "required": bool(values.get("required", False)),
            "help": values.get("help") if isinstance(values.get("help"), str) else None,
        }
        for key in ("choices", "lower_bound", "upper_bound"):
            if key in values:
                entry[key] = values[key]
        found.append(entry)
    found.sort(key=lambda e: e.pop("line"))
    return found


def _gin_includes(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("include "):
            out.append(line[len("include ") :].strip().strip("'\""))
    return out


def _gin_comment(text: str) -> str | None:
    """The leading comment block of a .gin file, if any (RAVE's have none)."""
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            lines.append(s.lstrip("#").strip())
        elif s:
            break
    if any(re.search(r"[=@\[\]]|:$", x) for x in lines):
        return None  # commented-out gin code, not a description
    joined = " ".join(x for x in lines if x)
    return joined or None


def list_configs(configs_dir: Path) -> list[dict[str, Any]]:
    """RAVE's shipped .gin files: name (for ``--config``/``--augment``), path, kind, description."""
    result: list[dict[str, Any]] = []
    if not configs_dir.is_dir():
        return result
    for path in sorted(configs_dir.rglob("*.gin")):
        rel = path.relative_to(configs_dir).with_suffix("").as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        kind, description = CONFIG_INFO.get(rel, (None, None))
        includes = _gin_includes(text)
        if kind is None:
            if rel.startswith("augmentations/"):
                kind = "augmentation"
            elif includes or "SAMPLING_RATE =" in text:
                kind = "base"
            else:
                kind = "modifier"
        entry = {
            "name": rel,
            # What to pass: --config NAME for models/modifiers, --augment NAME for augmentations
            # (RAVE also finds them by their bare name, e.g. --augment compress).
            "arg": rel.split("/")[-1] if kind == "augmentation" else rel,
            "path": str(path),
            "kind": kind,
            "description": _gin_comment(text) or description,
            "includes": includes,
        }
        result.append(entry)
    return result


def _torch_facts() -> dict[str, Any]:
    """Facts that need importing torch (slow: seconds); only with ``--probe --torch``."""
    facts: dict[str, Any] = {}
    try:
        import torch

        facts["cuda_available"] = bool(torch.cuda.is_available())
        facts["cuda_devices"] = [
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        ]
        facts["torch_cuda_version"] = torch.version.cuda
        mps = getattr(torch.backends, "mps", None)
        facts["mps_available"] = bool(mps and mps.is_available())
    except Exception as exc:
        facts["torch_error"] = f"{type(exc).__name__}: {exc}"
    return facts


def probe(with_torch: bool = False) -> dict[str, Any]:
    """Facts about this RAVE installation, gathered without importing torch or rave."""
    errors: list[str] = []
    packages = {name: _version(name) for name in PROBE_PACKAGES}
    rave_dir = _package_dir("rave")
    if packages["acids-rave"] is None:
        errors.append("acids-rave is not installed for this Python")
    if rave_dir is None:
        errors.append("the 'rave' package cannot be found")
    configs_dir = rave_dir / "configs" if rave_dir else None
    configs = list_configs(configs_dir) if configs_dir else []

    flags: dict[str, list[dict[str, Any]]] = {}
    for command in ("train", "preprocess", "export"):
        source = _rave_file(f"scripts/{command}.py")
        if source is None:
            errors.append(f"scripts/{command}.py not found")
            continue
        try:
            flags[command] = flags_from_source(source)
        except Exception as exc:
            errors.append(f"cannot read flags of scripts/{command}.py: {exc}")

    search_path = (
        [str(rave_dir), str(configs_dir), str(configs_dir / "augmentations")]
        if (rave_dir and configs_dir)
        else []
    )
    result: dict[str, Any] = {
        "probe_format": PROBE_FORMAT,
        "ok": not errors,
        "errors": errors,
        "launcher": str(Path(__file__).resolve()),
        "python": sys.executable,
        "python_version": platform.python_version(),
        "platform": sys.platform,
        "rave_version": packages["acids-rave"],
        "torch_version": packages["torch"],
        "lightning_version": packages["pytorch-lightning"],
        "packages": packages,
        "rave_dir": str(rave_dir) if rave_dir else None,
        "configs_dir": str(configs_dir) if configs_dir else None,
        "configs": configs,
        "config_resolution": {
            # gin.parse_config_file: absolute paths are used as they are; a relative NAME.gin is
            # tried relative to the working directory first, then in these folders in order.
            "append_extension": ".gin",
            "search_path": ["<working directory>", *search_path],
            "absolute_paths": True,
        },
        "flags": flags,
        "lr_tags": list(LR_TAGS),
        "line_prefix": LINE_PREFIX,
        "ffmpeg": shutil.which("ffmpeg"),
        "ffprobe": shutil.which("ffprobe"),
    }
    if with_torch:
        result.update(_torch_facts())
    return result


# --------------------------------------------------------------------------------------------


def _drop_own_folder_from_path() -> None:
    """Keep this script's folder (rave_gui/backend/rave: dataset.py, logparse.py, ...) from
    shadowing top-level modules of RAVE's dependencies."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]


def main(argv: list[str] | None = None) -> int | None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--probe":
        result = probe(with_torch="--torch" in args[1:])
        sys.stdout.write(json.dumps(result, default=str) + "\n")
        sys.stdout.flush()
        return 0
    if not args or args[0] not in RAVE_COMMANDS:
        sys.stderr.write(
            "usage: launcher.py --probe [--torch]\n"
            f"       launcher.py {{{'|'.join(RAVE_COMMANDS)}}} [flags...]\n"
        )
        return 2
    _drop_own_folder_from_path()
    run_rave(args)
    return None


if __name__ == "__main__":
    sys.exit(main())
