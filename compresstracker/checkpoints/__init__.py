"""Checkpoints: safe reading of torch files, format detection by keys, strict loading, writers."""
from compresstracker.checkpoints.formats import FORMATS, CheckpointFormat, list_formats
from compresstracker.checkpoints.loader import LoadedCheckpoint, inspect_checkpoint, load_checkpoint, load_model
from compresstracker.checkpoints.safe_pickle import Ignored, load_pickle_checkpoint
from compresstracker.checkpoints.writers import save_native, save_ostrack

__all__ = [
    "FORMATS", "CheckpointFormat", "Ignored", "LoadedCheckpoint", "inspect_checkpoint", "list_formats",
    "load_checkpoint", "load_model", "load_pickle_checkpoint", "save_native", "save_ostrack",
]
