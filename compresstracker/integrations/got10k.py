"""A ctrack tracker for the GOT-10k toolkit (``pip install 'ctrack[got10k]'``).

    from got10k.experiments import ExperimentGOT10k
    from compresstracker.integrations.got10k import Got10kTracker

    experiment = ExperimentGOT10k("data/got10k", subset="val")
    experiment.run(Got10kTracker("ct4.safetensors"))
    experiment.report(["ct4"])

The toolkit hands ``init``/``update`` PIL RGB images; its ``track`` loop is replaced by one that
reads the frames as ``ctrack track`` does (OpenCV), so the boxes equal ``ctrack``'s own.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from compresstracker.api import Tracker
from compresstracker.errors import ConfigError
from compresstracker.tracking.video import read_rgb

try:
    from got10k.trackers import Tracker as _ToolkitTracker
except ImportError as exc:  # the optional extra is missing
    raise ConfigError(f"the GOT-10k adapter needs the got10k toolkit: pip install 'ctrack[got10k]' ({exc})") from None

__all__ = ["Got10kTracker"]


def _rgb_array(image: Any) -> np.ndarray:
    """A PIL image (the toolkit's frames) or an RGB array as an HxWx3 uint8 RGB array."""
    return np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)


class Got10kTracker(_ToolkitTracker):
    """``got10k.trackers.Tracker`` running a ctrack checkpoint or exported file (deterministic: one repetition)."""

    def __init__(self, checkpoint: str | os.PathLike, name: Optional[str] = None, **options: Any):
        """``options`` as :meth:`compresstracker.Tracker.from_checkpoint` (backend, precision, threads, preset, params, device)."""
        super().__init__(name or Path(checkpoint).stem, is_deterministic=True)
        self.tracker = Tracker.from_checkpoint(checkpoint, color="rgb", **options)

    def init(self, image: Any, box: Sequence[float]) -> None:
        self.tracker.init(_rgb_array(image), box)

    def update(self, image: Any) -> np.ndarray:
        box, _ = self.tracker.update(_rgb_array(image))
        return np.asarray(box)

    def track(self, img_files: Sequence[str], box: Sequence[float], visualize: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The toolkit's per-sequence loop, frames read by OpenCV as ``ctrack track`` reads them
        (``visualize`` is accepted and ignored: ``ctrack track --render`` draws)."""
        boxes = np.zeros((len(img_files), 4))
        times = np.zeros(len(img_files))
        boxes[0] = box
        for index, path in enumerate(img_files):
            image = read_rgb(path)
            start = time.perf_counter()
            if index == 0:
                self.tracker.init(image, box)
            else:
                boxes[index] = self.tracker.update(image)[0]
            times[index] = time.perf_counter() - start
        return boxes, times
