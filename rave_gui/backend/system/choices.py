"""The choices of the last training started from the wizard, remembered for the next one.

They live in the settings file (``Settings.last_training``); each value is checked again when
read, and one that is no longer acceptable is left out (the wizard's default is used).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ValidationError
from ..rave.command import TrainSettings
from .settings import Settings, load_settings, save_settings

CHOICE_KEYS = (
    "configs",
    "overrides",
    "max_steps",
    "batch",
    "val_every",
    "save_every",
    "log_every",
    "gpu",
    "workers",
    "ema",
)
# Checked alone, a length needs a partner that never refuses it.
_PARTNER: dict[str, dict[str, Any]] = {
    "max_steps": {"val_every": 1},
    "val_every": {"max_steps": 10**9},
}


def remember_choices(settings: Settings, s: TrainSettings) -> Settings:
    """``settings`` with the choices of ``s`` as the last training."""
    chosen = {k: getattr(s, k) for k in CHOICE_KEYS}
    chosen["configs"] = list(s.configs)
    chosen["overrides"] = list(s.overrides)
    return replace(settings, last_training=chosen)


def save_choices(s: TrainSettings, path: str | None = None) -> None:
    """Remember the choices of ``s`` in the saved settings file (the rest of it unchanged)."""
    save_settings(remember_choices(load_settings(path), s), path)


def remembered_choices(settings: Settings) -> dict[str, Any]:
    """The last training's choices that are still acceptable (unknown keys and values that no
    longer pass TrainSettings' checks are left out)."""
    raw = settings.last_training if isinstance(settings.last_training, dict) else {}
    out: dict[str, Any] = {}
    for key in CHOICE_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        if key in ("configs", "overrides"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                continue
            if key == "configs" and not value:
                continue
        try:
            TrainSettings(
                name="x", dataset_path="", **{key: value, **_PARTNER.get(key, {})}
            ).validate()
        except (ValidationError, TypeError, ValueError):
            continue
        out[key] = value
    return out


__all__ = ["CHOICE_KEYS", "remember_choices", "remembered_choices", "save_choices"]
