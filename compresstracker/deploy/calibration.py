"""Calibration data for static int8 quantisation: real tracking crops, never random tensors.

``--calib NAME=ROOT[:SPLIT]`` names a dataset from the registry; without it, sequences are
generated (the synthetic LaSOT layout) into a temporary folder. The family turns sequences into
the inputs of each of its graphs exactly as its tracker crops them.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from compresstracker.data.sequence import Sequence
from compresstracker.errors import ConfigError

__all__ = ["CALIB_SAMPLES", "calibration_sequences", "parse_calib"]

CALIB_SAMPLES = 64  # crops per graph; NNCF's statistics settle well before this on these graphs
GENERATED = {"sequences": 8, "frames": 12, "seed": 101}  # not the seeds of the demo or test splits


def parse_calib(spec: str) -> tuple[str, str, Optional[str]]:
    """(dataset name, root, split) of a ``--calib NAME=ROOT[:SPLIT]``; a one-line error when malformed."""
    from compresstracker.data.registry import split_root

    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest:
        raise ConfigError(f"--calib {spec!r} must look like NAME=ROOT[:SPLIT]")
    root, split = split_root(rest)
    return name.strip(), root, split


@contextlib.contextmanager
def calibration_sequences(spec: Optional[str] = None) -> Iterator[tuple[str, list[Sequence]]]:
    """(description, sequences) to calibrate on; generated ones live only inside the block."""
    from compresstracker.data import get_dataset

    if spec:
        name, root, split = parse_calib(spec)
        dataset = get_dataset(name, root, split=split)
        yield f"{dataset.name} ({len(dataset.sequences)} sequences)", dataset.sequences
        return
    from compresstracker.data.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="ctrack-calib-") as tmp:
        generate("lasot", Path(tmp), **GENERATED)
        dataset = get_dataset("synthetic", tmp, split="all")
        yield (
            f"generated sequences ({GENERATED['sequences']} x {GENERATED['frames']} frames, seed {GENERATED['seed']})",
            dataset.sequences,
        )
