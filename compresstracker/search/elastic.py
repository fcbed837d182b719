"""The ViT elastic space: the students of an elastic compression run (``ctrack compress --elastic``).

Genes, per student stage: its depth (index into the run's depth choices) and its MLP width (index
into the hidden-unit choices); a stage's two genes cross over together. A path is an
:class:`~compresstracker.compression.elastic.ElasticPath`; its network is the path cut out of the
supernet, a plain student of the teacher's family.

Costs add up per layer: a path runs ``base`` (embeddings, final norm, head) once and one
``block.<hidden>`` unit per layer. Without candidate elimination every layer of one width costs
the same, so the table is exact for MACs and params (counted on two uniform students per width
and solved for the per-layer share) and, for latency, a line per width fitted to students timed
whole on the chosen backend and precision (the unit figures are what those measurements imply;
:func:`check_latency` reports how well the sum predicts other students timed whole).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.elastic import PLAN_KEY, ElasticPath, ElasticSpace, extract_student
from compresstracker.compression.plan import StagePlan
from compresstracker.errors import ConfigError
from compresstracker.search.space import Gene, Genes, SearchSpace

SUPERNET_FILE = "supernet.safetensors"
BASE = "base"


def block_unit(hidden: int) -> str:
    return f"block.{hidden}"


class ElasticSupernet:
    """An elastic run's supernet: the largest student (a plain network), its stage plan and its space."""

    def __init__(self, net: torch.nn.Module, plan: StagePlan, space: ElasticSpace):
        self.net = net.eval()
        self.plan = plan
        self.elastic = space
        self.adapter = adapter_for(net)
        self.config = net.config

    @classmethod
    def load(cls, path: str | Path) -> "ElasticSupernet":
        """From an elastic run folder (its supernet.safetensors) or the file itself."""
        from compresstracker.checkpoints import inspect_checkpoint, load_model

        path = Path(path)
        file = path / SUPERNET_FILE if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"no elastic supernet at {path} (expected a `ctrack compress --elastic` run folder or its {SUPERNET_FILE})")
        plan = inspect_checkpoint(file).get("plan") or {}
        if PLAN_KEY not in plan:
            raise ConfigError(f"{file} is not an elastic supernet (its plan names no elastic space); train one with ctrack compress --elastic")
        return cls(load_model(file), StagePlan.from_dict(plan), ElasticSpace.from_dict(plan[PLAN_KEY]))

    def extract(self, path: ElasticPath) -> torch.nn.Module:
        """The student of ``path``: a plain network of the family, weights cut out of the supernet."""
        return extract_student(self.net, self.plan, self.elastic, path, self.adapter)

    def uniform(self, depth: int, hidden: int) -> torch.nn.Module:
        """A student with ``depth`` layers per stage, all ``hidden`` wide (what unit costs are solved from)."""
        return self.extract(ElasticPath((depth,) * self.elastic.stages, (hidden,) * self.elastic.stages))


class ElasticViTSpace(SearchSpace):
    """The paths of one elastic supernet as genes (two per stage: depth, MLP width)."""

    def __init__(self, supernet: ElasticSupernet):
        self.space = supernet.elastic
        self.name = f"elastic:{supernet.config.name}"
        genes = []
        for i in range(self.space.stages):
            genes += [Gene(f"stage{i}.depth", len(self.space.depths), f"stage{i}"),
                      Gene(f"stage{i}.mlp", len(self.space.hidden), f"stage{i}")]
        self.genes = tuple(genes)

    def to_arch(self, genes: Sequence[int]) -> ElasticPath:
        genes = self.check(genes)
        return ElasticPath(tuple(self.space.depths[g] for g in genes[0::2]), tuple(self.space.hidden[g] for g in genes[1::2]))

    def from_arch(self, path: ElasticPath) -> Genes:
        path = self.space.check(path)
        return tuple(itertools.chain.from_iterable(
            (self.space.depths.index(d), self.space.hidden.index(h)) for d, h in zip(path.depths, path.hidden)))

    def canonical(self, genes: Sequence[int]) -> Genes:
        return self.check(genes)  # every gene builds something

    def encode(self, genes: Sequence[int]) -> str:
        return self.to_arch(genes).encode()

    def decode(self, text: str) -> Genes:
        return self.from_arch(ElasticPath.decode(text))

    def units(self, genes: Sequence[int]) -> list[str]:
        path = self.to_arch(genes)
        return [BASE] + [block_unit(h) for d, h in zip(path.depths, path.hidden) for _ in range(d)]

    def size(self) -> int:
        return self.space.size()

    def minmax(self, cost) -> tuple[Genes, Genes]:
        """Exact: stages are independent, so each takes its own cheapest (dearest) depth and width."""
        options = [(d * cost(block_unit(h)), (i, j)) for i, d in enumerate(self.space.depths) for j, h in enumerate(self.space.hidden)]
        low, high = min(options)[1], max(options)[1]
        return low * self.space.stages, high * self.space.stages

    def covering_paths(self) -> list[Genes]:
        """Uniform paths at the smallest and largest depth for every width: every unit, and two depths per width."""
        paths = []
        for j in range(len(self.space.hidden)):
            for i in sorted({0, len(self.space.depths) - 1}):
                paths.append((i, j) * self.space.stages)
        return paths


