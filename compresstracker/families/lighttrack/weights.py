"""Read a LightTrack architecture off the weights of a state dict in the official key layout.

Kernels come from the depthwise weights, expansions from the expanded widths, the output block
from which blocks exist, tower depths and kernels from the tower keys, widths from the pointwise
weights, the template size from the correlation channels. Genes that build nothing (blocks after
the output, skips) are not in the weights: the path takes them from a registered architecture
with the same network (LightTrack-Mobile gives its official string back), else canonical ones
(unbuilt choices 0, skips at the end of a tower).
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import torch
from timm.layers import make_divisible

from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.families.lighttrack.arch import LightTrackArch, LightTrackConfig
from compresstracker.families.lighttrack.network import LightTrackNet
from compresstracker.models import get_config, list_models
from compresstracker.families.lighttrack.arch import BACKBONE_CHOICES, STAGE_BLOCKS, HeadArch, backbone_choice

__all__ = ["canonical_arch", "infer_lighttrack_config", "lighttrack_name"]

_BLOCK_RE = re.compile(r"^features\.blocks\.(\d+)\.(\d+)\.conv_dw\.weight$")
_TOWER_RE = re.compile(r"^head\.(cls|reg)_tower\.(\d+)\.conv1\.weight$")


def _tensor(state: Mapping[str, torch.Tensor], key: str, source: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"{source}: key {key} is missing; cannot read the LightTrack architecture off the weights")
    return state[key]


def _backbone(state: Mapping[str, torch.Tensor], source: str, defaults: LightTrackConfig):
    """(choices of built blocks, output (stage, block), stage channels)."""
    found = sorted((int(m.group(1)), int(m.group(2))) for k in state if (m := _BLOCK_RE.match(k)))
    built = [(s - 1, b) for s, b in found if s >= 1]
    if not built:
        raise CheckpointError(f"{source}: no MBConv blocks (features.blocks.1.*): not a LightTrack backbone")
    out_stage, out_block = built[-1]
    expected = [(s, b) for s in range(out_stage + 1) for b in range(STAGE_BLOCKS[s] if s < out_stage else out_block + 1)]
    if built != expected:
        missing = sorted(set(expected) - set(built))
        raise CheckpointError(
            f"{source}: backbone blocks are not a LightTrack path (blocks {', '.join(f'{s + 1}.{b}' for s, b in missing)} missing, "
            f"or stages longer than {list(STAGE_BLOCKS)})"
        )
    choices, channels = [], list(defaults.stage_channels)
    for stage, block in built:
        prefix = f"features.blocks.{stage + 1}.{block}"
        kernel = _tensor(state, f"{prefix}.conv_dw.weight", source).shape[-1]
        mid, in_ch = _tensor(state, f"{prefix}.conv_pw.weight", source).shape[:2]
        expansions = [e for e in sorted({e for _, e in BACKBONE_CHOICES}) if make_divisible(in_ch * e, defaults.divisor) == mid]
        if not expansions:
            raise CheckpointError(f"{source}: {prefix} expands {in_ch} to {mid} channels, not by 4 or 6")
        try:
            choices.append(backbone_choice(kernel, expansions[0]))
        except ConfigError as exc:
            raise CheckpointError(f"{source}: {prefix}: {exc}") from None
        channels[stage] = _tensor(state, f"{prefix}.conv_pwl.weight", source).shape[0]
    return choices, (out_stage, out_block), tuple(channels)


def _towers(state: Mapping[str, torch.Tensor], source: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Per head: (width, kernels of the built layers)."""
    layers: dict[str, dict[int, int]] = {"cls": {}, "reg": {}}
    for key, value in state.items():
        if m := _TOWER_RE.match(key):
            layers[m.group(1)][int(m.group(2))] = value.shape[-1]
    out = {}
    for head, found in layers.items():
        if sorted(found) != list(range(len(found))) or not found:
            raise CheckpointError(f"{source}: head.{head}_tower layers {sorted(found)} are not 0..n-1")
        width = _tensor(state, f"head.{head}_tower.0.pointwise.weight", source).shape[0]
        out[head] = (width, tuple(found[i] for i in range(len(found))))
    return out


def canonical_arch(arch: LightTrackArch) -> LightTrackArch:
    """The same network with the genes that build nothing set canonically (unbuilt 0, skips last)."""
    built = len(arch.built_blocks())
    backbone = arch.backbone[:built] + (0,) * (len(arch.backbone) - built)
    return LightTrackArch(
        backbone=backbone, output=arch.output,
        cls=HeadArch.from_kernels(arch.cls.width, arch.cls.kernels),
        reg=HeadArch.from_kernels(arch.reg.width, arch.reg.kernels),
    )


def _same_network(a: LightTrackConfig, b: LightTrackConfig) -> bool:
    """Same tensors of the same shapes, and the same numbers that shapes do not show."""
    if (a.stage_strides, a.reg_scale, a.arch.output) != (b.stage_strides, b.reg_scale, b.arch.output):
        return False
    with torch.device("meta"):
        shapes = [{k: v.shape for k, v in LightTrackNet(c).state_dict().items()} for c in (a, b)]
    return shapes[0] == shapes[1]


def lighttrack_name(config: LightTrackConfig) -> LightTrackConfig:
    """A registered config that builds the same network, with its genes and name, sizes kept; else
    the config named ``lighttrack_custom``."""
    for row in list_models():
        if row["family"] != config.FAMILY:
            continue
        registered = get_config(row["name"])
        if _same_network(registered, config):
            return registered.replace(template_size=config.template_size, search_size=config.search_size)
    return config.replace(name="lighttrack_custom")


def infer_lighttrack_config(state: Mapping[str, torch.Tensor], source: str) -> LightTrackConfig:
    """The LightTrackConfig whose network has exactly these tensor shapes (strict loading checks the rest)."""
    defaults = LightTrackConfig()
    choices, output, stage_channels = _backbone(state, source, defaults)
    towers = _towers(state, source)
    widths = {towers["cls"][0], towers["reg"][0]}
    head_widths = defaults.head_widths if widths <= set(defaults.head_widths) else tuple(sorted(widths))
    heads = {h: HeadArch.from_kernels(head_widths.index(w), kernels) for h, (w, kernels) in towers.items()}
    corr = _tensor(state, "feature_fusor.pw_corr.CA_layer.fc1.weight", source).shape[0]
    side = math.isqrt(corr)
    if side * side != corr:
        raise CheckpointError(f"{source}: {corr} correlation channels are not a square template feature map")
    arch = LightTrackArch(
        backbone=tuple(choices) + (0,) * (sum(STAGE_BLOCKS) - len(choices)), output=output,
        cls=heads["cls"], reg=heads["reg"],
    )
    config = defaults.replace(
        name="lighttrack_custom", arch=arch,
        stem_channels=_tensor(state, "features.conv_stem.weight", source).shape[0],
        stage_channels=stage_channels, head_widths=head_widths,
        adj_channels=_tensor(state, "feature_fusor.adj_layer.weight", source).shape[0],
    )
    template = side * config.stride
    return lighttrack_name(config.replace(template_size=template, search_size=2 * template))
