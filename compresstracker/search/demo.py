"""``ctrack demo --search`` / ``make demo-search``: supernet, search and retrain of the tiny space on generated data.

Generates LaSOT-layout data of difficulty ``fair`` (a larger target drifting steadily over a
calm background, see compresstracker.data.synthetic): training sequences, validation clips that
score candidates (OPE AUC and OP50 over every clip; a GOT-10k layout keeps only a fifth of its
clips for val, 4 in the earlier demo) and test clips. Trains the tiny supernet (SPOS, both heads
held at the largest for the first half, ``train.spos_fixed_head_epochs``), searches it under a
MACs budget in the middle of the space's range, then retrains the winner and one random
architecture of the same budget (the first path ``default_rng(1)`` draws under it other than the
winner; never chosen by its score) the same way: each starts from its own path's supernet weights (BatchNorm
recalibrated, as the search's ``subnet.safetensors``) and gets the same run. The test split
scores both beside a "tracker" that repeats the first box, with the standard error of the
searched-minus-random AUC difference over the test clips (paired: the clips they share cancel);
150 clips of 30 frames put it near 1 AUC where 60 x 40 gave 2.4.

Why these settings (measured on this 2-core CPU, figures in docs/search.md): with the paper's
SGD at lr 0.03 a tiny LightTrack's score head stayed at chance (balanced BCE ln 2 = 0.69) over the
1,024 pairs measured (its logits are scaled by 0.1, which slows SGD there); AdamW at 3e-3 trains
it. Drawn anew every step (SPOS) the head towers keep it at chance; held at the largest head the
score head learns (BCE 0.46 on held-out pairs after the demo's 8 epochs, 4 of them held), but the
drawn heads that start from it afterwards stay at chance (0.71), so the search, whose candidates
carry drawn heads, still ranks mostly on box regression.
Hard clips (distractors, occlusion, out of view) are beyond runs this short. Every process runs
one thread, as the compression demo.
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


def random_within(table, budget, winner: str, draws: int = 20000):
    """The genes of the first architecture ``default_rng(1)`` draws within ``budget`` other than the search's
    ``winner``: the random baseline a search is compared with, never chosen by its score. None when no draw
    lands there (the winner alone fits)."""
    space, rng = table.space, np.random.default_rng(1)
    for _ in range(draws):
        genes = space.sample(rng)
        if not budget.broken(table.costs(genes)) and space.encode(genes) != winner:
            return genes
    return None


def fitness_spec(out: Path) -> str:
    """The ``--data`` spec of a search demo folder's fitness clips (every one: OPE AUC and OP50)."""
    return f"lasot={Path(out) / 'data' / 'val'}:all"


def per_sequence_auc(score) -> list[float]:
    """Per-clip AUC of a scored tracker, in the dataset's order (paired differences need the same order)."""
    per = score.result.sequence_metrics()
    return [float(per[name]["auc"]) for name in score.result.names]


