"""One tracking session: a network follows one target through a frame source, timed, with a summary.

What ``ctrack track`` runs, for Python callers too: the first box given or drawn on the first
frame, an optional warm-up of a compiled network on that frame before the clock starts (so
compile time never enters the figures), the boxes written (and rendered), and the model,
tracking-step and end-to-end frame rates.
"""
from __future__ import annotations

import itertools
import os
import time
from contextlib import nullcontext
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np
import torch

from compresstracker.errors import TrackingError
from compresstracker.tracking.registry import make_tracker
from compresstracker.tracking.video import FrameSource, VideoRenderer, list_frames, run_sequence, select_box, write_boxes

COMPILE_WARMUP = 3  # tracking steps on the first frame before timing a compiled network (dynamo may compile twice)


def frame_source(frames: Optional[str | os.PathLike] = None, video: Optional[str] = None) -> FrameSource:
    """Exactly one of a frame folder (sorted by name) or a video file / camera index, as a FrameSource."""
    if (frames is None) == (video is None):
        raise TrackingError("give exactly one of --frames DIR or --video FILE")
    return FrameSource(frames=list_frames(frames)) if frames is not None else FrameSource(video=video)


def _peek(images: Iterator[np.ndarray]) -> tuple[Optional[np.ndarray], Iterator[np.ndarray]]:
    """The first frame and an iterator that still yields it (a camera is read once)."""
    first = next(images, None)
    return first, (itertools.chain([first], images) if first is not None else images)


def track_session(
    network: torch.nn.Module,
    source: FrameSource,
    output: Optional[str | os.PathLike],
    init_box: Optional[Sequence[float]] = None,
    device: torch.device | str = "cpu",
    preset: Optional[str] = None,
    params: Optional[Mapping[str, Any]] = None,
    render: Optional[str | os.PathLike] = None,
    warmup: int = 0,
    status: Any = None,
    backend: str = "torch",
) -> dict[str, Any]:
    """Track one target through ``source`` with ``network``; boxes to ``output`` (None: only in the
    summary); a JSON-ready summary.

    ``init_box`` is x, y, w, h in the first frame; None draws it there (OpenCV window).
    ``warmup`` tracking steps run on the first frame before the clock starts (give
    COMPILE_WARMUP for a ``torch.compile``d network, whose first calls compile); ``status``, a
    callable returning a context manager (rich's ``console.status``), shows that it is compiling.
    ``backend`` names the runtime behind ``network`` in the summary, which holds frames, device,
    backend, precision, CE, the tracker's settings, and model,
    tracking-step and end-to-end (with frame reading) frames per second, and the boxes (full precision).
    """
    device = torch.device(device)
    images: Iterator[np.ndarray] = iter(source)
    if init_box is None:
        first, images = _peek(images)
        if first is None:
            raise TrackingError("no frames to track")
        init_box = select_box(first)
    tracker = make_tracker(network, device, preset, dict(params or {}))
    if warmup:
        first, images = _peek(images)
        if first is not None:
            with status("compiling the network (torch.compile)", spinner="dots") if status else nullcontext():
                tracker.initialize(first, init_box)
                for _ in range(warmup):
                    tracker.track(first)
    renderer = VideoRenderer(render, fps=source.fps) if render else None
    start = time.perf_counter()
    boxes, _ = run_sequence(tracker, images, init_box, on_frame=renderer)
    wall_s = time.perf_counter() - start
    if renderer is not None:
        renderer.close()
    if output is not None:
        write_boxes(output, boxes)
    t = tracker.timing
    return {
        "frames": int(len(boxes)),
        "output": None if output is None else str(output),
        "render": render,
        "device": str(device),
        "backend": backend,
        "precision": getattr(network, "precision", "fp32"),
        "ce": bool(network.ce_enabled),
        "tracker": tracker.settings,
        "model_fps": (t.frames / t.model_s) if t.model_s else None,
        "fps": (t.frames / t.total_s) if t.total_s else None,
        "end_to_end_fps": len(boxes) / wall_s if wall_s and t.frames else None,  # one frame only initialises: nothing measured
        "boxes": boxes.tolist(),
    }
