"""Builders for evaluation tests: Sequence records, tiny datasets and result folders, no readers."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from compresstracker.data.sequence import Sequence


def build_sequence(name, gt, protocol="generic", target_visible=None, cover=None, attributes=None, image_size=None):
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    return Sequence(
        name=name,
        frames=[],
        ground_truth=gt,
        dataset=protocol,
        protocol=protocol,
        target_visible=None if target_visible is None else np.asarray(target_visible, dtype=bool),
        cover=None if cover is None else np.asarray(cover),
        attributes=dict(attributes or {}),
        image_size_hint=image_size,
    )


def write_results(folder: Path, boxes_by_seq: dict, fmt: str = "%d", delimiter: str = "\t") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, boxes in boxes_by_seq.items():
        np.savetxt(folder / f"{name}.txt", np.asarray(boxes), fmt=fmt, delimiter=delimiter)
    return folder


@pytest.fixture
def make_seq():
    """``make_seq(name, gt, protocol=..., target_visible=..., cover=..., attributes=..., image_size=...)``."""
    return build_sequence


@pytest.fixture
def make_dataset():
    """``make_dataset(sequences, name="toy", protocol="generic")`` -> an object like get_dataset returns."""

    def _make(sequences, name="toy", protocol="generic"):
        return SimpleNamespace(name=name, protocol=protocol, sequences=list(sequences))

    return _make


@pytest.fixture
def results_folder():
    """``results_folder(path, {seq: boxes}, fmt="%d", delimiter="\\t")`` writes <seq>.txt files."""
    return write_results
