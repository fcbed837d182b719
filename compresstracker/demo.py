"""``make demo`` / ``ctrack demo``: the main job on built-in data, no downloads.

Generates synthetic LaSOT-layout data, compresses the built-in 12-block teacher into a 4-block
student with the CPU recipe, evaluates both on the synthetic test split and reports params,
MACs, CPU FPS, AUC, the share of the teacher's AUC kept and the speed-up, with success plots.

The figures repeat: training runs on a fixed number of CPU threads (the reduction order of
float sums follows the thread count), and the test split is a fair tracking task (difficulty
``fair``: no same-texture distractors, full occlusions or out-of-view stretches; the built-in
teacher scores more than twice a tracker that repeats the first box) with enough sequences that
"kept" moves by less than a point between seeds of the test data (docs/results.md).
FPS and speed-up are measured (interleaved bench), so they follow the machine and its load.
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from compresstracker.errors import CTrackError

TEACHER_ASSET = "teacher_tiny.safetensors"
TRAIN_SEED, TEST_SEED = 21, 22
TEST_SEQUENCES, TEST_FRAMES = 64, 100
DEMO_THREADS = 1  # what 2 cores beside one loader worker gave before the count was fixed


def builtin_teacher() -> Path:
    """Path of the shipped teacher (see assets/README.md for how it was trained)."""
    path = Path(str(importlib.resources.files("compresstracker") / "assets" / TEACHER_ASSET))
    if not path.is_file():
        raise CTrackError(f"the built-in teacher {path} is missing from this installation")
    return path


def run_demo(
    out: Path, stages: int = 4, epochs: int | None = None, samples: int | None = None, progress: bool = True,
    test_sequences: int = TEST_SEQUENCES,
) -> dict[str, Any]:
    """Compress the built-in teacher on generated data and compare it with its student; a JSON-ready summary."""
    from compresstracker.evaluation.compare import compare_on
    from compresstracker.compression.run import compress_tracker
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.plots import write_plots
    from compresstracker.evaluation.report import score_trackers
    from compresstracker.training.recipe import load_recipe

    out = Path(out)
    train_root, test_root = out / "data" / "train", out / "data" / "test"
    generate("lasot", train_root, sequences=40, frames=120, seed=TRAIN_SEED)
    test_root = test_root if test_sequences == TEST_SEQUENCES else out / "data" / f"test{test_sequences}"
    generate("lasot", test_root, sequences=test_sequences, frames=TEST_FRAMES, seed=TEST_SEED, difficulty="fair")
    teacher = builtin_teacher()
    overrides = [f"compress.teacher={teacher}", f"compress.stages={stages}", f"data.train.0.root={train_root}"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    if samples is not None:
        overrides.append(f"data.samples_per_epoch={samples}")
    recipe = load_recipe("compresstracker_tiny", overrides)
    run_dir = out / f"ct{stages}"
    resume = (run_dir / "checkpoints" / "last.pt").exists()
    summary = compress_tracker(recipe, run_dir, resume=resume, progress=progress)
    spec = f"lasot={test_root}:all"
    reports = compare_on([spec], str(teacher), summary["student"], run_dir, bench_threads=DEMO_THREADS)
    dataset = get_dataset("lasot", test_root, split="all")
    results = run_dir / "results" / dataset.name
    scores = score_trackers(dataset, [results / "teacher", results / "student"])
    summary["plots"] = [str(p) for p in write_plots(scores, out / "plots", dataset.sequences)]
    summary["eval"] = reports
    return summary
