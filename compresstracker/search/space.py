"""Search spaces: an architecture is a tuple of genes (choice indices); a space says what they mean.

The search room only sees this interface, so a second space is one ``register_space`` call (by its
family's plug-in, with a :class:`SearchSpace` subclass as the factory) and touches no search code.
A space has two sides: the genes (sample, mutate, crossover, canonical form, encode/decode, cost
units), which the evolution uses, and its supernet (the files a run keeps it in, reading it, cutting
a candidate out, BatchNorm calibration, per-unit MACs, params and latency, the winner's config and
file), which ``ctrack search`` uses. Randomness always comes from an explicit ``numpy.random.Generator``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, Optional, Sequence

import numpy as np

from compresstracker.errors import ConfigError
from compresstracker.plugins import load_families

if TYPE_CHECKING:
    from torch import nn

Genes = tuple[int, ...]


@dataclass(frozen=True)
class Gene:
    """One searchable decision: ``choices`` options (indices 0..choices-1).

    Genes sharing a ``group`` are inherited together by crossover (a whole backbone stage, one
    head layer).
    """

    name: str
    choices: int
    group: str


class SearchSpace(ABC):
    """A space of architectures as gene tuples, and the supernet whose paths they are."""

    name: str
    genes: tuple[Gene, ...]
    # the supernet side, per space family (class attributes: known before a supernet is read)
    title: ClassVar[str]  # the space family in messages ("LightTrack")
    supernet_files: ClassVar[tuple[str, ...]] = ()  # file names a run folder keeps the supernet in, in order of preference
    winner_file: ClassVar[str]  # what the winner is exported to in the search folder
    latency_support: ClassVar[Mapping[str, tuple[str, ...]]] = {}  # backend -> precisions ``time_units`` measures

    # ------------------------------------------------------------------ what a path means
    @abstractmethod
    def canonical(self, genes: Sequence[int]) -> Genes:
        """The one representative of ``genes``' architecture (genes that build nothing set to 0)."""

    @abstractmethod
    def encode(self, genes: Sequence[int]) -> str:
        """The architecture as a path string (what search.jsonl and best.json store)."""

    @abstractmethod
    def decode(self, text: str) -> Genes:
        """Inverse of ``encode``; a ConfigError for a string that is not a path of this space."""

    @abstractmethod
    def units(self, genes: Sequence[int]) -> list[str]:
        """The cost-table keys of the modules this architecture runs (MACs, params, latency add up over them)."""

    @abstractmethod
    def size(self) -> int:
        """Number of distinct architectures (canonical gene tuples)."""

    @abstractmethod
    def minmax(self, cost: Callable[[str], float]) -> tuple[Genes, Genes]:
        """The cheapest and the dearest path when a path's cost is the sum of ``cost(unit)`` over its units."""

    @abstractmethod
    def to_arch(self, genes: Sequence[int]) -> Any:
        """The architecture value the network side understands."""

    @abstractmethod
    def covering_paths(self) -> list[Genes]:
        """A few paths that together run every unit of the space (a cost table measures each unit on them)."""

    # ------------------------------------------------------------------ the supernet side
    @classmethod
    def read_supernet(cls, file: Path) -> "nn.Module":
        """The supernet kept in ``file`` (eval mode); default: ctrack's native file (config in its metadata)."""
        return read_native_supernet(file)

    @abstractmethod
    def extract(self, supernet: "nn.Module", genes: Sequence[int]) -> "nn.Module":
        """The plain network of the family for ``genes``, with the supernet's weights (a copy, on its device):
        what is scored, exported and tracked."""

    def calibration_crops(self, supernet: "nn.Module") -> Any:
        """The template/search pair crops calibration batches are cut as (default: the supernet's training family's)."""
        from compresstracker.training.tasks import training_family

        return training_family(supernet.config).crops(supernet.config)

    def calibrate(self, net: "nn.Module", batches: Iterable[dict]) -> "nn.Module":
        """Make a cut-out network's statistics its own (default: BatchNorm re-estimated on ``batches`` of
        template/search pairs); returns it in eval mode."""
        from compresstracker.search.fitness import recalibrate_batchnorm

        return recalibrate_batchnorm(net, batches)

    @abstractmethod
    def unit_costs(self, supernet: "nn.Module") -> dict[str, dict[str, int]]:
        """``{unit: {"macs": .., "params": ..}}`` for every unit of ``units`` (exact: a path's cost is their sum)."""

    @classmethod
    def check_latency(cls, backend: str, precision: str) -> None:
        """A ConfigError naming what this space measures when ``backend``/``precision`` is not among it."""
        if precision not in cls.latency_support.get(backend, ()):
            supported = "; ".join(f"{b} {'/'.join(p)}" for b, p in cls.latency_support.items()) or "none"
            raise ConfigError(f"the {cls.title} space measures latency on {supported}, not on {backend} {precision}")

    @abstractmethod
    def time_units(self, supernet: "nn.Module", backend: str, precision: str, threads: int, repeats: int) -> dict[str, float]:
        """Milliseconds per unit on ``backend`` at ``precision`` with ``threads`` (batch 1)."""

    @abstractmethod
    def time_path(self, supernet: "nn.Module", genes: Sequence[int], backend: str, precision: str, threads: int,
                  repeats: int) -> float:
        """Milliseconds of the whole network of ``genes`` measured as ``time_units`` measures its units."""

    def units_of(self, net: "nn.Module") -> Optional[list[str]]:
        """The cost units a network trained apart (a ``--mark``, e.g. a fixed CT-k student) would run, when this
        space's units describe it, so the cost table predicts its latency as it predicts a candidate's;
        None (the default) when they do not."""
        return None

    @abstractmethod
    def network_config(self, supernet: "nn.Module", genes: Sequence[int]) -> dict[str, Any]:
        """The config of ``genes``' plain network as a dict (best.json's ``config``: retrain it by name)."""

    # ------------------------------------------------------------------ sampling
    def check(self, genes: Sequence[int]) -> Genes:
        genes = tuple(int(g) for g in genes)
        if len(genes) != len(self.genes) or any(not 0 <= g < gene.choices for g, gene in zip(genes, self.genes)):
            raise ConfigError(f"{list(genes)} is not an architecture of the {self.name} space ({len(self.genes)} genes)")
        return genes

    def sample(self, rng: np.random.Generator) -> Genes:
        """Every gene uniformly at random (SPOS' uniform path sampling), canonicalised."""
        return self.canonical([int(rng.integers(gene.choices)) for gene in self.genes])

    def mutate(self, genes: Sequence[int], rng: np.random.Generator, prob: float) -> Genes:
        """Each gene is redrawn uniformly with probability ``prob``."""
        out = [int(rng.integers(gene.choices)) if rng.random() < prob else g for g, gene in zip(genes, self.genes)]
        return self.canonical(out)

    def crossover(self, a: Sequence[int], b: Sequence[int], rng: np.random.Generator) -> Genes:
        """Each crossover group (whole stage, single head layer, ...) comes from ``a`` or ``b`` with even odds."""
        groups = list(dict.fromkeys(gene.group for gene in self.genes))
        take_b = {group: bool(rng.random() < 0.5) for group in groups}
        return self.canonical([gb if take_b[gene.group] else ga for ga, gb, gene in zip(a, b, self.genes)])


