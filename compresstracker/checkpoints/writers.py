"""Write checkpoints: ctrack's native safetensors (config + plan + provenance) and OSTrack's .pth.tar."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn

from compresstracker.checkpoints.formats import NATIVE_FORMAT_VERSION, NATIVE_KEYS, OSTRACK_CONFIG_KEY
from compresstracker.errors import CheckpointError
from compresstracker.fileio import atomic_path, atomic_write_bytes
from compresstracker.models import TrackerConfig, TrackerNet

__all__ = ["save_native", "save_ostrack"]


def _state_of(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else dict(model_or_state)
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"cannot save: state entries {', '.join(not_tensors[:5])} are not tensors")
    return state


def save_native(
    model_or_state: nn.Module | Mapping[str, torch.Tensor],
    config: Any,
    path: str | Path,
    plan: Any = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write weights in their family's key layout as safetensors, with the config (any family) that builds them.

    ``plan`` (a JSON-serialisable stage plan, e.g. ``StagePlan.to_dict()``) and ``provenance`` (teacher
    file, sha256, recipe, ...) are stored as JSON metadata. Every key is kept, so a round trip is exact;
    tensors are copied to contiguous CPU memory (safetensors cannot store shared or strided tensors).
    """
    tensors = {
        k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        for k, v in _state_of(model_or_state).items()
    }
    metadata = {NATIVE_KEYS["format_version"]: NATIVE_FORMAT_VERSION, NATIVE_KEYS["config"]: config.to_json()}
    for name, value in (("plan", plan), ("provenance", provenance)):
        if value is not None:
            metadata[NATIVE_KEYS[name]] = json.dumps(value, sort_keys=True)
    path = Path(path)
    atomic_write_bytes(path, _sorted_metadata(safetensors_bytes(tensors, metadata=metadata)))
    return path


def _sorted_metadata(data: bytes) -> bytes:
    """The same safetensors file with its ``__metadata__`` keys in sorted order.

    The safetensors writer emits metadata in hash-map order, which changes from call to call, so
    identical weights gave files with different sha256. Only the order of the header's keys
    changes: its length, the tensor entries and the data stay as written.
    """
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(text) > size:
        raise CheckpointError("safetensors header grew when its metadata was sorted")  # cannot happen: same characters
    return data[:8] + text.ljust(size, b" ") + data[8 + size :]


def save_ostrack(model: TrackerNet, path: str | Path) -> Path:
    """Write ``{"net": state_dict, "epoch": 0, "ctrack_config": {...}}`` as OSTrack's code reads it.

    Only tensors and plain Python values are stored, so it loads with ``weights_only=True``, and into
    OSTrack's own model built with the same depth.
    """
    state = {k: v.detach().to("cpu") for k, v in _state_of(model).items()}
    payload = {"net": state, "epoch": 0, OSTRACK_CONFIG_KEY: model.config.to_dict()}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path
