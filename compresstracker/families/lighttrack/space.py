"""LightTrack's search space as genes, for the evolutionary search (spec: ../shared/specs/lighttrack.md).

Genes, in order: 14 backbone blocks (c24 x2, c40 x4, c80 x4, c96 x4), each one of 6 (kernel,
expansion) choices; the output block, one of the supernet's 8 (``OUTPUT_BLOCKS``); per head
(cls, then reg) the width index and 8 layer ops (0 = DSConv 3x3, 1 = DSConv 5x5, 2 = skip; the
first layer cannot skip). A gene tuple is an architecture (``LightTrackArch``) of the supernet;
the canonical form sets unbuilt blocks to choice 0, as the official path strings do. Crossover
exchanges whole backbone stages, the output choice, a head's width and single head layers.

The supernet side: a ``ctrack train -r lighttrack_supernet*`` run keeps it in ``model.safetensors``;
a candidate is cut out as a ``LightTrackNet`` (exported to ``subnet.safetensors``); MACs are the
search branch's (template features precomputed) by thop's rules, as LightTrack's figures are, and
latency is timed on torch fp32 by hooks inside whole forward passes of the path's view.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from compresstracker.families.lighttrack.arch import BACKBONE_CHOICES, HEAD_OPS, SKIP, TOWER_LAYERS, HeadArch, LightTrackArch
from compresstracker.families.lighttrack.supernet import (
    BLOCK_POSITIONS, HEADS, OUTPUT_BLOCKS, STAGE_NAMES, SupernetConfig, canonical_path, flat_index, unit_keys,
)
from compresstracker.search.costs import time_fn, time_in_network, torch_threads, unit_macs
from compresstracker.search.space import Gene, Genes, SearchSpace

N_BLOCKS = len(BLOCK_POSITIONS)
OUTPUT_GENE = N_BLOCKS
FIRST_OUTPUT_BLOCK = N_BLOCKS - len(OUTPUT_BLOCKS)


class LightTrackSpace(SearchSpace):
    """The LightTrack space of one supernet (its head widths)."""

    title = "LightTrack"
    supernet_files = ("model.safetensors",)
    winner_file = "subnet.safetensors"
    latency_support = {"torch": ("fp32",)}

    def __init__(self, config: SupernetConfig):
        self.name = config.name
        self.widths = len(config.base.head_widths)
        genes = [Gene(f"{STAGE_NAMES[s]}.{b}", len(BACKBONE_CHOICES), f"stage.{STAGE_NAMES[s]}") for s, b in BLOCK_POSITIONS]
        genes.append(Gene("output", len(OUTPUT_BLOCKS), "output"))
        # a supernet whose heads are held (``heads: held``) has the largest head on every path: no head genes
        self.held_head = config.largest_head() if config.held_heads else None
        for head in HEADS if self.held_head is None else ():
            genes.append(Gene(f"{head}.width", self.widths, f"{head}.width"))
            genes += [Gene(f"{head}.{i}", 2 if i == 0 else len(HEAD_OPS), f"{head}.{i}") for i in range(TOWER_LAYERS)]
        self.genes = tuple(genes)
        self.head_gene = {head: OUTPUT_GENE + 1 + k * (1 + TOWER_LAYERS) for k, head in enumerate(HEADS)} if self.held_head is None else {}

    # ------------------------------------------------------------------ genes <-> architectures
    def to_arch(self, genes: Sequence[int]) -> LightTrackArch:
        genes = self.check(genes)
        heads = {head: self.held_head for head in HEADS}
        for head, start in self.head_gene.items():
            heads[head] = HeadArch(genes[start], genes[start + 1 : start + 1 + TOWER_LAYERS])
        return canonical_path(LightTrackArch(backbone=genes[:N_BLOCKS], output=OUTPUT_BLOCKS[genes[OUTPUT_GENE]], **heads))

    def from_arch(self, arch: LightTrackArch) -> Genes:
        from compresstracker.errors import ConfigError

        if tuple(arch.output) not in OUTPUT_BLOCKS:
            raise ConfigError(f"output block {arch.output} is outside the {self.name} space (the 80- and 96-channel stages)")
        arch = canonical_path(arch)
        genes = [*arch.backbone, OUTPUT_BLOCKS.index(tuple(arch.output))]
        if self.held_head is not None:
            if not arch.cls == arch.reg == self.held_head:
                raise ConfigError(f"the {self.name} space holds both heads at {self.held_head.to_digits()}; "
                                  f"{arch.to_path()} has others")
            return self.check(genes)
        for head in HEADS:
            h = getattr(arch, head)
            genes += [h.width, *h.ops]
        return self.check(genes)

    def canonical(self, genes: Sequence[int]) -> Genes:
        return self.from_arch(self.to_arch(genes))

    def encode(self, genes: Sequence[int]) -> str:
        return self.to_arch(genes).to_path()

    def decode(self, text: str) -> Genes:
        return self.from_arch(LightTrackArch.parse(text))

    def units(self, genes: Sequence[int]) -> list[str]:
        return unit_keys(self.to_arch(genes))

    def size(self) -> int:
        head = self.widths * 2 * len(HEAD_OPS) ** (TOWER_LAYERS - 1) if self.held_head is None else 1
        backbones = sum(len(BACKBONE_CHOICES) ** (flat_index(*out) + 1) for out in OUTPUT_BLOCKS)
        return backbones * head * head

    def minmax(self, cost) -> tuple[Genes, Genes]:
        """The cheapest and the dearest path under an additive ``cost(unit)`` (exact: per output block, per head width)."""
        found = []
        for pick in (min, max):
            genes = [0] * len(self.genes)
            for head, start in self.head_gene.items():
                options = []
                for width in range(self.widths):
                    ops = [pick(range(2), key=lambda op: cost(f"{head}.{width}.0.{op}"))]
                    ops += [pick(range(len(HEAD_OPS)), key=lambda op, i=i: 0.0 if op == SKIP else cost(f"{head}.{width}.{i}.{op}"))
                            for i in range(1, TOWER_LAYERS)]
                    total = cost(f"{head}.{width}.pred") + sum(cost(f"{head}.{width}.{i}.{op}") for i, op in enumerate(ops) if op != SKIP)
                    options.append((total, width, ops))
                _, width, ops = pick(options, key=lambda o: o[0])
                genes[start : start + 1 + TOWER_LAYERS] = [width, *ops]
            candidates = []
            for out in range(len(OUTPUT_BLOCKS)):
                trial = list(genes)
                trial[OUTPUT_GENE] = out
                for i in range(FIRST_OUTPUT_BLOCK + out + 1):
                    trial[i] = pick(range(len(BACKBONE_CHOICES)), key=lambda c, i=i: cost(f"block.{i}.{c}"))
                trial = self.canonical(trial)
                candidates.append((sum(cost(u) for u in self.units(trial)), trial))
            found.append(pick(candidates, key=lambda c: c[0])[1])
        return found[0], found[1]

    def covering_paths(self) -> list[Genes]:
        """Paths that together run every unit of the space: every block choice, both output stages, every head width and op."""
        paths = []
        for k, output in [(k, self.genes[OUTPUT_GENE].choices - 1) for k in range(self.genes[0].choices)] + [(0, 0)]:
            genes = [k] * N_BLOCKS + [0] * (len(self.genes) - N_BLOCKS)
            genes[OUTPUT_GENE] = output
            for start in self.head_gene.values():
                genes[start] = k % self.widths
                genes[start + 1 : start + 1 + TOWER_LAYERS] = [(k // self.widths) % 2] * TOWER_LAYERS
            paths.append(self.canonical(genes))
        return paths

    # ------------------------------------------------------------------ the supernet side
    def extract(self, supernet: nn.Module, genes: Sequence[int]) -> nn.Module:
        return supernet.extract(self.to_arch(genes))

    def network_config(self, supernet: nn.Module, genes: Sequence[int]) -> dict[str, Any]:
        return supernet.config.path_config(self.to_arch(genes)).to_dict()

    @torch.no_grad()
    def unit_costs(self, supernet: nn.Module) -> dict[str, dict[str, int]]:
        """MACs of the search branch per unit, counted on the covering paths; parameters per unit, each module once
        (the fusor belongs to both neck units' paths but to one unit)."""
        macs: dict[str, int] = {}
        params: dict[str, int] = {}
        seen: set[tuple[str, int]] = set()
        for genes in self.covering_paths():
            with _search_branch(supernet, self.to_arch(genes)) as (net, roots, run), unit_macs(net, roots) as found:
                run()
            for unit, entry in found.items():
                macs.setdefault(unit, int(entry["macs"]))
            for unit, module in supernet.modules_of(self.to_arch(genes)).values():
                if (unit, id(module)) not in seen:
                    seen.add((unit, id(module)))
                    params[unit] = params.get(unit, 0) + sum(p.numel() for p in module.parameters())
        return {unit: {"macs": macs[unit], "params": params[unit]} for unit in macs}

    @torch.no_grad()
    def time_units(self, supernet: nn.Module, backend: str, precision: str, threads: int, repeats: int) -> dict[str, float]:
        """Each unit timed by hooks inside the covering paths' search branches (torch fp32, batch 1)."""
        self.check_latency(backend, precision)
        timed: dict[str, float] = {}
        with torch_threads(threads):
            for genes in self.covering_paths():
                with _search_branch(supernet, self.to_arch(genes)) as (net, roots, run):
                    for unit, ms in time_in_network(net, roots, run, repeats, threads).items():
                        timed.setdefault(unit, ms)
        return timed

    @torch.no_grad()
    def time_path(self, supernet: nn.Module, genes: Sequence[int], backend: str, precision: str, threads: int,
                  repeats: int) -> float:
        """The fastest search branch of ``genes`` (see ``search.costs.time_fn``)."""
        self.check_latency(backend, precision)
        with _search_branch(supernet, self.to_arch(genes)) as (_, _, run), torch_threads(threads):
            return time_fn(run, repeats, threads)


@contextmanager
def _search_branch(supernet: nn.Module, arch: LightTrackArch) -> Iterator[tuple[nn.Module, dict[str, str], Callable[[], Any]]]:
    """While open: the path's view in eval mode, its module roots -> units, and one search-branch pass (batch 1,
    template features precomputed, fixed random crops). The supernet's train/eval mode is restored after."""
    was_training = supernet.training
    net = supernet.view(arch).eval()  # its modules are the supernet's
    try:
        config = supernet.config
        device = next(supernet.parameters()).device
        gen = torch.Generator().manual_seed(0)
        z = torch.randn(1, 3, config.template_size, config.template_size, generator=gen).to(device)
        x = torch.randn(1, 3, config.search_size, config.search_size, generator=gen).to(device)
        zf = net.features(z)
        roots = {name: unit for name, (unit, _) in supernet.modules_of(arch).items()}
        yield net, roots, lambda: net.track(x, zf)
    finally:
        supernet.train(was_training)
