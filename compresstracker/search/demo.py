"""``ctrack demo --search`` / ``make demo-search``: supernet, search and retrain of the tiny space on generated data.

Generates synthetic data (LaSOT-layout training and test sequences, GOT-10k-layout validation
sequences that score candidates), trains the tiny supernet (SPOS), searches it under a MACs
budget in the middle of the space's range, then retrains the winner and one random architecture
of the same budget with the same recipe and compares their AUC on the test split.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

TRAIN_SEED, VAL_SEED, TEST_SEED = 31, 32, 33
IMAGE_SIZE = (192, 144)


def _train(recipe_name: str, out: Path, overrides: list[str], progress: bool) -> dict[str, Any]:
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.run import train_tracker

    recipe = load_recipe(recipe_name, overrides)
    resume = (out / "checkpoints" / "last.pt").exists()
    return train_tracker(recipe, out, resume=resume, progress=progress)


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


def run_search_demo(out: Path, epochs: int = 3, samples: int = 512, population: int = 6, generations: int = 3,
                    retrain_epochs: int = 3, progress: bool = True, on_generation=None) -> dict[str, Any]:
    """The whole loop on the tiny space; returns the top candidates and both retrained models' scores."""
    from compresstracker import load_model
    from compresstracker.bench.flops import count_family_macs, count_params
    from compresstracker.evaluation.report import score_trackers
    from compresstracker.evaluation.runner import ModelSpec, run_tracker
    from compresstracker.data import get_dataset
    from compresstracker.data.synthetic import generate
    from compresstracker.fileio import atomic_write_json
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.run import SearchOptions, dry_run, load_supernet, run_search, supernet_file
    from compresstracker.search.space import space_for

    out = Path(out)
    _check_settings(out, {"epochs": epochs, "samples": samples, "population": population, "generations": generations,
                          "retrain_epochs": retrain_epochs})
    train_root, val_root, test_root = out / "data" / "train", out / "data" / "val", out / "data" / "test"
    generate("lasot", train_root, sequences=24, frames=80, seed=TRAIN_SEED, image_size=IMAGE_SIZE)
    generate("got10k", val_root, sequences=20, frames=40, seed=VAL_SEED, image_size=IMAGE_SIZE)
    generate("lasot", test_root, sequences=8, frames=80, seed=TEST_SEED, image_size=IMAGE_SIZE)
    common = [f"data.train.0.root={train_root}", "data.workers=1"]

    supernet_dir = out / "supernet"
    _train("lighttrack_supernet_tiny", supernet_dir, common + [f"train.epochs={epochs}", f"data.samples_per_epoch={samples}"], progress)

    opts = SearchOptions(supernet=str(supernet_dir), data=f"got10k={val_root}:val", calib=None, out=str(out / "search"),
                         calib_batches=4, calib_batch_size=32, measure_latency=True)
    ranges = dry_run(opts)
    low, high = ranges["macs_range"]
    budget = Budget(max_macs=int((low + high) / 2))
    opts = SearchOptions(**{**opts.__dict__, "budget": budget,
                            "settings": EvolutionSettings(population=population, generations=generations, parents=4, seed=0)})
    resume = (out / "search" / "search_state.json").exists()
    summary = run_search(opts, resume=resume, on_generation=on_generation)

    # a random architecture of the same budget, retrained the same way as the winner
    supernet = load_supernet(supernet_file(supernet_dir))
    space = space_for(supernet.config)
    from compresstracker.search.costs import cached_cost_table

    table = cached_cost_table(supernet, supernet_file(supernet_dir))
    rng = np.random.default_rng(1)
    while True:
        genes = space.sample(rng)
        if not budget.broken(table.costs(genes)) and space.encode(genes) != summary["best"]["arch"]:
            break
    random_arch = out / "random_arch.json"
    config = supernet.config.path_config(space.to_arch(genes))
    atomic_write_json(random_arch, {"arch": space.encode(genes), **table.costs(genes), "config": config.to_dict()})

    test = get_dataset("lasot", test_root, split="all")
    rows = []
    for name, arch_file in (("searched", out / "search" / "best.json"), ("random", random_arch)):
        run_dir = out / f"retrain_{name}"
        _train("lighttrack_retrain", run_dir, common + [f"model.arch={arch_file}", f"train.epochs={retrain_epochs}",
                                                           f"data.samples_per_epoch={samples}"], progress)
        checkpoint = run_dir / "model.safetensors"
        results = out / "results" / name
        run_tracker(ModelSpec(checkpoint=str(checkpoint)), test, results, replace_stale=True)
        model = load_model(checkpoint)
        rows.append({"model": name, "arch": json.loads(arch_file.read_text())["arch"], "macs": count_family_macs(model)[0],
                     "params": count_params(model), "auc": score_trackers(test, [results])[0].metrics()["auc"]})
    return {"ranges": ranges, "budget": budget.max_macs, "search": summary, "retrained": rows}
