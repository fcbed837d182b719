"""The ViT elastic space: the students of an elastic compression run (``ctrack compress --elastic``).

Genes, per student stage: its depth (index into the run's depth choices) and its MLP width (index
into the hidden-unit choices); a stage's two genes cross over together. A path is an
:class:`~compresstracker.compression.elastic.ElasticPath`; its network is the path cut out of the
supernet, a plain student of the teacher's family.

Costs add up per layer: a path runs ``base`` (embeddings, final norm, head) once and one
``block.<hidden>`` unit per layer. Without candidate elimination every layer of one width costs
the same, so the table is exact for MACs and params (counted on uniform students of every depth
and width and solved for the per-layer share) and, for latency, fitted by least squares to uniform
students timed whole on the chosen backend and precision (the unit figures are what those
measurements imply; the search's latency check reports how well the sum predicts other students
timed whole). The OSTrack family's plug-in registers this space.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

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


@dataclass(frozen=True)
class ElasticConfig:
    """What builds an elastic supernet: the largest student's config, the stage plan and the space.

    Its ``family`` is the elastic space's, so the search room finds the space by it."""

    base: Any
    plan: StagePlan
    elastic: ElasticSpace
    family: ClassVar[str] = "elastic"

    @property
    def name(self) -> str:
        return f"{self.base.name}_elastic"

    @property
    def template_size(self) -> int:
        return self.base.template_size

    @property
    def search_size(self) -> int:
        return self.base.search_size

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "plan": self.plan.to_dict(), "elastic": self.elastic.to_dict()}


class ElasticSupernet(torch.nn.Module):
    """An elastic run's supernet: the largest student (a plain network), its stage plan and its space."""

    def __init__(self, net: torch.nn.Module, plan: StagePlan, space: ElasticSpace):
        super().__init__()
        self.net = net.eval()
        self.plan = plan
        self.elastic = space
        self.adapter = adapter_for(net)
        self.config = ElasticConfig(net.config, plan, space)

    @classmethod
    def load(cls, path: str | Path) -> "ElasticSupernet":
        """From an elastic run folder (its supernet.safetensors) or the file itself."""
        from compresstracker.checkpoints import inspect_checkpoint, load_model

        path = Path(path)
        file = path / SUPERNET_FILE if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(f"no elastic supernet at {path} (expected a `ctrack compress --elastic` run folder or its {SUPERNET_FILE})")
        plan = inspect_checkpoint(file).get("plan") or {}
        if PLAN_KEY not in plan or "path" in plan[PLAN_KEY]:
            raise ConfigError(f"{file} is not an elastic supernet (its plan names no elastic space); train one with ctrack compress --elastic")
        return cls(load_model(file), StagePlan.from_dict(plan), ElasticSpace.from_dict(plan[PLAN_KEY])).eval()

    def extract(self, path: ElasticPath) -> torch.nn.Module:
        """The student of ``path``: a plain network of the family, weights cut out of the supernet."""
        return extract_student(self.net, self.plan, self.elastic, path, self.adapter)

    def uniform(self, depth: int, hidden: int) -> torch.nn.Module:
        """A student with ``depth`` layers per stage, all ``hidden`` wide (what unit costs are solved from)."""
        return self.extract(ElasticPath((depth,) * self.elastic.stages, (hidden,) * self.elastic.stages))


