"""Checkpoints: safe reading of torch files, format detection by keys, strict loading, writers."""
from compresstracker.checkpoints.formats import CheckpointFormat, formats, list_formats, register_format
from compresstracker.checkpoints.loader import LoadedCheckpoint, inspect_checkpoint, load_checkpoint, load_model, unfinished_run
from compresstracker.checkpoints.safe_pickle import Ignored, load_pickle_checkpoint
from compresstracker.checkpoints.writers import ReleaseLayout, register_release, release_layout, save_native, save_release

__all__ = [
    "CheckpointFormat", "Ignored", "LoadedCheckpoint", "ReleaseLayout", "formats", "inspect_checkpoint", "list_formats",
    "load_checkpoint", "load_model", "load_pickle_checkpoint", "register_format", "register_release", "release_layout",
    "save_native", "save_release", "unfinished_run",
]
