"""Filling the new-training wizard with the settings of an earlier run ("Run again")."""

from __future__ import annotations

from typing import Any

from ...backend.errors import RaveGuiError
from ...backend.store.records import Experiment


def again_name(name: str, taken: set[str]) -> str:
    """A free name for the repeated run: "NAME-again", "NAME-again-2"…"""
    stem = f"{name}-again"
    candidate, i = stem, 2
    while candidate in taken:
        candidate, i = f"{stem}-{i}", i + 1
    return candidate


def prefill(wizard: Any, exp: Experiment) -> None:
    """Set every page of ``wizard`` (a NewTrainingWizard) to ``exp``'s settings: its dataset,
    configuration and modifiers (chosen once RAVE's list is read), steps, batch, intervals,
    device, workers, EMA and gin overrides, and a free name."""
    cfg = exp.config
    if exp.dataset_id is not None:
        wizard.dataset_page.reload(select=exp.dataset_id)
    configs = cfg.get("configs")
    if isinstance(configs, list) and configs:
        wizard.config_page.preset = [str(c) for c in configs]
        if wizard.install is not None:
            wizard.config_page.suggest()
    p = wizard.params_page
    p._prefilled = True  # this run's settings, not the remembered last choices
    try:
        taken = {e.name for e in wizard.manager.list_experiments(exp.project_id)}
    except RaveGuiError:
        taken = set()
    p.name_edit.setText(again_name(exp.name, taken))
    for key, spin in (
        ("max_steps", p.max_steps_spin),
        ("batch", p.batch_spin),
        ("val_every", p.val_every_spin),
        ("workers", p.workers_spin),
    ):
        if isinstance(cfg.get(key), int):
            spin.setValue(cfg[key])
    save_every = cfg.get("save_every")
    p.save_every_spin.setValue(save_every if isinstance(save_every, int) else 0)
    ema = cfg.get("ema")
    p.ema_edit.setText("" if ema is None else str(ema))
    p.overrides_edit.setPlainText("\n".join(str(o) for o in cfg.get("overrides") or []))
    log_every = cfg.get("log_every")
    if isinstance(log_every, int) and log_every > 0:
        p._log_suggested = 0  # the repeated run's own interval: kept
        p.log_every_spin.setValue(log_every)
    gpu = cfg.get("gpu")
    i = p.device_combo.findData(gpu) if isinstance(gpu, int) else -1
    if i >= 0:
        p.device_combo.setCurrentIndex(i)
    wizard.setWindowTitle(f"New training — again from {exp.name}")
    wizard.repeated_from = exp.id


__all__ = ["again_name", "prefill"]
