"""LightTrack's weight-sharing supernet: every architecture of the search space is a path through it.

The space (spec: ../shared/specs/lighttrack.md): 14 MBConv blocks x 6 (kernel, expansion)
choices, the output block among the last 8 (the 80- and 96-channel stages, as the paper), and
per head a width and 8 layers (DSConv 3x3 / 5x5 / skip, the first never skips). The supernet
holds one module per (block, choice), one neck per output stage, one tower layer per (head,
width, layer position, op) and one predictor per (head, width); the stem, the fixed
depthwise-separable block and the correlation fusor are shared by every path.

A path runs as the standalone :class:`LightTrackNet` itself: the network of that architecture is
built on the meta device (no memory) and its modules are replaced by the supernet's, so a path
computes exactly what the standalone network computes, with the same module code. ``extract``
copies that view's state dict (official key names) into a real ``LightTrackNet``.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from compresstracker.errors import ConfigError
from compresstracker.families.lighttrack.network import (
    ClsPredictor, DepthwiseSeparableBlock, LightTrackNet, MBConvBlock, NeckBN, PixelwiseFusor, RegPredictor, TowerLayer,
    _conv,
)
from compresstracker.families.lighttrack.arch import (
    BACKBONE_CHOICES, HEAD_OPS, SKIP, STAGE_BLOCKS, TOWER_LAYERS, HeadArch, LightTrackArch, LightTrackConfig,
)

__all__ = ["OUTPUT_BLOCKS", "LightTrackSupernet", "SupernetConfig", "canonical_path", "unit_keys"]

HEADS = ("cls", "reg")
STAGE_NAMES = ("c24", "c40", "c80", "c96")
BLOCK_POSITIONS: tuple[tuple[int, int], ...] = tuple((s, b) for s, n in enumerate(STAGE_BLOCKS) for b in range(n))
OUTPUT_BLOCKS: tuple[tuple[int, int], ...] = BLOCK_POSITIONS[-8:]  # the 80- and 96-channel stages
VIEW_CACHE = 8  # path views kept (a search evaluates one path many times)


def flat_index(stage: int, block: int) -> int:
    return BLOCK_POSITIONS.index((stage, block))


def canonical_path(arch: LightTrackArch) -> LightTrackArch:
    """The one representative of ``arch``'s path: unbuilt blocks and the 192-channel genes set to 0."""
    end = flat_index(*arch.output)
    backbone = tuple(c if i <= end else 0 for i, c in enumerate(arch.backbone))
    return LightTrackArch(backbone=backbone, output=arch.output, cls=arch.cls, reg=arch.reg)


def unit_keys(arch: LightTrackArch) -> list[str]:
    """The cost units a path runs: stem, each built block's choice, the output stage's neck, head layers, predictors.

    Every parameter and every multiply-add of the standalone network belongs to exactly one unit.
    """
    end = flat_index(*arch.output)
    keys = ["stem", *(f"block.{i}.{arch.backbone[i]}" for i in range(end + 1)), f"neck.{STAGE_NAMES[arch.output[0]]}"]
    for head in HEADS:
        h: HeadArch = getattr(arch, head)
        keys += [f"{head}.{h.width}.{i}.{op}" for i, op in enumerate(h.ops) if op != SKIP]
        keys.append(f"{head}.{h.width}.pred")
    return keys


def _copy_inside(source: nn.Module, target: nn.Module) -> None:
    """Copy into each of ``target``'s tensors the part of ``source``'s namesake it fits in: the leading
    channels, and the centre of a larger kernel (conv weights' last two dimensions)."""
    tensors = dict(source.state_dict())
    for name, tensor in target.state_dict().items():
        part = tensors[name]
        index = []
        for dim, (have, want) in enumerate(zip(part.shape, tensor.shape)):
            start = (have - want) // 2 if tensor.dim() == 4 and dim >= 2 else 0
            index.append(slice(start, start + want))
        tensor.copy_(part[tuple(index)])


