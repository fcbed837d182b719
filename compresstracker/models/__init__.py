"""Tracker architectures: the one-stream ViT tracker (OSTrack family), LightTrack, and their registry."""
from compresstracker.models.config import TrackerConfig
from compresstracker.models.head import decode_boxes
from compresstracker.models.lighttrack import LightTrackNet
from compresstracker.models.lighttrack_arch import LightTrackArch, LightTrackConfig
from compresstracker.models.registry import build_model, get_config, list_models, register
from compresstracker.models.tracker_net import TrackerNet, ctr_point_mask, ctr_point_rows

__all__ = [
    "LightTrackArch", "LightTrackConfig", "LightTrackNet", "TrackerConfig", "TrackerNet", "build_model", "ctr_point_mask", "ctr_point_rows", "decode_boxes",
    "get_config", "list_models", "register",
]
