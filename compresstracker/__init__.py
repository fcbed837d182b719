"""ctrack: compress transformer visual object trackers and measure them exactly."""
from __future__ import annotations

__version__ = "0.1.0"

from compresstracker.errors import CTrackError

__all__ = ["CTrackError", "Tracker", "load_model", "__version__"]


def load_model(path, ce=None, device="cpu", **kwargs):
    """Load any checkpoint ctrack understands into an eval-mode tracker network.

    ``ce=None`` keeps the checkpoint's own candidate-elimination setting, ``ce=False``
    runs every block plain. See :func:`compresstracker.checkpoints.load_model`.
    """
    from compresstracker.checkpoints import load_model as _load

    return _load(path, ce=ce, device=device, **kwargs)


def __getattr__(name: str):
    """``compresstracker.Tracker``, the stable tracking API, imported on first use: it sits above
    the package in the rooms (it runs the deploy backends), so the package does not load it up front."""
    if name == "Tracker":
        from compresstracker.api import Tracker

        return Tracker
    raise AttributeError(f"module 'compresstracker' has no attribute {name!r}")