@dataclass(frozen=True)
class SupernetConfig:
    """A supernet's name and the channels and sizes of its paths (``base``; its arch is irrelevant).

    ``heads``: "searched" (the paper's space: each head's width and layers are drawn and searched) or
    "held" (both heads are the largest on every path: the backbone and output block alone are drawn
    and searched, and the one head gets every step's training).
    """

    FAMILY: ClassVar[str] = "lighttrack_supernet"
    HEAD_MODES: ClassVar[tuple[str, ...]] = ("searched", "held")

    name: str = "lighttrack_supernet"
    base: LightTrackConfig = field(default_factory=LightTrackConfig)
    heads: str = "searched"

    def __post_init__(self) -> None:
        if isinstance(self.base, dict):
            object.__setattr__(self, "base", LightTrackConfig.from_dict(self.base))
        if self.heads not in self.HEAD_MODES:
            raise ConfigError(f"supernet heads must be one of {', '.join(self.HEAD_MODES)}, got {self.heads!r}")
        if self.base.stage_strides[3] != 1:
            raise ConfigError("a LightTrack supernet needs the 96-channel stage at stride 1 (one fusor for every output)")

    @property
    def family(self) -> str:
        return self.FAMILY

    @property
    def template_size(self) -> int:
        return self.base.template_size

    @property
    def search_size(self) -> int:
        return self.base.search_size

    @property
    def stride(self) -> int:
        """Every path's output stride (the 80- and 96-channel stages share it)."""
        return self.path_config(self.probe_arch()).stride

    def probe_arch(self) -> LightTrackArch:
        """A fixed path (every choice 0, output at the first allowed block)."""
        head = HeadArch(0, (0,) * TOWER_LAYERS)
        return LightTrackArch(backbone=(0,) * len(BLOCK_POSITIONS), output=OUTPUT_BLOCKS[0], cls=head, reg=head)

    def path_config(self, arch: LightTrackArch) -> LightTrackConfig:
        """The standalone network config of one path."""
        return self.base.replace(arch=arch, name=self.name.replace("supernet", "subnet"))

    def replace(self, **changes: Any) -> "SupernetConfig":
        from dataclasses import replace

        return replace(self, **changes)

    @property
    def held_heads(self) -> bool:
        return self.heads == "held"

    def largest_head(self) -> HeadArch:
        """The widest head with every layer built at the largest kernel: the head ``heads: held`` keeps and
        ``train.spos_fixed_head_epochs`` trains first."""
        largest_kernel = HEAD_OPS.index(max(k for k in HEAD_OPS if k is not None))
        return HeadArch(len(self.base.head_widths) - 1, (largest_kernel,) * TOWER_LAYERS)

    def to_dict(self) -> dict[str, Any]:
        held = {"heads": self.heads} if self.heads != "searched" else {}  # a searched-head supernet's record stays as before
        return {"family": self.FAMILY, "name": self.name, "base": self.base.to_dict(), **held}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SupernetConfig":
        data = dict(data)
        if data.pop("family", cls.FAMILY) != cls.FAMILY:
            raise ConfigError("not a LightTrack supernet config")
        try:
            return cls(name=str(data["name"]), base=LightTrackConfig.from_dict(data["base"]), heads=str(data.get("heads", "searched")))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"invalid LightTrack supernet config ({exc})") from None


