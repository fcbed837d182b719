"""Tracking loops (OSTrack's, LightTrack's, picked by the model family), crops, windows, frame sources."""
from compresstracker.tracking.crop import clip_box, crop_window, hann1d, hann2d, round_half_away, sample_target, siamese_crop
from compresstracker.tracking.lighttrack import LIGHTTRACK_PRESETS, LightTrackParams, LightTrackTracker, lighttrack_params
from compresstracker.tracking.registry import TrackerKind, make_tracker, register_tracker, tracker_kind
from compresstracker.tracking.session import COMPILE_WARMUP, frame_source, track_session
from compresstracker.tracking.tracker import Normalizer, TrackedBox, Tracker, validate_init_box
from compresstracker.tracking.video import FrameSource, VideoRenderer, list_frames, read_rgb, run_sequence, write_boxes

__all__ = [
    "COMPILE_WARMUP", "LIGHTTRACK_PRESETS", "FrameSource", "LightTrackParams", "LightTrackTracker", "Normalizer", "TrackedBox",
    "Tracker", "TrackerKind", "VideoRenderer", "clip_box", "crop_window", "frame_source", "hann1d", "hann2d", "lighttrack_params",
    "list_frames", "make_tracker", "read_rgb", "register_tracker", "round_half_away", "run_sequence", "sample_target",
    "siamese_crop", "track_session", "tracker_kind", "validate_init_box", "write_boxes",
]
