"""The RAVE command line: finding the installation, building argv lists, pre-flight checks."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import DatasetError, PreflightError, ValidationError
from ..system import sysmon
from ..system.units import format_duration
from .dataset import read_dataset

LAUNCHER = Path(__file__).with_name("launcher.py")
RECONSTRUCTOR = Path(__file__).with_name("reconstructor.py")  # a WAV through a model
PROBE_TIMEOUT_S = 60
# Configs that a RAVE release ships but that cannot build a model (measured on this version).
KNOWN_BROKEN: dict[tuple[str, str], str] = {
    ("2.3.1", "v2_nopqmf_small"): "does not build in acids-rave 2.3.1 (transforms.Compress has "
    "no parameter amp_range)",
}
_GIN_BINDING = re.compile(r"^[A-Za-z_][\w.]*(/[A-Za-z_][\w.]*)?\s*=\s*\S.*$")


# Upper bounds of the numbers `rave train` is given: far beyond any real run, they catch typos
# (1e23 steps) before a run starts, not after days of training.
MAX_STEPS = 10**9  # max_steps, val_every, save_every
MAX_BATCH = 4096
MAX_WORKERS = 256
MAX_CHANNELS = 64

LR_START, LR_END = 1e-3, 1e-4  # the generator's Adam, LinearLR over the first phase

# --- what a dataset allows ---------------------------------------------------------------------
# `rave train` (2.3.1) keeps 98 % of the examples for training, rounded down and at least one
# (rave.dataset.split_dataset(dataset, 98)): the validation set is the rest.
TRAIN_PERCENT = 98
FEW_CHUNKS = 50  # v2 crashes at its first validation with 50 chunks or fewer (PCA over 1 example)
TRY_OUT_CONFIG = "v2_small"


def training_examples(n_examples: int) -> int:
    """How many of a dataset's ``n_examples`` RAVE trains on (the rest validates)."""
    return min(max(TRAIN_PERCENT * n_examples // 100, 1), max(n_examples, 0))


def batches_per_epoch(n_examples: int, batch: int) -> int:
    """Training batches in one epoch (RAVE's loader drops the last, incomplete batch)."""
    return training_examples(n_examples) // batch if batch > 0 else 0


def epoch_position(step: int | None, batches_per_epoch: int) -> tuple[int, int] | None:
    """Where ``step`` (training batches done) falls: (RAVE's epoch number, counted from 0 as
    its progress bar does, batches done in that epoch); None when unknown."""
    if step is None or step < 0 or batches_per_epoch < 1:
        return None
    return divmod(step, batches_per_epoch)


def batch_problem(batch: int, n_examples: int | None) -> str | None:
    """Why ``batch`` cannot train on a dataset of ``n_examples`` (None: it can, or unknown).
    RAVE would die with a ZeroDivisionError: its epoch would hold no batch."""
    if n_examples is None or batch < 1:
        return None
    train = training_examples(n_examples)
    if batch <= train:
        return None
    if train < 1:
        return (
            f"This dataset has {n_examples} example(s), none left for training once RAVE has "
            "kept one for validation: add audio."
        )
    return (
        f"batch {batch} is larger than the {train} training examples of this dataset "
        f"({n_examples} examples, {n_examples - train} kept for validation): use a batch of at "
        f"most {train}."
    )


def validation_steps(
    val_every: int, max_steps: int, batches_per_epoch: int, limit: int | None = 5
) -> list[int]:
    """The steps (RAVE's 0-based global step, as in its event files) at which a run validates,
    at most ``limit`` of them (None: all).

    RAVE turns ``--val_every`` into Lightning settings: when an epoch holds at least
    ``val_every`` batches it validates after every ``val_every`` batches of each epoch;
    otherwise every ``val_every // batches_per_epoch`` epochs, after the epoch's last batch.
    Measured: 17 batches per epoch, val_every 10 → steps 9, 26; val_every 30 → 16, 33, 50 ..."""
    bpe = batches_per_epoch
    if bpe < 1 or val_every < 1 or max_steps < 1:
        return []
    if bpe >= val_every:
        in_epoch = list(range(val_every - 1, bpe, val_every))
        period, offsets = bpe, in_epoch
    else:
        period, offsets = (val_every // bpe) * bpe, [(val_every // bpe) * bpe - 1]
    steps: list[int] = []
    start = 0
    while start < max_steps:
        for off in offsets:
            step = start + off
            if step >= max_steps or (limit is not None and len(steps) >= limit):
                return steps
            steps.append(step)
        start += period
    return steps


def validation_count(val_every: int, max_steps: int, batches_per_epoch: int) -> int:
    """How many validations a run of ``max_steps`` holds (see validation_steps)."""
    bpe = batches_per_epoch
    if bpe < 1 or val_every < 1 or max_steps < 1:
        return 0
    if bpe >= val_every:
        per_epoch = bpe // val_every
        full, rest = divmod(max_steps, bpe)
        return full * per_epoch + rest // val_every
    return max_steps // ((val_every // bpe) * bpe)


def validation_note(val_every: int, max_steps: int, batches_per_epoch: int) -> str:
    """A sentence on when validation really happens (RAVE counts in whole epochs)."""
    steps = validation_steps(val_every, max_steps, batches_per_epoch)
    count = validation_count(val_every, max_steps, batches_per_epoch)
    if batches_per_epoch < 1:
        return "No training batch fits in an epoch: no validation can happen."
    if not steps:
        return (
            f"No validation happens in this {max_steps:,}-step run ({batches_per_epoch:,} "
            "batches per epoch), so no best checkpoint is saved: validate more often or "
            "train longer."
        )
    listed = ", ".join(f"{s:,}" for s in steps)
    more = f" … ({count:,} in all)" if count > len(steps) else ""
    how = (
        ""
        if batches_per_epoch >= val_every
        else f" (RAVE rounds to every {val_every // batches_per_epoch:,} epoch(s) of "
        f"{batches_per_epoch:,} batches)"
    )
    return f"Validation at steps {listed}{more}{how}."


def suggest_config(n_examples: int | None, gpu: int) -> tuple[str, str]:
    """The base configuration to suggest for a dataset of ``n_examples`` on ``gpu`` (-1: the
    CPU), with the reason in a sentence."""
    if n_examples is not None and n_examples <= FEW_CHUNKS:
        return TRY_OUT_CONFIG, (
            f"This dataset has {n_examples} examples: v2 needs more than {FEW_CHUNKS} (it fails "
            f"at its first validation), so {TRY_OUT_CONFIG} is chosen. Add audio (several "
            "minutes) to train a real model."
        )
    if gpu < 0:
        return TRY_OUT_CONFIG, (
            "Training on the CPU: a real model takes weeks there. "
            f"{TRY_OUT_CONFIG} on a short run (a few thousand steps) is a try-out that shows "
            "the whole loop; train a real model on a GPU."
        )
    return "v2", "v2 is RAVE's default configuration and this dataset is large enough for it."


def config_warnings(configs: Sequence[str], n_examples: int | None, gpu: int) -> list[str]:
    """What is known to go wrong with these configurations on this dataset and device."""
    warnings: list[str] = []
    if "v2" in configs and n_examples is not None and n_examples <= FEW_CHUNKS:
        warnings.append(
            f"v2 fails at its first validation on a dataset of {FEW_CHUNKS} examples or fewer "
            f"(this one has {n_examples}): choose {TRY_OUT_CONFIG}, or add audio."
        )
    if gpu < 0 and configs and configs[0] != TRY_OUT_CONFIG:
        warnings.append(
            f"{configs[0]} on the CPU takes weeks to train a real model; {TRY_OUT_CONFIG} on a "
            "short run is a try-out."
        )
    return warnings


# --- what a config implies -------------------------------------------------------------------
_INCLUDE = re.compile(r"""^\s*include\s+["'](?P<path>[^"']+)["']""")
_PHASE_MACRO = re.compile(r"^\s*PHASE_1_DURATION\s*=\s*(?P<v>\d+)\s*$")
_PHASE_BINDING = re.compile(r"^\s*(?:[\w.]+\.)?phase_1_duration\s*=\s*(?P<v>%?\w+)\s*$")


def first_phase_steps(config_paths: Sequence[str], overrides: Sequence[str] = ()) -> int | None:
    """The length of RAVE's first training phase (``phase_1_duration``) for gin config files
    given in order (includes followed, the last assignment wins) and gin overrides."""
    macro: list[int | None] = [None]
    binding: list[str | None] = [None]

    def take(line: str) -> None:
        if m := _PHASE_MACRO.match(line):
            macro[0] = int(m["v"])
        elif m := _PHASE_BINDING.match(line):
            binding[0] = m["v"]

    def visit(path: Path, depth: int) -> None:
        if depth > 8:
            return
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return
        for line in lines:
            if m := _INCLUDE.match(line):
                inc = Path(m["path"])
                for candidate in (path.parent.parent / inc, path.parent / inc.name):
                    if candidate.is_file():
                        visit(candidate, depth + 1)
                        break
            else:
                take(line)

    for p in config_paths:
        if p:
            visit(Path(p), 0)
    for o in overrides:
        take(o)
    value = binding[0]
    if value is None:
        return macro[0]
    if value.startswith("%"):
        return macro[0]
    return int(value) if value.isdigit() else None


def learning_rate_at(step: int, phase: int) -> float:
    """The generator's learning rate at ``step``: linear from 1e-3 to 1e-4 over ``phase``."""
    frac = min(max(step, 0), phase) / phase if phase > 0 else 1.0
    return LR_START + (LR_END - LR_START) * frac


def run_config_gin(run_dir: str | os.PathLike[str] | None) -> Path | None:
    """The ``config.gin`` RAVE wrote for a run: in ``run_dir`` itself (an imported RAVE run
    folder) or in its ``NAME_HASH`` folder (the newest one); None before RAVE has written it."""
    if not run_dir:
        return None
    folder = Path(run_dir)
    direct = folder / "config.gin"
    if direct.is_file():
        return direct
    found = [p for p in folder.glob("*/config.gin") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


@dataclass(frozen=True)
class RunEta:
    """Seconds left until the adversarial phase starts and until max steps, at the measured
    speed (None: unknown, already past, or never reached)."""

    phase_change: float | None
    finish: float | None

    def phase_text(self, step: int | None, phase_1: int | None) -> str | None:
        """The fact shown on a live run: "adversarial phase in ~3 h 10 min", or that it has
        started; None when the run's phase-1 length is unknown."""
        if phase_1 is None:
            return None
        if step is not None and step >= phase_1:
            return f"adversarial phase since step {phase_1:,}"
        if self.phase_change is None:
            return None
        return f"adversarial phase in ~{format_duration(self.phase_change)}"


def run_eta(
    step: int | None, max_steps: int | None, phase_1: int | None, rate: float | None
) -> RunEta:
    """When a run reaches its phase change (step ``phase_1``, RAVE's ``phase_1_duration``) and
    its ``max_steps``, at ``rate`` steps per second. A phase change at or beyond max steps never
    comes (None). The adversarial phase is slower than the first: the time to max steps measured
    in phase 1 is a lower bound."""
    if not rate or rate <= 0 or not math.isfinite(rate):
        return RunEta(None, None)
    done = step or 0
    phase = None
    if phase_1 is not None and done < phase_1 and (not max_steps or phase_1 < max_steps):
        phase = (phase_1 - done) / rate
    finish = max(0, max_steps - done) / rate if max_steps else None
    return RunEta(phase, finish)


@dataclass(frozen=True)
class RaveConfig:
    name: str  # as given to --config (e.g. "v2_small", "causal")
    kind: str  # "base", "modifier", "augmentation", ...
    description: str
    path: str


@dataclass(frozen=True)
class RaveInstall:
    executable: str  # the `rave` command
    python: str  # the interpreter that runs it
    version: str
    configs: tuple[RaveConfig, ...]
    torch_version: str = ""
    lightning_version: str = ""

    def config_names(self) -> list[str]:
        return [c.name for c in self.configs]

    def base_configs(self) -> list[RaveConfig]:
        """Base configurations that build a model with this RAVE version."""
        return [
            c
            for c in self.configs
            if c.kind == "base" and (self.version, c.name) not in KNOWN_BROKEN
        ]

    def modifiers(self) -> list[RaveConfig]:
        return [c for c in self.configs if c.kind == "modifier"]


def python_of(executable: str) -> str | None:
    """The Python interpreter of a console script (from its ``#!`` line), if it has one."""
    try:
        with open(executable, "rb") as f:
            first = f.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return None
    if Path(parts[0]).name == "env" and len(parts) > 1:
        return shutil.which(parts[1])
    return parts[0] if Path(parts[0]).exists() else None


def find_rave(executable: str) -> str:
    """The absolute path of the `rave` command, or PreflightError saying how to fix it."""
    found = shutil.which(executable) if os.sep not in executable else executable
    if not found or not Path(found).is_file():
        raise PreflightError(
            f"The RAVE command line was not found at {executable!r}. Install it "
            "(pip install acids-rave) or set its path in Settings (“rave executable”)."
        )
    if not os.access(found, os.X_OK):
        raise PreflightError(f"{found} is not executable.")
    return str(Path(found).absolute())


@lru_cache(maxsize=8)
def _probe_cached(executable: str, mtime: float) -> RaveInstall:
    python = python_of(executable)
    if python is None:
        raise PreflightError(
            f"{executable} does not look like RAVE's console script (no Python #! line)."
        )
    try:
        proc = subprocess.run(
            [python, str(LAUNCHER), "--probe"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PreflightError(f"Could not run {python} to inspect RAVE: {err}") from err
    return install_from_probe(executable, python, proc.stdout, proc.stderr)


def install_from_probe(executable: str, python: str, stdout: str, stderr: str) -> RaveInstall:
    """The installation the launcher's ``--probe`` output describes (here or on a target)."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    try:
        data = json.loads(line)
    except ValueError:
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        raise PreflightError(f"RAVE at {executable} could not be inspected: {tail[0]}") from None
    if not data.get("ok") or not data.get("rave_version"):
        errors = "; ".join(data.get("errors") or []) or "acids-rave is not importable"
        raise PreflightError(f"RAVE at {executable} is not usable: {errors}")
    configs = tuple(
        RaveConfig(
            name=c.get("arg") or c["name"],
            kind=c.get("kind", "modifier"),
            description=c.get("description", ""),
            path=c.get("path", ""),
        )
        for c in data.get("configs", [])
    )
    return RaveInstall(
        executable=executable,
        python=python,
        version=data["rave_version"],
        configs=configs,
        torch_version=data.get("torch_version", ""),
        lightning_version=data.get("lightning_version", ""),
    )


def probe_rave(executable: str) -> RaveInstall:
    """What the RAVE installation behind ``executable`` offers (cached per file version)."""
    path = find_rave(executable)
    return _probe_cached(path, Path(path).stat().st_mtime)


@dataclass
class TrainSettings:
    """Everything `rave train` is started with (stored as the experiment's config)."""

    name: str
    dataset_path: str
    out_path: str = ""
    configs: list[str] = field(default_factory=lambda: ["v2"])
    overrides: list[str] = field(default_factory=list)
    max_steps: int = 500_000
    val_every: int = 10_000
    save_every: int | None = None
    batch: int = 8
    channels: int | None = None  # None: from the dataset's metadata.yaml
    gpu: int = -1  # -1: CPU
    workers: int = 8
    ema: float | None = None
    ckpt: str | None = None  # resume from this run folder
    log_every: int | None = None  # training scalars every N steps (None: RAVE's 50)

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any], name: str | None = None) -> TrainSettings:
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in config.items() if k in known}
        if name is not None:
            data["name"] = name
        if "name" not in data or "dataset_path" not in data:
            raise ValidationError("The experiment config lacks a name or a dataset path.")
        return cls(**data)

    def validate(self) -> None:
        """Raise ValidationError for the first value that cannot work."""
        ints = {
            "max_steps": (self.max_steps, 1, MAX_STEPS),
            "val_every": (self.val_every, 1, MAX_STEPS),
            "batch": (self.batch, 1, MAX_BATCH),
            "workers": (self.workers, 0, MAX_WORKERS),
        }
        if self.save_every is not None:
            ints["save_every"] = (self.save_every, 1, MAX_STEPS)
        if self.channels is not None:
            ints["channels"] = (self.channels, 1, MAX_CHANNELS)
        if self.log_every is not None:
            ints["log_every"] = (self.log_every, 1, MAX_STEPS)
        for key, (value, low, high) in ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValidationError(
                    f"{key} must be a whole number from {low} to {high:,}, not {value!r}."
                )
        if self.val_every > self.max_steps:
            raise ValidationError(
                f"Validation every {self.val_every:,} steps never happens in a "
                f"{self.max_steps:,}-step run, so no best checkpoint would be saved: validate "
                f"at most every {self.max_steps:,} steps."
            )
        if not isinstance(self.gpu, int) or isinstance(self.gpu, bool) or self.gpu < -1:
            raise ValidationError("gpu must be -1 (CPU) or a GPU index.")
        if self.ema is not None and not (0.0 < float(self.ema) < 1.0):
            raise ValidationError("EMA must be a number between 0 and 1 (e.g. 0.999).")
        if not self.configs:
            raise ValidationError("Choose a base configuration (e.g. v2).")
        for binding in self.overrides:
            if not _GIN_BINDING.match(binding.strip()):
                raise ValidationError(
                    f"The override {binding!r} is not a gin binding like "
                    "`PARAMETER = value` (e.g. `model.RAVE.sampling_rate = 48000`)."
                )


def train_argv(
    s: TrainSettings, install: RaveInstall, *, use_launcher: bool = True, launcher: str = ""
) -> list[str]:
    """The `rave train` argv for ``s`` (a list, never a shell string). ``launcher``: the
    launcher's path where the run executes (a target's copy), if not this one's."""
    if use_launcher:
        argv = [install.python, launcher or str(LAUNCHER), "train"]
    else:
        argv = [install.executable, "train"]
    for c in s.configs:
        argv += ["--config", c]
    argv += ["--db_path", s.dataset_path, "--out_path", s.out_path, "--name", s.name]
    argv += ["--max_steps", str(s.max_steps), "--val_every", str(s.val_every)]
    if s.save_every is not None:
        argv += ["--save_every", str(s.save_every)]
    argv += ["--batch", str(s.batch)]
    if s.channels is not None:
        argv += ["--channels", str(s.channels)]
    argv += ["--gpu", str(s.gpu), "--workers", str(s.workers)]
    if s.ema is not None:
        argv += ["--ema", str(s.ema)]
    for binding in s.overrides:
        argv += ["--override", binding.strip()]
    if s.ckpt:
        argv += ["--ckpt", s.ckpt]
    return argv


def check_writable_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".rave-gui-check-"):
            pass
    except OSError as err:
        raise PreflightError(
            f"The output folder {path} is not writable ({err.strerror}); choose another."
        ) from err


def check_gpu(index: object) -> str | None:
    """What is wrong with training on GPU ``index`` on this machine (-1: the CPU), or None."""
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return None  # the CPU, or a value validate() reports
    gpus = sysmon.list_gpus()
    if not gpus:
        reason = sysmon.gpu_error() or sysmon.NO_GPU_TEXT
        return f"GPU {index} was asked for but {reason}: use --gpu -1 for the CPU."
    if index >= len(gpus):
        listed = ", ".join(f"{g.index} ({g.name})" for g in gpus)
        return (
            f"There is no GPU {index}: this machine has {len(gpus)} NVIDIA GPU"
            f"{'s' if len(gpus) != 1 else ''}: {listed}. Use one of them, or -1 for the CPU."
        )
    return None


def preflight(s: TrainSettings, install: RaveInstall) -> TrainSettings:
    """Check everything `rave train` needs before anything starts; returns the settings with
    the dataset's channel count filled in. Raises PreflightError listing every problem."""
    problems: list[str] = []
    try:
        s.validate()
    except ValidationError as err:
        problems.append(str(err))
    try:
        info = read_dataset(s.dataset_path)
        if s.channels is None:
            s.channels = info.channels
        elif s.channels != info.channels:
            problems.append(
                f"The dataset has {info.channels} channel(s) but {s.channels} were asked for."
            )
        problem = batch_problem(s.batch, info.n_examples)
        if problem:
            problems.append(problem[0].upper() + problem[1:])
    except DatasetError as err:
        problems.append(str(err))
    known = set(install.config_names())
    for c in s.configs:
        broken = KNOWN_BROKEN.get((install.version, c))
        if broken:
            problems.append(f"The configuration {c!r} {broken}; choose another.")
        elif c not in known and not Path(c).is_file():
            problems.append(
                f"RAVE {install.version} has no configuration {c!r}; available: "
                f"{', '.join(sorted(known))}."
            )
    gpu_problem = check_gpu(s.gpu)
    if gpu_problem:
        problems.append(gpu_problem)
    if s.ckpt and not Path(s.ckpt).exists():
        problems.append(f"The checkpoint to resume from, {s.ckpt}, does not exist.")
    try:
        check_writable_folder(Path(s.out_path))
    except PreflightError as err:
        problems.append(str(err))
    if problems:
        raise PreflightError("\n".join(problems))
    return s
