"""LightTrack's search space as genes (spec: ../shared/specs/lighttrack.md).

Genes, in order: 14 backbone blocks (c24 x2, c40 x4, c80 x4, c96 x4), each one of 6 (kernel,
expansion) choices; the output block, one of the last 8 (the c80 and c96 stages, as the
paper); per head (cls, then reg) the width index (128/192/256) and 8 layer ops (0 = DSConv 3x3,
1 = DSConv 5x5, 2 = skip; the first layer cannot skip). Blocks after the output block build
nothing, so the canonical form sets them to choice 0 (as the official path strings do).
Crossover exchanges whole backbone stages, the output choice, a head's width and single head layers.
"""
from __future__ import annotations

from typing import Sequence

from compresstracker.search.space import Gene, Genes, SearchSpace

STAGE_NAMES = ("c24", "c40", "c80", "c96")
STAGE_BLOCKS = (2, 4, 4, 4)
BLOCK_CHOICES = 6
OUTPUT_CHOICES = 8  # the last 8 blocks: c80 0..3, c96 0..3
FIRST_OUTPUT_BLOCK = sum(STAGE_BLOCKS) - OUTPUT_CHOICES  # flat index of c80 block 0
HEAD_WIDTHS = 3
HEAD_LAYERS = 8
SKIP = 2
HEADS = ("cls", "reg")

BLOCK_POSITIONS: tuple[tuple[int, int], ...] = tuple(
    (stage, block) for stage, count in enumerate(STAGE_BLOCKS) for block in range(count)
)  # flat block index -> (stage index 0..3, block index in stage)


def _genes() -> tuple[Gene, ...]:
    genes = [Gene(f"{STAGE_NAMES[s]}.{b}", BLOCK_CHOICES, f"stage.{STAGE_NAMES[s]}") for s, b in BLOCK_POSITIONS]
    genes.append(Gene("output", OUTPUT_CHOICES, "output"))
    for head in HEADS:
        genes.append(Gene(f"{head}.width", HEAD_WIDTHS, f"{head}.width"))
        genes += [Gene(f"{head}.{i}", 2 if i == 0 else 3, f"{head}.{i}") for i in range(HEAD_LAYERS)]
    return tuple(genes)


GENES = _genes()
N_BLOCKS = len(BLOCK_POSITIONS)
OUTPUT_GENE = N_BLOCKS
HEAD_GENE = {head: OUTPUT_GENE + 1 + k * (1 + HEAD_LAYERS) for k, head in enumerate(HEADS)}  # index of the width gene


def last_block(genes: Sequence[int]) -> int:
    """Flat index of the output block."""
    return FIRST_OUTPUT_BLOCK + int(genes[OUTPUT_GENE])


def head_genes(genes: Sequence[int], head: str) -> tuple[int, tuple[int, ...]]:
    """(width index, 8 op indices) of ``head``."""
    start = HEAD_GENE[head]
    return int(genes[start]), tuple(int(g) for g in genes[start + 1 : start + 1 + HEAD_LAYERS])


class LightTrackGenes(SearchSpace):
    """The gene side of the LightTrack space (what evolution needs); networks come with the space's sizes."""

    name = "lighttrack"
    genes = GENES

    def canonical(self, genes: Sequence[int]) -> Genes:
        genes = list(self.check(genes))
        for i in range(last_block(genes) + 1, N_BLOCKS):
            genes[i] = 0
        return tuple(genes)

    def size(self) -> int:
        head = HEAD_WIDTHS * 2 * 3 ** (HEAD_LAYERS - 1)
        backbones = sum(BLOCK_CHOICES ** (FIRST_OUTPUT_BLOCK + k + 1) for k in range(OUTPUT_CHOICES))
        return backbones * head * head

    def units(self, genes: Sequence[int]) -> list[str]:
        """Cost keys: stem, each built block's choice, the neck of the output stage, head layers and predictors."""
        out = ["stem"]
        end = last_block(genes)
        out += [f"block.{i}.{genes[i]}" for i in range(end + 1)]
        out.append(f"neck.{STAGE_NAMES[BLOCK_POSITIONS[end][0]]}")
        for head in HEADS:
            width, ops = head_genes(genes, head)
            out += [f"{head}.{width}.{i}.{op}" for i, op in enumerate(ops) if op != SKIP]
            out.append(f"{head}.{width}.pred")
        return out


def minmax_paths(space: LightTrackGenes, cost) -> tuple[Genes, Genes]:
    """The cheapest and the dearest path under an additive ``cost(unit)`` (exact: per output choice, per head width)."""
    best: dict[str, tuple[float, Genes]] = {}
    for sign, name in ((1, "min"), (-1, "max")):
        pick = min if sign == 1 else max
        genes = [0] * len(GENES)
        for head in HEADS:
            options = []
            for width in range(HEAD_WIDTHS):
                ops = [pick(range(2), key=lambda op: cost(f"{head}.{width}.0.{op}"))]
                for i in range(1, HEAD_LAYERS):
                    ops.append(pick(range(3), key=lambda op, i=i: 0.0 if op == SKIP else cost(f"{head}.{width}.{i}.{op}")))
                total = cost(f"{head}.{width}.pred") + sum(0.0 if op == SKIP else cost(f"{head}.{width}.{i}.{op}") for i, op in enumerate(ops))
                options.append((total, width, ops))
            _, width, ops = pick(options, key=lambda o: o[0])
            genes[HEAD_GENE[head]] = width
            genes[HEAD_GENE[head] + 1 : HEAD_GENE[head] + 1 + HEAD_LAYERS] = ops
        candidates = []
        for out in range(OUTPUT_CHOICES):
            trial = list(genes)
            trial[OUTPUT_GENE] = out
            for i in range(FIRST_OUTPUT_BLOCK + out + 1):
                trial[i] = pick(range(BLOCK_CHOICES), key=lambda c, i=i: cost(f"block.{i}.{c}"))
            trial = space.canonical(trial)
            candidates.append((sum(cost(u) for u in space.units(trial)), trial))
        best[name] = pick(candidates, key=lambda c: c[0])
    return best["min"][1], best["max"][1]
