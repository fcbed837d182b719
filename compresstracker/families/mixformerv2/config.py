"""MixFormerV2's model config: every number that builds the network, plus the crop factors of its tracker.

The defaults are MixFormerV2-B's. The two releases differ in depth, MLP ratio and input sizes only
(both are 768 wide with 12 heads of 64); the tiny config shrinks everything for tests and CPU demos.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from compresstracker.errors import ConfigError
from compresstracker.models.grid import PatchGrid

__all__ = ["FAMILY", "LIMITS", "MixFormerV2Config", "NAMED_CONFIGS", "named_config"]

FAMILY = "mixformerv2"
NUM_PREDICTION_TOKENS = 4  # left, right, top, bottom


# Sane ranges of a config read from a file (the releases: 768 wide, 8 blocks, 4 + 2 x 64 + 324 tokens).
LIMITS: dict[str, tuple[float, float]] = {
    "embed_dim": (4, 4096), "depth": (1, 64), "num_heads": (1, 128), "mlp_ratio": (0.01, 16), "patch_size": (1, 64),
    "template_size": (1, 1024), "search_size": (1, 1024), "num_tokens": (1, 8192), "bins": (1, 4096),
    "template_factor": (0.5, 16), "search_factor": (0.5, 16),
}


@dataclass(frozen=True)
class MixFormerV2Config(PatchGrid):
    """A MixFormerV2 network: a plain ViT over [template, online template, search, 4 tokens] and two MLP heads."""

    FAMILY: ClassVar[str] = FAMILY

    name: str = "mixformerv2_b"
    embed_dim: int = 768
    depth: int = 8
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    template_size: int = 128
    search_size: int = 288
    bins: int = 96  # the box head's side distribution: one bin every search_size / bins pixels
    template_factor: float = 2.0
    search_factor: float = 5.0

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append("name must be a non-empty string")
        ints = ("embed_dim", "depth", "num_heads", "patch_size", "template_size", "search_size", "bins")
        not_ints = [n for n in ints if not isinstance(getattr(self, n), int) or isinstance(getattr(self, n), bool)]
        if not_ints:
            problems.append(f"{', '.join(not_ints)} must be integers")
        elif min(getattr(self, n) for n in ints) <= 0:
            problems.append(f"{', '.join(ints)} must be positive")
        else:
            if self.embed_dim % self.num_heads:
                problems.append(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
            if self.embed_dim % 4:
                problems.append(f"embed_dim {self.embed_dim} must be a multiple of 4 (the 2-D sin-cos position table)")
            for size in ("template_size", "search_size"):
                if getattr(self, size) % self.patch_size:
                    problems.append(f"{size} {getattr(self, size)} is not a multiple of patch_size {self.patch_size}")
        for factor in ("mlp_ratio", "template_factor", "search_factor"):
            value = getattr(self, factor)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
                problems.append(f"{factor} must be a positive finite number, got {value!r}")
        if not problems and int(self.embed_dim * self.mlp_ratio) <= 0:
            problems.append(f"mlp_ratio {self.mlp_ratio} leaves no hidden units")
        if problems:
            raise ConfigError("invalid MixFormerV2 config: " + "; ".join(problems))
        for factor in ("mlp_ratio", "template_factor", "search_factor"):
            object.__setattr__(self, factor, float(getattr(self, factor)))

    # Derived sizes -------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.FAMILY

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def num_tokens(self) -> int:
        """Length of the token sequence: two templates, the search region and the 4 prediction tokens."""
        return 2 * self.num_template_tokens + self.num_search_tokens + NUM_PREDICTION_TOKENS

    # (De)serialisation -----------------------------------------------------------------------
    def replace(self, **changes: Any) -> "MixFormerV2Config":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown MixFormerV2 config keys: {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["family"] = self.FAMILY
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MixFormerV2Config":
        """Strict: a dict of another family, unknown keys or invalid values are a ConfigError naming them."""
        if not isinstance(data, dict):
            raise ConfigError(f"a MixFormerV2 config is a dict, got {type(data).__name__}")
        data = dict(data)
        family = data.pop("family", cls.FAMILY)
        if family != cls.FAMILY:
            raise ConfigError(f"a {family!r} config is not a MixFormerV2 config")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown MixFormerV2 config keys: {', '.join(unknown)}")
        return cls(**data)


_B = MixFormerV2Config()
# Named configs: name -> (config, description).
NAMED_CONFIGS: dict[str, tuple[MixFormerV2Config, str]] = {
    "mixformerv2_b": (_B, "MixFormerV2-B: ViT-B width, 8 blocks, MLP ratio 4, template 128, search 288"),
    "mixformerv2_s": (
        _B.replace(name="mixformerv2_s", depth=4, mlp_ratio=1.0, template_size=112, search_size=224, search_factor=4.4),
        "MixFormerV2-S: ViT-B width, 4 blocks, MLP ratio 1, template 112, search 224",
    ),
    "mixformerv2_tiny": (
        MixFormerV2Config(
            name="mixformerv2_tiny", embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0, patch_size=8,
            template_size=32, search_size=64, bins=32, search_factor=4.0,
        ),
        "tiny MixFormerV2 for tests and CPU demos: width 64, 4 blocks, template 32, search 64",
    ),
    "ctrack_mixformerv2_tiny": (
        MixFormerV2Config(
            name="ctrack_mixformerv2_tiny", embed_dim=64, depth=8, num_heads=2, mlp_ratio=4.0, patch_size=8,
            template_size=48, search_size=96, bins=48, search_factor=4.0,
        ),
        "Built-in MixFormerV2 teacher: width 64, 8 blocks as MixFormerV2-B, patch 8, template 48, search 96 (CPU-sized)",
    ),
}


def named_config(name: str, **overrides: Any) -> MixFormerV2Config:
    """A named config with field overrides; an unknown name is a ConfigError listing the names."""
    if name not in NAMED_CONFIGS:
        raise ConfigError(f"unknown MixFormerV2 config {name!r}; choose one of {', '.join(NAMED_CONFIGS)}")
    return NAMED_CONFIGS[name][0].replace(**overrides) if overrides else NAMED_CONFIGS[name][0]
