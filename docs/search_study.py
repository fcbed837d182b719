"""Reproduces docs/search.md: does the one-shot search work at the tiny size?

1. Rank correlation (Kendall tau) between supernet-inherited fitness and stand-alone retrained
   fitness over N random architectures of the tiny space.
2. Evolutionary vs random search at an equal number of evaluations (best fitness so far per
   evaluation), with a plot.

Usage: .venv/bin/python docs/search_study.py DEMO_OUT [ARCHS=8] [RETRAIN_EPOCHS=2] [POPULATION=6] [GENERATIONS=3] [SEEDS=1]
DEMO_OUT is a finished `ctrack demo --search --out DEMO_OUT` folder (its data and supernet are reused).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from compresstracker.demo import kendall_tau  # the elastic demo's, one definition for both


def main(demo: Path, archs: int = 8, retrain_epochs: int = 2, population: int = 6, generations: int = 3, seeds: int = 1) -> None:
    from compresstracker.fileio import atomic_write_json
    from compresstracker.search.evolution import Budget, EvolutionSettings
    from compresstracker.search.demo import fitness_spec
    from compresstracker.search.fitness import fitness_dataset, track_and_score
    from compresstracker.search.run import CandidateScorer, SearchOptions, load_supernet, run_search, supernet_file
    from compresstracker.search.space import space_for
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.run import train_tracker

    out = demo / "study"
    val = fitness_spec(demo)
    file = supernet_file(demo / "supernet")
    supernet = load_supernet(file)
    space = space_for(supernet.config)
    opts = SearchOptions(supernet=str(file), data=val, calib=None, out=str(out / "scratch"), calib_batches=4, calib_batch_size=32)
    scorer = CandidateScorer(supernet, space, opts, file, out / "tracking")
    dataset = fitness_dataset(val)

    # 1. inherited vs retrained fitness
    rng = np.random.default_rng(7)
    rows = []
    for k in range(archs):
        genes = space.sample(rng)
        start = time.perf_counter()
        inherited = scorer(genes)
        seconds = time.perf_counter() - start
        arch_file = out / f"arch_{k}.json"
        config = supernet.config.path_config(space.to_arch(genes))
        atomic_write_json(arch_file, {"arch": space.encode(genes), "config": config.to_dict()})
        run = out / f"retrain_{k}"
        recipe = load_recipe("lighttrack_retrain", [f"model.arch={arch_file}", f"data.train.0.root={demo / 'data' / 'train'}",
                                                    f"train.epochs={retrain_epochs}", "data.samples_per_epoch=256", "data.workers=1"])
        train_tracker(recipe, run, resume=(run / "checkpoints" / "last.pt").exists(), progress=False)
        from compresstracker import load_model

        retrained = track_and_score(load_model(run / "model.safetensors"), dataset, out / "scratch" / "retrained")
        rows.append({"arch": space.encode(genes), "inherited": inherited["fitness"], "retrained": retrained["fitness"],
                     "eval_seconds": seconds})
        print(json.dumps(rows[-1]), flush=True)
    tau = kendall_tau([r["inherited"] for r in rows], [r["retrained"] for r in rows])
    print(f"Kendall tau over {len(rows)} architectures: {tau:.3f}")

    # 2. evolution vs random at the same number of evaluations (same budget: the middle of the MACs range)
    from compresstracker.search.run import dry_run

    low, high = dry_run(opts)["macs_range"]
    budget = Budget(max_macs=int((low + high) / 2))
    curves = {}
    for strategy in ("evolution", "random"):
        for seed in range(seeds):
            name = f"{strategy}_{seed}"
            settings = EvolutionSettings(population=population, generations=generations, parents=4, seed=seed, strategy=strategy)
            run_opts = SearchOptions(**{**opts.__dict__, "out": str(out / name), "budget": budget, "settings": settings})
            summary = run_search(run_opts, resume=(out / name / "search_state.json").exists())
            fitness = [json.loads(line)["fitness"] for line in (out / name / "search.jsonl").read_text().splitlines()]
            curves[name] = list(np.maximum.accumulate(fitness))
            print(name, "best", summary["best"]["fitness"], flush=True)
    atomic_write_json(out / "study.json", {"kendall": {"tau": tau, "rows": rows}, "curves": curves, "budget": budget.max_macs})

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, ("-" if name.startswith("evolution") else "--"), label=name)
    ax.set_xlabel("candidates evaluated")
    ax.set_ylabel("best fitness so far (AO + SR0.5) / 2")
    ax.set_title("tiny LightTrack space: evolution vs random search")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "evolution_vs_random.png", dpi=110)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0]), *(int(a) for a in args[1:]))
