"""Health rules: pure checks over a run's metric series that say what is wrong and what to do.

A :class:`HealthMonitor` is fed the points of a run as they arrive (cost proportional to the
new points: it keeps a small state per series, never the whole series) and returns the alerts
they raise. One alert per episode: a condition that holds raises once; once it clears and comes
back it raises again. The state is a small JSON-able dict (:meth:`HealthMonitor.state`), kept
with the run so that a follower created after an app restart goes on where the last one left.

Kinds: ``nan``, ``divergence``, ``overfitting``, ``underfitting``, ``plateau``, ``stalled``,
``gpu_memory``, ``phase_change``. Thresholds are settings (:class:`HealthThresholds`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

VALIDATION = "validation"
# RAVE's training reconstruction terms (what "the training loss keeps falling" means)
RECONSTRUCTION_TERMS = ("fullband_spectral_distance", "multiband_spectral_distance")
# present only once the adversarial phase (phase 2) started
ADVERSARIAL_TERMS = ("adversarial", "feature_matching", "loss_dis", "pred_real", "pred_fake")
# terms watched for a divergence: they fall during a healthy run (the KL regularization and
# the adversarial terms may legitimately grow)
DIVERGENCE_TERMS = (*RECONSTRUCTION_TERMS, VALIDATION)
_NOT_LOSSES = ("epoch", "beta_factor", "learning_rate", "lr", "step")


def is_loss_term(name: str) -> bool:
    """Whether a series is a loss term (a NaN in it is an alert), not a counter or a setting."""
    low = name.lower()
    if low in _NOT_LOSSES or low.startswith(("fidelity", "grad_norm", "lr")):
        return False
    return (
        low == VALIDATION
        or low in RECONSTRUCTION_TERMS
        or low in ADVERSARIAL_TERMS
        or low == "regularization"
        or "loss" in low
        or "distance" in low
    )


@dataclass(frozen=True)
class HealthThresholds:
    """When each rule fires (the settings ``health_*`` give them; see the README)."""

    divergence_factor: float = 10.0  # a loss term above this many times its early value
    early_points: int = 3  # the points whose mean is the "early value"
    jump_factor: float = 5.0  # a jump above the recent max by this many recent ranges
    recent_points: int = 20  # the recent range: this many last points (at least 5 needed)
    overfit_validations: int = 3  # validation rising this many validations in a row
    plateau_validations: int = 10  # validations without a meaningful improvement
    plateau_min_improvement: float = 0.01  # meaningful: better than the best by this fraction
    underfit_ratio: float = 0.5  # a plateau above this fraction of the first validation
    stalled_minutes: float = 10.0  # no new step for this long while the process lives
    gpu_memory_percent: float = 95.0  # the run's GPU memory above this


@dataclass(frozen=True)
class HealthAlert:
    kind: str
    severity: str  # info, warning, error
    step: int | None
    message: str
    advice: str


ADVICE = {
    "nan": (
        "The run cannot recover from a NaN: stop it and resume from the last good checkpoint "
        "with a lower learning rate (or a smaller batch), or check the dataset for silent or "
        "clipped files."
    ),
    "divergence": (
        "The loss is running away: stop the run and resume from the last good checkpoint, with "
        "a lower learning rate or a smaller batch."
    ),
    "overfitting": (
        "The model is learning the training set by heart: add audio to the dataset (or use "
        "data augmentation), or keep the best checkpoint (best.ckpt) and stop."
    ),
    "underfitting": (
        "The model has stopped learning while still far from a good reconstruction: try a "
        "larger configuration, check the dataset (enough audio, the right sample rate, "
        "not silence), or train longer with a lower learning rate."
    ),
    "plateau": (
        "The spectral distance has plateaued: RAVE's authors advise moving on — let the "
        "adversarial phase (phase 2) start, or stop the run if it is already in phase 2."
    ),
    "stalled": (
        "The training process is alive but makes no progress (a hung data loader?): stop it "
        "and resume from the last checkpoint; try fewer --workers."
    ),
    "gpu_memory": (
        "The GPU is almost out of memory (RAVE often runs out when phase 2 starts): use a "
        "smaller --batch or a smaller configuration."
    ),
    "phase_change": (
        "The adversarial phase started: the losses jump and the sound gets sharper; judge the "
        "run by listening from here on, not by the spectral distance alone."
    ),
}
SEVERITY = {
    "nan": "error",
    "divergence": "error",
    "overfitting": "warning",
    "underfitting": "warning",
    "plateau": "info",
    "stalled": "warning",
    "gpu_memory": "warning",
    "phase_change": "info",
}


def _alert(kind: str, step: int | None, message: str) -> HealthAlert:
    return HealthAlert(kind, SEVERITY[kind], step, message, ADVICE[kind])


@dataclass
class _Series:
    """What the rules remember of one series."""

    early: list[float] = field(default_factory=list)  # the first finite values
    recent: list[float] = field(default_factory=list)  # the last finite values
    last: float | None = None  # the last finite value


class HealthMonitor:
    """The health rules over one run, fed incrementally (see the module docstring)."""

    def __init__(
        self, thresholds: HealthThresholds | None = None, state: Mapping[str, Any] | None = None
    ) -> None:
        self.t = thresholds or HealthThresholds()
        s = dict(state or {})
        self.open: set[str] = set(s.get("open", []))  # episodes under way: "kind" or "kind:series"
        self.series: dict[str, _Series] = {
            name: _Series(**v) for name, v in dict(s.get("series", {})).items()
        }
        self.val_first: float | None = s.get("val_first")
        self.val_best: float | None = s.get("val_best")
        self.val_last: float | None = s.get("val_last")
        self.val_since_best: int = int(s.get("val_since_best", 0))
        self.val_rises: int = int(s.get("val_rises", 0))
        self.recon_at_rise: float | None = s.get("recon_at_rise")  # before the rising run
        self.phase2_at: int | None = s.get("phase2_at")
        self.last_step: int | None = s.get("last_step")
        self.step_seen_at: float | None = None  # wall time the last step was new (not kept)

    def state(self) -> dict[str, Any]:
        """A small JSON-able copy of what the rules remember (finite numbers only)."""
        return {
            "open": sorted(self.open),
            "series": {n: asdict(s) for n, s in self.series.items()},
            "val_first": self.val_first,
            "val_best": self.val_best,
            "val_last": self.val_last,
            "val_since_best": self.val_since_best,
            "val_rises": self.val_rises,
            "recon_at_rise": self.recon_at_rise,
            "phase2_at": self.phase2_at,
            "last_step": self.last_step,
        }

    # --- episodes ------------------------------------------------------------------------------
    def _episode(self, key: str, holds: bool) -> bool:
        """True when the condition ``key`` starts to hold (an alert is due)."""
        if holds and key not in self.open:
            self.open.add(key)
            return True
        if not holds:
            self.open.discard(key)
        return False

    # --- points --------------------------------------------------------------------------------
    def feed(self, points: Mapping[str, Iterable[tuple[int, float]]]) -> list[HealthAlert]:
        """The alerts raised by new points (``{series: [(step, value), ...]}``), in step order.

        At one step the training terms are read before ``validation`` (so a validation is
        compared with the training loss of its time)."""
        merged = [
            (int(step), name == VALIDATION, name, float(value))
            for name, pts in points.items()
            for step, value in pts
        ]
        merged.sort()
        out: list[HealthAlert] = []
        for step, _is_val, name, value in merged:
            self._point(name, step, value, out)
        return out

    def _point(self, name: str, step: int, value: float, out: list[HealthAlert]) -> None:
        if self.last_step is None or step > self.last_step:
            self.last_step = step
        if name in ADVERSARIAL_TERMS and self.phase2_at is None:
            self.phase2_at = step
            out.append(
                _alert(
                    "phase_change",
                    step,
                    f"The adversarial phase (phase 2) started at step {step} ({name} appeared).",
                )
            )
        if not is_loss_term(name):
            return
        s = self.series.setdefault(name, _Series())
        finite = math.isfinite(value)
        if self._episode(f"nan:{name}", not finite):
            what = "NaN" if math.isnan(value) else "infinite"
            out.append(_alert("nan", step, f"{name} is {what} at step {step}."))
        if not finite:
            return
        if name in DIVERGENCE_TERMS:
            self._divergence(name, s, step, value, out)
        if len(s.early) < self.t.early_points:
            s.early.append(value)
        s.recent.append(value)
        del s.recent[: -self.t.recent_points]
        s.last = value
        if name == VALIDATION:
            self._validation(step, value, out)

    def _divergence(
        self, name: str, s: _Series, step: int, value: float, out: list[HealthAlert]
    ) -> None:
        message = None
        if len(s.early) >= self.t.early_points:
            early = sum(s.early) / len(s.early)
            if early > 0 and value > self.t.divergence_factor * early:
                message = (
                    f"{name} is {value:.4g} at step {step}, more than "
                    f"{self.t.divergence_factor:g}× its early value ({early:.4g})."
                )
        if message is None and len(s.recent) >= 5:
            lo, hi = min(s.recent), max(s.recent)
            spread = max(hi - lo, 1e-3 * abs(hi))
            if spread > 0 and value > hi + self.t.jump_factor * spread:
                message = (
                    f"{name} jumped to {value:.4g} at step {step}, far above its recent range "
                    f"({lo:.4g} to {hi:.4g})."
                )
        if self._episode(f"divergence:{name}", message is not None) and message:
            out.append(_alert("divergence", step, message))

    def _recon(self) -> float | None:
        """The training reconstruction loss now (the sum of its terms seen so far)."""
        vals = [self.series[n].last for n in RECONSTRUCTION_TERMS if n in self.series]
        known = [v for v in vals if v is not None]
        return sum(known) if known else None

    def _validation(self, step: int, value: float, out: list[HealthAlert]) -> None:
        t = self.t
        recon = self._recon()
        # overfitting: validation rising N validations in a row while the training terms fall
        if self.val_last is not None and value > self.val_last:
            self.val_rises += 1
        else:
            self.val_rises = 0
            self.recon_at_rise = recon
        before = self.recon_at_rise
        falling = recon is not None and before is not None and recon < before
        if self._episode("overfitting", self.val_rises >= t.overfit_validations and falling):
            out.append(
                _alert(
                    "overfitting",
                    step,
                    f"validation has risen {self.val_rises} validations in a row (now "
                    f"{value:.4g}) while the training reconstruction loss keeps falling.",
                )
            )
        self.val_last = value
        # plateau / underfitting: no meaningful improvement over the last validations
        if self.val_first is None:
            self.val_first = value
        if self.val_best is None or value < self.val_best - t.plateau_min_improvement * abs(
            self.val_best
        ):
            self.val_best = value
            self.val_since_best = 0
        else:
            self.val_best = min(self.val_best, value)
            self.val_since_best += 1
        stuck = self.val_since_best >= t.plateau_validations
        high = self.val_first > 0 and self.val_best > t.underfit_ratio * self.val_first
        if self._episode("underfitting", stuck and high):
            out.append(
                _alert(
                    "underfitting",
                    step,
                    f"validation has not improved for {self.val_since_best} validations and is "
                    f"still {self.val_best:.4g}, {100 * self.val_best / self.val_first:.0f} % of "
                    f"where it started ({self.val_first:.4g}).",
                )
            )
        if self._episode("plateau", stuck and not high):
            out.append(
                _alert(
                    "plateau",
                    step,
                    f"validation has not improved by {100 * t.plateau_min_improvement:g} % over "
                    f"the last {self.val_since_best} validations (best {self.val_best:.4g}).",
                )
            )

    # --- the process and the machine -----------------------------------------------------------
    def check_stalled(self, now: float, alive: bool, step: int | None) -> list[HealthAlert]:
        """``stalled`` when the live process has made no new step for stalled_minutes.
        ``now``: wall time in seconds; ``step``: the run's step now (None before the first)."""
        if step is not None and (self.last_step is None or step > self.last_step):
            self.last_step = step
            self.step_seen_at = now
        elif self.step_seen_at is None:
            self.step_seen_at = now  # counted from when it was first watched
        idle = now - self.step_seen_at
        stalled = alive and idle >= 60.0 * self.t.stalled_minutes
        if self._episode("stalled", stalled):
            where = f"step {self.last_step}" if self.last_step is not None else "its start"
            return [
                _alert(
                    "stalled",
                    self.last_step,
                    f"No new step for {idle / 60:.0f} minutes (still at {where}) while the "
                    "training process is alive.",
                )
            ]
        return []

    def check_gpu_memory(self, percent: float | None, step: int | None) -> list[HealthAlert]:
        """``gpu_memory`` when the run's GPU memory use (percent) is above the threshold."""
        if percent is None:
            return []
        if self._episode("gpu_memory", percent > self.t.gpu_memory_percent):
            return [
                _alert(
                    "gpu_memory",
                    step,
                    f"The GPU's memory is {percent:.0f} % full "
                    f"(above {self.t.gpu_memory_percent:g} %).",
                )
            ]
        return []


def evaluate_series(
    series: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    thresholds: HealthThresholds | None = None,
) -> tuple[list[HealthAlert], dict[str, Any]]:
    """The alerts over whole series (an imported run) and the state to go on from."""
    monitor = HealthMonitor(thresholds)
    alerts = monitor.feed({n: zip(s, v, strict=False) for n, (s, v) in series.items()})
    return alerts, monitor.state()


def thresholds_from(values: Mapping[str, Any]) -> HealthThresholds:
    """Thresholds from settings: each ``health_NAME`` value sets NAME (others keep defaults)."""
    known = {f.name for f in fields(HealthThresholds)}
    given = {k[len("health_") :]: v for k, v in values.items() if k.startswith("health_")}
    return HealthThresholds(**{k: v for k, v in given.items() if k in known})


__all__ = [
    "ADVICE",
    "HealthAlert",
    "HealthMonitor",
    "HealthThresholds",
    "evaluate_series",
    "is_loss_term",
    "thresholds_from",
]
