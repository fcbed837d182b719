"""The model config: every number that builds a tracker network, stored in every file ctrack writes."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from compresstracker.errors import ConfigError
from compresstracker.models.grid import PatchGrid


# Sane ranges of a config read from a file (ViT-L is 1024 wide and 24 deep; OSTrack-384 has 576 search tokens).
LIMITS: dict[str, tuple[float, float]] = {
    "embed_dim": (1, 4096), "depth": (0, 64), "num_heads": (1, 128), "mlp_ratio": (0.01, 16), "patch_size": (1, 64),
    "template_size": (1, 1024), "search_size": (1, 1024), "num_template_tokens": (1, 4096), "num_search_tokens": (1, 4096),
    "head_channels": (8, 4096), "legacy_pos_len": (0, 4096), "drop_path": (0, 1),
    "template_factor": (0.5, 16), "search_factor": (0.5, 16),
}


@dataclass(frozen=True)
class OSTrackConfig(PatchGrid):
    """One-stream ViT tracker (OSTrack family) with optional candidate elimination and a centre head.

    Student models are the same family with fewer blocks; ``depth`` is just a number here.
    """

    arch: str = "ostrack_vitb_256_ce"
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    # Hidden units of each block's MLP when they differ between blocks (an elastic search's student);
    # empty: every block has int(embed_dim * mlp_ratio).
    mlp_hidden: tuple[int, ...] = ()
    qkv_bias: bool = True
    patch_size: int = 16
    template_size: int = 128
    search_size: int = 256
    # Candidate elimination: 0-based block indices and the search keep ratio of each.
    ce_layers: tuple[int, ...] = (3, 6, 9)
    ce_keep_ratios: tuple[float, ...] = (0.7, 0.7, 0.7)
    head_channels: int = 256
    # Length of the unused ImageNet position table kept for checkpoint compatibility (0: none).
    legacy_pos_len: int = 197
    drop_path: float = 0.0
    # Tracking parameters that belong to the trained model.
    template_factor: float = 2.0
    search_factor: float = 4.0

    def __post_init__(self) -> None:
        problems = []
        if self.embed_dim <= 0 or self.depth < 0 or self.num_heads <= 0:
            problems.append("embed_dim, depth and num_heads must be positive")
        elif self.embed_dim % self.num_heads:
            problems.append(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        for size_name in ("template_size", "search_size"):
            if getattr(self, size_name) % self.patch_size:
                problems.append(f"{size_name} {getattr(self, size_name)} is not a multiple of patch_size {self.patch_size}")
        if len(self.ce_layers) != len(self.ce_keep_ratios):
            problems.append("ce_layers and ce_keep_ratios must have the same length")
        if any(not 0 <= i < max(self.depth, 1) for i in self.ce_layers):
            problems.append(f"ce_layers {list(self.ce_layers)} must lie in [0, {self.depth - 1}]")
        if any(not 0 < r <= 1 for r in self.ce_keep_ratios):
            problems.append("ce_keep_ratios must lie in (0, 1]")
        if self.mlp_hidden and (len(self.mlp_hidden) != self.depth or any(int(h) < 1 for h in self.mlp_hidden)):
            problems.append(f"mlp_hidden {list(self.mlp_hidden)} must give a positive width for each of the {self.depth} blocks")
        if self.head_channels < 8 or self.head_channels % 8:
            problems.append("head_channels must be a positive multiple of 8 (it is halved three times)")
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))

    # Derived sizes -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The architecture's name (``arch``), as every family's config calls it."""
        return self.arch

    @property
    def has_ce(self) -> bool:
        return any(r < 1 for r in self.ce_keep_ratios)

    def hidden(self, block: int) -> int:
        """MLP hidden units of block ``block``."""
        return int(self.mlp_hidden[block]) if self.mlp_hidden else int(self.embed_dim * self.mlp_ratio)

    def keep_ratio(self, block: int) -> float:
        """Search keep ratio of block ``block`` (1.0 for a plain block)."""
        for index, ratio in zip(self.ce_layers, self.ce_keep_ratios):
            if index == block:
                return ratio
        return 1.0

    # (De)serialisation -----------------------------------------------------------------------
    def replace(self, **changes: Any) -> "OSTrackConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ce_layers"] = list(self.ce_layers)
        out["ce_keep_ratios"] = list(self.ce_keep_ratios)
        out["mlp_hidden"] = list(self.mlp_hidden)
        if not self.mlp_hidden:  # files written before per-block widths existed carry no such key
            del out["mlp_hidden"]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OSTrackConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        data = dict(data)
        for key in ("ce_layers", "ce_keep_ratios", "mlp_hidden"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