def _per_unit(supernet: ElasticSupernet, measure) -> tuple[float, dict[str, float], float]:
    """Fit ``measure(net)`` = base + sum over layers of the layer's width share, by least squares over
    uniform students (every depth choice, every width).

    Returns (base, {block.<h>: per-layer share}, the fit's largest relative residual); MACs and
    params fit exactly (residual 0), measured times as well as the noise allows.
    """
    space = supernet.elastic
    if len(space.depths) < 2:
        raise ConfigError("a cost table needs at least two depth choices per stage (compress.elastic.depths) "
                          "to tell a layer's share from the rest")
    shapes = [(d, h) for h in space.hidden for d in space.depths]
    values = np.asarray(measure([supernet.uniform(d, h) for d, h in shapes]), dtype=np.float64)
    design = np.zeros((len(shapes), 1 + len(space.hidden)))
    design[:, 0] = 1.0
    for row, (d, h) in enumerate(shapes):
        design[row, 1 + space.hidden.index(h)] = d * space.stages
    solution, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = float(np.max(np.abs(design @ solution - values) / np.maximum(np.abs(values), 1e-12)))
    return float(solution[0]), {block_unit(h): float(solution[1 + j]) for j, h in enumerate(space.hidden)}, residual


def cost_units(supernet: ElasticSupernet) -> dict[str, dict[str, float]]:
    """MACs and params of ``base`` and every ``block.<hidden>`` unit (exact: counted, then solved)."""
    from compresstracker.bench.flops import count_params

    adapter = supernet.adapter
    macs = _per_unit(supernet, lambda nets: [adapter.macs(n) for n in nets])
    params = _per_unit(supernet, lambda nets: [count_params(n) for n in nets])
    units = {BASE: {"macs": round(macs[0]), "params": round(params[0])}}
    for key in macs[1]:
        units[key] = {"macs": round(macs[1][key]), "params": round(params[1][key])}
    return units


def latency_units(supernet: ElasticSupernet, backend: str, precision: str, threads: int, device: str = "cpu",
                  runs: int = 20) -> dict[str, Any]:
    """Per-layer latency of every width and the base on ``backend`` at ``precision``, solved from uniform
    students timed whole (interleaved medians of the network's share of a tracking step, as ``ctrack bench``)."""
    from compresstracker.bench.latency import time_models

    base, units, residual = _per_unit(supernet, lambda nets: time_models(nets, backend, precision, device, threads, runs, "min"))
    return {"backend": backend, "precision": precision, "threads": threads, "device": str(device),
            "overhead_ms": base, "units": {**units, BASE: 0.0}, "fit_max_error": residual}


def predict_ms(latency: dict[str, Any], units: list[str]) -> float:
    return float(latency["overhead_ms"] + sum(latency["units"][u] for u in units))


def check_latency(supernet: ElasticSupernet, space: ElasticViTSpace, latency: dict[str, Any], genes_list: list[Genes],
                  runs: int = 20) -> dict[str, Any]:
    """Predicted vs measured (whole student, same backend, precision and threads) on ``genes_list``."""
    from compresstracker.bench.latency import time_models

    nets = [supernet.extract(space.to_arch(g)) for g in genes_list]
    measured = time_models(nets, latency["backend"], latency["precision"], latency["device"], latency["threads"], runs, "min")
    rows = []
    for genes, ms in zip(genes_list, measured):
        predicted = predict_ms(latency, space.units(genes))
        rows.append({"arch": space.encode(genes), "predicted_ms": predicted, "measured_ms": ms, "error": abs(predicted - ms) / ms})
    errors = [r["error"] for r in rows]
    return {"mean_abs_error": float(np.mean(errors)), "max_abs_error": float(np.max(errors)), "paths": rows}


# ---------------------------------------------------------------------------------------------- the search
def is_elastic_run(path: str | Path) -> bool:
    """Whether ``path`` is an elastic compression run folder or its supernet file."""
    path = Path(path)
    return (path / SUPERNET_FILE).is_file() if path.is_dir() else path.name == SUPERNET_FILE


