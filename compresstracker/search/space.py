"""Search spaces: an architecture is a tuple of genes (choice indices); a space says what they mean.

The evolutionary search only sees this interface (sample, mutate, crossover, canonical form,
encode/decode, cost units), so a second space is one ``register_space`` call (by its family's
plug-in) and touches no search code. Randomness always comes from an explicit ``numpy.random.Generator``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from compresstracker.errors import ConfigError
from compresstracker.plugins import load_families

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
    """A space of architectures as gene tuples."""

    name: str
    genes: tuple[Gene, ...]

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


_SPACES: dict[str, tuple[Callable[[Any], SearchSpace], str]] = {}


def register_space(family: str, factory: Callable[[Any], SearchSpace], description: str) -> None:
    """Make supernets of model family ``family`` searchable: ``factory(supernet_config)`` builds their space."""
    _SPACES[family] = (factory, description)


def space_for(config: Any) -> SearchSpace:
    """The search space of a supernet config (by its model family)."""
    load_families()
    family = getattr(config, "family", None)
    if family not in _SPACES:
        raise ConfigError(f"no search space for {family or type(config).__name__} models; searchable: {', '.join(sorted(_SPACES))}")
    return _SPACES[family][0](config)
