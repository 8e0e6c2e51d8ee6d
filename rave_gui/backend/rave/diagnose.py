"""Failure diagnoses: the cause of a failed `rave` command in plain words, from its output.

The known output signatures of acids-rave 2.3.1 are data (:data:`SIGNATURES`): a regular
expression that a line of the output matches (and, optionally, one that must appear somewhere
else in the output), the kind, a title and the advice. To recognise a new failure, add a row.
The first row that matches wins; with none, the last exception line is the evidence of an
``unknown`` failure.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import NotFoundError
from ..process.logtail import tail_lines

DIAGNOSE_LINES = 5000  # the last lines of a log read for a diagnosis


@dataclass(frozen=True)
class Signature:
    kind: str
    line: str  # a regex one line of the output matches (searched, case-sensitive)
    title: str
    advice: str
    context: str | None = None  # a regex that must also be found in the whole output


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    title: str
    advice: str
    evidence: str  # the line that gave it away

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def text(self) -> str:
        """The diagnosis in a few sentences (what the run panel and the CLI print)."""
        return f"{self.title}\n{self.advice}\n(from: {self.evidence})"


SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "ffmpeg_missing",
        r"No such file or directory: '(ffmpeg|ffprobe)'|\b(ffmpeg|ffprobe)\b.*(not found|"
        r"No such file)|Couldn't find (ffmpeg|ffprobe)",
        "ffmpeg is not installed",
        "rave preprocess reads audio through ffmpeg and ffprobe: install them (Debian/Ubuntu: "
        "`sudo apt-get install ffmpeg`; macOS: `brew install ffmpeg`) and run it again.",
    ),
    Signature(
        "dataset_not_found",
        r"FileNotFoundError.*metadata\.yaml",
        "The dataset was not found",
        "Choose the folder that `rave preprocess` wrote (it holds metadata.yaml and data.mdb), "
        "or preprocess your audio first.",
    ),
    Signature(
        "dataset_empty",
        r"num_samples should be a positive integer value, but got num_samples=0",
        "The dataset is empty",
        "The preprocessed dataset holds no example: rave preprocess drops every file (or tail) "
        "shorter than 2 × --num_signal samples (about 6 s at the default). Add longer audio, or "
        "preprocess again with a smaller --num_signal.",
    ),
    Signature(
        "dataset_too_small",
        r"n_components=\d+ must be between 0 and min\(n_samples, n_features\)",
        "The dataset is too small for a validation",
        "The validation split (2 % of the examples) holds too few examples for RAVE's PCA over "
        "the latents at the first validation: add audio (a few minutes at least; about 120 "
        "chunks worked) and preprocess again.",
    ),
    Signature(
        "unknown_config",
        r"Unable to open file: \S+\.gin",
        "Unknown RAVE configuration",
        "The --config name is not one this RAVE version knows (v1, v2, v2_small, v3, "
        "discrete, onnx, raspberry, ... and modifiers such as causal, noise): check its "
        "spelling, or give the path of a .gin file.",
    ),
    Signature(
        "config_incompatible",
        r"No configurable matching|Unknown reference",
        "The configuration names settings this RAVE version does not know",
        "The config.gin (or an override) uses a setting this RAVE version lacks: use the RAVE "
        "version the configuration was written for (for an export, the one that trained the "
        "model), or check the setting's spelling.",
    ),
    Signature(
        "channels_missing",
        r"cannot reshape tensor of 0 elements into shape \[0, -1\]",
        "The number of channels was not given",
        "acids-rave 2.3.1 cannot build the model without --channels: pass the dataset's "
        "channel count (1 for mono; see the dataset's metadata.yaml).",
    ),
    Signature(
        "signal_too_short",
        r"cannot reshape tensor of 0 elements into shape \[-1, 0\]",
        "--n_signal is too short",
        "The training examples are shorter than the multiscale spectral loss's largest window: "
        "use a longer --n_signal (the default, 131072, works).",
    ),
    Signature(
        "cuda_oom",
        r"CUDA out of memory|OutOfMemoryError",
        "The GPU ran out of memory",
        "Use a smaller --batch or a smaller configuration (v2_small), or free the GPU of other "
        "programs. RAVE often runs out of memory when phase 2 (the adversarial phase) starts: "
        "resume from the last checkpoint with a smaller batch.",
    ),
    Signature(
        "batch_too_large",
        r"ZeroDivisionError: integer division or modulo by zero",
        "The batch is larger than the training set",
        "The batch holds more examples than the training set, so the data loader has no batch: "
        "use a smaller --batch, or add audio to the dataset.",
        context=r"val_every\s*//\s*len\(train\)",
    ),
    Signature(
        "no_audio_found",
        r"No valid file found",
        "No audio file was found",
        "rave preprocess found no audio it can read in the input folder (and then hangs: stop "
        "it). Check the --input_path and that it holds .wav, .mp3, .flac, .ogg or .aif files.",
    ),
    # rave export
    Signature(
        "nn_tilde_missing",
        r"^\s*(ModuleNotFoundError|ImportError): No module named 'nn_tilde'",
        "The nn-tilde package is missing",
        "rave export needs the nn-tilde package in RAVE's Python environment: install it with "
        "that environment's pip (pip install nn-tilde; acids-rave does not pull it in).",
    ),
    Signature(
        "module_missing",
        r"^\s*(ModuleNotFoundError|ImportError): No module named '[\w.]+'",
        "A package is missing from RAVE's Python environment",
        "The rave command imports a package that RAVE's environment lacks (named in the line "
        "below): install it with that environment's pip and run it again.",
    ),
    Signature(
        "config_missing",
        r"Config file not found",
        "No config.gin for the checkpoint",
        "rave export rebuilds the model from the config.gin that `rave train` wrote in the run "
        "folder: keep the checkpoint inside its run folder, next to that config.gin.",
    ),
    Signature(
        "checkpoint_mismatch",
        r"Error\(s\) in loading state_dict",
        "The checkpoint does not fit the run's config.gin",
        "The checkpoint and the config.gin come from different configurations (or RAVE "
        "versions): export a checkpoint with the config.gin of the run that wrote it.",
    ),
    Signature(
        "checkpoint_damaged",
        # torch >= 2.6 loads with weights_only: a file of garbage is an "Unsupported operand"
        r"PytorchStreamReader failed|invalid load key|EOFError: Ran out of input|"
        r"^Unsupported operand \d+",
        "The checkpoint file is damaged or incomplete",
        "The file was cut short (a full disk, a run killed while saving) or is not a checkpoint: "
        "choose another checkpoint of the run (best.ckpt or an epoch-….ckpt).",
    ),
)
# The kinds that rave export's failures add to those of training and preprocess.
EXPORT_KINDS = (
    "config_incompatible",
    "nn_tilde_missing",
    "module_missing",
    "config_missing",
    "checkpoint_mismatch",
    "checkpoint_damaged",
)

_EXCEPTION_LINE = re.compile(
    r"^\s*(?:[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b|FATAL\b|Killed\b)"
)
_MISSING_PATH = re.compile(r"No such file or directory: '([^']+)'")


def diagnose_lines(lines: list[str]) -> Diagnosis | None:
    """The diagnosis of an output (its lines, cleaned of ANSI codes and progress bars); None
    when it shows no failure at all."""
    whole: str | None = None
    for sig in SIGNATURES:
        rx = re.compile(sig.line)
        hit = next((ln for ln in lines if rx.search(ln)), None)
        if hit is None:
            continue
        if sig.context is not None:
            whole = "\n".join(lines) if whole is None else whole
            if not re.search(sig.context, whole):
                continue
        found = Diagnosis(sig.kind, sig.title, sig.advice, hit.strip())
        return _dataset_detail(found) if sig.kind == "dataset_not_found" else found
    last = next((ln for ln in reversed(lines) if _EXCEPTION_LINE.match(ln)), None)
    if last is None:
        return None
    return Diagnosis(
        "unknown",
        "The command failed",
        "This failure is not one rave-gui knows: read the error below and the log around it.",
        last.strip(),
    )


def _dataset_detail(d: Diagnosis) -> Diagnosis:
    """Which of the two: a missing folder, or a folder that is not a preprocessed dataset
    (when the path in the message can be checked on this machine)."""
    m = _MISSING_PATH.search(d.evidence)
    if not m:
        return d
    folder = Path(m.group(1)).parent
    if not folder.exists():
        title = f"The dataset folder {folder} does not exist"
    elif folder.is_dir():
        title = f"{folder} is not a preprocessed RAVE dataset (it has no metadata.yaml)"
    else:
        return d
    return Diagnosis(d.kind, title, d.advice, d.evidence)


def diagnose_log(path: str | os.PathLike[str], recorded: str | None = None) -> Diagnosis | None:
    """The diagnosis of a log file (its last lines), with ``recorded`` (a run's recorded error)
    read as its last line. Raises NotFoundError for a missing file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise NotFoundError(f"{p} is not a file: give the log of a rave command.")
    lines = [text for text, _level in tail_lines(p, DIAGNOSE_LINES)]
    return diagnose_lines([*lines, recorded] if recorded else lines)


def diagnose_run(log_path: str | None, error: str | None) -> Diagnosis | None:
    """A failed run's diagnosis: its log when it is still there, else its recorded error."""
    if log_path and Path(log_path).is_file():
        return diagnose_log(log_path, error)
    return diagnose_lines([error]) if error else None


__all__ = [
    "EXPORT_KINDS",
    "SIGNATURES",
    "Diagnosis",
    "Signature",
    "diagnose_lines",
    "diagnose_log",
    "diagnose_run",
]
