"""``ctrack demo --search`` / ``make demo-search``: supernet, search and retrain of the tiny space on generated data.

Generates LaSOT-layout data of difficulty ``fair`` (a larger target drifting steadily over a
calm background, see compresstracker.data.synthetic): training sequences, validation clips that
score candidates (OPE AUC and OP50 over every clip) and test clips. Trains the tiny supernet
with both heads held at the largest (``model.overrides.heads=held``: SPOS draws the backbone and
the output block, the one head gets every step), searches it under a MACs budget in the middle
of the space's range, then takes the winner and RANDOM_DRAWS random architectures of the same
budget (the first distinct paths ``default_rng(1)`` draws under it other than the winner; never
chosen by their score), two at a time in their own processes: each is tracked on the test clips
with its supernet weights (BatchNorm recalibrated, as the search's ``subnet.safetensors``), then
retrained from them the same way and tracked again. The report has both beside a "tracker" that
repeats the first box; the searched network's lead over the draws' mean comes with the standard
error of the paired per-clip difference (150 clips of 30 frames put it near 1 AUC), and its lead
over each draw with its own.

Why these settings (measured on this 2-core CPU, figures in docs/search.md): with the paper's
SGD at lr 0.03 a tiny LightTrack's score head stayed at chance (balanced BCE ln 2 = 0.69) over the
1,024 pairs measured (its logits are scaled by 0.1, which slows SGD there); AdamW at 3e-3 trains
it. With the paper's searched heads (one of 3 widths x 2 x 3^7 towers per head, drawn every
step) the score head stays at chance for the whole short run, even when the drawn heads start
from a held one, so candidates ranked on box regression alone; held, the one head learns. After
32 epochs the paths track by themselves (inherited fitness 26-59) and the search's winner leads
random draws with its supernet weights; a retrain of 2,048 pairs brings every path of the budget
to about the same AUC on these clips, and a retrain's outcome moves by several AUC with the
machine's rounding, hence several draws and both columns. Hard clips (distractors, occlusion,
out of view) are beyond runs this short. Every process runs one thread, as the compression demo.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from compresstracker.errors import CTrackError

TRAIN_SEED, VAL_SEED, TEST_SEED = 31, 32, 33
IMAGE_SIZE = (192, 144)
DIFFICULTY = "fair"
TRAIN_CLIPS, VAL_CLIPS, TEST_CLIPS = (32, 80), (16, 30), (150, 30)  # (sequences, frames)
# The retrain starts from the path's supernet weights: AdamW as the supernet, at a third of its rate and without warm-up.
DEMO_THREADS = 1  # per process, as the compression demo: figures that repeat, and no OpenMP team stalled by a busy machine
RANDOM_DRAWS = 3  # random architectures of the budget, scored like the winner: it is compared with their mean and each
STAGES = ("supernet", "retrained")  # each network is scored with its supernet weights and after the retrain
RETRAIN_OVERRIDES = ("train.optimizer=adamw", "train.lr=1.0e-3", "train.lr_end=1.0e-4", "train.warmup_epochs=0",
                     "train.grad_clip=1.0")


def _train(recipe_name: str, out: Path, overrides: list[str], progress: bool) -> dict[str, Any]:
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.run import train_tracker

    recipe = load_recipe(recipe_name, overrides)
    resume = (out / "checkpoints" / "last.pt").exists()
    return train_tracker(recipe, out, resume=resume, progress=progress, threads=DEMO_THREADS)


SETTINGS_FILE = "demo_search.json"


def _check_settings(out: Path, settings: dict[str, Any]) -> None:
    """Record the run's settings in ``out``; a rerun with others is refused (its supernet, search and
    retrains would mix with the earlier ones)."""
    from compresstracker.errors import ConfigError
    from compresstracker.fileio import atomic_write_json
    from compresstracker.training.resume import differences

    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            saved = None
        if not isinstance(saved, dict):
            raise ConfigError(f"{out} holds an unreadable search demo record ({SETTINGS_FILE}); choose another --out")
        changed = ", ".join(f"{key} {old!r} there, {new!r} now" for key, old, new in differences(saved, settings))
        if changed:
            raise ConfigError(f"{out} holds a search demo run with other settings ({changed}); choose another --out")
        return
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no search demo run ({SETTINGS_FILE}); choose another --out")
    atomic_write_json(path, settings)


def difference_standard_error(a: Sequence[float], b: Sequence[float]) -> float:
    """Standard error of mean(a - b) for paired per-sequence scores: std(a - b, ddof 1) / sqrt(n).

    How far the AUC difference of two trackers would move on another draw of test clips like
    these; NaN with fewer than two clips.
    """
    if len(a) != len(b):
        raise ValueError("paired scores need two sequences of the same length")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) < 2:
        return math.nan
    return float(diff.std(ddof=1) / math.sqrt(len(diff)))


def randoms_within(table, budget, winner: str, count: int, draws: int = 20000) -> list:
    """The genes of the first ``count`` distinct architectures ``default_rng(1)`` draws within ``budget`` other than
    the search's ``winner``: the random baselines a search is compared with, never chosen by their score. Fewer
    (none) when the draws find fewer (the winner alone fits)."""
    space, rng = table.space, np.random.default_rng(1)
    found: dict[str, Any] = {}
    for _ in range(draws):
        genes = space.sample(rng)
        name = space.encode(genes)
        if not budget.broken(table.costs(genes)) and name != winner and name not in found:
            found[name] = genes
            if len(found) == count:
                break
    return list(found.values())


def random_within(table, budget, winner: str, draws: int = 20000):
    """The first of :func:`randoms_within`, or None when no draw lands within the budget beside the winner."""
    found = randoms_within(table, budget, winner, 1, draws)
    return found[0] if found else None


def compare_with_draws(rows: list[dict[str, Any]], per_sequence: dict[str, list[float]]) -> dict[str, Any]:
    """The searched network (``rows[0]``) against the random draws (the other rows): its AUC lead over their mean
    and over each, with the paired standard errors over the test clips (against the mean: the per-clip mean of
    the draws' AUCs, the expected random architecture on each clip)."""
    searched, draws = rows[0], rows[1:]
    mean_auc = float(np.mean([row["auc"] for row in draws]))
    mean_per_clip = np.mean([per_sequence[row["model"]] for row in draws], axis=0)
    return {
        "random_draws": len(draws), "random_mean_auc": mean_auc, "searched_minus_random": searched["auc"] - mean_auc,
        "standard_error": difference_standard_error(per_sequence[searched["model"]], mean_per_clip),
        "per_draw": [{"model": row["model"], "searched_minus": searched["auc"] - row["auc"],
                      "standard_error": difference_standard_error(per_sequence[searched["model"]], per_sequence[row["model"]])}
                     for row in draws],
    }


def retrain_overrides(out: Path, epochs: int, samples: int) -> list[str]:
    """The demo's retrain on its training clips in ``out``: ``lighttrack_retrain`` with these overrides and the path's
    ``model.arch`` and ``model.init``."""
    return [*_on_training_clips(out), *RETRAIN_OVERRIDES, f"train.epochs={epochs}", f"data.samples_per_epoch={samples}"]


def _on_training_clips(out: Path) -> list[str]:
    return [f"data.train.0.root={Path(out) / 'data' / 'train'}", "data.workers=1"]


def export_paths(paths: dict[str, Any], root: Path, supernet, space, table, opts, file: Path,
                 fitness: dict[str, float] | None = None) -> dict[str, tuple[Path, Path]]:
    """For each named path, ``root/NAME/arch.json`` (what a retrain reads as ``model.arch``) and
    ``root/NAME/subnet.safetensors`` (its supernet weights, BatchNorm recalibrated as the search's winner); one
    scorer (its calibration batches) serves them all, built only when a file is missing."""
    from compresstracker.fileio import atomic_write_json
    from compresstracker.search.run import CandidateScorer

    scorer, files = None, {}
    for name, genes in paths.items():
        arch_file, init = root / name / "arch.json", root / name / "subnet.safetensors"
        costs = table.costs(genes)
        config = supernet.config.path_config(space.to_arch(genes))
        atomic_write_json(arch_file, {"arch": space.encode(genes), **costs, "config": config.to_dict()})
        if not init.is_file():
            scorer = scorer or CandidateScorer(supernet, space, opts, file, root / "tracking")
            scorer.export(genes, init, {"fitness": (fitness or {}).get(name), **costs})
        files[name] = (arch_file, init)
    return files


def fitness_spec(out: Path) -> str:
    """The ``--data`` spec of a search demo folder's fitness clips (every one: OPE AUC and OP50)."""
    return f"lasot={Path(out) / 'data' / 'val'}:all"


def per_sequence_auc(score) -> list[float]:
    """Per-clip AUC of a scored tracker, in the dataset's order (paired differences need the same order)."""
    per = score.result.sequence_metrics()
    return [float(per[name]["auc"]) for name in score.result.names]


def run_search_demo(out: Path, epochs: int = 32, samples: int = 512, population: int = 6, generations: int = 3,
                    retrain_epochs: int = 4, heads: str = "held", progress: bool = True, on_generation=None) -> dict[str, Any]:
    """The whole loop on the tiny space; returns the search, the networks' scores with their supernet weights and
    retrained, the first-box baseline and the searched network's lead over the random draws with its standard errors."""
    from compresstracker import load_model
    from compresstracker.bench.flops import count_family_macs, count_params
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.report import first_box_score, score_trackers
    from compresstracker.search.costs import cached_cost_table
    from compresstracker.threads import in_processes
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.run import SearchOptions, dry_run, load_supernet, run_search, supernet_file
    from compresstracker.search.space import space_for

    out = Path(out)
    _check_settings(out, {"epochs": epochs, "samples": samples, "population": population, "generations": generations,
                          "retrain_epochs": retrain_epochs, "difficulty": DIFFICULTY, "heads": heads})
    roots = {name: out / "data" / name for name in ("train", "val", "test")}
    for (name, root), seed, (sequences, frames) in zip(roots.items(), (TRAIN_SEED, VAL_SEED, TEST_SEED), (TRAIN_CLIPS, VAL_CLIPS, TEST_CLIPS)):
        generate("lasot", root, sequences=sequences, frames=frames, seed=seed, image_size=IMAGE_SIZE, difficulty=DIFFICULTY)
    supernet_dir = out / "supernet"
    held = heads == "held"
    _train("lighttrack_supernet_tiny", supernet_dir, _on_training_clips(out) + [f"train.epochs={epochs}", f"data.samples_per_epoch={samples}",
                                                               f"model.overrides.heads={heads}",
                                                               f"train.spos_fixed_head_epochs={0 if held else epochs // 2}"], progress)

    opts = SearchOptions(supernet=str(supernet_dir), data=fitness_spec(out), calib=None, out=str(out / "search"),
                         calib_batches=4, calib_batch_size=32, measure_latency=True, threads=DEMO_THREADS)
    ranges = dry_run(opts)
    low, high = ranges["macs_range"]
    budget = Budget(max_macs=int((low + high) / 2))
    opts = SearchOptions(**{**opts.__dict__, "budget": budget,
                            "settings": EvolutionSettings(population=population, generations=generations, parents=4, seed=0)})
    resume = (out / "search" / "search_state.json").exists()
    summary = run_search(opts, resume=resume, on_generation=on_generation)  # candidates tracked with opts.threads

    # RANDOM_DRAWS random architectures of the same budget, cut out of the supernet and retrained the same way as the winner
    file = supernet_file(supernet_dir)
    supernet = load_supernet(file)
    space = space_for(supernet.config)
    table = cached_cost_table(supernet, file)
    drawn = randoms_within(table, budget, summary["best"]["arch"], RANDOM_DRAWS)
    if not drawn:
        raise CTrackError(f"the winner {summary['best']['arch']} is the only architecture within the budget; nothing to draw beside it")
    models = {"searched": (out / "search" / "best.json", out / "search" / "subnet.safetensors"),
              **export_paths({f"random-{k}": genes for k, genes in enumerate(drawn, 1)}, out, supernet, space, table, opts, file)}

    test_root = str(roots["test"])
    retrain = retrain_overrides(out, retrain_epochs, samples)
    in_processes({name: (retrain_and_track, (name, str(arch_file), str(init), str(out), retrain, test_root))
                  for name, (arch_file, init) in models.items()})
    test = get_dataset("lasot", roots["test"], split="all")
    first_box = first_box_score(test).metrics()["auc"]
    rows, per_sequence = [], {stage: {} for stage in STAGES}
    for name, (arch_file, _) in models.items():
        model = load_model(out / f"retrain_{name}" / "model.safetensors")
        row = {"model": name, "arch": json.loads(arch_file.read_text())["arch"], "macs": count_family_macs(model)[0],
               "params": count_params(model)}
        for stage in STAGES:
            score = score_trackers(test, [out / "results" / stage / name])[0]
            per_sequence[stage][name] = per_sequence_auc(score)
            row[f"auc_{stage}"] = score.metrics()["auc"]
            row[f"over_first_box_{stage}"] = row[f"auc_{stage}"] / first_box
        rows.append(row)
    comparison = {"first_box_auc": first_box, "sequences": len(test.sequences), "frames": TEST_CLIPS[1], "difficulty": DIFFICULTY,
                  **{stage: compare_with_draws([{"model": r["model"], "auc": r[f"auc_{stage}"]} for r in rows], per_sequence[stage])
                     for stage in STAGES}}
    return {"ranges": ranges, "budget": budget.max_macs, "search": summary, "networks": rows, "test": comparison}


def retrain_and_track(name: str, arch_file: str, init: str, out: str, overrides: list[str], test_root: str) -> None:
    """One network of the demo's comparison, in its own process: tracked on the test clips with its supernet weights
    (``init``, BatchNorm recalibrated), retrained from them with the demo's ``overrides`` and tracked again (each
    step resumes what it finds done)."""
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.runner import ModelSpec, run_tracker

    test = get_dataset("lasot", Path(test_root), split="all")
    results = Path(out) / "results"
    run_tracker(ModelSpec(checkpoint=init), test, results / "supernet" / name, replace_stale=True, threads=DEMO_THREADS)
    run_dir = Path(out) / f"retrain_{name}"
    _train("lighttrack_retrain", run_dir, [*overrides, f"model.arch={arch_file}", f"model.init={init}"], False)
    run_tracker(ModelSpec(checkpoint=str(run_dir / "model.safetensors")), test, results / "retrained" / name,
                replace_stale=True, threads=DEMO_THREADS)
