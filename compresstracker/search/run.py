"""What ``ctrack search`` runs: supernet in, dry-run figures or an evolutionary search out.

Outputs in the search folder: ``search.jsonl`` (every evaluated candidate), ``best.json`` (the
winner), ``subnet.safetensors`` (the winner cut out of the supernet with recalibrated BatchNorm,
an ordinary LightTrack checkpoint), ``pareto.png`` and ``search_state.json`` (for --resume).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from compresstracker.errors import ConfigError
from compresstracker.fileio import atomic_write_json, file_sha256
from compresstracker.search.costs import CostTable, cached_cost_table, check_latency
from compresstracker.search.evolution import Budget, Evolution, EvolutionSettings, pareto_front, ranked

SUPERNET_FILE = "model.safetensors"
SHARE_SAMPLES = 4000  # random paths behind the budget's share of the space


@dataclass(frozen=True)
class SearchOptions:
    supernet: str
    data: Optional[str]  # NAME=ROOT[:SPLIT] fitness split
    calib: Optional[str]  # NAME=ROOT[:SPLIT] calibration pairs (default: the supernet's training data)
    out: str
    budget: Budget = Budget()
    settings: EvolutionSettings = EvolutionSettings()
    calib_batches: Optional[int] = None  # None: 200 (the paper's) at paper size, 10 for small-input supernets
    calib_batch_size: int = 32
    latency_backend: str = "torch"
    threads: int = 1
    measure_latency: bool = False  # build the latency table (always when --max-latency-ms is given)


def supernet_file(path: str | Path) -> Path:
    """A supernet run folder (its model.safetensors) or the file itself."""
    path = Path(path)
    file = path / SUPERNET_FILE if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"no supernet at {path} (expected a `ctrack train -r lighttrack_supernet*` run folder or its {SUPERNET_FILE})")
    return file


def load_cost_table(supernet, file: Path, opts: SearchOptions) -> CostTable:
    latency = {"backend": opts.latency_backend, "threads": opts.threads} if opts.measure_latency or opts.budget.max_latency_ms else None
    return cached_cost_table(supernet, file, latency)


# budget key -> (its option, how a cost of it is written)
BUDGET_OPTIONS: dict[str, tuple[str, Callable[[float], str]]] = {
    "macs": ("--max-macs", lambda v: f"{v / 1e6:.2f}M MACs"),
    "params": ("--max-params", lambda v: f"{v / 1e6:.3f}M parameters"),
    "latency_ms": ("--max-latency-ms", lambda v: f"{v:.2f} ms"),
}


def check_budget(table: CostTable, budget: Budget) -> None:
    """Refuse a budget that even the space's cheapest path breaks, before a search writes anything
    (it would evaluate nothing and leave an empty --out)."""
    for key, limit in (("macs", budget.max_macs), ("params", budget.max_params), ("latency_ms", budget.max_latency_ms)):
        least = table.cheapest(key) if limit is not None else None
        if least is not None and least > limit:
            option, written = BUDGET_OPTIONS[key]
            raise ConfigError(f"{option} {written(limit)}: no architecture of the space meets it, the cheapest needs {written(least)}")


def dry_run(opts: SearchOptions) -> dict[str, Any]:
    """Space size, MACs and params range and the budget's share of the space; evaluates nothing."""
    from compresstracker.search.elastic import elastic_dry_run, is_elastic_run

    if is_elastic_run(opts.supernet):
        return elastic_dry_run(opts)
    file = supernet_file(opts.supernet)
    supernet = load_supernet(file)
    table = load_cost_table(supernet, file, opts)
    check_budget(table, opts.budget)
    space = table.space
    rng = np.random.default_rng(opts.settings.seed)
    samples = [table.costs(space.sample(rng)) for _ in range(SHARE_SAMPLES)]
    within = sum(not opts.budget.broken(c) for c in samples)
    out = {
        "space": space.name,
        "space_size": space.size(),
        "genes": len(space.genes),
        **table.ranges(),
        "budget": asdict(opts.budget),
        "budget_share": within / len(samples),
        "budget_share_samples": len(samples),
        "evaluations_planned": opts.settings.population * opts.settings.generations,
    }
    if table.latency:
        lat = [c["latency_ms"] for c in samples]
        out["latency_ms_range_sampled"] = [float(min(lat)), float(max(lat))]
    return out


