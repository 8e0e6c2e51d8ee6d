"""Health rules: pure checks over a run's metric series that say what is wrong and what to do.

A :class:`HealthMonitor` is fed the points of a run as they arrive (cost proportional to the
new points: it keeps a small state per series, never the whole series) and returns the alerts
they raise. One alert per episode: a condition that holds raises once; once it clears and comes
back it raises again. The state is a small JSON-able dict (:meth:`HealthMonitor.state`), kept
with the run so that a follower created after an app restart goes on where the last one left.

Kinds: ``nan``, ``divergence``, ``overfitting``, ``underfitting``, ``plateau``, ``stalled``,
``gpu_memory``, ``phase_change``, ``vanishing_gradients``, ``dead_units`` (the last two read the
series the launcher logs: ``grad_norm_*`` and ``dead_units_max_fraction``). Thresholds are
settings (:class:`HealthThresholds`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

VALIDATION = "validation"
# RAVE's training reconstruction terms (what "the training loss keeps falling" means)
RECONSTRUCTION_TERMS = ("fullband_spectral_distance", "multiband_spectral_distance")
# present only once the adversarial phase (phase 2) started
ADVERSARIAL_TERMS = ("adversarial", "feature_matching", "loss_dis", "pred_real", "pred_fake")
# terms watched for a divergence: they fall during a healthy run (the KL regularization and
# the adversarial terms may legitimately grow)
DIVERGENCE_TERMS = (*RECONSTRUCTION_TERMS, VALIDATION)
# logged by the launcher (rave/trainwatch.py) at the logging steps
GRAD_NORM_TERMS = ("grad_norm_generator", "grad_norm_discriminator")
DEAD_UNITS = "dead_units_max_fraction"  # the largest fraction of exact zeros of any layer
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
    vanishing_gradient_norm: float = 1e-7  # a gradient norm below this
    dead_units_fraction: float = 0.5  # a layer with more than this fraction of exact zeros


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
    "vanishing_gradients": (
        "The gradients have all but vanished: the model has stopped learning. Resume from an "
        "earlier checkpoint with a higher learning rate, or check the dataset (silence, or the "
        "same file over and over)."
    ),
    "dead_units": (
        "Many units of a layer output exactly zero and no longer learn: resume from an earlier "
        "checkpoint with a lower learning rate, or use a configuration with another activation "
        "(the snake modifier)."
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
    "vanishing_gradients": "warning",
    "dead_units": "warning",
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
        compared with the training loss of its time). Each series is checked with array
        operations (a 1M-point import takes a fraction of a second); only the validation
        points, a few per thousand steps, go through Python one by one."""
        arrays = {}
        for name, pts in points.items():
            pairs = list(pts)
            steps = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
            values = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
            arrays[name] = (steps, values)
        return self.feed_arrays(arrays)

    def feed_arrays(self, series: Mapping[str, tuple[Any, Any]]) -> list[HealthAlert]:
        """:meth:`feed` with each series as (steps, values) arrays (or sequences)."""
        found: list[tuple[int, bool, str, HealthAlert]] = []
        arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, (st, va) in series.items():
            steps = np.asarray(st, dtype=np.int64)
            values = np.asarray(va, dtype=np.float64)
            if steps.size == 0:
                continue
            if steps.size > 1 and np.any(steps[1:] < steps[:-1]):
                order = np.argsort(steps, kind="stable")
                steps, values = steps[order], values[order]
            arrays[name] = (steps, values)
        if not arrays:
            return []
        top = max(int(st[-1]) for st, _v in arrays.values())
        self.last_step = top if self.last_step is None else max(self.last_step, top)
        if self.phase2_at is None:
            firsts = [(int(arrays[n][0][0]), n) for n in ADVERSARIAL_TERMS if n in arrays]
            if firsts:
                step, name = min(firsts)
                self.phase2_at = step
                message = (
                    f"The adversarial phase (phase 2) started at step {step} ({name} appeared)."
                )
                found.append((step, False, name, _alert("phase_change", step, message)))
        # the training reconstruction terms as they were before these points (overfitting)
        recon_before = {n: self.series[n].last for n in RECONSTRUCTION_TERMS if n in self.series}
        for name, (steps, values) in arrays.items():
            if is_loss_term(name):
                for step, alert in self._series_pass(name, steps, values):
                    found.append((step, name == VALIDATION, name, alert))
        for name in GRAD_NORM_TERMS:
            if name in arrays:
                for step, alert in self._vanishing(name, *arrays[name]):
                    found.append((step, False, name, alert))
        if DEAD_UNITS in arrays:
            for step, alert in self._dead_units(*arrays[DEAD_UNITS]):
                found.append((step, False, DEAD_UNITS, alert))
        if VALIDATION in arrays:
            steps, values = arrays[VALIDATION]
            ok = np.isfinite(values)
            vsteps, vvalues = steps[ok], values[ok]
            recon = self._recon_at(vsteps, recon_before, arrays)
            for step, value, r in zip(vsteps.tolist(), vvalues.tolist(), recon, strict=True):
                for alert in self._validation(step, value, r):
                    found.append((step, True, VALIDATION, alert))
        found.sort(key=lambda f: f[:3])  # stable: at one point, the order they were found in
        return [f[3] for f in found]

    def _episodes(self, key: str, holds: np.ndarray) -> list[int]:
        """The indexes where a condition (one bool per point, in step order) starts to hold,
        carrying the episode ``key`` over from the previous points."""
        if holds.size == 0:
            return []
        before = np.concatenate(([key in self.open], holds[:-1]))
        if holds[-1]:
            self.open.add(key)
        else:
            self.open.discard(key)
        return np.flatnonzero(holds & ~before).tolist()

    def _vanishing(
        self, name: str, steps: np.ndarray, values: np.ndarray
    ) -> list[tuple[int, HealthAlert]]:
        """``vanishing_gradients``: a (finite) gradient norm below the threshold."""
        t = self.t.vanishing_gradient_norm
        with np.errstate(invalid="ignore"):
            holds = np.isfinite(values) & (values < t)
        out = []
        for i in self._episodes(f"vanishing_gradients:{name}", holds):
            step = int(steps[i])
            message = f"{name} is {values[i]:.3g} at step {step}, below {t:g}."
            out.append((step, _alert("vanishing_gradients", step, message)))
        return out

    def _dead_units(self, steps: np.ndarray, values: np.ndarray) -> list[tuple[int, HealthAlert]]:
        """``dead_units``: a layer with more than the threshold fraction of exact zeros."""
        t = self.t.dead_units_fraction
        with np.errstate(invalid="ignore"):
            holds = values > t
        out = []
        for i in self._episodes("dead_units", holds):
            step = int(steps[i])
            message = (
                f"At step {step}, {100 * values[i]:.0f} % of a layer's activations are exactly "
                f"zero (more than {100 * t:g} %): its units are dead."
            )
            out.append((step, _alert("dead_units", step, message)))
        return out

    def _series_pass(
        self, name: str, steps: np.ndarray, values: np.ndarray
    ) -> list[tuple[int, HealthAlert]]:
        """``nan`` and ``divergence`` over one series' new points (in step order), and what
        is remembered of it (early values, recent values, last value)."""
        s = self.series.setdefault(name, _Series())
        out: list[tuple[int, HealthAlert]] = []
        bad = ~np.isfinite(values)
        key = f"nan:{name}"
        before = np.concatenate(([key in self.open], bad[:-1]))
        for i in np.flatnonzero(bad & ~before).tolist():
            step, what = int(steps[i]), "NaN" if math.isnan(values[i]) else "infinite"
            out.append((step, _alert("nan", step, f"{name} is {what} at step {step}.")))
        if bad[-1]:
            self.open.add(key)
        else:
            self.open.discard(key)
        ok = ~bad
        fs, fv = steps[ok], values[ok]
        if fv.size == 0:
            return out
        if name in DIVERGENCE_TERMS:
            out += self._divergence(name, s, fs, fv)
        need = self.t.early_points - len(s.early)
        if need > 0:
            s.early += fv[:need].tolist()
        s.recent = (s.recent + fv[-self.t.recent_points :].tolist())[-self.t.recent_points :]
        s.last = float(fv[-1])
        return out

    def _divergence(
        self, name: str, s: _Series, steps: np.ndarray, values: np.ndarray
    ) -> list[tuple[int, HealthAlert]]:
        """Above divergence_factor × the early value, or a jump far above the recent range
        (the recent_points finite values before each point)."""
        t = self.t
        n = values.size
        # the early value: the mean of the first early_points finite values of the series
        need = max(0, t.early_points - len(s.early))
        early_vals = (s.early + values[:need].tolist())[: t.early_points]
        factor = np.zeros(n, dtype=bool)
        early = sum(early_vals) / len(early_vals) if early_vals else 0.0
        if len(early_vals) >= t.early_points and early > 0:
            factor[need:] = values[need:] > t.divergence_factor * early
        # the recent range before each point
        r = t.recent_points
        k = len(s.recent)
        hist = np.concatenate((np.asarray(s.recent, dtype=np.float64), values))
        pos = np.arange(k, k + n)
        hi = sliding_window_view(np.concatenate((np.full(r, -np.inf), hist[:-1])), r).max(1)
        lo = sliding_window_view(np.concatenate((np.full(r, np.inf), hist[:-1])), r).min(1)
        hi, lo = hi[pos], lo[pos]
        count = np.minimum(pos, r)
        with np.errstate(invalid="ignore"):
            spread = np.maximum(hi - lo, 1e-3 * np.abs(hi))
            jump = (count >= 5) & (spread > 0) & (values > hi + t.jump_factor * spread)
        holds = factor | jump
        key = f"divergence:{name}"
        before = np.concatenate(([key in self.open], holds[:-1]))
        out = []
        for i in np.flatnonzero(holds & ~before).tolist():
            step, value = int(steps[i]), float(values[i])
            if factor[i]:
                message = (
                    f"{name} is {value:.4g} at step {step}, more than "
                    f"{t.divergence_factor:g}× its early value ({early:.4g})."
                )
            else:
                message = (
                    f"{name} jumped to {value:.4g} at step {step}, far above its recent range "
                    f"({lo[i]:.4g} to {hi[i]:.4g})."
                )
            out.append((step, _alert("divergence", step, message)))
        if holds[-1]:
            self.open.add(key)
        else:
            self.open.discard(key)
        return out

    @staticmethod
    def _recon_at(
        at: np.ndarray,
        before: dict[str, float | None],
        arrays: Mapping[str, tuple[np.ndarray, np.ndarray]],
    ) -> list[float | None]:
        """The training reconstruction loss at each step of ``at``: the sum of each term's
        last finite value at or before that step (from before these points if none)."""
        total = np.zeros(at.size)
        known = np.zeros(at.size, dtype=bool)
        for name in RECONSTRUCTION_TERMS:
            prior = before.get(name)
            cur = np.full(at.size, np.nan if prior is None else prior)
            if name in arrays:
                steps, values = arrays[name]
                ok = np.isfinite(values)
                fs, fv = steps[ok], values[ok]
                idx = np.searchsorted(fs, at, side="right") - 1
                cur = np.where(idx >= 0, fv[np.maximum(idx, 0)] if fv.size else np.nan, cur)
            has = ~np.isnan(cur)
            total = np.where(has, total + np.where(has, cur, 0.0), total)
            known |= has
        return [
            float(v) if k else None for v, k in zip(total.tolist(), known.tolist(), strict=True)
        ]

    def _validation(self, step: int, value: float, recon: float | None) -> list[HealthAlert]:
        """overfitting, underfitting and plateau at a finite validation point (``recon``:
        the training reconstruction loss then)."""
        t = self.t
        out: list[HealthAlert] = []
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
        return out

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
    alerts = monitor.feed_arrays(series)
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
