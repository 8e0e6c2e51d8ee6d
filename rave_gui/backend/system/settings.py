"""User settings shared by the app and the command line (a JSON file in the data folder)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ValidationError
from .paths import data_dir, default_runs_dir


def _default_rave() -> str:
    """The `rave` next to this interpreter (our own virtual environment) or on PATH."""
    here = Path(sys.executable).with_name("rave")
    if here.exists():
        return str(here)
    return shutil.which("rave") or "rave"


@dataclass
class Settings:
    rave_executable: str = ""
    runs_dir: str = ""
    max_concurrent_runs: int = 1
    use_launcher: bool = True  # run RAVE through our launcher to log the learning rate
    notifications: bool = True  # a tray icon and a desktop notice when a run ends or errs
    # health rules (backend/runs/health.py HealthThresholds; documented in the README)
    health_divergence_factor: float = 10.0
    health_jump_factor: float = 5.0
    health_overfit_validations: int = 3
    health_plateau_validations: int = 10
    health_plateau_min_improvement: float = 0.01
    health_underfit_ratio: float = 0.5
    health_stalled_minutes: float = 10.0
    health_gpu_memory_percent: float = 95.0
    # the new-training wizard's last choices, to start the next run from (backend/system/choices)
    last_training: dict = field(default_factory=dict)
    health_vanishing_gradient_norm: float = 1e-7
    health_dead_units_fraction: float = 0.5

    def resolved_rave(self) -> str:
        return self.rave_executable or _default_rave()

    def resolved_runs_dir(self) -> Path:
        return Path(self.runs_dir).expanduser() if self.runs_dir else default_runs_dir()

    def validate(self) -> None:
        """Raise ValidationError for the first setting of the wrong type or out of range."""
        for f in fields(self):
            problem = _problem(f.name, getattr(self, f.name))
            if problem:
                raise ValidationError(problem)


def _problem(name: str, value: object) -> str | None:
    """What is wrong with one setting's value, None if it is acceptable."""
    if name in ("rave_executable", "runs_dir"):
        what = "the rave executable" if name == "rave_executable" else "the runs folder"
        if not isinstance(value, str):
            return f"{name} must be the path of {what} (text), not {value!r}."
    elif name == "max_concurrent_runs":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
            return f"max_concurrent_runs must be a whole number from 1 to 64, not {value!r}."
    elif name == "last_training" and not isinstance(value, dict):
        return f"last_training must be a mapping of a run's settings, not {value!r}."
    elif name in ("use_launcher", "notifications") and not isinstance(value, bool):
        return f"{name} must be true or false, not {value!r}."
    elif name.startswith("health_"):
        whole = name.endswith("_validations")
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not value > 0
            or (whole and not isinstance(value, int))
        ):
            what = "a whole number above 0" if whole else "a number above 0"
            return f"{name} must be {what}, not {value!r}."
    return None


def settings_path() -> Path:
    return data_dir() / "settings.json"


def read_settings(path: str | os.PathLike[str] | None = None) -> tuple[Settings, list[str]]:
    """The saved settings and a warning for each thing in the file that is not usable: a value
    of the wrong type falls back to its default; a file that is not JSON, to all defaults."""
    p = Path(path) if path else settings_path()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError) as err:
        return Settings(), [f"Cannot read the settings file {p} ({err}): using the defaults."]
    try:
        raw = json.loads(text)
    except ValueError as err:
        return Settings(), [f"The settings file {p} is not valid JSON ({err}): using the defaults."]
    if not isinstance(raw, dict):
        return Settings(), [f"The settings file {p} does not hold settings: using the defaults."]
    settings, warnings = Settings(), []
    for f in fields(Settings):
        if f.name not in raw:
            continue
        problem = _problem(f.name, raw[f.name])
        if problem:
            default = getattr(settings, f.name)
            warnings.append(f"In {p}: {problem} Using the default ({json.dumps(default)}).")
        else:
            setattr(settings, f.name, raw[f.name])
    return settings, warnings


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The saved settings; defaults for anything missing or unusable (see read_settings)."""
    return read_settings(path)[0]


def overrides_of(settings: Settings) -> dict:
    """The fields of ``settings`` that differ from the saved settings (e.g. `--rave` given to
    a CLI command), so a process started for it later (a run's on-exit hook) can use them."""
    saved = asdict(load_settings())
    return {k: v for k, v in asdict(settings).items() if saved.get(k) != v}


def with_overrides(overrides: dict) -> Settings:
    """The saved settings with ``overrides`` (from :func:`overrides_of`) applied."""
    known = {f.name for f in fields(Settings)}
    s = load_settings()
    for k, v in overrides.items():
        if k in known:
            setattr(s, k, v)
    s.validate()
    return s


def save_settings(settings: Settings, path: str | os.PathLike[str] | None = None) -> None:
    settings.validate()
    p = Path(path) if path else settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    os.replace(tmp, p)