def run_search(opts: SearchOptions, resume: bool = False, on_generation: Callable[[dict], None] | None = None,
               fitness_fn: Callable | None = None) -> dict[str, Any]:
    """The whole search; returns the summary (best, latency check, files)."""
    from compresstracker.search.elastic import is_elastic_run, run_elastic_search

    if is_elastic_run(opts.supernet):
        return run_elastic_search(opts, resume, on_generation, fitness_fn)
    file = supernet_file(opts.supernet)
    supernet = load_supernet(file)
    table = load_cost_table(supernet, file, opts)
    check_budget(table, opts.budget)
    space = table.space
    out = Path(opts.out)
    if opts.calib_batches is None:
        from compresstracker.search.fitness import default_calib_batches

        opts = SearchOptions(**{**opts.__dict__, "calib_batches": default_calib_batches(supernet.config)})
    fitness = fitness_fn or CandidateScorer(supernet, space, opts, file)
    identity = {
        # the file's contents too: a supernet trained further under the same name must not meet old fitness scores
        "supernet": str(file.resolve()), "supernet_sha256": file_sha256(file), "data": opts.data, "calib": opts.calib, "calib_batches": opts.calib_batches,
        "calib_batch_size": opts.calib_batch_size, "latency_backend": opts.latency_backend if table.latency else None,
        "threads": opts.threads if table.latency else None,
    }
    evolution = Evolution(space, opts.settings, opts.budget, table.costs, fitness, out, identity, on_generation)
    state = evolution.run(resume=resume)
    records = state.records
    best = ranked(records)[0]
    summary: dict[str, Any] = {"best": best, "evaluated": len(records), "rejected": state.rejected, "out": str(out)}
    if table.latency:
        front = pareto_front(records, "latency_ms")
        check = check_latency(supernet, table, [space.decode(r["arch"]) for r in front])
        measured = {row["arch"]: row["measured_ms"] for row in check["paths"]}
        for r in records:
            if r["arch"] in measured:
                r["measured_latency_ms"] = measured[r["arch"]]
        summary["latency_check"] = {"mean_abs_error": check["mean_abs_error"], "paths": len(check["paths"])}
        evolution.save(state)  # records gained measured latencies
        best = ranked(records)[0]
        summary["best"] = best
    # best.json also carries the network config (channels, sizes), so `model.arch=best.json` retrains this very network
    config = supernet.config.path_config(space.to_arch(space.decode(best["arch"])))
    atomic_write_json(out / "best.json", {**best, "config": config.to_dict()})
    if isinstance(fitness, CandidateScorer):
        summary["subnet"] = str(fitness.export(space.decode(best["arch"]), out / "subnet.safetensors", best))
    summary["pareto"] = str(write_pareto(records, out / "pareto.png"))
    summary["records"] = ranked(records)
    return summary


class CandidateScorer:
    """Fitness of a path: cut out, BN recalibrated on the calibration batches, tracked on the fitness split."""

    def __init__(self, supernet, space, opts: SearchOptions, supernet_path: Path):
        from compresstracker.search.fitness import CalibrationBatches, calibration_loader, fitness_dataset

        self.dataset = fitness_dataset(opts.data)
        self.supernet = supernet
        self.space = space
        self.work = Path(opts.out) / "tracking"
        self.batches = CalibrationBatches(calibration_loader(supernet, supernet_path, opts.calib, opts.calib_batches, opts.calib_batch_size),
                                          opts.calib_batches)

    def network(self, genes) -> torch.nn.Module:
        from compresstracker.search.fitness import recalibrate_batchnorm

        return recalibrate_batchnorm(self.supernet.extract(self.space.to_arch(genes)), self.batches)

    def __call__(self, genes) -> dict[str, Any]:
        from compresstracker.search.fitness import track_and_score

        return track_and_score(self.network(genes), self.dataset, self.work)

    def export(self, genes, path: Path, record: dict[str, Any]) -> Path:
        from compresstracker.checkpoints import save_native

        net = self.network(genes)
        provenance = {"search": str(self.work.parent), "supernet": self.supernet.config.name,
                      "fitness": record["fitness"], "macs": record["macs"]}
        return save_native(net, net.config, path, provenance=provenance)


def load_supernet(path: Path):
    """A supernet from ctrack's native file (the config in its metadata; weights loaded strictly)."""
    import safetensors
    from safetensors.torch import load_file

    from compresstracker.checkpoints.formats import NATIVE_KEYS
    from compresstracker.models import build_model, config_from_dict
    from compresstracker.search.space import space_for

    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except (safetensors.SafetensorError, OSError) as exc:
        raise ConfigError(f"{path} is not a readable safetensors file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    try:
        config = config_from_dict(json.loads(metadata[NATIVE_KEYS["config"]]))
        space_for(config)
    except (KeyError, ValueError, TypeError, ConfigError):
        raise ConfigError(f"{path} is not the supernet of a searchable family (train one with `ctrack train -r RECIPE`, "
                          "a supernet recipe from `ctrack recipes list`)") from None
    supernet = build_model(config)
    missing, unexpected = supernet.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"{path} does not fit a {config.name} supernet: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return supernet.eval()


def write_pareto(records: list[dict[str, Any]], path: Path, marks: dict[str, dict[str, Any]] | None = None) -> Path:
    """Fitness against MACs (and against predicted latency when known), the front marked; ``marks``
    ({name: {fitness, macs, latency_ms}}: students trained apart, e.g. fixed CT-k) drawn as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_keys = [("macs", "MMACs", 1e-6)] + ([("latency_ms", "latency (ms, predicted)", 1.0)] if any(r.get("latency_ms") for r in records) else [])
    fig, axes = plt.subplots(1, len(axes_keys), figsize=(5.5 * len(axes_keys), 4), squeeze=False)
    for ax, (key, label, scale) in zip(axes[0], axes_keys):
        xs = [r[key] * scale for r in records]
        ax.scatter(xs, [r["fitness"] for r in records], s=14, c=[r["generation"] for r in records], cmap="viridis", label="candidates")
        front = pareto_front(records, key)
        ax.plot([r[key] * scale for r in front], [r["fitness"] for r in front], "r.-", label="front")
        for name, mark in (marks or {}).items():
            if mark.get(key) is not None:
                ax.plot(mark[key] * scale, mark["fitness"], "k*", markersize=10)
                ax.annotate(name, (mark[key] * scale, mark["fitness"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("fitness (AO + SR0.5) / 2")
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    from compresstracker.fileio import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def read_best(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