class ElasticCosts:
    """MACs, params and (with a latency table) predicted latency of a path: sums over its units."""

    def __init__(self, space: ElasticViTSpace, units: dict[str, dict[str, float]], latency: dict[str, Any] | None):
        self.space, self.units, self.latency = space, units, latency

    def __call__(self, genes: Sequence[int]) -> dict[str, Any]:
        keys = self.space.units(genes)
        return {"macs": int(sum(self.units[k]["macs"] for k in keys)), "params": int(sum(self.units[k]["params"] for k in keys)),
                "latency_ms": predict_ms(self.latency, keys) if self.latency else None}

    def cheapest(self, key: str) -> float | None:
        if key == "latency_ms":
            if not self.latency:
                return None
            return self(self.space.minmax(lambda u: self.latency["units"][u])[0])[key]
        return self(self.space.minmax(lambda u: self.units[u][key])[0])[key]

    def ranges(self) -> dict[str, list[int]]:
        out = {}
        for key in ("macs", "params"):
            low, high = self.space.minmax(lambda u, key=key: self.units[u][key])
            out[f"{key}_range"] = [self(low)[key], self(high)[key]]
        return out


LATENCY_VERSION = 1


def cached_latency(supernet: ElasticSupernet, file: Path, backend: str, precision: str, threads: int, device: str) -> dict[str, Any]:
    """The latency table of ``file`` on (backend, precision, threads, device), cached beside it and keyed by its sha256."""
    from compresstracker.fileio import atomic_write_json, file_sha256

    path = file.with_name(f"{file.stem}.latency-{backend}-{precision}-t{threads}-{str(device).replace(':', '')}.json")
    key = {"version": LATENCY_VERSION, "sha256": file_sha256(file), "backend": backend, "precision": precision,
           "threads": threads, "device": str(device)}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            data = None  # a damaged cache is a miss
        if isinstance(data, dict) and data.get("key") == key and isinstance(data.get("latency"), dict):
            return data["latency"]
    latency = latency_units(supernet, backend, precision, threads, device)
    atomic_write_json(path, {"key": key, "latency": latency})
    return latency


class ElasticScorer:
    """Fitness of a path: cut out, BatchNorm of its head recalibrated on the same batches for every
    candidate, tracked and scored as ``ctrack eval`` does."""

    def __init__(self, supernet: ElasticSupernet, space: ElasticViTSpace, opts, file: Path):
        from compresstracker.search.fitness import CalibrationBatches, calibration_loader, fitness_dataset

        self.supernet, self.space = supernet, space
        self.dataset = fitness_dataset(opts.data)
        self.work = Path(opts.out) / "tracking"
        self.threads = opts.threads
        self.batches = CalibrationBatches(calibration_loader(supernet, file, opts.calib, opts.calib_batches, opts.calib_batch_size),
                                          opts.calib_batches)

    def network(self, genes) -> torch.nn.Module:
        from compresstracker.search.fitness import recalibrate_batchnorm

        return recalibrate_batchnorm(self.supernet.extract(self.space.to_arch(genes)), self.batches)

    def __call__(self, genes) -> dict[str, Any]:
        from compresstracker.search.fitness import track_and_score

        return track_and_score(self.network(genes), self.dataset, self.work, self.threads)


def _setup(opts):
    """Supernet, space, costs (with the latency table when a latency budget or --latency asks for one)."""
    file = Path(opts.supernet)
    file = file / SUPERNET_FILE if file.is_dir() else file
    supernet = ElasticSupernet.load(file)
    space = ElasticViTSpace(supernet)
    latency = None
    if opts.measure_latency or opts.budget.max_latency_ms is not None:
        latency = cached_latency(supernet, file, opts.latency_backend, getattr(opts, "precision", "fp32"), opts.threads,
                                 getattr(opts, "device", "cpu"))
    costs = ElasticCosts(space, cost_units(supernet), latency)
    from compresstracker.search.run import check_budget

    check_budget(costs, opts.budget)
    return file, supernet, space, costs


def elastic_dry_run(opts) -> dict[str, Any]:
    """Space size, MACs/params range, latency range and the budget's share of the space; evaluates nothing."""
    from compresstracker.search.run import SHARE_SAMPLES

    _, supernet, space, costs = _setup(opts)
    rng = np.random.default_rng(opts.settings.seed)
    samples = [costs(space.sample(rng)) for _ in range(SHARE_SAMPLES)]
    out = {"space": space.name, "space_size": space.size(), "genes": len(space.genes), **costs.ranges(),
           "elastic": supernet.elastic.to_dict(), "budget": dataclasses.asdict(opts.budget),
           "budget_share": sum(not opts.budget.broken(c) for c in samples) / len(samples), "budget_share_samples": len(samples),
           "evaluations_planned": opts.settings.population * opts.settings.generations}
    if costs.latency:
        out["latency_ms_range"] = [costs.cheapest("latency_ms"), costs(space.minmax(lambda u: costs.latency["units"][u])[1])["latency_ms"]]
        out["latency_table"] = costs.latency
    return out


