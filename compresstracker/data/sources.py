"""Training sources: annotated sequences that training pairs are drawn from, behind one registry.

A registered benchmark (``get_dataset``) is a source of videos as it is; a source of another
kind (COCO's still images) registers a factory under its own name with :func:`register_source`,
and ``build_source`` picks it by name.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import numpy as np

from compresstracker.data.annotations import training_visibility
from compresstracker.data.registry import Dataset, get_dataset


@dataclass(frozen=True)
class TrainingSequence:
    """Frames of one training sequence with boxes (N, 4) x y w h and a visibility mask (N,)."""

    frames: list[str]
    boxes: np.ndarray
    visible: np.ndarray


class TrainingSource(ABC):
    """Annotated sequences to draw training pairs from; a still image is a 1-frame sequence."""

    name: str
    is_video: bool  # videos give template and search from two frames, still images from one

    @abstractmethod
    def __len__(self) -> int:
        """Number of sequences."""

    @abstractmethod
    def __getitem__(self, index: int) -> TrainingSequence:
        """Sequence ``index``."""

    def visible_counts(self) -> np.ndarray:
        """(len,) number of visible frames per sequence (decides which sequences are eligible)."""
        return np.array([int(self[i].visible.sum()) for i in range(len(self))], dtype=np.int64)


class DatasetSource(TrainingSource):
    """A benchmark split from ``get_dataset`` as a training source.

    Visibility is ``training_visibility``: LaSOT no full occlusion and not out of view, GOT-10k
    not absent and cover > 0, everywhere w > 0, h > 0 and no NaN.
    """

    is_video = True

    def __init__(self, dataset: Dataset):
        self.name = dataset.name
        self._sequences = [
            TrainingSequence(list(seq.frames), np.asarray(seq.ground_truth, dtype=np.float64), training_visibility(seq))
            for seq in dataset.sequences
        ]

    def __len__(self) -> int:
        return len(self._sequences)

    def __getitem__(self, index: int) -> TrainingSequence:
        return self._sequences[index]


SourceFactory = Callable[[str | os.PathLike, Optional[str]], TrainingSource]
_SOURCES: dict[str, SourceFactory] = {}


def register_source(name: str, factory: SourceFactory) -> SourceFactory:
    """Make ``build_source(name, root, split)`` call ``factory(root, split)``; a name taken twice is an error."""
    if name in _SOURCES:
        raise ValueError(f"training source {name!r} registered twice")
    _SOURCES[name] = factory
    return factory


def build_source(name: str, root: str | os.PathLike, split: Optional[str] = None) -> TrainingSource:
    """The training source called ``name``: a registered source (``coco``) or any registered dataset."""
    if name in _SOURCES:
        return _SOURCES[name](root, split)
    return DatasetSource(get_dataset(name, root, split))
