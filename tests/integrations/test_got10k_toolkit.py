"""The GOT-10k toolkit's own experiment runs ctrack's adapter; its figures equal ``ctrack score``'s."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("got10k") is None, reason="needs the got10k extra: pip install 'ctrack[got10k]'")


def test_toolkit_experiment_figures_equal_ctrack_score(run_cli, tiny_checkpoint, tmp_path):
    from got10k.experiments import ExperimentGOT10k

    from compresstracker.data.synthetic import generate
    from compresstracker.integrations.got10k import Got10kTracker

    root = tmp_path / "got10k"
    generate("got10k", root, sequences=10, frames=10, seed=4, image_size=(128, 96), difficulty="fair")
    experiment = ExperimentGOT10k(str(root), subset="val", result_dir=str(tmp_path / "results"), report_dir=str(tmp_path / "reports"))
    tracker = Got10kTracker(tiny_checkpoint, name="ct")
    experiment.run(tracker)
    toolkit = experiment.report(["ct"])["ct"]["overall"]

    results = tmp_path / "results" / "GOT-10k" / "ct"
    scored = run_cli("score", "-d", "got10k", "--root", root, "--split", "val", "--results", results, "--json")
    assert scored.exit_code == 0, scored.stderr
    metrics = scored.json()["metrics"]
    assert metrics["ao"] == pytest.approx(100 * toolkit["ao"], abs=1e-9)
    assert metrics["sr50"] == pytest.approx(100 * toolkit["sr"], abs=1e-9)
    assert scored.json()["curves"]["success"] == pytest.approx([100 * v for v in toolkit["succ_curve"]], abs=1e-9)
    assert 0 < toolkit["ao"] < 1

    # The adapter's boxes are ctrack track's (the toolkit rounds them to 3 decimals).
    sequence = root / "val" / "GOT-10k_Val_000001"
    first = np.loadtxt(sequence / "groundtruth.txt", delimiter=",")[0]
    tracked = run_cli("track", "-c", tiny_checkpoint, "--frames", sequence, "--init-box", ",".join(map(str, first)), "--json")
    assert tracked.exit_code == 0, tracked.stderr
    recorded = np.loadtxt(results / sequence.name / f"{sequence.name}_001.txt", delimiter=",")
    assert np.abs(recorded[1:] - np.asarray(tracked.json()["boxes"])[1:]).max() <= 0.0005 + 1e-9
