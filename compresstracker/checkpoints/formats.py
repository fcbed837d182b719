"""Checkpoint formats, recognised by their keys, each with a declarative map to ctrack's key layout.

ctrack's layouts are OSTrack's (``backbone.*``, ``box_head.*``) and LightTrack's official one
(``features.*``, ``neck.*``, ``feature_fusor.*``, ``head.*``). A format says which keys identify
it, which model family it holds, which keys to drop (teacher copies) and which prefixes to rename
(student blocks). What the weights cannot tell (CE layers, tracking factors) comes from per-format
defaults, or from the config a ctrack-written file carries.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from compresstracker.checkpoints.lighttrack_weights import infer_lighttrack_config
from compresstracker.checkpoints.safe_pickle import Ignored
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.models import TrackerConfig, get_config, list_models
from compresstracker.models import config_from_dict as _config_from_dict

__all__ = [
    "CONTAINER_KEYS", "CheckpointFormat", "FORMATS", "NATIVE_FORMAT_VERSION", "NATIVE_KEYS",
    "OSTRACK_CONFIG_KEY", "TRAIN_STATE_FORMAT", "arch_name", "detect_format", "find_state_dict", "infer_config",
    "infer_family_config", "list_formats", "config_from_dict", "first_items", "native_config", "native_extras",
]

# Where a pickled file keeps its state dict (OSTrack: "net", LightTrack: "state_dict"); a raw
# state dict is used as it is.
CONTAINER_KEYS = ("net", "model", "state_dict")
# Prefixes that wrap every key of a state dict saved from a wrapper (DistributedDataParallel, the
# replacement model of a ctrack compression run, LightTrack's training wrapper), removed in order.
WRAPPER_PREFIXES = ("module.", "student.", "feature_extractor.")
# ctrack's own training checkpoints (checkpoints/*.pt): a dict with this "format" entry, the
# weights under "model", the network's config under "model_config" and the recipe as YAML.
TRAIN_STATE_FORMAT = "ctrack-train-state"
# safetensors metadata of ctrack's native files (string -> string).
NATIVE_KEYS = {
    "config": "ctrack.config",
    "plan": "ctrack.plan",
    "provenance": "ctrack.provenance",
    "format_version": "ctrack.format_version",
}
NATIVE_FORMAT_VERSION = "1"
# Key of the TrackerConfig dict in .pth.tar files ctrack writes in OSTrack's layout.
OSTRACK_CONFIG_KEY = "ctrack_config"

# Search-region context factor by search size (OSTrack: 4.0 for 256, 5.0 for 384).
SEARCH_FACTORS = {256: 4.0, 384: 5.0}
DEFAULT_SEARCH_FACTOR = 4.0
# ViT-Ti/S/B/L all use 64-wide heads; the number of heads is not in the weights.
HEAD_DIM = 64
_OSTRACK_CE = {12: ((3, 6, 9), (0.7, 0.7, 0.7))}
_TEACHER_PREFIXES = ("backbone.blocks.", "ori_backbone.", "ori_box_head.")


@dataclass(frozen=True)
class CheckpointFormat:
    """One checkpoint layout: how to recognise it and how to map it onto ctrack's keys.

    A state dict matches when it has a key under every ``requires`` prefix, a key under at least one
    ``requires_any`` prefix (when given) and none under ``excludes``. ``drop`` prefixes are removed
    first, then ``rename`` rewrites prefixes. ``ce_by_depth`` gives the candidate-elimination
    layers and keep ratios a file of that depth was trained with.
    """

    name: str
    description: str
    requires: tuple[str, ...] = ()
    requires_any: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    ce_by_depth: Mapping[int, tuple[tuple[int, ...], tuple[float, ...]]] = field(default_factory=dict)
    metadata_key: str | None = None  # native files: recognised by this metadata entry, not by keys
    family: str = "ostrack"  # the model family its weights build (native files: read from the config)

    def matches(self, keys: set[str], metadata: Mapping[str, str]) -> bool:
        if self.metadata_key is not None:
            return self.metadata_key in metadata

        def has(prefix: str) -> bool:
            return any(k.startswith(prefix) for k in keys)

        return (
            all(has(p) for p in self.requires)
            and (not self.requires_any or any(has(p) for p in self.requires_any))
            and not any(has(p) for p in self.excludes)
        )

    def convert(self, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
        """(state dict in ctrack's layout, number of dropped keys)."""
        kept = {k: v for k, v in state.items() if not k.startswith(self.drop)}
        out = {}
        for key, value in kept.items():
            for old, new in self.rename:
                if key.startswith(old):
                    key = new + key[len(old):]
                    break
            out[key] = value
        return out, len(state) - len(kept)


FORMATS: tuple[CheckpointFormat, ...] = (
    CheckpointFormat(
        "ctrack",
        "ctrack native: safetensors in OSTrack's key layout with the model config in its metadata",
        metadata_key=NATIVE_KEYS["config"],
    ),
    CheckpointFormat(
        "compresstracker_train",
        "CompressTracker training file: student (distill_blocks) with the frozen teacher copies",
        requires=("backbone.distill_blocks.", "box_head."),
        requires_any=_TEACHER_PREFIXES,
        drop=_TEACHER_PREFIXES,
        rename=(("backbone.distill_blocks.", "backbone.blocks."),),
    ),
    CheckpointFormat(
        "compresstracker",
        "CompressTracker inference file: the student only; all blocks run plain (no CE)",
        requires=("backbone.distill_blocks.", "box_head."),
        excludes=_TEACHER_PREFIXES,
        rename=(("backbone.distill_blocks.", "backbone.blocks."),),
    ),
    CheckpointFormat(
        "ostrack",
        "OSTrack (.pth.tar with 'net', or a raw state dict); CE at blocks 3, 6, 9 when 12 deep",
        requires=("backbone.blocks.", "box_head."),
        excludes=("backbone.distill_blocks.",),
        ce_by_depth=_OSTRACK_CE,
    ),
    CheckpointFormat(
        "lighttrack",
        "LightTrack release ({'state_dict': ...} or a raw state dict); the architecture is read off the weights",
        requires=("features.conv_stem.", "features.blocks.", "neck.", "feature_fusor.", "head."),
        family="lighttrack",
    ),
)


def list_formats() -> list[dict[str, str]]:
    return [{"name": f.name, "description": f.description} for f in FORMATS]


def find_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint object, wrapper prefixes removed."""
    if not isinstance(obj, Mapping):
        kind = obj.qualified_name if isinstance(obj, Ignored) else type(obj).__name__
        raise CheckpointError(f"{source} holds a {kind} object, not a dict of weights: not a model checkpoint")
    for key in CONTAINER_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj, source = obj[key], f"{source}['{key}']"
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{source} holds no tensors: not a model checkpoint")
    others = [str(k) for k in obj if k not in tensors]
    if others:
        raise CheckpointError(
            f"{source} mixes tensors with {len(others)} other entries ({first_items(others)}): not a state dict"
        )
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def detect_format(keys: set[str], metadata: Mapping[str, str], source: str) -> CheckpointFormat:
    for fmt in FORMATS:
        if fmt.matches(keys, metadata):
            return fmt
    raise CheckpointError(
        f"{source}: unknown key layout ({len(keys)} tensors, e.g. {first_items(sorted(keys))}); expected OSTrack "
        "(backbone.blocks.*, box_head.*), CompressTracker (backbone.distill_blocks.*) or LightTrack "
        "(features.*, neck.*, feature_fusor.*, head.*) weights"
    )


def _shape(state: Mapping[str, torch.Tensor], key: str, source: str) -> torch.Size:
    if key not in state:
        raise CheckpointError(f"{source}: key {key} is missing; cannot read the architecture off the weights")
    return state[key].shape


def _grid_size(tokens: int, patch: int, key: str, source: str) -> int:
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise CheckpointError(f"{source}: {key} has {tokens} positions, not a square grid")
    return side * patch


def infer_config(
    state: Mapping[str, torch.Tensor], fmt: CheckpointFormat, source: str, num_heads: int | None = None
) -> TrackerConfig:
    """Read a TrackerConfig off the tensor shapes of a state dict in ctrack's layout."""
    proj = _shape(state, "backbone.patch_embed.proj.weight", source)
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
    template = _grid_size(_shape(state, "backbone.pos_embed_z", source)[1], patch, "backbone.pos_embed_z", source)
    search = _grid_size(_shape(state, "backbone.pos_embed_x", source)[1], patch, "backbone.pos_embed_x", source)
    ce_layers, keep_ratios = fmt.ce_by_depth.get(depth, ((), ()))
    config = TrackerConfig(
        arch="custom",
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=_shape(state, "backbone.blocks.0.mlp.fc1.weight", source)[0] / embed_dim,
        qkv_bias="backbone.blocks.0.attn.qkv.bias" in state,
        patch_size=patch,
        template_size=template,
        search_size=search,
        ce_layers=ce_layers,
        ce_keep_ratios=keep_ratios,
        head_channels=_shape(state, "box_head.conv1_ctr.0.weight", source)[0],
        legacy_pos_len=state["backbone.pos_embed"].shape[1] if "backbone.pos_embed" in state else 0,
        search_factor=SEARCH_FACTORS.get(search, DEFAULT_SEARCH_FACTOR),
    )
    return config.replace(arch=arch_name(config))


_INFERENCE: dict[str, Callable[..., Any]] = {
    "ostrack": infer_config,
    "lighttrack": lambda state, fmt, source, num_heads: infer_lighttrack_config(state, source),
}


def arch_name(config: TrackerConfig) -> str:
    """The registered name of an identical config, else a descriptive one."""
    for row in list_models():
        if get_config(row["name"]) == config.replace(arch=row["name"]):
            return row["name"]
    return f"vit{config.embed_dim}_d{config.depth}_{config.search_size}{'_ce' if config.has_ce else ''}"


def native_config(metadata: Mapping[str, str], source: str) -> Any:
    version = metadata.get(NATIVE_KEYS["format_version"], NATIVE_FORMAT_VERSION)
    if version != NATIVE_FORMAT_VERSION:
        raise CheckpointError(
            f"{source} is ctrack format version {version}; this ctrack reads version "
            f"{NATIVE_FORMAT_VERSION}: upgrade ctrack"
        )
    return config_from_dict(_json(metadata, NATIVE_KEYS["config"], source), f"{source} metadata {NATIVE_KEYS['config']}")


def config_from_dict(data: Any, source: str) -> Any:
    """A model config (any family) from a stored dict; a malformed one is a CheckpointError naming ``source``."""
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{source} is not a model config (a {type(data).__name__}, not a dict)")
    try:
        return _config_from_dict(dict(data))
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{source} is not a valid model config ({exc})") from None


def infer_family_config(
    state: Mapping[str, torch.Tensor], fmt: CheckpointFormat, source: str, num_heads: int | None = None
) -> Any:
    """The config read off the weights, by the format's family (``num_heads``: ViT files only)."""
    return _INFERENCE[fmt.family](state, fmt, source, num_heads)


def native_extras(metadata: Mapping[str, str], source: str) -> dict[str, Any]:
    """Plan and provenance (parsed JSON) and the format version of a native file."""
    extras: dict[str, Any] = {"format_version": metadata.get(NATIVE_KEYS["format_version"], NATIVE_FORMAT_VERSION)}
    for name in ("plan", "provenance"):
        if NATIVE_KEYS[name] in metadata:
            extras[name] = _json(metadata, NATIVE_KEYS[name], source)
    return extras


def _json(metadata: Mapping[str, str], key: str, source: str) -> Any:
    try:
        return json.loads(metadata[key])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{source}: metadata {key} is not valid JSON ({exc})") from None


def first_items(items: list[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")
