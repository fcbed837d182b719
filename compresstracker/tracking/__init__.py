"""The OSTrack tracking loop: crops, Hann window, tracker, frame sources."""
from compresstracker.tracking.crop import clip_box, crop_window, hann1d, hann2d, sample_target
from compresstracker.tracking.tracker import Normalizer, TrackedBox, Tracker, validate_init_box
from compresstracker.tracking.video import FrameSource, VideoRenderer, list_frames, read_rgb, run_sequence, write_boxes

__all__ = [
    "FrameSource", "Normalizer", "TrackedBox", "Tracker", "VideoRenderer", "clip_box", "crop_window", "hann1d", "hann2d",
    "list_frames", "read_rgb", "run_sequence", "sample_target", "validate_init_box", "write_boxes",
]
