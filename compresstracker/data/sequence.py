"""The one Sequence record every reader returns and every consumer (tracker runner, metrics) reads."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Union

import numpy as np

from compresstracker.fileio import file_sha256

# Metric protocols: how the published analysis code treats a dataset (see specs/benchmarks.md).
# "lasot": visibility flags + length rules of LaSOT; "uav": NaN ground-truth rows allowed;
# "got10k": GOT-10k toolkit metrics; everything else: the plain pytracking OPE rules.
PROTOCOLS = ("lasot", "uav", "otb", "nfs", "tnl2k", "lasot_ext", "trackingnet", "got10k", "generic")


class Frames(SequenceABC):
    """A sequence's frame paths, listed (and checked) on first use.

    Scoring reads only annotations, so a benchmark's paths (700k for LaSOT's test set) are never
    built there, and a root with annotations only scores. ``count``, when the annotations already
    tell it, answers ``len`` without listing.
    """

    def __init__(self, build: Callable[[], list[str]], count: Optional[int] = None):
        self._build = build
        self._count = count
        self._paths: Optional[list[str]] = None

    def _list(self) -> list[str]:
        if self._paths is None:
            self._paths = self._build()
        return self._paths

    def __len__(self) -> int:
        return self._count if self._paths is None and self._count is not None else len(self._list())

    def __getitem__(self, index):
        return self._list()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (list, SequenceABC)) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Frames({len(self)} frames{'' if self._paths is not None else ', not listed yet'})"


@dataclass
class Sequence:
    """One tracking sequence: frame paths, ground truth (x, y, w, h) and per-frame labels."""

    name: str
    frames: Union[list[str], Frames]
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
    groundtruth_file: Optional[str] = None  # the file the ground truth was read from (errors name it)

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


def content_sha256(seq: Sequence) -> dict[str, str]:
    """What a sequence's results depend on, as two sha256 digests: its ground truth (the file's bytes,
    or the boxes where no file is known) and its ordered frames (each one's name, size and mtime).

    Frames are identified by a stat each, not their bytes: a replaced or re-encoded frame changes its
    size or mtime, and hashing every image of a benchmark (LaSOT's test set is 700k frames) on each
    rerun would cost more than tracking a short sequence.
    """
    if seq.groundtruth_file is not None and os.path.isfile(seq.groundtruth_file):
        truth = file_sha256(seq.groundtruth_file)
    else:
        truth = hashlib.sha256(np.ascontiguousarray(seq.ground_truth, dtype=np.float64).tobytes()).hexdigest()
    frames = hashlib.sha256()
    for path in seq.frames:
        try:
            stat = os.stat(path)
            frames.update(f"{os.path.basename(path)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        except OSError:  # an unreadable frame is reported when it is read; here it only changes the digest
            frames.update(f"{os.path.basename(path)}\tmissing\n".encode())
    return {"groundtruth_sha256": truth, "frames_sha256": frames.hexdigest()}
