"""Write checkpoints: ctrack's native safetensors (config + plan + provenance) and each family's release layout.

A family registers its release layout (:func:`register_release`): the file its own code reads,
so a compressed student goes back into the teacher's ecosystem (OSTrack's ``{"net": ...}``
.pth.tar, MixFormerV2's, ...). :func:`save_net_pth` writes the ``{"net": state_dict}`` form that
several families' trainers use.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn

from dataclasses import dataclass
from typing import Callable

from compresstracker.checkpoints.formats import NATIVE_FORMAT_VERSION, NATIVE_KEYS, RELEASE_CONFIG_KEY
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.fileio import atomic_path, atomic_write_bytes
from compresstracker.models import family_of
from compresstracker.plugins import load_families

__all__ = ["ReleaseLayout", "register_release", "release_layout", "release_layouts", "save_native", "save_net_pth", "save_release"]


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


def save_net_pth(model: nn.Module, path: str | Path) -> Path:
    """Write ``{"net": state_dict, "epoch": 0, "ctrack_config": {...}}``, the layout OSTrack's and
    MixFormerV2's trainers save and their code reads.

    Only tensors and plain Python values are stored, so it loads with ``weights_only=True``, and into
    the family's own model built with the same shape.
    """
    state = {k: v.detach().to("cpu") for k, v in _state_of(model).items()}
    payload = {"net": state, "epoch": 0, RELEASE_CONFIG_KEY: model.config.to_dict()}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


@dataclass(frozen=True)
class ReleaseLayout:
    """A family's own file layout: ``name`` (the export format), the student file a compression run
    writes (``filename``) and ``write(model, path)``."""

    name: str
    description: str
    filename: str
    write: Callable[[nn.Module, Path], Path]


_RELEASES: dict[str, ReleaseLayout] = {}


def register_release(family: str, layout: ReleaseLayout) -> ReleaseLayout:
    """Make ``layout`` the release layout of the model family ``family``."""
    _RELEASES[family] = layout
    return layout


def release_layouts() -> dict[str, ReleaseLayout]:
    """Model family name -> its release layout."""
    load_families()
    return dict(_RELEASES)


def release_layout(config: Any) -> ReleaseLayout:
    """The release layout of the config's family; a ConfigError when it has none."""
    family = family_of(config).name
    layouts = release_layouts()
    if family not in layouts:
        raise ConfigError(f"the {family} family has no release layout of its own; write ctrack's native file")
    return layouts[family]


def save_release(model: nn.Module, path: str | Path) -> Path:
    """Write ``model`` in its family's release layout."""
    return release_layout(model.config).write(model, Path(path))
