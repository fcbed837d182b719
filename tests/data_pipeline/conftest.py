"""Tiny generated JPEG sequences and an in-memory training source for the pair pipeline tests."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from compresstracker.data.pairs import TrainingSequence, TrainingSource
from compresstracker.families.ostrack.config import OSTrackConfig

WIDTH, HEIGHT = 96, 72
TINY = OSTrackConfig(template_size=32, search_size=64, patch_size=16)


class ListSource(TrainingSource):
    """A training source over a given list of sequences."""

    def __init__(self, sequences: list[TrainingSequence], name: str = "list", is_video: bool = True):
        self.sequences = sequences
        self.name = name
        self.is_video = is_video

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> TrainingSequence:
        return self.sequences[index]


def write_sequence(folder: Path, boxes: np.ndarray, seed: int) -> list[str]:
    """One JPEG per box: textured background with a bright rectangle at the box."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, (x, y, w, h) in enumerate(boxes.astype(int)):
        image = rng.integers(0, 90, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
        image[max(y, 0) : y + h, max(x, 0) : x + w] = (40, 60, 230)  # BGR: reddish in RGB
        path = folder / f"{i:04d}.jpg"
        cv2.imwrite(str(path), image)
        paths.append(str(path))
    return paths


def moving_boxes(frames: int, start: tuple[int, int] = (20, 20), size: tuple[int, int] = (16, 12)) -> np.ndarray:
    """Boxes that drift right and down by one pixel per frame."""
    t = np.arange(frames)
    return np.stack([start[0] + t, start[1] + t // 2, np.full(frames, size[0]), np.full(frames, size[1])], axis=1).astype(float)


@pytest.fixture(scope="session")
def video_source(tmp_path_factory) -> ListSource:
    """Three 12-frame sequences, every frame visible."""
    root = tmp_path_factory.mktemp("videos")
    sequences = []
    for s in range(3):
        boxes = moving_boxes(12, start=(15 + 5 * s, 18 + 3 * s))
        sequences.append(TrainingSequence(write_sequence(root / f"seq{s}", boxes, s), boxes, np.ones(12, dtype=bool)))
    return ListSource(sequences, "videos")
