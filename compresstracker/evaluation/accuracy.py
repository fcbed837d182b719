"""The accuracy a deployment costs: AUC of the same tracker on several backends/precisions, same frames."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from compresstracker.evaluation.runner import ModelSpec, run_tracker

__all__ = ["accuracy_change"]


def accuracy_change(
    reference: ModelSpec, candidates: dict[str, ModelSpec], sequences: int = 4, frames: int = 40, seed: int = 0,
) -> dict[str, Any]:
    """AUC (OPE) of ``reference`` and each candidate on a freshly generated synthetic split.

    The sequences are written to a temporary folder and removed afterwards; every tracker sees the
    same frames, so a candidate's ``auc_change`` (points, against the reference) is its deployment's.
    """
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.report import score_trackers

    with tempfile.TemporaryDirectory(prefix="ctrack-accuracy-") as tmp:
        root = Path(tmp) / "data"
        generate("lasot", root, sequences=sequences, frames=frames, seed=seed)
        dataset = get_dataset("synthetic", root, split="all")
        specs = {"reference": reference, **candidates}
        folders = [Path(tmp) / "results" / f"{i}" for i in range(len(specs))]
        for spec, folder in zip(specs.values(), folders):
            run_tracker(spec, dataset, folder)
        aucs = dict(zip(specs, (score.metrics()["auc"] for score in score_trackers(dataset, folders))))
    base = aucs.pop("reference")
    return {
        "dataset": f"synthetic (lasot layout, {sequences} sequences x {frames} frames, seed {seed})",
        "auc_reference": base,
        "auc": aucs,
        "auc_change": {name: auc - base for name, auc in aucs.items()},
    }
