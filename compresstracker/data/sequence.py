"""The one Sequence record every reader returns and every consumer (tracker runner, metrics) reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

# Metric protocols: how the published analysis code treats a dataset (see specs/benchmarks.md).
# "lasot": visibility flags + length rules of LaSOT; "uav": NaN ground-truth rows allowed;
# "got10k": GOT-10k toolkit metrics; everything else: the plain pytracking OPE rules.
PROTOCOLS = ("lasot", "uav", "otb", "nfs", "tnl2k", "lasot_ext", "trackingnet", "got10k", "generic")


@dataclass
class Sequence:
    """One tracking sequence: frame paths, ground truth (x, y, w, h) and per-frame labels."""

    name: str
    frames: list[str]
    ground_truth: np.ndarray  # (N, 4) float64, x y w h; NaN rows only where the protocol allows
    dataset: str  # registry name of the dataset it came from
    protocol: str = "generic"  # one of PROTOCOLS
    target_visible: Optional[np.ndarray] = None  # (N,) bool; LaSOT: no full occlusion, not out of view
    cover: Optional[np.ndarray] = None  # (N,) int, GOT-10k cover label 0..8
    absent: Optional[np.ndarray] = None  # (N,) bool, GOT-10k absence label
    object_class: Optional[str] = None
    attributes: dict[str, object] = field(default_factory=dict)  # per-sequence attribute flags
    image_size_hint: Optional[tuple[int, int]] = None  # (width, height) if known without reading
    cut_by_image: Optional[np.ndarray] = None  # (N,) bool, GOT-10k: target cut by the image border
    language: Optional[str] = None  # natural-language description (LaSOT nlp.txt, TNL2K language.txt)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def init_box(self) -> np.ndarray:
        return self.ground_truth[0]

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the frames, read from the first frame when not known."""
        if self.image_size_hint is None:
            import cv2

            img = cv2.imread(self.frames[0], cv2.IMREAD_UNCHANGED)
            if img is None:
                from compresstracker.errors import DatasetError

                raise DatasetError(f"cannot read frame {self.frames[0]}")
            self.image_size_hint = (int(img.shape[1]), int(img.shape[0]))
        return self.image_size_hint
