"""LightTrack's weight-sharing supernet: every architecture of the space is a path through it.

The supernet holds one module per (block, choice), one neck per output stage, one tower layer per
(head, width, layer position, op) and one predictor per (head, width); the stem, the fixed
depthwise-separable block and the correlation fusor are shared by every path. A path runs as the
standalone :class:`LightTrackNet` itself: the network of that architecture is built on the meta
device (no memory) and its modules are replaced by the supernet's, so the path computes exactly
what the standalone network computes, with the same module code. Cutting a path out copies the
view's state dict (official key names) into a real ``LightTrackNet``.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from compresstracker.errors import ConfigError
from compresstracker.models.lighttrack import (
    ClsPredictor, DepthwiseSeparableBlock, LightTrackNet, MBConvBlock, NeckBN, PixelwiseFusor, RegPredictor, TowerLayer,
    _conv,
)
from compresstracker.models.lighttrack_arch import BACKBONE_CHOICES, HEAD_OPS, HeadArch, LightTrackArch, LightTrackConfig
from compresstracker.search.lighttrack_space import (
    BLOCK_POSITIONS, FIRST_OUTPUT_BLOCK, HEAD_LAYERS, HEADS, N_BLOCKS, OUTPUT_CHOICES, SKIP, STAGE_NAMES,
    LightTrackGenes, head_genes, last_block,
)
from compresstracker.search.space import Genes

SUPERNET_FAMILY = "lighttrack_supernet"
VIEW_CACHE = 8  # path views kept (a search evaluates one path many times)


@dataclass(frozen=True)
class SupernetConfig:
    """Which space and which network sizes a supernet has (stored in its files, so they load with no flags)."""

    space: str
    base: LightTrackConfig  # channels and sizes; its arch is irrelevant

    FAMILY = SUPERNET_FAMILY

    @property
    def family(self) -> str:
        return SUPERNET_FAMILY

    @property
    def template_size(self) -> int:
        return self.base.template_size

    @property
    def search_size(self) -> int:
        return self.base.search_size

    def to_dict(self) -> dict[str, Any]:
        return {"family": SUPERNET_FAMILY, "space": self.space, "base": self.base.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SupernetConfig":
        if not isinstance(data, dict) or data.get("family") != SUPERNET_FAMILY:
            raise ConfigError("not a LightTrack supernet config")
        return cls(space=str(data["space"]), base=LightTrackConfig.from_dict(data["base"]))

    def subnet_config(self, arch: LightTrackArch) -> LightTrackConfig:
        return self.base.replace(arch=arch, name=f"{self.space}_subnet")


class LightTrackSpace(LightTrackGenes):
    """The LightTrack space at one network size: genes <-> architectures, path strings, supernets."""

    def __init__(self, name: str, base: LightTrackConfig):
        self.name = name
        self.base = base
        if base.stage_strides[3] != 1:
            raise ConfigError("the LightTrack space needs the 96-channel stage at stride 1 (one fusor for all outputs)")

    def to_arch(self, genes: Sequence[int]) -> LightTrackArch:
        genes = self.canonical(genes)
        heads = {head: HeadArch(*head_genes(genes, head)) for head in HEADS}
        return LightTrackArch(backbone=genes[:N_BLOCKS], output=BLOCK_POSITIONS[last_block(genes)], **heads)

    def from_arch(self, arch: LightTrackArch) -> Genes:
        flat = BLOCK_POSITIONS.index(tuple(arch.output))
        if flat < FIRST_OUTPUT_BLOCK:
            raise ConfigError(f"output block {arch.output} is outside this space (the last {OUTPUT_CHOICES} blocks)")
        genes = [*arch.backbone, flat - FIRST_OUTPUT_BLOCK]
        for head in HEADS:
            h = getattr(arch, head)
            genes += [h.width, *h.ops]
        return self.canonical(genes)

    def encode(self, genes: Sequence[int]) -> str:
        return self.to_arch(genes).to_path()

    def decode(self, text: str) -> Genes:
        return self.from_arch(LightTrackArch.parse(text))

    def config(self, genes: Sequence[int]) -> LightTrackConfig:
        return SupernetConfig(self.name, self.base).subnet_config(self.to_arch(genes))


class LightTrackSupernet(nn.Module):
    """All choices of the space; ``forward(template, search, genes)`` runs one path."""

    def __init__(self, config: SupernetConfig):
        super().__init__()
        from compresstracker.search.spaces import get_space

        self.config = config
        self.space: LightTrackSpace = get_space(config.space)
        c = config.base
        # "features": the backbone, named as in LightTrackNet so backbone parameter groups find it
        self.features = nn.Module()
        self.features.conv_stem = _conv(3, c.stem_channels, 3, stride=2)
        self.features.bn1 = nn.BatchNorm2d(c.stem_channels, eps=1e-5)
        self.features.ds_block = DepthwiseSeparableBlock(c.stem_channels, c.stem_channels, 3, 1, c.se_ratio, c.divisor)
        blocks = []
        in_ch = c.stem_channels
        for stage, block in BLOCK_POSITIONS:
            out_ch = c.stage_channels[stage]
            stride = c.stage_strides[stage] if block == 0 else 1
            blocks.append(nn.ModuleList(
                MBConvBlock(in_ch, out_ch, k, e, stride, c.se_ratio, c.divisor) for k, e in BACKBONE_CHOICES
            ))
            in_ch = out_ch
        self.features.blocks = nn.ModuleList(blocks)
        self.necks = nn.ModuleDict({str(s): NeckBN(c.stage_channels[s]) for s in sorted({BLOCK_POSITIONS[i][0] for i in range(FIRST_OUTPUT_BLOCK, N_BLOCKS)})})
        probe = c.replace(arch=self.space.to_arch((0,) * len(self.space.genes)))  # every path has this fusor size
        self.feature_fusor = PixelwiseFusor(probe.correlation_channels, c.adj_channels)
        kernels = [k for k in HEAD_OPS if k is not None]
        self.towers = nn.ModuleDict({
            head: nn.ModuleList(
                nn.ModuleList(
                    nn.ModuleList(TowerLayer(c.adj_channels if i == 0 else width, width, k) for k in kernels)
                    for i in range(HEAD_LAYERS)
                )
                for width in c.head_widths
            )
            for head in HEADS
        })
        self.cls_preds = nn.ModuleList(ClsPredictor(w) for w in c.head_widths)
        self.reg_preds = nn.ModuleList(RegPredictor(w, c.reg_scale) for w in c.head_widths)
        self._views: OrderedDict[Genes, LightTrackNet] = OrderedDict()

    # ------------------------------------------------------------------ paths
    def modules_of(self, genes: Sequence[int]) -> dict[str, tuple[str, nn.Module]]:
        """Standalone module name -> (cost unit, the supernet module that path ``genes`` uses there).

        The units are ``LightTrackGenes.units``: every parameter of a path belongs to exactly one.
        """
        genes = self.space.canonical(genes)
        end = last_block(genes)
        out: dict[str, tuple[str, nn.Module]] = {
            "features.conv_stem": ("stem", self.features.conv_stem), "features.bn1": ("stem", self.features.bn1),
            "features.blocks.0.0": ("stem", self.features.ds_block),
        }
        for i in range(end + 1):
            stage, block = BLOCK_POSITIONS[i]
            out[f"features.blocks.{stage + 1}.{block}"] = (f"block.{i}.{genes[i]}", self.features.blocks[i][genes[i]])
        neck = f"neck.{STAGE_NAMES[BLOCK_POSITIONS[end][0]]}"
        out["neck"] = (neck, self.necks[str(BLOCK_POSITIONS[end][0])])
        out["feature_fusor"] = (neck, self.feature_fusor)
        preds = {"cls": ("head.cls_perd", self.cls_preds), "reg": ("head.reg_pred", self.reg_preds)}
        for head in HEADS:
            width, ops = head_genes(genes, head)
            built = [(i, op) for i, op in enumerate(ops) if op != SKIP]
            for k, (i, op) in enumerate(built):
                out[f"head.{head}_tower.{k}"] = (f"{head}.{width}.{i}.{op}", self.towers[head][width][i][op])
            name, modules = preds[head]
            out[name] = (f"{head}.{width}.pred", modules[width])
        return out

    def view(self, genes: Sequence[int]) -> LightTrackNet:
        """The standalone network of ``genes`` whose modules are this supernet's (shared, not copied)."""
        genes = self.space.canonical(genes)
        if genes in self._views:
            self._views.move_to_end(genes)
            return self._views[genes]
        with torch.device("meta"):
            net = LightTrackNet(self.space.config(genes))
        for name, (_, module) in self.modules_of(genes).items():
            net.set_submodule(name, module)
        leftover = [n for n, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
        if leftover:
            raise RuntimeError(f"supernet path leaves modules unshared: {leftover[:3]}")
        net.train(self.training)
        self._views[genes] = net
        if len(self._views) > VIEW_CACHE:
            self._views.popitem(last=False)
        return net

    def forward(self, template: torch.Tensor, search: torch.Tensor, genes: Sequence[int]) -> dict[str, torch.Tensor]:
        net = self.view(genes)
        net.train(self.training)
        return net(template, search)

    def extract(self, genes: Sequence[int]) -> LightTrackNet:
        """The standalone network of ``genes`` with this supernet's weights (a copy)."""
        view = self.view(genes)
        param = next(self.parameters())
        net = LightTrackNet(view.config).to(param.device)
        net.load_state_dict(view.state_dict(), strict=True)
        return net.train(self.training)

    # nn.Module state must not include the cached views (they only alias supernet modules)
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_views"] = OrderedDict()
        return state
