"""MixFormerV2 (NeurIPS 2023): the network in the official release layout, its named configs, the
release checkpoint reader/writer and the online tracking loop."""
from compresstracker.families.mixformerv2.config import FAMILY, NAMED_CONFIGS, MixFormerV2Config, named_config
from compresstracker.families.mixformerv2.network import MixFormerV2Net
from compresstracker.families.mixformerv2.tracker import (
    DEFAULT_PRESET,
    MIXFORMERV2_PRESETS,
    MixFormerV2Params,
    MixFormerV2Tracker,
    build_tracker,
    mixformerv2_params,
)
from compresstracker.families.mixformerv2.weights import config_from_state, load_release, release_keys_match, save_release

__all__ = [
    "DEFAULT_PRESET", "FAMILY", "MIXFORMERV2_PRESETS", "MixFormerV2Config", "MixFormerV2Net", "MixFormerV2Params",
    "MixFormerV2Tracker", "NAMED_CONFIGS", "build_tracker", "config_from_state", "load_release", "mixformerv2_params",
    "named_config", "release_keys_match", "save_release",
]
