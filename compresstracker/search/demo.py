"""``ctrack demo --search`` / ``make demo-search``: supernet, search and retrain of the tiny space on generated data.

Generates LaSOT-layout data of difficulty ``fair`` (a larger target drifting steadily over a
calm background, see compresstracker.data.synthetic): training sequences, validation clips that
score candidates (OPE AUC and OP50 over every clip) and test clips. Trains the tiny supernet
with both heads held at the largest (``model.overrides.heads=held``: SPOS draws the backbone and
the output block, the one head gets every step), searches it under a MACs budget in the middle
of the space's range, then retrains the winner and RANDOM_DRAWS random architectures of the same
budget (the first distinct paths ``default_rng(1)`` draws under it other than the winner; never
chosen by their score) the same way, two at a time in their own processes: each starts from its
own path's supernet weights (BatchNorm recalibrated, as the search's ``subnet.safetensors``) and
gets the same run. The test split scores them all beside a "tracker" that repeats the first
box; the searched network's lead over the draws' mean comes with the standard error of the
paired per-clip difference (150 clips of 30 frames put it near 1 AUC), and its lead over each
draw with its own.

Why these settings (measured on this 2-core CPU, figures in docs/search.md): with the paper's
SGD at lr 0.03 a tiny LightTrack's score head stayed at chance (balanced BCE ln 2 = 0.69) over the
1,024 pairs measured (its logits are scaled by 0.1, which slows SGD there); AdamW at 3e-3 trains
it. With the paper's searched heads (one of 3 widths x 2 x 3^7 towers per head, drawn every
step) the score head stays at chance for the whole short run, even when the drawn heads start
from a held one, so the candidates ranked on box regression alone and the search did no better
than a random draw; held, the one head learns (balanced BCE 0.41 after 8 epochs) and the
search's fitness means something. One retrain per architecture moves a network by about 1-2.5
AUC, hence several random draws. Hard clips (distractors, occlusion, out of view) are beyond runs
this short. Every process runs one thread, as the compression demo.
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
# The retrain starts from the path's supernet weights with the supernet recipe's optimizer and schedule.
DEMO_THREADS = 1  # per process, as the compression demo: figures that repeat, and no OpenMP team stalled by a busy machine
RANDOM_DRAWS = 3  # random architectures of the budget, each retrained: the searched one is compared with their mean
RETRAIN_OVERRIDES = ("train.optimizer=adamw", "train.lr=3.0e-3", "train.lr_end=1.0e-4", "train.warmup_epochs=1",
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


def fitness_spec(out: Path) -> str:
    """The ``--data`` spec of a search demo folder's fitness clips (every one: OPE AUC and OP50)."""
    return f"lasot={Path(out) / 'data' / 'val'}:all"


def per_sequence_auc(score) -> list[float]:
    """Per-clip AUC of a scored tracker, in the dataset's order (paired differences need the same order)."""
    per = score.result.sequence_metrics()
    return [float(per[name]["auc"]) for name in score.result.names]


def run_search_demo(out: Path, epochs: int = 8, samples: int = 512, population: int = 6, generations: int = 3,
                    retrain_epochs: int = 8, heads: str = "held", progress: bool = True, on_generation=None) -> dict[str, Any]:
    """The whole loop on the tiny space; returns the top candidates, both retrained models' scores, the
    first-box baseline and the standard error of their difference."""
    from compresstracker import load_model
    from compresstracker.bench.flops import count_family_macs, count_params
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.report import first_box_score, score_trackers
    from compresstracker.fileio import atomic_write_json
    from compresstracker.search.costs import cached_cost_table
    from compresstracker.threads import in_processes
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.run import CandidateScorer, SearchOptions, dry_run, load_supernet, run_search, supernet_file
    from compresstracker.search.space import space_for

    out = Path(out)
    _check_settings(out, {"epochs": epochs, "samples": samples, "population": population, "generations": generations,
                          "retrain_epochs": retrain_epochs, "difficulty": DIFFICULTY, "heads": heads})
    roots = {name: out / "data" / name for name in ("train", "val", "test")}
    for (name, root), seed, (sequences, frames) in zip(roots.items(), (TRAIN_SEED, VAL_SEED, TEST_SEED), (TRAIN_CLIPS, VAL_CLIPS, TEST_CLIPS)):
        generate("lasot", root, sequences=sequences, frames=frames, seed=seed, image_size=IMAGE_SIZE, difficulty=DIFFICULTY)
    common = [f"data.train.0.root={roots['train']}", "data.workers=1"]

    supernet_dir = out / "supernet"
    held = heads == "held"
    _train("lighttrack_supernet_tiny", supernet_dir, common + [f"train.epochs={epochs}", f"data.samples_per_epoch={samples}",
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
    models = {"searched": (out / "search" / "best.json", out / "search" / "subnet.safetensors")}
    for k, genes in enumerate(drawn, 1):
        folder = out / f"random-{k}"
        arch_file, init = folder / "arch.json", folder / "subnet.safetensors"
        config = supernet.config.path_config(space.to_arch(genes))
        atomic_write_json(arch_file, {"arch": space.encode(genes), **table.costs(genes), "config": config.to_dict()})
        if not init.is_file():
            CandidateScorer(supernet, space, opts, file, folder / "tracking").export(genes, init, {"fitness": None, **table.costs(genes)})
        models[f"random-{k}"] = (arch_file, init)

    test_root = str(roots["test"])
    in_processes({name: (_retrain_and_track, (name, str(arch_file), str(init), str(out), common, retrain_epochs, samples, test_root))
                  for name, (arch_file, init) in models.items()})
    test = get_dataset("lasot", roots["test"], split="all")
    first_box = first_box_score(test).metrics()["auc"]
    rows, per_sequence = [], {}
    for name, (arch_file, _) in models.items():
        model = load_model(out / f"retrain_{name}" / "model.safetensors")
        score = score_trackers(test, [out / "results" / name])[0]
        per_sequence[name] = per_sequence_auc(score)
        auc = score.metrics()["auc"]
        rows.append({"model": name, "arch": json.loads(arch_file.read_text())["arch"], "macs": count_family_macs(model)[0],
                     "params": count_params(model), "auc": auc, "over_first_box": auc / first_box})
    comparison = {"first_box_auc": first_box, "sequences": len(test.sequences), "frames": TEST_CLIPS[1], "difficulty": DIFFICULTY,
                  **compare_with_draws(rows, per_sequence)}
    return {"ranges": ranges, "budget": budget.max_macs, "search": summary, "retrained": rows, "test": comparison}


def _retrain_and_track(name: str, arch_file: str, init: str, out: str, common: list[str], epochs: int, samples: int,
                       test_root: str) -> None:
    """One network of the demo's comparison, in its own process: retrained from its supernet weights and tracked
    on the test clips (both resume what they find done)."""
    from compresstracker.data import get_dataset
    from compresstracker.evaluation.runner import ModelSpec, run_tracker

    run_dir = Path(out) / f"retrain_{name}"
    _train("lighttrack_retrain", run_dir, [*common, f"model.arch={arch_file}", f"model.init={init}", *RETRAIN_OVERRIDES,
                                           f"train.epochs={epochs}", f"data.samples_per_epoch={samples}"], False)
    test = get_dataset("lasot", Path(test_root), split="all")
    run_tracker(ModelSpec(checkpoint=str(run_dir / "model.safetensors")), test, Path(out) / "results" / name,
                replace_stale=True, threads=DEMO_THREADS)
