"""COCO 2017 as a still-image training source: every object annotation is a 1-frame sequence."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import numpy as np

from compresstracker.data.sources import TrainingSequence, TrainingSource, register_source
from compresstracker.errors import DatasetError


class CocoSource(TrainingSource):
    """Objects of ``<root>/annotations/instances_<split>.json`` with images in ``<root>/images/<split>/``.

    Crowd regions and boxes with a side shorter than ``min_size`` pixels are skipped (a 4-pixel
    object gives an 8-pixel template crop, blown up to the template size). Template and search
    come from the same image; the search crop's jitter makes the pair.
    """

    name = "coco"
    is_video = False
    default_split = "train2017"

    def __init__(self, root: str | os.PathLike, split: Optional[str] = None, min_size: float = 4.0):
        root = Path(root)
        split = split or self.default_split
        annotation_file = root / "annotations" / f"instances_{split}.json"
        self.image_dir = root / "images" / split
        if not annotation_file.is_file():
            raise DatasetError(f"COCO annotations {annotation_file} not found; expected <root>/annotations/instances_{split}.json")
        if not self.image_dir.is_dir():
            raise DatasetError(f"COCO image folder {self.image_dir} not found; expected <root>/images/{split}/")
        try:
            with open(annotation_file, "rb") as f:
                data = json.load(f)
            file_of = {image["id"]: image["file_name"] for image in data["images"]}
            kept = [ann for ann in data["annotations"] if not ann.get("iscrowd", 0)]
            boxes = np.array([ann["bbox"] for ann in kept] or np.zeros((0, 4)), dtype=np.float64)
            owners = [ann["image_id"] for ann in kept]
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{annotation_file}: not a COCO instances file ({type(exc).__name__}: {exc})") from None
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise DatasetError(f"{annotation_file}: every 'bbox' must be 4 numbers x, y, w, h")
        large = (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
        kept_ids = [image_id for image_id, keep in zip(owners, large) if keep]
        del data, kept, owners
        if not kept_ids:
            raise DatasetError(f"{annotation_file}: no non-crowd object with both sides >= {min_size} px")
        unknown = set(kept_ids) - file_of.keys()
        if unknown:
            raise DatasetError(f"{annotation_file}: annotations refer to {len(unknown)} unknown image id(s), e.g. {min(unknown)}")
        image_ids = sorted(set(kept_ids))
        position = {image_id: i for i, image_id in enumerate(image_ids)}
        self._files = [file_of[image_id] for image_id in image_ids]
        self._image_of = np.array([position[image_id] for image_id in kept_ids], dtype=np.int64)
        self._boxes = boxes[large]

    def __len__(self) -> int:
        return len(self._boxes)

    def __getitem__(self, index: int) -> TrainingSequence:
        path = os.path.join(self.image_dir, self._files[self._image_of[index]])
        return TrainingSequence([path], self._boxes[index : index + 1], np.ones(1, dtype=bool))

    def visible_counts(self) -> np.ndarray:
        return np.ones(len(self), dtype=np.int64)


register_source(CocoSource.name, CocoSource)
