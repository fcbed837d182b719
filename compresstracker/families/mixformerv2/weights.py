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
from pathlib import Path
from typing import Any, Mapping

import torch

from compresstracker.checkpoints.formats import OSTRACK_CONFIG_KEY, first_items
from compresstracker.checkpoints.loader import _load_strict
from compresstracker.checkpoints.safe_pickle import load_pickle_checkpoint
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.families.mixformerv2.config import NAMED_CONFIGS, NUM_PREDICTION_TOKENS, MixFormerV2Config
from compresstracker.families.mixformerv2.network import MixFormerV2Net
from compresstracker.fileio import atomic_path

__all__ = ["CONFIG_KEY", "RELEASE_FORMAT", "config_from_state", "load_release", "release_keys_match", "save_release"]

RELEASE_FORMAT = "mixformerv2_release"
CONFIG_KEY = OSTRACK_CONFIG_KEY  # ctrack's config beside the weights, as in the OSTrack-layout files it writes
HEAD_DIM = 64  # both releases: 12 heads of 64 channels
CUSTOM_NAME = "mixformerv2_custom"
_BLOCK_RE = re.compile(r"^backbone\.blocks\.(\d+)\.")
_MARKERS = ("backbone.reg_tokens", "backbone.pos_embed_reg")
_PREFIXES = ("box_head.layers.", "score_head.layers.")


def release_keys_match(state: Mapping[str, Any]) -> bool:
    """Whether a state dict has MixFormerV2's layout: the prediction tokens and the two MLP heads."""
    return all(k in state for k in _MARKERS) and all(any(k.startswith(p) for k in state) for p in _PREFIXES)


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
            "store the config with the weights (save_release does)"
        )
    try:
        return MixFormerV2Config(name=CUSTOM_NAME, num_heads=embed_dim // HEAD_DIM, **inferred)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: the weights do not make a MixFormerV2 network ({exc})") from None


def _net_state(obj: Any, source: str) -> dict[str, torch.Tensor]:
    net = obj.get("net") if isinstance(obj, Mapping) else None
    if not isinstance(net, Mapping):
        raise CheckpointError(f"{source} has no 'net' dict of weights: not a MixFormerV2 release file")
    others = [str(k) for k, v in net.items() if not isinstance(v, torch.Tensor)]
    if others:
        raise CheckpointError(f"{source}['net'] holds entries that are not tensors: {first_items(others)}")
    if not release_keys_match(net):
        raise CheckpointError(
            f"{source}['net'] is not in MixFormerV2's layout (expected backbone.reg_tokens, box_head.layers.*, "
            f"score_head.layers.*; found e.g. {first_items(sorted(net))})"
        )
    return dict(net)


def _stored_config(obj: Mapping, source: str) -> MixFormerV2Config | None:
    data = obj.get(CONFIG_KEY)
    if data is None:
        return None
    try:
        return MixFormerV2Config.from_dict(data)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: the stored {CONFIG_KEY} is not a MixFormerV2 config ({exc})") from None


def load_release(path: str | Path) -> MixFormerV2Net:
    """A MixFormerV2 release file (or one :func:`save_release` wrote) as an eval-mode network on the CPU."""
    path = Path(path)
    source = path.name
    obj, _ignored = load_pickle_checkpoint(path)
    state = _net_state(obj, source)
    config = _stored_config(obj, source) or config_from_state(state, source)
    model = MixFormerV2Net(config)
    _load_strict(model, state, RELEASE_FORMAT, source)
    return model.eval()


def save_release(model: MixFormerV2Net, path: str | Path) -> Path:
    """Write ``{"net": state_dict, "epoch": 0, "ctrack_config": {...}}`` atomically, in the release layout.

    Only tensors and plain Python values are stored, so the file loads with ``weights_only=True``
    and into the official code's network of the same architecture.
    """
    state = {k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()}
    payload = {"net": state, "epoch": 0, CONFIG_KEY: model.config.to_dict()}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path