def run_search_demo(out: Path, epochs: int = 8, samples: int = 512, population: int = 6, generations: int = 3,
                    retrain_epochs: int = 8, progress: bool = True, on_generation=None) -> dict[str, Any]:
    """The whole loop on the tiny space; returns the top candidates, both retrained models' scores, the
    first-box baseline and the standard error of their difference."""
    from compresstracker import load_model
    from compresstracker.bench.flops import count_family_macs, count_params
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.evaluation.report import first_box_score, score_trackers
    from compresstracker.evaluation.runner import ModelSpec, run_tracker
    from compresstracker.fileio import atomic_write_json
    from compresstracker.search.costs import cached_cost_table
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.run import CandidateScorer, SearchOptions, dry_run, load_supernet, run_search, supernet_file
    from compresstracker.search.space import space_for

    out = Path(out)
    _check_settings(out, {"epochs": epochs, "samples": samples, "population": population, "generations": generations,
                          "retrain_epochs": retrain_epochs, "difficulty": DIFFICULTY})
    roots = {name: out / "data" / name for name in ("train", "val", "test")}
    for (name, root), seed, (sequences, frames) in zip(roots.items(), (TRAIN_SEED, VAL_SEED, TEST_SEED), (TRAIN_CLIPS, VAL_CLIPS, TEST_CLIPS)):
        generate("lasot", root, sequences=sequences, frames=frames, seed=seed, image_size=IMAGE_SIZE, difficulty=DIFFICULTY)
    common = [f"data.train.0.root={roots['train']}", "data.workers=1"]

    supernet_dir = out / "supernet"
    _train("lighttrack_supernet_tiny", supernet_dir, common + [f"train.epochs={epochs}", f"data.samples_per_epoch={samples}",
                                                               f"train.spos_fixed_head_epochs={epochs // 2}"], progress)

    opts = SearchOptions(supernet=str(supernet_dir), data=fitness_spec(out), calib=None, out=str(out / "search"),
                         calib_batches=4, calib_batch_size=32, measure_latency=True, threads=DEMO_THREADS)
    ranges = dry_run(opts)
    low, high = ranges["macs_range"]
    budget = Budget(max_macs=int((low + high) / 2))
    opts = SearchOptions(**{**opts.__dict__, "budget": budget,
                            "settings": EvolutionSettings(population=population, generations=generations, parents=4, seed=0)})
    resume = (out / "search" / "search_state.json").exists()
    summary = run_search(opts, resume=resume, on_generation=on_generation)  # candidates tracked with opts.threads

    # a random architecture of the same budget, cut out of the supernet and retrained the same way as the winner
    file = supernet_file(supernet_dir)
    supernet = load_supernet(file)
    space = space_for(supernet.config)
    table = cached_cost_table(supernet, file)
    genes = random_within(table, budget, summary["best"]["arch"])
    if genes is None:
        raise CTrackError(f"the winner {summary['best']['arch']} is the only architecture within the budget; nothing to draw beside it")
    random_arch = out / "random_arch.json"
    config = supernet.config.path_config(space.to_arch(genes))
    atomic_write_json(random_arch, {"arch": space.encode(genes), **table.costs(genes), "config": config.to_dict()})
    random_init = out / "random_subnet.safetensors"
    if not random_init.is_file():
        CandidateScorer(supernet, space, opts, file, out / "search" / "tracking").export(genes, random_init, {"fitness": None, **table.costs(genes)})

    test = get_dataset("lasot", roots["test"], split="all")
    first_box = first_box_score(test)
    rows, per_sequence = [], {}
    for name, arch_file, init in (("searched", out / "search" / "best.json", out / "search" / "subnet.safetensors"),
                                  ("random", random_arch, random_init)):
        run_dir = out / f"retrain_{name}"
        _train("lighttrack_retrain", run_dir, common + [f"model.arch={arch_file}", f"model.init={init}", *RETRAIN_OVERRIDES,
                                                           f"train.epochs={retrain_epochs}", f"data.samples_per_epoch={samples}"], progress)
        checkpoint = run_dir / "model.safetensors"
        results = out / "results" / name
        run_tracker(ModelSpec(checkpoint=str(checkpoint)), test, results, replace_stale=True, threads=DEMO_THREADS)
        model = load_model(checkpoint)
        score = score_trackers(test, [results])[0]
        per_sequence[name] = per_sequence_auc(score)
        auc = score.metrics()["auc"]
        rows.append({"model": name, "arch": json.loads(arch_file.read_text())["arch"], "macs": count_family_macs(model)[0],
                     "params": count_params(model), "auc": auc, "over_first_box": auc / first_box.metrics()["auc"]})
    comparison = {
        "first_box_auc": first_box.metrics()["auc"], "sequences": len(test.sequences), "frames": TEST_CLIPS[1],
        "difficulty": DIFFICULTY, "searched_minus_random": rows[0]["auc"] - rows[1]["auc"],
        "standard_error": difference_standard_error(per_sequence["searched"], per_sequence["random"]),
    }
    return {"ranges": ranges, "budget": budget.max_macs, "search": summary, "retrained": rows, "test": comparison}
