"""Evolutionary search over a space (SPOS / LightTrack): mutation and crossover halves, random top-up.

Each generation of ``population`` candidates is half children of mutation and half of
crossover of the ``parents`` best candidates evaluated so far (the parents are kept across
generations), topped up with random candidates. A candidate that breaks a budget is rejected
before it is evaluated; a candidate already evaluated (or already in the generation) is never
evaluated again. All randomness comes from one seeded generator whose state is saved with the
population, and fitness is a function of the architecture alone, so a killed search resumed from
its state file ends with the same result as an uninterrupted one.

Several processes (torchrun ranks) run one search together: each draws the same generations from
the same generator, evaluates the candidates of a generation at its rank in each round of
``world_size``, and takes every rank's records (gathered in the one-process order), so all hold
the same state; rank 0 alone writes it.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from compresstracker.errors import ConfigError
from compresstracker.fileio import atomic_write_json, atomic_write_text
from compresstracker.search.space import Genes, SearchSpace
from compresstracker.training.distributed import DistInfo

STATE_FILE = "search_state.json"
LOG_FILE = "search.jsonl"
STRATEGIES = ("evolution", "random")
TRIES_PER_CANDIDATE = 50  # rejection-sampling attempts per wanted candidate before giving up on a half


@dataclass(frozen=True)
class Budget:
    """Upper limits a candidate must keep to be evaluated (None: no limit)."""

    max_macs: Optional[int] = None
    max_params: Optional[int] = None
    max_latency_ms: Optional[float] = None

    def _limits(self, costs: dict[str, Any]) -> list[tuple[str, float]]:
        """(key, limit) of every limit set that ``costs`` has a figure for."""
        return [(key, limit) for key, limit in (("macs", self.max_macs), ("params", self.max_params), ("latency_ms", self.max_latency_ms))
                if limit is not None and costs.get(key) is not None]

    def broken(self, costs: dict[str, Any]) -> list[str]:
        """Names of the limits ``costs`` (macs, params, latency_ms) breaks."""
        return [key for key, limit in self._limits(costs) if costs[key] > limit]

    def overshoot(self, costs: dict[str, Any]) -> float:
        """How far ``costs`` break the budget: the sum over its limits of the relative excess (0: within)."""
        return sum(max(0.0, costs[key] / limit - 1.0) for key, limit in self._limits(costs))


@dataclass(frozen=True)
class EvolutionSettings:
    population: int = 48
    generations: int = 20
    parents: int = 10
    mutation: float = 0.1
    seed: int = 0
    strategy: str = "evolution"  # evolution | random (the baseline: every generation random, same checks)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"search strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.population < 1 or self.generations < 1 or self.parents < 1:
            raise ConfigError("population, generations and parents must be >= 1")
        if not 0 <= self.mutation <= 1:
            raise ConfigError(f"mutation probability must lie in [0, 1], got {self.mutation}")


@dataclass
class SearchState:
    """Everything needed to continue a search exactly: settings, RNG, current generation, all records."""

    settings: dict[str, Any]
    rng: dict[str, Any]
    generation: int = 0
    population: list[str] = field(default_factory=list)  # path strings of the current generation
    records: list[dict[str, Any]] = field(default_factory=list)  # evaluated candidates, in order
    rejected: int = 0  # candidates drawn that broke a budget
    done: bool = False

    def evaluated(self) -> dict[str, dict[str, Any]]:
        return {r["arch"]: r for r in self.records}


def gather(item: Any, info: DistInfo) -> list[Any]:
    """``item`` of every rank, in rank order (``[item]`` in one process)."""
    if not info.enabled:
        return [item]
    import torch.distributed as dist

    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, item)
    return out


def broadcast(item: Any, info: DistInfo) -> Any:
    """Rank 0's ``item`` on every rank (``item`` itself in one process)."""
    if not info.enabled:
        return item
    import torch.distributed as dist

    box = [item]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def ranked(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first; ties keep evaluation order (stable), so the winner is deterministic."""
    return sorted(records, key=lambda r: -r["fitness"])


class Evolution:
    """Runs the search; ``costs(genes)`` gives macs/params/latency_ms, ``fitness(genes)`` a dict with ``fitness``."""

    def __init__(
        self, space: SearchSpace, settings: EvolutionSettings, budget: Budget,
        costs: Callable[[Genes], dict[str, Any]], fitness: Callable[[Genes], dict[str, Any]],
        out_dir: Path, identity: dict[str, Any] | None = None,
        on_generation: Callable[[dict[str, Any]], None] | None = None, ranks: DistInfo = DistInfo(),
    ):
        self.space = space
        self.settings = settings
        self.budget = budget
        self.costs = costs
        self.fitness = fitness
        self.out_dir = Path(out_dir)
        self.identity = {"space": space.name, **asdict(settings), **asdict(budget), **(identity or {})}
        self.on_generation = on_generation
        self.ranks = ranks
        self._cost_cache: dict[Genes, dict[str, Any]] = {}

    # ------------------------------------------------------------------ state
    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE_FILE

    def load_or_start(self, resume: bool) -> tuple[SearchState, np.random.Generator]:
        from compresstracker.training.resume import check_resume

        rng = np.random.default_rng(self.settings.seed)
        if self.state_path.exists():
            if not resume:
                raise ConfigError(f"{self.out_dir} already holds a search; pass --resume to continue it or choose another --out")
            try:
                state = SearchState(**json.loads(self.state_path.read_text()))
                if not isinstance(state.settings, dict) or not isinstance(state.rng, dict):
                    raise TypeError
            except (ValueError, TypeError, UnicodeDecodeError):
                raise ConfigError(f"{self.state_path} is not a readable search state; choose another --out") from None
            labels = {f"search.{key}": "--" + key.replace("_", "-") for key in self.identity}
            labels["search.supernet_sha256"] = "--supernet's contents (sha256)"
            check_resume({"search": state.settings}, {"search": self.identity}, labels, sections=("search",),
                         no_effect=frozenset(), growable=frozenset())
            rng.bit_generator.state = state.rng
            return state, rng
        return SearchState(settings=self.identity, rng=rng.bit_generator.state), rng

    def _start(self, resume: bool) -> tuple[SearchState, np.random.Generator]:
        """``load_or_start`` on rank 0, its state (or its refusal) taken by every rank: the folder need not be
        shared between nodes, and no rank reads it after rank 0 began writing."""
        if not self.ranks.enabled:
            return self.load_or_start(resume)
        shared = None
        if self.ranks.is_main:
            try:
                shared = ("state", asdict(self.load_or_start(resume)[0]))
            except ConfigError as exc:
                shared = ("refused", str(exc))
        shared = broadcast(shared, self.ranks)
        if shared[0] == "refused":
            raise ConfigError(shared[1])
        state = SearchState(**shared[1])
        rng = np.random.default_rng(self.settings.seed)
        rng.bit_generator.state = state.rng
        return state, rng

    def save(self, state: SearchState, rng: np.random.Generator | None = None) -> None:
        """State and search.jsonl, atomically, by rank 0; ``rng`` None keeps the state's generator as it is."""
        if rng is not None:
            state.rng = rng.bit_generator.state
        if not self.ranks.is_main:
            return
        atomic_write_json(self.state_path, asdict(state))
        atomic_write_text(self.out_dir / LOG_FILE, "".join(json.dumps(r) + "\n" for r in state.records))

    # ------------------------------------------------------------------ candidates
    def candidate_costs(self, genes: Genes) -> dict[str, Any]:
        if genes not in self._cost_cache:
            self._cost_cache[genes] = self.costs(genes)
        return self._cost_cache[genes]

    def _accept(self, genes: Genes, seen: set[str], state: SearchState) -> bool:
        arch = self.space.encode(genes)
        if arch in seen:
            return False
        if self.budget.broken(self.candidate_costs(genes)):
            state.rejected += 1
            seen.add(arch)  # never drawn into a population again
            return False
        seen.add(arch)
        return True

    def fit_to_budget(self, genes: Genes, rng: np.random.Generator) -> Genes:
        """A random draw brought within the budget by greedy single-gene changes, each the one that cuts the
        overshoot most (ties drawn at random); where the budget admits only a sliver of the space, random draws
        alone seldom land in it. Returns the draw as far as it got (the caller's budget check rejects a miss)."""
        genes = self.space.canonical(genes)
        excess = self.budget.overshoot(self.candidate_costs(genes))
        while excess > 0:
            moves = [self.space.canonical(genes[:i] + (v,) + genes[i + 1:])
                     for i, gene in enumerate(self.space.genes) for v in range(gene.choices) if v != genes[i]]
            scored = [(self.budget.overshoot(self.candidate_costs(m)), m) for m in moves]
            best = min((o for o, _ in scored), default=excess)
            if best >= excess:
                break
            ties = [m for o, m in scored if o == best]
            genes, excess = ties[int(rng.integers(len(ties)))], best
        return genes

    def _fill(self, wanted: int, make: Callable[[], Genes], seen: set[str], state: SearchState) -> list[Genes]:
        out: list[Genes] = []
        for _ in range(wanted * TRIES_PER_CANDIDATE):
            if len(out) >= wanted:
                break
            genes = make()
            if self._accept(genes, seen, state):
                out.append(genes)
        return out

    def next_population(self, state: SearchState, rng: np.random.Generator) -> list[str]:
        """Generation 0: random; later: mutation half + crossover half of the parents, random top-up."""
        size = self.settings.population
        seen = set(state.evaluated())
        pop: list[Genes] = []
        if state.records and self.settings.strategy == "evolution":
            parents = [self.space.decode(r["arch"]) for r in ranked(state.records)[: self.settings.parents]]

            def mutant() -> Genes:
                return self.space.mutate(parents[int(rng.integers(len(parents)))], rng, self.settings.mutation)

            def child() -> Genes:
                i, j = rng.choice(len(parents), size=2, replace=len(parents) < 2)
                return self.space.crossover(parents[int(i)], parents[int(j)], rng)

            pop += self._fill(size // 2, mutant, seen, state)
            pop += self._fill(size // 2, child, seen, state)
        pop += self._fill(size - len(pop), lambda: self.space.sample(rng), seen, state)
        if len(pop) < size:  # a budget near the space's cheapest end: random draws made to fit it
            pop += self._fill(size - len(pop), lambda: self.fit_to_budget(self.space.sample(rng), rng), seen, state)
        if not pop and not state.records:
            raise ConfigError(
                f"no architecture of the {self.space.name} space within the budget in {size * TRIES_PER_CANDIDATE} "
                "random draws, nor any draw brought within it; loosen the budget (see --dry-run for the space's range)"
            )
        return [self.space.encode(g) for g in pop]

    # ------------------------------------------------------------------ loop
    def run(self, resume: bool = False) -> SearchState:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state, rng = self._start(resume)
        seconds: list[float] = [r.get("seconds", 0.0) for r in state.records]
        while not state.done:
            if not state.population:
                state.population = self.next_population(state, rng)
                self.save(state, rng)
            evaluated = state.evaluated()
            todo = [arch for arch in state.population if arch not in evaluated]
            world, rank = self.ranks.world_size, self.ranks.rank
            for start in range(0, len(todo), world):
                round_ = todo[start : start + world]
                mine = self._evaluate(round_[rank], state.generation) if rank < len(round_) else None
                for record in gather(mine, self.ranks)[: len(round_)]:
                    seconds.append(record["seconds"])
                    state.records.append(record)
                self.save(state, rng)
            self._report(state, seconds)
            state.generation += 1
            state.population = []
            state.done = state.generation >= self.settings.generations
            self.save(state, rng)
        return state

    def _evaluate(self, arch: str, generation: int) -> dict[str, Any]:
        """The record of one candidate: its costs, its fitness and the seconds its fitness took."""
        genes = self.space.decode(arch)
        start = time.perf_counter()
        scored = self.fitness(genes)
        took = time.perf_counter() - start
        return {"arch": arch, **self.candidate_costs(genes), **scored, "generation": generation, "seconds": took}

    def _report(self, state: SearchState, seconds: list[float]) -> None:
        if self.on_generation is None:
            return
        gen = [r for r in state.records if r["generation"] == state.generation]
        best = ranked(state.records)[0] if state.records else None
        left = (self.settings.generations - state.generation - 1) * self.settings.population
        mean_s = float(np.mean(seconds)) if seconds else 0.0  # per candidate on one rank; the ranks work side by side
        self.on_generation({
            "generation": state.generation + 1,
            "generations": self.settings.generations,
            "evaluated": len(gen),
            "evaluated_total": len(state.records),
            "rejected_total": state.rejected,
            "best_fitness": best["fitness"] if best else None,
            "mean_fitness": float(np.mean([r["fitness"] for r in gen])) if gen else None,
            "best_arch": best["arch"] if best else None,
            "seconds_per_candidate": mean_s,
            "eta_s": left * mean_s / self.ranks.world_size,
        })


def pareto_front(records: list[dict[str, Any]], cost: str = "macs") -> list[dict[str, Any]]:
    """Records no other record beats on both fitness (higher) and ``cost`` (lower)."""
    front = []
    for r in records:
        if r.get(cost) is None:
            continue
        dominated = any(
            o is not r and o.get(cost) is not None and o["fitness"] >= r["fitness"] and o[cost] <= r[cost]
            and (o["fitness"] > r["fitness"] or o[cost] < r[cost])
            for o in records
        )
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: r[cost])
