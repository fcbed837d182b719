"""Exception types. The CLI turns every CTrackError into a one-line message and exit code 2."""
from __future__ import annotations


class CTrackError(Exception):
    """Base class: a problem the user can fix (bad input, wrong file, missing data)."""


class CheckpointError(CTrackError):
    """A checkpoint file is missing, unreadable, unsafe or does not fit the model."""


class ConfigError(CTrackError):
    """A model config, recipe or override is invalid."""


class DatasetError(CTrackError):
    """A dataset root, layout, split or annotation file is wrong."""


class ResultsError(CTrackError):
    """A results file is malformed or does not match its ground truth."""


class TrackingError(CTrackError):
    """Tracking cannot proceed (bad frames, bad initial box)."""