_SPACES: dict[str, tuple[type[SearchSpace], str]] = {}


def register_space(family: str, factory: type[SearchSpace], description: str) -> None:
    """Make supernets of model family ``family`` searchable: ``factory(supernet_config)`` (a SearchSpace
    subclass) builds their space; its class attributes say where runs keep such supernets."""
    _SPACES[family] = (factory, description)


def space_classes() -> list[tuple[type[SearchSpace], str]]:
    """Every registered space class with its description, in registration order."""
    load_families()
    return list(_SPACES.values())


def read_native_supernet(file: Path) -> "nn.Module":
    """A supernet from ctrack's native file: the config in its metadata, weights loaded strictly; a
    ConfigError when the file is unreadable, not a searchable family's or does not fit its config."""
    import json

    import safetensors
    from safetensors.torch import load_file

    from compresstracker.checkpoints.formats import NATIVE_KEYS
    from compresstracker.models import build_model, config_from_dict

    try:
        with safetensors.safe_open(str(file), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(file))
    except (safetensors.SafetensorError, OSError) as exc:
        raise ConfigError(f"{file} is not a readable safetensors file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    try:
        config = config_from_dict(json.loads(metadata[NATIVE_KEYS["config"]]))
        space_for(config)
    except (KeyError, ValueError, TypeError, ConfigError):
        raise ConfigError(f"{file} is not the supernet of a searchable family (train one with `ctrack train -r RECIPE`, "
                          "a supernet recipe from `ctrack recipes list`)") from None
    supernet = build_model(config)
    missing, unexpected = supernet.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"{file} does not fit a {config.name} supernet: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return supernet.eval()


def space_for(config: Any) -> SearchSpace:
    """The search space of a supernet config (by its model family)."""
    load_families()
    family = getattr(config, "family", None)
    if family not in _SPACES:
        raise ConfigError(f"no search space for {family or type(config).__name__} models; searchable: {', '.join(sorted(_SPACES))}")
    return _SPACES[family][0](config)
