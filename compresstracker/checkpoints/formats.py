"""Checkpoint formats, recognised by their keys, each with a declarative map to its family's key layout.

ctrack's own format (safetensors with the model config in its metadata) holds any family; every
other format is a family's release layout, registered by the family's plug-in
(:func:`register_format`). A format says which keys identify it, which model family it holds,
which keys to drop (teacher copies), which prefixes to rename (student blocks) and how to read
the family's config off the tensor shapes. What the weights cannot tell (CE layers, tracking
factors) comes from per-format defaults, or from the config a ctrack-written file carries.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from compresstracker.checkpoints.safe_pickle import Ignored
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.models import config_from_dict as _config_from_dict
from compresstracker.plugins import load_families

__all__ = [
    "CONTAINER_KEYS", "CheckpointFormat", "NATIVE_FORMAT", "NATIVE_FORMAT_VERSION", "NATIVE_KEYS", "RELEASE_CONFIG_KEY",
    "TRAIN_STATE_FORMAT", "detect_format", "find_state_dict", "formats", "list_formats", "config_from_dict", "first_items",
    "grid_size", "infer_family_config", "native_config", "native_extras", "register_format", "shape_of",
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
# Key of the model config dict in the .pth.tar files ctrack writes in a family's release layout.
RELEASE_CONFIG_KEY = "ctrack_config"


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
    family: str = ""  # the model family its weights build (native files: read from the config)
    # (state in the family's layout, format, source, num_heads) -> the config read off the shapes
    infer: Callable[..., Any] | None = None
    # config fields the weights cannot tell, assumed when the config is inferred (a warning names them)
    guessed: tuple[str, ...] = ()
    # an inferred config renamed after the registered architecture it equals (after overrides)
    name_config: Callable[[Any], Any] | None = None

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


NATIVE_FORMAT = CheckpointFormat(
    "ctrack",
    "ctrack native: safetensors in its family's key layout with the model config in its metadata",
    metadata_key=NATIVE_KEYS["config"],
)
_FORMATS: list[CheckpointFormat] = [NATIVE_FORMAT]


def register_format(fmt: CheckpointFormat) -> CheckpointFormat:
    """Add a family's release layout; formats are tried in registration order (the native one first)."""
    if any(f.name == fmt.name for f in _FORMATS):
        raise ValueError(f"checkpoint format {fmt.name!r} is already registered")
    _FORMATS.append(fmt)
    return fmt


def formats() -> tuple[CheckpointFormat, ...]:
    """Every known format, in the order detection tries them."""
    load_families()
    return tuple(_FORMATS)


def list_formats() -> list[dict[str, str]]:
    return [{"name": f.name, "description": f.description} for f in formats()]


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
    """The format of a file: the native one by its metadata, else the most specific layout whose keys
    match (most required prefixes; registration order breaks ties), so one family's layout never
    needs to know another's (MixFormerV2's release keys also hold OSTrack's two required prefixes)."""
    matching = [fmt for fmt in formats() if fmt.matches(keys, metadata)]
    if matching:
        return max(matching, key=lambda f: (f.metadata_key is not None, len(f.requires) + bool(f.requires_any)))
    layouts = "; ".join(f"{f.name} ({', '.join(p + '*' for p in f.requires)})" for f in formats() if f.requires)
    raise CheckpointError(
        f"{source}: unknown key layout ({len(keys)} tensors, e.g. {first_items(sorted(keys))}); expected one of: {layouts}"
    )


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
    """The config read off the weights by the format's own rule (``num_heads``: ViT files only)."""
    if fmt.infer is None:
        raise CheckpointError(f"{source}: the {fmt.name} format stores no config and has no rule to read one off the weights")
    return fmt.infer(state, fmt, source, num_heads)


def shape_of(state: Mapping[str, torch.Tensor], key: str, source: str) -> torch.Size:
    """The shape of ``state[key]``; a CheckpointError naming the key when it is missing."""
    if key not in state:
        raise CheckpointError(f"{source}: key {key} is missing; cannot read the architecture off the weights")
    return state[key].shape


def grid_size(tokens: int, patch: int, key: str, source: str) -> int:
    """The image side of a square grid of ``tokens`` patches of ``patch`` pixels."""
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise CheckpointError(f"{source}: {key} has {tokens} positions, not a square grid")
    return side * patch


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
