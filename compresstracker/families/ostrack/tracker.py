"""OSTrack's tracking loop (initialize / track), batch-free, with constant tensors built once."""
from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
import torch

from compresstracker.errors import TrackingError
from compresstracker.families.ostrack.head import decode_boxes
from compresstracker.families.ostrack.network import OSTrackNet, ctr_point_rows
from compresstracker.threads import on_host_threads
from compresstracker.tracking.base import Normalizer, Timing, TrackedBox, validate_init_box
from compresstracker.tracking.crop import clip_box, hann2d, map_box_back, sample_target


class OSTrackTracker:
    """The OSTrack tracker: fixed template from frame 0, windowed centre-head decoding, no update."""

    @classmethod
    def from_checkpoint(cls, path: str, device: str | torch.device = "cpu", ce: Optional[bool] = None, **kwargs) -> "OSTrackTracker":
        """A tracker for any checkpoint ctrack reads (``ce=False`` runs every block plain; ``num_heads=`` as load_model)."""
        from compresstracker.checkpoints import load_model

        return cls(load_model(path, ce=ce, **kwargs), device)

    def __init__(self, network: OSTrackNet, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        cfg = network.config
        self.config = cfg
        self.normalize = Normalizer(self.device)
        self.window = hann2d(cfg.search_feat).to(self.device)
        # CE's template row as an int64 index: the same values as OSTrack's boolean mask, with static
        # shapes (a boolean index broke torch.compile's graph in every CE block)
        self.template_mask = ctr_point_rows(cfg, self.device) if network.ce_enabled else None
        self.template: Optional[torch.Tensor] = None
        self.state: Optional[list[float]] = None
        self.timing = Timing()

    @property
    def settings(self) -> dict:
        """Tracker hyper-parameters a run records: OSTrack's loop has none beyond the checkpoint's config."""
        return {}

    @on_host_threads
    @torch.inference_mode()
    def initialize(self, image: np.ndarray, box: Sequence[float]) -> TrackedBox:
        """Crop the template around ``box`` (x, y, w, h) in the RGB uint8 ``image``; returns the box (confidence 1)."""
        height, width = image.shape[:2]
        box = validate_init_box(box, height, width)
        patch, _ = sample_target(image, box, self.config.template_factor, self.config.template_size)
        self.template = self.normalize(patch)
        self.state = box
        self.timing = Timing()
        return TrackedBox(box, 1.0)

    @on_host_threads
    @torch.inference_mode()
    def track(self, image: np.ndarray) -> TrackedBox:
        """Track the target into ``image`` (RGB uint8); returns and keeps the new box (x, y, w, h).

        The box's ``confidence`` is the peak of the raw score map (see :class:`TrackedBox`).
        """
        if self.state is None:
            raise TrackingError("track() called before initialize()")
        start = time.perf_counter()
        cfg = self.config
        height, width = image.shape[:2]
        patch, resize_factor = sample_target(image, self.state, cfg.search_factor, cfg.search_size)
        search = self.normalize(patch)
        model_start = time.perf_counter()
        out = self.network(self.template, search, self.template_mask)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        model_s = time.perf_counter() - model_start
        boxes = decode_boxes(self.window * out["score_map"], out["size_map"], out["offset_map"])
        pred = (boxes.view(-1, 4).mean(dim=0) * cfg.search_size / resize_factor).tolist()
        self.state = clip_box(map_box_back(self.state, pred, cfg.search_size, resize_factor), height, width, margin=10)
        self.timing.add(model_s, time.perf_counter() - start)
        return TrackedBox(self.state, float(out["score_map"].max()))

    def probe_outputs(self, image: np.ndarray, box: Sequence[float]) -> dict[str, torch.Tensor]:
        """The network's output maps (fp32) on the template and search crops around ``box`` in ``image``:
        what ``ctrack bench`` compares between backends. Initialises the tracker on ``box``."""
        self.initialize(image, box)
        patch, _ = sample_target(image, box, self.config.search_factor, self.config.search_size)
        out = self.network(self.template, self.normalize(patch), self.template_mask)
        return {name: out[name].float() for name in ("score_map", "size_map", "offset_map")}
