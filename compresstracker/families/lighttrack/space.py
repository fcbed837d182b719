"""LightTrack's search space as genes, for the evolutionary search (spec: ../shared/specs/lighttrack.md).

Genes, in order: 14 backbone blocks (c24 x2, c40 x4, c80 x4, c96 x4), each one of 6 (kernel,
expansion) choices; the output block, one of the supernet's 8 (``OUTPUT_BLOCKS``); per head
(cls, then reg) the width index and 8 layer ops (0 = DSConv 3x3, 1 = DSConv 5x5, 2 = skip; the
first layer cannot skip). A gene tuple is an architecture (``LightTrackArch``) of the supernet;
the canonical form sets unbuilt blocks to choice 0, as the official path strings do. Crossover
exchanges whole backbone stages, the output choice, a head's width and single head layers.
"""
from __future__ import annotations

from typing import Sequence

from compresstracker.families.lighttrack.arch import BACKBONE_CHOICES, HEAD_OPS, SKIP, TOWER_LAYERS, HeadArch, LightTrackArch
from compresstracker.families.lighttrack.supernet import (
    BLOCK_POSITIONS, HEADS, OUTPUT_BLOCKS, STAGE_NAMES, SupernetConfig, canonical_path, flat_index, unit_keys,
)
from compresstracker.search.space import Gene, Genes, SearchSpace

N_BLOCKS = len(BLOCK_POSITIONS)
OUTPUT_GENE = N_BLOCKS
FIRST_OUTPUT_BLOCK = N_BLOCKS - len(OUTPUT_BLOCKS)


class LightTrackSpace(SearchSpace):
    """The LightTrack space of one supernet (its head widths)."""

    def __init__(self, config: SupernetConfig):
        self.name = config.name
        self.widths = len(config.base.head_widths)
        genes = [Gene(f"{STAGE_NAMES[s]}.{b}", len(BACKBONE_CHOICES), f"stage.{STAGE_NAMES[s]}") for s, b in BLOCK_POSITIONS]
        genes.append(Gene("output", len(OUTPUT_BLOCKS), "output"))
        for head in HEADS:
            genes.append(Gene(f"{head}.width", self.widths, f"{head}.width"))
            genes += [Gene(f"{head}.{i}", 2 if i == 0 else len(HEAD_OPS), f"{head}.{i}") for i in range(TOWER_LAYERS)]
        self.genes = tuple(genes)
        self.head_gene = {head: OUTPUT_GENE + 1 + k * (1 + TOWER_LAYERS) for k, head in enumerate(HEADS)}

    # ------------------------------------------------------------------ genes <-> architectures
    def to_arch(self, genes: Sequence[int]) -> LightTrackArch:
        genes = self.check(genes)
        heads = {}
        for head, start in self.head_gene.items():
            heads[head] = HeadArch(genes[start], genes[start + 1 : start + 1 + TOWER_LAYERS])
        return canonical_path(LightTrackArch(backbone=genes[:N_BLOCKS], output=OUTPUT_BLOCKS[genes[OUTPUT_GENE]], **heads))

    def from_arch(self, arch: LightTrackArch) -> Genes:
        from compresstracker.errors import ConfigError

        if tuple(arch.output) not in OUTPUT_BLOCKS:
            raise ConfigError(f"output block {arch.output} is outside the {self.name} space (the 80- and 96-channel stages)")
        arch = canonical_path(arch)
        genes = [*arch.backbone, OUTPUT_BLOCKS.index(tuple(arch.output))]
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
        head = self.widths * 2 * len(HEAD_OPS) ** (TOWER_LAYERS - 1)
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
                genes[start + 1 : start + 9] = [(k // self.widths) % 2] * 8
            paths.append(self.canonical(genes))
        return paths
