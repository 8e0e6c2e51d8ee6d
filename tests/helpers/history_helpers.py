"""Many finished runs in a real store, through its own API (the history's tests and bench)."""

from __future__ import annotations

import random
from pathlib import Path

from dataset_helpers import make_lmdb_dataset

from rave_gui.backend.manager import TrainingManager

CONFIGS = (["v2"], ["v2_small"], ["v2", "causal"], ["v3", "noise"])
STATUSES = ("completed", "stopped", "failed")
DAY = 86_400.0
T0 = 1_760_000_000.0  # 2025-10-09: the first run starts here, one every 20 minutes


def fill_runs(tm: TrainingManager, n: int, folder: Path, *, seed: int = 7) -> list[int]:
    """``n`` finished runs over three datasets, in one transaction; run ``i`` (0-based) has
    config ``CONFIGS[i % 4]``, status ``STATUSES[i % 3]``, dataset ``ds{i % 3}``, starts at
    ``T0 + i * 1200`` and lasts ``600 + i`` s, reaches ``1000 * (i + 1)`` steps and its
    best validation is ``1 / (i + 1)`` (final: twice that); every tenth is tagged "good",
    every fifteenth "long" too, every seventh has notes "try more noise"."""
    rng = random.Random(seed)
    project = tm.projects.default_id()
    datasets = [
        tm.datasets.register(project, make_lmdb_dataset(folder / f"ds{k}", 60 + k), f"ds{k}")
        for k in range(3)
    ]
    ids = []
    with tm.db.transaction():
        for i in range(n):
            start = T0 + i * 1200
            config = {
                "name": f"run-{i:05d}",
                "dataset_id": datasets[i % 3],
                "configs": CONFIGS[i % 4],
                "overrides": [f"model.RAVE.seed = {rng.randint(0, 10**6)}"],
                "max_steps": 1000 * (i + 1),
                "batch": 8,
            }
            exp_id = tm.experiments.import_record(
                config, status=STATUSES[i % 3], started_at=start, completed_at=start + 600 + i
            )
            best = 1.0 / (i + 1)
            tm.experiments.set_summary(
                exp_id,
                {
                    "step": 1000 * (i + 1),
                    "metrics": {
                        "validation": {
                            "last": 2 * best,
                            "last_step": 1000 * (i + 1),
                            "min": best,
                            "min_step": 500 * (i + 1),
                            "max": 3.0,
                        },
                        "loss": {"last": 0.1, "last_step": 1000 * (i + 1), "min": 0.1, "max": 1},
                    },
                },
            )
            tags = ["good"] if i % 10 == 0 else []
            if i % 15 == 0:
                tags.append("long")
            if tags:
                tm.history.add_tags(exp_id, tags)
            if i % 7 == 0:
                tm.history.set_notes(exp_id, "try more noise")
            ids.append(exp_id)
    return ids
