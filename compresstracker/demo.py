"""``make demo`` / ``ctrack demo``: the main job on built-in data, no downloads.

Generates synthetic LaSOT-layout data, compresses the built-in 12-block teacher into a 4-block
student with the CPU recipe, evaluates both on a generated test split and reports params, MACs,
CPU FPS, AUC, the share of the teacher's AUC kept (with its standard error over the test clips)
and the speed-up, beside the AUC of a "tracker" that repeats the first box, with success plots.

The figures repeat: training and tracking run on a fixed number of CPU threads (the reduction
order of float sums follows the thread count; the two tracking workers run one thread each, as
training does), and the test split is large and a fair tracking task. It is TEST_SEQUENCES
short clips of TEST_FRAMES frames of difficulty ``fair`` (a larger target drifting steadily
over a calm background; see compresstracker.data.synthetic): these tiny trackers box a given
target better or worse for a whole clip, and teacher and student differ on which targets, so a
stable "kept" needs many clips more than long ones; the drift makes even short clips defeat a
tracker that repeats the first box (the teacher scores more than twice it). docs/results.md
has the spread over test seeds. FPS and speed-up are measured (interleaved bench), so they
follow the machine and its load. The teacher's guidance pass runs in fp32 on every CPU
(``compress.teacher_precision: auto`` would pick bf16 on a CPU with AMX, and other figures).
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from compresstracker.errors import CTrackError

TEACHER_ASSET = "teacher_tiny.safetensors"
# The built-in teacher of each family the demo can compress (assets/README.md says how each was trained).
TEACHER_ASSETS = {"ostrack": TEACHER_ASSET, "mixformerv2": "teacher_mixformerv2_tiny.safetensors"}
DEFAULT_FAMILY = "ostrack"
TRAIN_SEED, TEST_SEED = 21, 22
TEST_SEQUENCES, TEST_FRAMES = 4000, 10
DEMO_THREADS = 1  # what 2 cores beside one loader worker gave before the count was fixed
EVAL_WORKERS = 2  # tracking processes of DEMO_THREADS threads each: both cores of a 2-core machine
TEACHER_PRECISION = "fp32"  # the same guidance pass with and without AMX (auto: bf16 where AMX is)


def builtin_teacher(family: str = DEFAULT_FAMILY) -> Path:
    """Path of the shipped teacher of ``family`` (see assets/README.md for how it was trained)."""
    if family not in TEACHER_ASSETS:
        raise CTrackError(f"no built-in {family} teacher; the demo has: {', '.join(sorted(TEACHER_ASSETS))}")
    path = Path(str(importlib.resources.files("compresstracker") / "assets" / TEACHER_ASSETS[family]))
    if not path.is_file():
        raise CTrackError(f"the built-in teacher {path} is missing from this installation")
    return path


def run_demo(
    out: Path, stages: int = 4, epochs: int | None = None, samples: int | None = None, progress: bool | str | None = True,
    test_sequences: int = TEST_SEQUENCES, family: str = DEFAULT_FAMILY,
) -> dict[str, Any]:
    """Compress the built-in teacher of ``family`` on generated data and compare it with its student;
    a JSON-ready summary."""
    from compresstracker.evaluation.compare import compare_on, kept_standard_error
    from compresstracker.compression.run import compress_tracker
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.plots import write_plots
    from compresstracker.evaluation.report import first_box_score, score_trackers
    from compresstracker.progress import resolve_progress
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.resume import check_resume, saved_run

    out = Path(out)
    train_root, test_root = out / "data" / "train", out / "data" / f"test-{test_sequences}x{TEST_FRAMES}"
    generate("lasot", train_root, sequences=40, frames=120, seed=TRAIN_SEED, workers=EVAL_WORKERS)
    generate("lasot", test_root, sequences=test_sequences, frames=TEST_FRAMES, seed=TEST_SEED, difficulty="fair",
             workers=EVAL_WORKERS)
    teacher = builtin_teacher(family)
    overrides = [f"compress.stages={stages}", f"compress.teacher_precision={TEACHER_PRECISION}", f"data.train.0.root={train_root}"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    if samples is not None:
        overrides.append(f"data.samples_per_epoch={samples}")
    recipe = load_recipe("compresstracker_tiny", overrides)
    run_dir = out / (f"ct{stages}" if family == DEFAULT_FAMILY else f"{family}-ct{stages}")
    saved = saved_run(run_dir)
    if saved is not None:  # resume an interrupted demo, never a run with other settings
        check_resume(saved.recipe, recipe, growable=frozenset())
    resume = saved is not None
    summary = compress_tracker(recipe, run_dir, resume=resume, progress=progress, threads=DEMO_THREADS, teacher=teacher)
    spec = f"lasot={test_root}:all"
    reports = compare_on([spec], str(teacher), summary["student"], run_dir, workers=EVAL_WORKERS, threads=DEMO_THREADS,
                         progress=resolve_progress(progress))
    dataset = get_dataset("lasot", test_root, split="all")
    results = run_dir / "results" / dataset.name
    scores = score_trackers(dataset, [results / "teacher", results / "student"])
    first_box = first_box_score(dataset)
    first_box_auc = first_box.metrics()["auc"]
    summary["plots"] = [str(p) for p in write_plots([*scores, first_box], out / "plots", dataset.sequences)]
    summary["eval"] = reports
    teacher_auc = reports[0]["teacher"]["metrics"]["auc"]
    summary["teacher_family"] = family
    summary["test_split"] = {
        "root": str(test_root), "sequences": test_sequences, "frames": TEST_FRAMES, "seed": TEST_SEED, "difficulty": "fair",
        "kept_standard_error": kept_standard_error(*scores),
        "first_box_auc": first_box_auc,
        "teacher_over_first_box": teacher_auc / first_box_auc,
    }
    return summary
