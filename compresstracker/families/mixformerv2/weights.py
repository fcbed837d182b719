"""MixFormerV2's release checkpoint files (``mixformerv2_base.pth.tar``, ``mixformerv2_small.pth.tar``).

A release file is a pickled dict whose ``net`` entry is the network's state dict (no prefix); the
trainer's other entries (epoch, net type, pickled settings) do not matter and are never executed:
the file is read with the project's restricted unpickler. A file ctrack wrote carries its config;
otherwise the architecture is read off the tensor shapes, and the head count and tracking factors,
which shapes do not show, come from the named config with the same network (B, S, tiny), else the
defaults (heads of 64 channels, MixFormerV2-B's search factor).
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import torch

from compresstracker.checkpoints.formats import CheckpointFormat
from compresstracker.checkpoints.writers import ReleaseLayout, save_net_pth
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.families.mixformerv2.config import FAMILY, NAMED_CONFIGS, NUM_PREDICTION_TOKENS, MixFormerV2Config

__all__ = ["FORMAT", "RELEASE", "RELEASE_FORMAT", "config_from_state"]

RELEASE_FORMAT = "mixformerv2"
HEAD_DIM = 64  # both releases: 12 heads of 64 channels
CUSTOM_NAME = "mixformerv2_custom"
_BLOCK_RE = re.compile(r"^backbone\.blocks\.(\d+)\.")
_MARKERS = ("backbone.reg_tokens", "backbone.pos_embed_reg")
_PREFIXES = ("box_head.layers.", "score_head.layers.")


def _shape(state: Mapping[str, torch.Tensor], key: str, source: str, dims: int) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{source}: key {key} is missing; cannot read the MixFormerV2 architecture off the weights")
    shape = tuple(state[key].shape)
    if len(shape) != dims:
        raise CheckpointError(f"{source}: {key} has shape {list(shape)}, expected {dims} dimensions")
    return shape


def _grid_size(state: Mapping[str, torch.Tensor], key: str, embed_dim: int, patch: int, source: str) -> int:
    one, tokens, dim = _shape(state, key, source, 3)
    side = math.isqrt(tokens)
    if one != 1 or dim != embed_dim or side * side != tokens:
        raise CheckpointError(f"{source}: {key} has shape {[one, tokens, dim]}, not (1, a square token count, {embed_dim})")
    return side * patch


def config_from_state(state: Mapping[str, torch.Tensor], source: str) -> MixFormerV2Config:
    """The config whose network has these tensor shapes (strict loading then checks every tensor).

    A release's network (B or S, or another named config) gets that config; any other gets the name
    ``mixformerv2_custom``, ``embed_dim / 64`` heads and the default factors.
    """
    embed_dim, channels, patch, patch_w = _shape(state, "backbone.patch_embed.proj.weight", source, 4)
    if channels != 3 or patch != patch_w:
        raise CheckpointError(f"{source}: backbone.patch_embed.proj.weight {[embed_dim, channels, patch, patch_w]} is not a square RGB patch embedding")
    for key in _MARKERS:
        if _shape(state, key, source, 3) != (1, NUM_PREDICTION_TOKENS, embed_dim):
            raise CheckpointError(f"{source}: {key} has shape {list(state[key].shape)}, expected [1, {NUM_PREDICTION_TOKENS}, {embed_dim}]")
    blocks = sorted({int(m.group(1)) for k in state if (m := _BLOCK_RE.match(k))})
    if not blocks:
        raise CheckpointError(f"{source}: no backbone.blocks.*: not a MixFormerV2 network")
    if blocks != list(range(len(blocks))):
        raise CheckpointError(f"{source}: backbone blocks {blocks} are not numbered 0..n-1")
    hidden, width = _shape(state, "backbone.blocks.0.mlp.fc1.weight", source, 2)
    if width != embed_dim:
        raise CheckpointError(f"{source}: backbone.blocks.0.mlp.fc1.weight takes {width} channels, the patch embedding gives {embed_dim}")
    bins, width = _shape(state, "box_head.layers.1.0.weight", source, 2)
    if width != embed_dim:
        raise CheckpointError(f"{source}: box_head.layers.1.0.weight takes {width} channels, expected {embed_dim}")
    inferred = dict(
        embed_dim=embed_dim, depth=len(blocks), mlp_ratio=hidden / embed_dim, patch_size=patch, bins=bins,
        template_size=_grid_size(state, "backbone.pos_embed_t", embed_dim, patch, source),
        search_size=_grid_size(state, "backbone.pos_embed_s", embed_dim, patch, source),
    )
    for config, _ in NAMED_CONFIGS.values():
        if all(getattr(config, k) == v for k, v in inferred.items()):
            return config
    if embed_dim % HEAD_DIM:
        raise CheckpointError(
            f"{source}: width {embed_dim} is not a multiple of {HEAD_DIM}, so the head count cannot be told; "
            "store the config with the weights (ctrack's release files do)"
        )
    try:
        return MixFormerV2Config(name=CUSTOM_NAME, num_heads=embed_dim // HEAD_DIM, **inferred)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: the weights do not make a MixFormerV2 network ({exc})") from None


def _infer(state: Mapping[str, torch.Tensor], fmt: CheckpointFormat, source: str, num_heads: int | None) -> MixFormerV2Config:
    """The checkpoint format's rule: :func:`config_from_state`, with ``num_heads`` when given (the shapes do not show it)."""
    config = config_from_state(state, source)
    return config if num_heads is None else config.replace(num_heads=num_heads)


FORMAT = CheckpointFormat(
    RELEASE_FORMAT,
    "MixFormerV2 release ({'net': state_dict, ...}, as mixformerv2_base.pth.tar); the architecture is read off the weights",
    requires=(*_MARKERS, *_PREFIXES), family=FAMILY, infer=_infer,
)
RELEASE = ReleaseLayout(
    "mixformerv2",
    "MixFormerV2's release layout ({'net': state_dict, 'epoch', 'ctrack_config'}), read by the official code",
    "student_mixformerv2.pth.tar",
    save_net_pth,
)
