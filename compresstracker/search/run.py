"""What ``ctrack search`` runs: supernet in, dry-run figures or an evolutionary search out.

Outputs in the search folder: ``search.jsonl`` (every evaluated candidate), ``best.json`` (the
winner and its network config), the winner cut out of the supernet with recalibrated statistics
(an ordinary checkpoint of the family, named by the space: LightTrack's ``subnet.safetensors``),
``pareto.png`` and ``search_state.json`` (for --resume).

Under torchrun (``--nproc N``, or several nodes) every process runs the same search: the same
cost table (rank 0's, broadcast), the same seeded generations and calibration batches; each
evaluates its share of a generation's candidates (the k-th of each round of N) and the records are
gathered to every rank in the one-process order. Rank 0 alone writes. For the same seed, device
kind and threads per process the records and the winner are those of one process.
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
from compresstracker.search.costs import CostTable, cached_cost_table, check_latency, latency_setting
from compresstracker.search.evolution import Budget, Evolution, EvolutionSettings, broadcast, pareto_front, ranked
from compresstracker.search.space import SearchSpace, space_classes, space_for
from compresstracker.training.distributed import DistInfo, init_distributed, local_device, shutdown

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
    latency_precision: str = "fp32"
    threads: int = 1
    measure_latency: bool = False  # build the latency table (always when --max-latency-ms is given)
    device: str = "cpu"  # where candidates are calibrated and tracked (cost tables: the CPU)
    marks: tuple[tuple[str, str], ...] = ()  # (name, checkpoint) of students trained apart, scored and drawn beside the search

    @property
    def latency(self) -> dict[str, Any] | None:
        """The latency table's setting, None when no latency is asked for."""
        if not (self.measure_latency or self.budget.max_latency_ms):
            return None
        return latency_setting(self.latency_backend, self.latency_precision, self.threads)


