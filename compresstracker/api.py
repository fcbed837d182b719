"""The stable Python API: one object that follows one target, ``from compresstracker import Tracker``.

    t = Tracker.from_checkpoint("ct4.safetensors")          # or an exported .onnx / OpenVINO .xml
    t.init(first_frame, (x, y, w, h))
    box, score = t.update(next_frame)                        # box: x, y, w, h floats; score in [0, 1]

Frames are numpy ``HxWx3`` uint8 arrays, RGB by default (``color="bgr"`` for frames from
``cv2.imread`` / ``cv2.VideoCapture``; they are converted exactly as ``ctrack track`` converts
what it reads). Any family, any backend: the same network, loop and frames as ``ctrack track``,
so the same boxes bit for bit. One Tracker per thread: each holds its own network and state,
and a lock keeps one Tracker's calls in order if it is shared anyway.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Mapping, Optional, Sequence

import cv2
import numpy as np
import torch

from compresstracker.errors import TrackingError
from compresstracker.tracking import make_tracker

__all__ = ["COLORS", "Tracker"]

COLORS = ("rgb", "bgr")


class Tracker:
    """A tracker for one target at a time: ``init(image, box)``, then ``update(image)`` per frame."""

    def __init__(
        self,
        network: Any,
        device: str | torch.device = "cpu",
        preset: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        color: str = "rgb",
    ):
        if color not in COLORS:
            raise TrackingError(f"color must be one of {', '.join(COLORS)}, not {color!r}")
        self.network = network
        self.device = torch.device(device)
        self.color = color
        self._loop = make_tracker(network, self.device, preset, dict(params or {}))
        self._started = False
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        backend: Optional[str] = None,
        precision: Optional[str] = None,
        threads: Optional[int] = None,
        preset: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        device: str | torch.device = "cpu",
        color: str = "rgb",
        ce: Optional[bool] = None,
    ) -> "Tracker":
        """A Tracker for any checkpoint or exported file ctrack reads.

        ``backend`` None: the runtime an exported file was written for, else torch.
        ``threads``: CPU threads for the network (torch: this process's intra-op count).
        ``preset`` / ``params``: the family loop's hyper-parameters, as ``--preset`` / ``--param``.
        """
        from compresstracker.deploy import load_network, pick_backend
        from compresstracker.threads import set_threads

        if threads is not None:
            set_threads(int(threads))
        network = load_network(path, pick_backend(path, backend), ce=ce, device=device, threads=threads, precision=precision)
        return cls(network, device, preset, params, color)

    @property
    def settings(self) -> dict[str, Any]:
        """The loop's resolved hyper-parameters (as ``ctrack track --json`` reports them)."""
        return self._loop.settings

    def _rgb(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            shape = getattr(image, "shape", None)
            raise TrackingError(f"a frame must be a numpy HxWx3 uint8 array, got {type(image).__name__} {shape or ''}".rstrip())
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if self.color == "bgr" else image

    def init(self, image: np.ndarray, box: Sequence[float]) -> list[float]:
        """Start following the target ``box`` (x, y, w, h in pixels) in ``image``; returns the box."""
        rgb = self._rgb(image)
        with self._lock:
            result = self._loop.initialize(rgb, [float(v) for v in box])
            self._started = True
        return [float(v) for v in result]

    def update(self, image: np.ndarray) -> tuple[list[float], float]:
        """The target's box (x, y, w, h floats) in the next frame and the network's confidence in [0, 1]."""
        rgb = self._rgb(image)
        with self._lock:
            if not self._started:
                raise TrackingError("Tracker.update() before Tracker.init(image, box): give the first frame and box first")
            result = self._loop.track(rgb)
        return [float(v) for v in result], float(getattr(result, "confidence", float("nan")))
