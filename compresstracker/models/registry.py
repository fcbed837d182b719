"""Model families and named architectures.

A family (OSTrack's one-stream ViT, LightTrack) is registered once with its config class, its
network class and how to describe a config in a listing; a named architecture is a config of a
family. ``build_model``, ``get_config``, ``list_models`` and ``config_from_dict`` dispatch on the
family, so a new family is one :func:`register_family` call, not a new branch everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from compresstracker.errors import ConfigError
from compresstracker.models.config import TrackerConfig
from compresstracker.models.lighttrack_arch import LightTrackConfig

__all__ = [
    "ModelFamily", "build_model", "config_from_dict", "family_of", "get_config", "get_family", "list_families",
    "list_models", "register", "register_family",
]


@dataclass(frozen=True)
class ModelFamily:
    """One family: its config class (``from_dict``/``to_dict``/``replace``), its network, and a summary.

    ``summary(config)`` gives the family's own listing fields; ``architecture(config)`` one line
    that names the architecture (shown in tables).
    """

    name: str
    description: str
    config_cls: type
    network: Callable[[Any], nn.Module]
    summary: Callable[[Any], dict[str, Any]]
    architecture: Callable[[Any], str]
    default: bool = False  # configs stored without a "family" entry belong to it


_FAMILIES: dict[str, ModelFamily] = {}
_REGISTRY: dict[str, tuple[Any, str]] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    _FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    if name not in _FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; known: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def list_families() -> list[ModelFamily]:
    return list(_FAMILIES.values())


def family_of(config: Any) -> ModelFamily:
    """The family whose config class ``config`` is."""
    for family in _FAMILIES.values():
        if isinstance(config, family.config_cls):
            return family
    raise ConfigError(f"{type(config).__name__} is not the config of a registered model family")


def config_from_dict(data: dict[str, Any]) -> Any:
    """A config of any family from its ``to_dict()`` form (OSTrack configs carry no family entry)."""
    data = dict(data)
    name = data.get("family")
    if name is None:
        name = next(f.name for f in _FAMILIES.values() if f.default)
        return get_family(name).config_cls.from_dict(data)
    return get_family(str(name)).config_cls.from_dict(data)


def register(name: str, description: str, config: Any = None, **fields: Any) -> Any:
    """Register ``config`` under ``name`` (its name field must say ``name``), or an OSTrack-family
    ``TrackerConfig(arch=name, **fields)`` when no config is given."""
    if config is None:
        config = TrackerConfig(arch=name, **fields)
    _REGISTRY[name] = (config, description)
    return config


def get_config(name: str, **overrides: Any) -> Any:
    """The registered config ``name`` with ``overrides`` applied."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    config = _REGISTRY[name][0]
    return config.replace(**overrides) if overrides else config


def list_models() -> list[dict]:
    """One row per registered architecture: name, family, description, and the config's fields."""
    rows = []
    for name, (config, description) in _REGISTRY.items():
        rows.append({**config.to_dict(), "name": name, "family": family_of(config).name, "description": description})
    return rows


def build_model(config: Any, **overrides: Any) -> nn.Module:
    """Build an (untrained) network of the config's family from a config or registered name."""
    if isinstance(config, str):
        config = get_config(config, **overrides)
    elif overrides:
        config = config.replace(**overrides)
    return family_of(config).network(config)


# Families ---------------------------------------------------------------------------------------
def _ostrack_network(config: TrackerConfig) -> nn.Module:
    from compresstracker.models.tracker_net import TrackerNet

    return TrackerNet(config)


def _ostrack_summary(c: TrackerConfig) -> dict[str, Any]:
    return {
        "depth": c.depth, "embed_dim": c.embed_dim, "num_heads": c.num_heads, "patch_size": c.patch_size,
        "ce": c.has_ce, "ce_layers": list(c.ce_layers),
    }


def _ostrack_architecture(c: TrackerConfig) -> str:
    ce = f", CE at {','.join(map(str, c.ce_layers))}" if c.has_ce else ""
    return f"ViT {c.depth} blocks x {c.embed_dim}, {c.num_heads} heads, patch {c.patch_size}{ce}"


def _lighttrack_network(config: LightTrackConfig) -> nn.Module:
    from compresstracker.models.lighttrack import LightTrackNet

    return LightTrackNet(config)


def _lighttrack_summary(c: LightTrackConfig) -> dict[str, Any]:
    return {"arch_path": c.path, "stride": c.stride, "output_channels": c.output_channels}


register_family(ModelFamily(
    "ostrack", "one-stream ViT tracker with candidate elimination and a centre head (OSTrack, CompressTracker)",
    TrackerConfig, _ostrack_network, _ostrack_summary, _ostrack_architecture, default=True,
))
register_family(ModelFamily(
    "lighttrack", "searched Siamese tracker: MBConv backbone, pixel-wise correlation, DSConv towers (LightTrack)",
    LightTrackConfig, _lighttrack_network, _lighttrack_summary, lambda c: c.path,
))

# OSTrack family ---------------------------------------------------------------------------------
_NO_CE: dict = {"ce_layers": (), "ce_keep_ratios": ()}

register("ostrack_vitb_256_ce", "OSTrack-256: ViT-B/16, 128/256 inputs, candidate elimination at 3, 6, 9")
register(
    "ostrack_vitb_384_ce",
    "OSTrack-384: ViT-B/16, 192/384 inputs, candidate elimination at 3, 6, 9",
    template_size=192, search_size=384, search_factor=5.0,
)
register("ostrack_vitb_256", "OSTrack-256 without candidate elimination", **_NO_CE)
# Tiny sizes run every code path on a CPU in milliseconds (tests, examples).
_TINY: dict = dict(embed_dim=32, num_heads=2, head_channels=16, legacy_pos_len=0)
register("tiny_256_ce", "ViT 32-wide, 12 blocks, 128/256 inputs, CE at 3, 6, 9 (tests)", **_TINY)
register("tiny_256", "ViT 32-wide, 12 blocks, 128/256 inputs, no CE (tests)", **_TINY, **_NO_CE)
register(
    "tiny_64_ce",
    "ViT 32-wide, 12 blocks, patch 8, 32/64 inputs, CE at 3, 6, 9 (fast tests)",
    **_TINY, patch_size=8, template_size=32, search_size=64,
)

register(
    "ctrack_tiny_ce",
    "Built-in teacher: ViT 64-wide, 12 blocks, patch 8, 48/96 inputs, CE at 3, 6, 9 (CPU-sized)",
    embed_dim=64, num_heads=2, patch_size=8, template_size=48, search_size=96, head_channels=64, legacy_pos_len=0,
)

# LightTrack family ------------------------------------------------------------------------------
register("lighttrack_mobile", "LightTrack-Mobile (CVPR 2021): the searched path, 128/256 inputs, 1.97M params",
         LightTrackConfig())
# Mobile's path with narrow channels at Mobile's input sizes (so the tracker presets apply): every
# code path on a CPU in milliseconds.
_LT_TINY: dict = dict(stem_channels=8, stage_channels=(8, 16, 24, 24), head_widths=(16, 24, 32), adj_channels=16)
register("lighttrack_tiny", "LightTrack-Mobile's path with 8-24-channel stages and 16/24/32-wide heads (tests, CPU demos)",
         LightTrackConfig(name="lighttrack_tiny", **_LT_TINY))
register("lighttrack_tiny_s8", "Tiny LightTrack with its output at stride 8 (c40 block 3) (tests)",
         LightTrackConfig(name="lighttrack_tiny_s8", arch="back_04502514044521042540+cls_000222222+reg_010222222_ops_13",
                          **_LT_TINY))