def supernet_file(path: str | Path) -> Path:
    """A supernet run folder (the first file a registered space keeps its supernet in) or the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for cls, _ in space_classes():
            for name in cls.supernet_files:
                if (path / name).is_file():
                    return path / name
    expected = "; ".join(f"{cls.title}: {' or '.join(cls.supernet_files)}" for cls, _ in space_classes())
    raise ConfigError(f"no supernet at {path} (expected a supernet run folder holding its file ({expected}) or the file itself)")


def load_supernet(path: Path) -> torch.nn.Module:
    """The supernet in ``path``, read by the space that keeps supernets under that file name (else ctrack's native file)."""
    readers = [cls for cls, _ in space_classes() if Path(path).name in cls.supernet_files]
    return (readers[0] if readers else SearchSpace).read_supernet(Path(path))


def load_cost_table(supernet, file: Path, opts: SearchOptions) -> CostTable:
    return cached_cost_table(supernet, file, opts.latency)


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


def prepare(opts: SearchOptions) -> tuple[Path, torch.nn.Module, CostTable]:
    """The supernet file, the supernet (on the CPU) and its cost table, the latency setting and budget checked."""
    file = supernet_file(opts.supernet)
    supernet = load_supernet(file)
    if opts.latency:
        space_for(supernet.config).check_latency(opts.latency_backend, opts.latency_precision)
    table = load_cost_table(supernet, file, opts)
    check_budget(table, opts.budget)
    return file, supernet, table


def check_search(opts: SearchOptions, resume: bool = False, processes: int = 1) -> None:
    """Everything a search would refuse before it evaluates, in this process: run before torchrun starts
    ``processes`` of them, so bad input is one line, not one per process. Caches the cost table."""
    from compresstracker.devices import resolve_device
    from compresstracker.search.fitness import fitness_dataset

    device = resolve_device(opts.device)
    if device.type == "cuda" and processes > torch.cuda.device_count():
        raise ConfigError(f"--nproc {processes} but only {torch.cuda.device_count()} CUDA device(s) here: one process per GPU")
    file, supernet, table = prepare(opts)
    fitness_dataset(opts.data)
    _evolution(_with_defaults(opts, supernet), file, table, None).load_or_start(resume)


def _with_defaults(opts: SearchOptions, supernet) -> SearchOptions:
    """``opts`` with the supernet's default calibration batch count where none was given."""
    if opts.calib_batches is not None:
        return opts
    from compresstracker.search.fitness import default_calib_batches

    return SearchOptions(**{**opts.__dict__, "calib_batches": default_calib_batches(supernet.config)})


def _evolution(opts: SearchOptions, file: Path, table: CostTable, fitness: Callable | None,
               on_generation: Callable[[dict], None] | None = None, info: DistInfo = DistInfo()) -> Evolution:
    """The search's evolution; its identity (what a resumed search must share) includes the supernet file's contents."""
    latency = table.latency or {}
    identity = {
        # the file's contents too: a supernet trained further under the same name must not meet old fitness scores
        "supernet": str(file.resolve()), "supernet_sha256": file_sha256(file), "data": opts.data, "calib": opts.calib, "calib_batches": opts.calib_batches,
        "calib_batch_size": opts.calib_batch_size, "latency_backend": latency.get("backend"), "threads": latency.get("threads"),
        **({"latency_precision": latency["precision"]} if latency else {}),  # absent without latency: older states resume
    }
    return Evolution(table.space, opts.settings, opts.budget, table.costs, fitness, Path(opts.out), identity,
                     on_generation if info.is_main else None, ranks=info)


LATENCY_CHECK_PATHS = 8  # random paths a dry run with a latency table times whole against the prediction


def dry_run(opts: SearchOptions) -> dict[str, Any]:
    """Space size, MACs and params range and the budget's share of the space; evaluates nothing. With a
    latency table, also the predictor's error on a few random paths timed whole (``latency_check``)."""
    _, supernet, table = prepare(opts)
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
        check = check_latency(supernet, table, list(dict.fromkeys(space.sample(rng) for _ in range(LATENCY_CHECK_PATHS))))
        out["latency_check"] = {"mean_abs_error": check["mean_abs_error"], "max_abs_error": max(r["error"] for r in check["paths"]),
                                "paths": check["paths"], **{k: table.latency[k] for k in ("backend", "precision", "threads")}}
    return out


def _shared_table(opts: SearchOptions, info: DistInfo) -> tuple[Path, torch.nn.Module, CostTable]:
    """``prepare`` where rank 0 alone reads or builds (and caches) the cost table and the others take its copy:
    latency measured by several processes at once would differ between them, and so would their budgets."""
    if info.is_main:
        file, supernet, table = prepare(opts)
        broadcast((table.units, table.latency), info)
        return file, supernet, table
    file = supernet_file(opts.supernet)
    supernet = load_supernet(file)
    units, latency = broadcast(None, info)
    return file, supernet, CostTable(space_for(supernet.config), units, latency)


def run_search(opts: SearchOptions, resume: bool = False, on_generation: Callable[[dict], None] | None = None,
               fitness_fn: Callable | None = None) -> dict[str, Any] | None:
    """The whole search; returns the summary (best, latency check, files) on rank 0, None on other ranks."""
    from compresstracker.devices import resolve_device

    requested = resolve_device(opts.device)
    info = init_distributed(requested)
    try:
        return _search(opts, info, local_device(requested, info), resume, on_generation, fitness_fn)
    finally:
        shutdown(info)


def _search(opts: SearchOptions, info: DistInfo, device: torch.device, resume: bool,
            on_generation: Callable[[dict], None] | None, fitness_fn: Callable | None) -> dict[str, Any] | None:
    file, supernet, table = _shared_table(opts, info)
    space = table.space
    out = Path(opts.out)
    opts = _with_defaults(opts, supernet)
    supernet.to(device)
    work = out / ("tracking" if info.is_main else f"tracking.rank{info.rank}")
    fitness = fitness_fn or CandidateScorer(supernet, space, opts, file, work)
    evolution = _evolution(opts, file, table, fitness, on_generation, info)
    state = evolution.run(resume=resume)
    if not info.is_main:
        return None
    records = state.records
    best = ranked(records)[0]  # by fitness alone: the latency check below adds figures, not a new order
    summary: dict[str, Any] = {"best": best, "evaluated": len(records), "rejected": state.rejected, "out": str(out)}
    genes = space.decode(best["arch"])
    if isinstance(fitness, CandidateScorer):
        summary["subnet"] = str(fitness.export(genes, out / space.winner_file, best))
    # the scorer (its calibration batches and data readers) goes before any runtime library is loaded for the
    # latency check: freed after OpenVINO had been loaded into the process, it crashed the process on this machine
    evolution.fitness = None
    del fitness
    supernet.cpu()  # latency is the CPU's, as the table's
    if table.latency:
        front = pareto_front(records, "latency_ms")
        check = check_latency(supernet, table, [space.decode(r["arch"]) for r in front])
        measured = {row["arch"]: row["measured_ms"] for row in check["paths"]}
        for r in records:
            if r["arch"] in measured:
                r["measured_latency_ms"] = measured[r["arch"]]
        summary["latency_check"] = {"mean_abs_error": check["mean_abs_error"], "max_abs_error": max(r["error"] for r in check["paths"]),
                                    "paths": len(check["paths"])}
        evolution.save(state)  # records (best among them) gained measured latencies
    # best.json also carries the network config (channels, sizes), so `model.arch=best.json` retrains this very network
    atomic_write_json(out / "best.json", {**best, "config": space.network_config(supernet, genes)})
    summary["marks"] = score_marks(opts, table, device) if opts.marks else {}
    summary["pareto"] = str(write_pareto(records, out / "pareto.png", summary["marks"]))
    summary["records"] = ranked(records)
    return summary


def score_marks(opts: SearchOptions, table: CostTable, device: torch.device) -> dict[str, dict[str, Any]]:
    """The students of ``opts.marks`` (trained apart, e.g. fixed CT-k) scored as candidates are (same data,
    same fitness) and, with a latency table, timed whole on its backend, precision and threads."""
    from compresstracker.bench.flops import count_family_macs, count_params
    from compresstracker.bench.latency import time_models
    from compresstracker.checkpoints import load_model
    from compresstracker.search.fitness import fitness_dataset, track_and_score

    dataset = fitness_dataset(opts.data)
    nets = {name: load_model(path) for name, path in opts.marks}
    latency = table.latency
    times = dict(zip(nets, time_models(list(nets.values()), latency["backend"], latency["precision"], "cpu", int(latency["threads"]),
                                       20, "min"))) if latency else {}
    out = {}
    for name, net in nets.items():
        scored = track_and_score(net.to(device), dataset, Path(opts.out) / "tracking", str(device), opts.threads)
        out[name] = {**scored, "macs": count_family_macs(net.cpu())[0], "params": count_params(net), **mark_latency(table, net, times.get(name))}
    return out


def mark_latency(table: CostTable, net: torch.nn.Module, measured: Optional[float]) -> dict[str, Any]:
    """A mark's latency on the candidates' footing: predicted from the table when the space's units describe the
    network (``latency_ms``, as every candidate's), beside the whole-network figure (``measured_latency_ms``);
    only measured otherwise (``latency_source`` says which ``latency_ms`` is)."""
    if not table.latency:
        return {"latency_ms": None}
    predicted = table.predict_network(net)
    if predicted is not None:
        return {"latency_ms": predicted, "measured_latency_ms": measured, "latency_source": "predicted"}
    return {"latency_ms": measured, "latency_source": "measured"}


class CandidateScorer:
    """Fitness of a path: cut out, its statistics recalibrated on the calibration batches, tracked on the fitness split."""

    def __init__(self, supernet, space: SearchSpace, opts: SearchOptions, supernet_path: Path, work: Path):
        from compresstracker.search.fitness import CalibrationBatches, calibration_loader, fitness_dataset

        self.dataset = fitness_dataset(opts.data)
        self.supernet = supernet
        self.space = space
        self.work = work
        self.threads = opts.threads
        loader = calibration_loader(space.calibration_crops(supernet), supernet_path, opts.calib, opts.calib_batches, opts.calib_batch_size)
        self.batches = CalibrationBatches(loader, opts.calib_batches)  # the same on every rank: one seed, no rank in it

    def network(self, genes) -> torch.nn.Module:
        return self.space.calibrate(self.space.extract(self.supernet, genes), self.batches)

    def __call__(self, genes) -> dict[str, Any]:
        from compresstracker.search.fitness import track_and_score

        net = self.network(genes)
        return track_and_score(net, self.dataset, self.work, str(next(net.parameters()).device), self.threads)

    def export(self, genes, path: Path, record: dict[str, Any]) -> Path:
        from compresstracker.checkpoints import save_native

        net = self.network(genes)
        provenance = {"search": str(path.parent), "supernet": self.supernet.config.name,
                      "fitness": record["fitness"], "macs": record["macs"]}
        return save_native(net, net.config, path, provenance=provenance)


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
                measured = key == "latency_ms" and mark.get("latency_source") == "measured"  # not on the table's footing: said so
                ax.plot(mark[key] * scale, mark["fitness"], "k*", markersize=10)
                ax.annotate(name + (" (measured)" if measured else ""), (mark[key] * scale, mark["fitness"]), textcoords="offset points",
                            xytext=(4, 4), fontsize=8)
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
