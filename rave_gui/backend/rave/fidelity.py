"""RAVE's ``fidelity_*`` scalars as a readable fact: how many latent dimensions hold how much."""

# At each validation before the warm-up ends, RAVE (acids-rave 2.3.1, rave/model.py) fits a PCA
# on the validation latents and logs ``fidelity_{p}`` = ``np.argmax(cumulative_variance > p)``
# for p in 0.8, 0.9, 0.95, 0.99: the index of the first component past p, so that
# ``value + 1`` latent dimensions hold p of the variance. ``rave export --fidelity p`` keeps
# that many dimensions: nn~ users read this number before exporting.

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["FIDELITY_PREFIX", "fidelity_dimensions", "fidelity_fact"]

FIDELITY_PREFIX = "fidelity_"
_NAME = re.compile(r"fidelity_(0?\.\d+|1(?:\.0*)?)")


def fidelity_dimensions(last_values: Mapping[str, float]) -> dict[float, int]:
    """{fraction of variance: latent dimensions that hold it} from the last value of each
    ``fidelity_*`` series (series with a NaN, an infinity or a negative value are left out)."""
    out: dict[float, int] = {}
    for name, value in last_values.items():
        m = _NAME.fullmatch(name)
        if m is None or value is None or not math.isfinite(value) or value < 0:
            continue
        out[float(m.group(1))] = int(value) + 1
    return dict(sorted(out.items()))


def fidelity_fact(summary: Mapping[str, Any], preferred: float = 0.95) -> str | None:
    """ "N latent dimensions hold 95 % of the variance" (or the fraction nearest to
    ``preferred``) from an experiment's metrics summary; None without fidelity values."""
    metrics = summary.get("metrics") or {}
    last = {k: v.get("last") for k, v in metrics.items() if k.startswith(FIDELITY_PREFIX)}
    dims = fidelity_dimensions(last)
    if not dims:
        return None
    fraction = min(dims, key=lambda f: abs(f - preferred))
    n = dims[fraction]
    verb = "holds" if n == 1 else "hold"
    noun = "dimension" if n == 1 else "dimensions"
    return f"{n} latent {noun} {verb} {fraction * 100:g} % of the variance"
