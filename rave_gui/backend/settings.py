"""User settings shared by the app and the command line (a JSON file in the data folder)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import ValidationError
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

    def resolved_rave(self) -> str:
        return self.rave_executable or _default_rave()

    def resolved_runs_dir(self) -> Path:
        return Path(self.runs_dir).expanduser() if self.runs_dir else default_runs_dir()

    def validate(self) -> None:
        if not isinstance(self.max_concurrent_runs, int) or not 1 <= self.max_concurrent_runs <= 64:
            raise ValidationError("Maximum concurrent runs must be a whole number from 1 to 64.")


def settings_path() -> Path:
    return data_dir() / "settings.json"


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The saved settings; defaults for anything missing or unreadable."""
    p = Path(path) if path else settings_path()
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Settings()
    known = {f.name for f in fields(Settings)}
    s = (
        Settings(**{k: v for k, v in raw.items() if k in known})
        if isinstance(raw, dict)
        else (Settings())
    )
    try:
        s.validate()
    except ValidationError:
        s.max_concurrent_runs = 1
    return s


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