class LightTrackSupernet(nn.Module):
    """All choices of the space; ``forward(template, search, arch)`` runs one path."""

    def __init__(self, config: SupernetConfig):
        super().__init__()
        self.config = config
        c = config.base
        # "features": the backbone, named as in LightTrackNet so backbone parameter groups and freezing find it
        self.features = nn.Module()
        self.features.conv_stem = _conv(3, c.stem_channels, 3, stride=2)
        self.features.bn1 = nn.BatchNorm2d(c.stem_channels, eps=1e-5)
        self.features.ds_block = DepthwiseSeparableBlock(c.stem_channels, c.stem_channels, 3, 1, c.se_ratio, c.divisor)
        blocks = []
        in_ch = c.stem_channels
        for stage, block in BLOCK_POSITIONS:
            out_ch = c.stage_channels[stage]
            stride = c.stage_strides[stage] if block == 0 else 1
            blocks.append(nn.ModuleList(MBConvBlock(in_ch, out_ch, k, e, stride, c.se_ratio, c.divisor) for k, e in BACKBONE_CHOICES))
            in_ch = out_ch
        self.features.blocks = nn.ModuleList(blocks)
        self.necks = nn.ModuleDict({STAGE_NAMES[s]: NeckBN(c.stage_channels[s]) for s in sorted({s for s, _ in OUTPUT_BLOCKS})})
        self.feature_fusor = PixelwiseFusor(config.path_config(config.probe_arch()).correlation_channels, c.adj_channels)
        kernels = [k for k in HEAD_OPS if k is not None]
        self.towers = nn.ModuleDict({
            head: nn.ModuleList(
                nn.ModuleList(
                    nn.ModuleList(TowerLayer(c.adj_channels if i == 0 else width, width, k) for k in kernels)
                    for i in range(TOWER_LAYERS)
                )
                for width in c.head_widths
            )
            for head in HEADS
        })
        self.cls_preds = nn.ModuleList(ClsPredictor(w) for w in c.head_widths)
        self.reg_preds = nn.ModuleList(RegPredictor(w, c.reg_scale) for w in c.head_widths)
        self._views: OrderedDict[str, LightTrackNet] = OrderedDict()

    # ------------------------------------------------------------------ paths
    def check_arch(self, arch: LightTrackArch) -> LightTrackArch:
        if tuple(arch.output) not in OUTPUT_BLOCKS:
            raise ConfigError(f"output block {arch.output} is not a supernet output (the 80- and 96-channel stages)")
        widths = len(self.config.base.head_widths)
        if arch.cls.width >= widths or arch.reg.width >= widths:
            raise ConfigError(f"head width index beyond the supernet's {widths} widths")
        if self.config.held_heads and not arch.cls == arch.reg == self.config.largest_head():
            raise ConfigError(f"{self.config.name} holds both heads at the largest ({self.config.largest_head().to_digits()}); "
                              "this path has others")
        return canonical_path(arch)

    def sample_arch(self, rng: np.random.Generator) -> LightTrackArch:
        """A uniformly random path (SPOS): each block, the output block, each head's width and layers (with
        ``heads: held`` the heads are drawn all the same, so the stream is the same, and then held)."""
        ops = lambda: (int(rng.integers(2)), *(int(rng.integers(len(HEAD_OPS))) for _ in range(TOWER_LAYERS - 1)))  # noqa: E731
        backbone = tuple(int(rng.integers(len(BACKBONE_CHOICES))) for _ in BLOCK_POSITIONS)
        output = OUTPUT_BLOCKS[int(rng.integers(len(OUTPUT_BLOCKS)))]
        widths = len(self.config.base.head_widths)
        cls = HeadArch(int(rng.integers(widths)), ops())
        reg = HeadArch(int(rng.integers(widths)), ops())
        if self.config.held_heads:
            cls = reg = self.config.largest_head()
        return canonical_path(LightTrackArch(backbone=backbone, output=output, cls=cls, reg=reg))

    def largest_head(self) -> HeadArch:
        return self.config.largest_head()

    @torch.no_grad()
    def inherit_heads(self) -> None:
        """Start every other head module from the largest head's module at the same place.

        Channels are the largest's first ones and kernels its centre (the way a smaller network
        sits inside a larger one), BN statistics included: after ``train.spos_fixed_head_epochs``
        the drawn heads begin from a trained head instead of their initial weights.
        """
        largest = self.largest_head()
        source_op = largest.ops[0]
        for head, preds in (("cls", self.cls_preds), ("reg", self.reg_preds)):
            towers = self.towers[head]
            for width, layers in enumerate(towers):
                for i, ops in enumerate(layers):
                    for op, layer in enumerate(ops):
                        if (width, op) != (largest.width, source_op):
                            _copy_inside(towers[largest.width][i][source_op], layer)
                if width != largest.width:
                    _copy_inside(preds[largest.width], preds[width])

    def modules_of(self, arch: LightTrackArch) -> dict[str, tuple[str, nn.Module]]:
        """Standalone module name -> (cost unit, the supernet module the path uses there); see ``unit_keys``."""
        arch = self.check_arch(arch)
        end = flat_index(*arch.output)
        f = self.features
        out: dict[str, tuple[str, nn.Module]] = {
            "features.conv_stem": ("stem", f.conv_stem), "features.bn1": ("stem", f.bn1), "features.blocks.0.0": ("stem", f.ds_block),
        }
        for i in range(end + 1):
            stage, block = BLOCK_POSITIONS[i]
            out[f"features.blocks.{stage + 1}.{block}"] = (f"block.{i}.{arch.backbone[i]}", f.blocks[i][arch.backbone[i]])
        neck = f"neck.{STAGE_NAMES[arch.output[0]]}"
        out["neck"] = (neck, self.necks[STAGE_NAMES[arch.output[0]]])
        out["feature_fusor"] = (neck, self.feature_fusor)
        preds = {"cls": ("head.cls_perd", self.cls_preds), "reg": ("head.reg_pred", self.reg_preds)}
        for head in HEADS:
            h: HeadArch = getattr(arch, head)
            built = [(i, op) for i, op in enumerate(h.ops) if op != SKIP]
            for k, (i, op) in enumerate(built):
                out[f"head.{head}_tower.{k}"] = (f"{head}.{h.width}.{i}.{op}", self.towers[head][h.width][i][op])
            name, modules = preds[head]
            out[name] = (f"{head}.{h.width}.pred", modules[h.width])
        return out

    def view(self, arch: LightTrackArch) -> LightTrackNet:
        """The standalone network of ``arch`` whose modules are this supernet's (shared, not copied)."""
        arch = self.check_arch(arch)
        key = arch.to_path()
        if key in self._views:
            self._views.move_to_end(key)
            return self._views[key]
        with torch.device("meta"):
            net = LightTrackNet(self.config.path_config(arch))
        for name, (_, module) in self.modules_of(arch).items():
            net.set_submodule(name, module)
        leftover = [n for n, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
        if leftover:
            raise RuntimeError(f"supernet path leaves modules unshared: {leftover[:3]}")
        self._views[key] = net
        if len(self._views) > VIEW_CACHE:
            self._views.popitem(last=False)
        return net

    def forward(self, template: torch.Tensor, search: torch.Tensor, arch: LightTrackArch) -> dict[str, torch.Tensor]:
        net = self.view(arch)
        net.training = self.training  # the view's own flag; its modules are ours and follow train()/eval()
        return net(template, search)

    def extract(self, arch: LightTrackArch) -> LightTrackNet:
        """The standalone network of ``arch`` with this supernet's weights (a copy, on the supernet's device)."""
        view = self.view(arch)
        net = LightTrackNet(view.config).to(next(self.parameters()).device)
        net.load_state_dict(view.state_dict(), strict=True)
        return net.train(self.training)
