"""Named architectures. Each entry is a config; variants differ only in the fields they change."""
from __future__ import annotations

from compresstracker.errors import ConfigError
from compresstracker.models.config import TrackerConfig

_REGISTRY: dict[str, tuple[TrackerConfig, str]] = {}


def register(name: str, description: str, **fields) -> TrackerConfig:
    config = TrackerConfig(arch=name, **fields)
    _REGISTRY[name] = (config, description)
    return config


def get_config(name: str, **overrides) -> TrackerConfig:
    """The registered config ``name`` with ``overrides`` applied."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name][0].replace(**overrides) if overrides else _REGISTRY[name][0]


def list_models() -> list[dict]:
    rows = []
    for name, (config, description) in _REGISTRY.items():
        rows.append({"name": name, "description": description, **config.to_dict()})
    return rows


def build_model(config: TrackerConfig | str, **overrides):
    """Build an (untrained) tracker network from a config or registered name."""
    from compresstracker.models.tracker_net import TrackerNet

    if isinstance(config, str):
        config = get_config(config, **overrides)
    elif overrides:
        config = config.replace(**overrides)
    return TrackerNet(config)


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