def run_elastic_search(opts, resume: bool = False, on_generation=None, fitness_fn=None,
                       marks: dict[str, str] | None = None) -> dict[str, Any]:
    """The evolutionary search over an elastic run's students; writes search.jsonl, best.json,
    student.safetensors (the winner, a plain student) and pareto.png.

    ``marks`` ({name: checkpoint}) are other students (fixed CT-k runs) scored on the same data and,
    with a latency table, timed on the same backend, then drawn on the Pareto plot and returned.
    """
    from compresstracker.checkpoints import save_native
    from compresstracker.fileio import atomic_write_json, file_sha256
    from compresstracker.search.evolution import Evolution, pareto_front, ranked
    from compresstracker.search.fitness import default_calib_batches
    from compresstracker.search.run import write_pareto

    file, supernet, space, costs = _setup(opts)
    if opts.calib_batches is None:
        opts = dataclasses.replace(opts, calib_batches=default_calib_batches(supernet.config))
    out = Path(opts.out)
    scorer = ElasticScorer(supernet, space, opts, file) if fitness_fn is None else None
    identity = {"supernet": str(file.resolve()), "supernet_sha256": file_sha256(file), "data": opts.data, "calib": opts.calib,
                "calib_batches": opts.calib_batches, "calib_batch_size": opts.calib_batch_size,
                "latency": {k: costs.latency[k] for k in ("backend", "precision", "threads", "device")} if costs.latency else None}
    evolution = Evolution(space, opts.settings, opts.budget, costs, fitness_fn or scorer, out, identity, on_generation)
    state = evolution.run(resume=resume)
    records = state.records
    summary: dict[str, Any] = {"evaluated": len(records), "rejected": state.rejected, "out": str(out)}
    if costs.latency:
        front = pareto_front(records, "latency_ms")
        check = check_latency(supernet, space, costs.latency, [space.decode(r["arch"]) for r in front])
        measured = {row["arch"]: row["measured_ms"] for row in check["paths"]}
        for r in records:
            if r["arch"] in measured:
                r["measured_latency_ms"] = measured[r["arch"]]
        summary["latency_check"] = {k: check[k] for k in ("mean_abs_error", "max_abs_error")} | {"paths": len(check["paths"])}
        evolution.save(state)
    best = ranked(records)[0]
    genes = space.decode(best["arch"])
    net = scorer.network(genes) if scorer is not None else supernet.extract(space.to_arch(genes))
    atomic_write_json(out / "best.json", {**best, "config": net.config.to_dict()})
    provenance = {"search": str(out), "supernet": str(file), "supernet_sha256": identity["supernet_sha256"], "path": best["arch"],
                  "fitness": best["fitness"], "macs": best["macs"]}
    summary["student"] = str(save_native(net, net.config, out / STUDENT_FILE, provenance=provenance))
    summary["marks"] = _score_marks(marks or {}, opts, costs) if scorer is not None else {}
    summary["pareto"] = str(write_pareto(records, out / "pareto.png", marks=summary["marks"]))
    summary["best"] = best
    summary["records"] = ranked(records)
    return summary


STUDENT_FILE = "student.safetensors"


def _score_marks(marks: dict[str, str], opts, costs: ElasticCosts) -> dict[str, dict[str, Any]]:
    """Fitness (same data, same scoring) and, with a latency table, measured latency of other students."""
    from compresstracker.bench.latency import time_models
    from compresstracker.checkpoints import load_model
    from compresstracker.search.fitness import fitness_dataset, track_and_score

    if not marks:
        return {}
    dataset = fitness_dataset(opts.data)
    out = {}
    nets = {name: load_model(path) for name, path in marks.items()}
    times = dict(zip(nets, time_models(list(nets.values()), costs.latency["backend"], costs.latency["precision"], costs.latency["device"],
                                       costs.latency["threads"], 20, "min"))) if costs.latency else {}
    for name, net in nets.items():
        from compresstracker.bench.flops import count_params

        scored = track_and_score(net, dataset, Path(opts.out) / "tracking", opts.threads)
        out[name] = {**scored, "macs": net_macs(net), "params": count_params(net), "latency_ms": times.get(name)}
    return out


def net_macs(net: torch.nn.Module) -> int:
    return adapter_for(net).macs(net)
