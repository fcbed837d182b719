"""Calibration data for static int8 quantisation: real tracking crops, never random tensors.

``--calib NAME=ROOT[:SPLIT]`` names a dataset from the registry; without it, sequences are
generated (the synthetic LaSOT layout) into a temporary folder. The family turns sequences into
the inputs of each of its graphs exactly as its tracker crops them.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch

from compresstracker.data.sequence import Sequence
from compresstracker.errors import CheckpointError, ConfigError

__all__ = ["CALIB_SAMPLES", "calibration_sequences", "parse_calib", "template_search_crops"]

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


def template_search_crops(config: Any, sequences: list[Sequence], samples: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Up to ``samples`` normalised (template, search) crops as a template-and-search tracker cuts them.

    The template around frame 0's box (``template_factor``, ``template_size``), each search region
    around the previous frame's box (``search_factor``, ``search_size``), sequences in turn, frames
    where the target is absent skipped. OSTrack's and MixFormerV2's trackers crop this way.
    """
    from compresstracker.tracking import Normalizer, read_rgb, sample_target

    normalize = Normalizer(torch.device("cpu"))
    templates, pairs = {}, []
    frame = 1
    while len(pairs) < samples and sequences:
        usable = [s for s in sequences if len(s.frames) > frame]
        if not usable:
            break
        for seq in usable[: samples - len(pairs)]:
            box = seq.ground_truth[frame - 1]
            if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
                continue  # the target is absent there: no crop the tracker would make
            if seq.name not in templates:
                patch, _ = sample_target(read_rgb(seq.frames[0]), seq.ground_truth[0], config.template_factor, config.template_size)
                templates[seq.name] = normalize(patch)
            patch, _ = sample_target(read_rgb(seq.frames[frame]), box, config.search_factor, config.search_size)
            pairs.append((templates[seq.name], normalize(patch)))
        frame += 1
    if not pairs:
        raise CheckpointError("no calibration crops: the calibration sequences need at least 2 frames")
    return pairs
