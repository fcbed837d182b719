"""Tracker architectures: the one-stream ViT tracker (OSTrack family), LightTrack, and their registry."""
from compresstracker.models.config import TrackerConfig
from compresstracker.models.head import decode_boxes
from compresstracker.models.lighttrack import LightTrackNet
from compresstracker.models.lighttrack_arch import LightTrackArch, LightTrackConfig
from compresstracker.models.registry import (
    ModelFamily, build_model, config_from_dict, family_of, get_config, get_family, list_families, list_models, register,
    register_family,
)
from compresstracker.models.tracker_net import TrackerNet, ctr_point_mask, ctr_point_rows

__all__ = [
    "LightTrackArch", "LightTrackConfig", "LightTrackNet", "ModelFamily", "TrackerConfig", "TrackerNet", "build_model",
    "config_from_dict", "ctr_point_mask", "ctr_point_rows", "decode_boxes", "family_of", "get_config", "get_family",
    "list_families", "list_models", "register", "register_family",
]