class ElasticViTSpace(SearchSpace):
    """The paths of one elastic supernet as genes (two per stage: depth, MLP width)."""

    title = "ViT elastic"
    supernet_files = (SUPERNET_FILE,)
    winner_file = "student.safetensors"

    def __init__(self, config: ElasticConfig):
        self.space = config.elastic
        self.base = config.base
        self.name = f"elastic:{config.base.name}"
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

    # what may differ between a student trained apart and the supernet's largest one, costs still adding up per unit
    PER_LAYER_KEYS = frozenset({"arch", "depth", "mlp_ratio", "mlp_hidden", "drop_path"})

    def units_of(self, net: torch.nn.Module) -> list[str] | None:
        """A plain student of the teacher's family (e.g. a fixed CT-k) runs ``base`` and one block unit per layer
        when everything but its depth and MLP widths is the supernet's and no layer drops tokens."""
        config = getattr(net, "config", None)
        if type(config) is not type(self.base) or getattr(config, "ce_layers", ()):
            return None
        mine, theirs = self.base.to_dict(), config.to_dict()
        if any(mine.get(k) != theirs.get(k) for k in (mine.keys() | theirs.keys()) - self.PER_LAYER_KEYS):
            return None
        return [BASE] + [block_unit(config.hidden(b)) for b in range(config.depth)]

    def minmax(self, cost) -> tuple[Genes, Genes]:
        """Exact: stages are independent, so each takes its own cheapest (dearest) depth and width."""
        options = [(d * cost(block_unit(h)), (i, j)) for i, d in enumerate(self.space.depths) for j, h in enumerate(self.space.hidden)]
        low, high = min(options)[1], max(options)[1]
        return low * self.space.stages, high * self.space.stages

    # ------------------------------------------------------------------ the supernet side
    @classmethod
    def read_supernet(cls, file: Path) -> ElasticSupernet:
        return ElasticSupernet.load(file)

    def extract(self, supernet: ElasticSupernet, genes: Sequence[int]) -> torch.nn.Module:
        return supernet.extract(self.to_arch(genes))

    def calibration_crops(self, supernet: ElasticSupernet) -> Any:
        from compresstracker.training.tasks import training_family

        base = supernet.config.base
        return training_family(base).crops(base)

    def network_config(self, supernet: ElasticSupernet, genes: Sequence[int]) -> dict[str, Any]:
        return self.extract(supernet, genes).config.to_dict()

    def unit_costs(self, supernet: ElasticSupernet) -> dict[str, dict[str, int]]:
        return cost_units(supernet)

    @classmethod
    def check_latency(cls, backend: str, precision: str) -> None:
        """Any registered backend and precision it runs (the students are timed whole, as ``ctrack bench`` times them)."""
        from compresstracker.deploy import get_backend

        chosen = get_backend(backend)
        chosen.require()
        chosen.check_precision(precision)

    def time_units(self, supernet: ElasticSupernet, backend: str, precision: str, threads: int, repeats: int) -> dict[str, float]:
        """Per-layer ms of every width, and ``base`` (the rest), solved from uniform students timed whole."""
        base, units, _ = _per_unit(supernet, lambda nets: _time_alone(nets, backend, precision, threads, repeats), monotone=True)
        return {**units, BASE: base}

    def time_path(self, supernet: ElasticSupernet, genes: Sequence[int], backend: str, precision: str, threads: int,
                  repeats: int) -> float:
        return _time_alone([self.extract(supernet, genes)], backend, precision, threads, repeats)[0]

    def covering_paths(self) -> list[Genes]:
        """Uniform paths at the smallest and largest depth for every width: every unit, and two depths per width."""
        paths = []
        for j in range(len(self.space.hidden)):
            for i in sorted({0, len(self.space.depths) - 1}):
                paths.append((i, j) * self.space.stages)
        return paths


ROUNDS = 3  # sweeps over the networks a table is fitted on; each network's figure is its least over the sweeps


def _time_alone(nets: Sequence[torch.nn.Module], backend: str, precision: str, threads: int, repeats: int) -> list[float]:
    """Each network's least time over ROUNDS sweeps, timed in a block of its own per sweep (interleaving many
    compiled graphs made OpenVINO's 2-4x slower than alone, and the sum would not predict a student alone); the
    sweeps go A, B, .., A, B, .. so a burst of load on a shared machine hits one sweep, not one network."""
    from compresstracker.bench.latency import time_models

    best = [float("inf")] * len(nets)
    for _ in range(ROUNDS):
        for i, net in enumerate(nets):
            best[i] = min(best[i], time_models([net], backend, precision, "cpu", threads, repeats, "min")[0])
    return best


def _nondecreasing(values: Sequence[float]) -> list[float]:
    """The least-squares non-decreasing fit of ``values`` (pool adjacent violators), clipped at 0."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in values:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, n1), (m2, n2) = blocks[-2], blocks.pop()
            blocks[-1] = [(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2]
    return [max(0.0, m) for m, n in blocks for _ in range(int(n))]


def _per_unit(supernet: ElasticSupernet, measure, monotone: bool = False) -> tuple[float, dict[str, float], float]:
    """Fit ``measure(net)`` = base + sum over layers of the layer's width share, by least squares over
    uniform students (every depth choice, every width).

    Returns (base, {block.<h>: per-layer share}, the fit's largest relative residual); MACs and
    params fit exactly (residual 0), measured times as well as the noise allows. The unit
    timings behind a latency table are these fitted shares: without candidate elimination the
    layers of one width cost the same, and a whole student is what the backends run (an ONNX or
    OpenVINO graph cannot be timed per layer from outside).
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
    if monotone:  # timed: a wider layer never costs less than a narrower one, and no layer costs < 0 (noise can say so)
        order = np.argsort(space.hidden)
        solution[1 + order] = _nondecreasing(solution[1 + order])
        solution[0] = float(np.mean(values - design[:, 1:] @ solution[1:]))
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
