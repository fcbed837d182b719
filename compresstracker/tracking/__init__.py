"""Tracking: the loop registry (each family's plug-in registers its loop), crops, windows, frame sources."""
from compresstracker.tracking.base import Normalizer, TrackedBox, validate_init_box
from compresstracker.tracking.crop import clip_box, crop_window, hann1d, hann2d, round_half_away, sample_target, siamese_crop
from compresstracker.tracking.registry import TrackerKind, make_tracker, register_tracker, tracker_kind
from compresstracker.tracking.session import COMPILE_WARMUP, frame_source, track_session
from compresstracker.tracking.video import FrameSource, VideoRenderer, format_boxes, list_frames, read_rgb, run_sequence, write_boxes

__all__ = [
    "COMPILE_WARMUP", "FrameSource", "Normalizer", "TrackedBox", "TrackerKind", "VideoRenderer", "clip_box", "crop_window", "hann1d", "hann2d",
    "format_boxes", "frame_source", "list_frames", "make_tracker", "read_rgb", "register_tracker", "round_half_away", "run_sequence", "sample_target",
    "siamese_crop", "track_session", "tracker_kind", "validate_init_box", "write_boxes",
]
