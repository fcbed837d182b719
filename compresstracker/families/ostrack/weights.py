"""OSTrack's checkpoint layouts: OSTrack and CompressTracker release files, read by their keys.

OSTrack's ``{"net": ...}`` .pth.tar (or a raw state dict) and CompressTracker's student files
(``backbone.distill_blocks.*``, training files with the frozen teacher's copies) all map onto
ctrack's OSTrack layout (``backbone.*``, ``box_head.*``). The weights tell width, depth, MLP ratio,
patch and input sizes; the heads, CE layers and search factor follow OSTrack's published values.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from compresstracker.checkpoints.formats import CheckpointFormat, grid_size, shape_of
from compresstracker.checkpoints.writers import ReleaseLayout, save_net_pth
from compresstracker.errors import CheckpointError
from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.models import get_config, list_models

__all__ = ["FORMATS", "GUESSED_FIELDS", "RELEASE", "arch_name", "infer_config"]

# Search-region context factor by search size (OSTrack: 4.0 for 256, 5.0 for 384).
SEARCH_FACTORS = {256: 4.0, 384: 5.0}
DEFAULT_SEARCH_FACTOR = 4.0
# ViT-Ti/S/B/L all use 64-wide heads; the number of heads is not in the weights.
HEAD_DIM = 64
_OSTRACK_CE = {12: ((3, 6, 9), (0.7, 0.7, 0.7))}
_TEACHER_PREFIXES = ("backbone.blocks.", "ori_backbone.", "ori_box_head.")
# Config fields the weights cannot tell (shapes give the rest); OSTrack's published values are assumed.
GUESSED_FIELDS = ("num_heads", "ce_layers", "ce_keep_ratios", "search_factor", "template_factor")


def infer_config(
    state: Mapping[str, torch.Tensor], fmt: CheckpointFormat, source: str, num_heads: int | None = None
) -> OSTrackConfig:
    """Read a OSTrackConfig off the tensor shapes of a state dict in OSTrack's layout."""
    proj = shape_of(state, "backbone.patch_embed.proj.weight", source)
    embed_dim, patch = proj[0], proj[-1]
    if num_heads is None:
        if embed_dim % HEAD_DIM:
            raise CheckpointError(
                f"{source}: cannot tell the number of attention heads of a {embed_dim}-wide ViT from its "
                f"weights (head dim {HEAD_DIM} does not divide it); pass num_heads"
            )
        num_heads = embed_dim // HEAD_DIM
    block_ids = {int(m.group(1)) for k in state if (m := re.match(r"backbone\.blocks\.(\d+)\.", k))}
    depth = max(block_ids) + 1
    template = grid_size(shape_of(state, "backbone.pos_embed_z", source)[1], patch, "backbone.pos_embed_z", source)
    search = grid_size(shape_of(state, "backbone.pos_embed_x", source)[1], patch, "backbone.pos_embed_x", source)
    ce_layers, keep_ratios = fmt.ce_by_depth.get(depth, ((), ()))
    config = OSTrackConfig(
        arch="custom",
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=shape_of(state, "backbone.blocks.0.mlp.fc1.weight", source)[0] / embed_dim,
        qkv_bias="backbone.blocks.0.attn.qkv.bias" in state,
        patch_size=patch,
        template_size=template,
        search_size=search,
        ce_layers=ce_layers,
        ce_keep_ratios=keep_ratios,
        head_channels=shape_of(state, "box_head.conv1_ctr.0.weight", source)[0],
        legacy_pos_len=state["backbone.pos_embed"].shape[1] if "backbone.pos_embed" in state else 0,
        search_factor=SEARCH_FACTORS.get(search, DEFAULT_SEARCH_FACTOR),
    )
    return config.replace(arch=arch_name(config))


def arch_name(config: OSTrackConfig) -> str:
    """The registered name of an identical config, else a descriptive one."""
    for row in list_models():
        if get_config(row["name"]) == config.replace(arch=row["name"]):
            return row["name"]
    return f"vit{config.embed_dim}_d{config.depth}_{config.search_size}{'_ce' if config.has_ce else ''}"



def _infer(state: Mapping[str, torch.Tensor], fmt: CheckpointFormat, source: str, num_heads: int | None) -> OSTrackConfig:
    return infer_config(state, fmt, source, num_heads)


_COMMON = dict(family="ostrack", infer=_infer, guessed=GUESSED_FIELDS, name_config=lambda c: c.replace(arch=arch_name(c)))
FORMATS: tuple[CheckpointFormat, ...] = (
    CheckpointFormat(
        "compresstracker_train",
        "CompressTracker training file: student (distill_blocks) with the frozen teacher copies",
        requires=("backbone.distill_blocks.", "box_head."),
        requires_any=_TEACHER_PREFIXES,
        drop=_TEACHER_PREFIXES,
        rename=(("backbone.distill_blocks.", "backbone.blocks."),),
        **_COMMON,
    ),
    CheckpointFormat(
        "compresstracker",
        "CompressTracker inference file: the student only; all blocks run plain (no CE)",
        requires=("backbone.distill_blocks.", "box_head."),
        excludes=_TEACHER_PREFIXES,
        rename=(("backbone.distill_blocks.", "backbone.blocks."),),
        **_COMMON,
    ),
    CheckpointFormat(
        "ostrack",
        "OSTrack (.pth.tar with 'net', or a raw state dict); CE at blocks 3, 6, 9 when 12 deep",
        requires=("backbone.blocks.", "box_head."),
        # MixFormerV2's release also has backbone.blocks.* and box_head.*; its prediction tokens tell it apart
        excludes=("backbone.distill_blocks.",),
        ce_by_depth=_OSTRACK_CE,
        **_COMMON,
    ),
)
RELEASE = ReleaseLayout(
    "ostrack", "OSTrack's .pth.tar ({'net': state_dict}), loadable by OSTrack's own code", "student_ostrack.pth.tar", save_net_pth,
)
