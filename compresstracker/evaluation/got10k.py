"""GOT-10k metrics exactly as the official got10k toolkit computes them (val split; test is server-only).

Frame 0 is excluded, frames whose cover label is 0 are excluded, both boxes are clipped to the
image before IoU, and IoUs are pooled over all frames of all sequences:
AO = mean IoU, SR0.5 / SR0.75 = fraction of IoUs above 0.5 / 0.75.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence as SequenceOf

import numpy as np

from compresstracker.data.sequence import Sequence
from compresstracker.errors import DatasetError, ResultsError

SUCCESS_THRESHOLDS = np.linspace(0, 1, 101)
METRIC_NAMES = ("ao", "sr50", "sr75")


def clip_boxes(boxes: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Clip x y w h boxes to the image as the toolkit's rect_iou does; ``bound`` is (W, H) per box or one pair."""
    boxes = np.array(boxes, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), (len(boxes), 2))
    boxes[:, 0] = np.clip(boxes[:, 0], 0, bound[:, 0])
    boxes[:, 1] = np.clip(boxes[:, 1], 0, bound[:, 1])
    boxes[:, 2] = np.clip(boxes[:, 2], 0, bound[:, 0] - boxes[:, 0])
    boxes[:, 3] = np.clip(boxes[:, 3], 0, bound[:, 1] - boxes[:, 1])
    return boxes


def rect_iou(pred: np.ndarray, gt: np.ndarray, bound: np.ndarray | None = None) -> np.ndarray:
    """Continuous IoU of x y w h boxes, both clipped to ``bound`` (W, H) first when given, in [0, 1]."""
    pred = np.array(pred, dtype=np.float64)
    gt = np.array(gt, dtype=np.float64)
    if bound is not None:
        pred, gt = clip_boxes(pred, bound), clip_boxes(gt, bound)
    x1 = np.maximum(pred[:, 0], gt[:, 0])
    y1 = np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter
    return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)


def _percent_or_none(values: np.ndarray, reduce) -> float | None:
    return float(reduce(values)) * 100.0 if values.size else None


@dataclass
class GOT10kResult:
    """The IoUs of the frames the toolkit counts, per sequence, for one tracker."""

    names: list[str]
    ious: list[np.ndarray]  # per sequence: IoU of frames 1.. whose cover label is > 0

    def subset(self, names: SequenceOf[str]) -> "GOT10kResult":
        """The result restricted to ``names`` (in that order)."""
        index = {name: i for i, name in enumerate(self.names)}
        return GOT10kResult(list(names), [self.ious[index[name]] for name in names])

    def pooled(self) -> np.ndarray:
        """All counted IoUs of all sequences, one array (the toolkit pools frames, not sequences)."""
        ious = np.concatenate(self.ious) if self.ious else np.zeros(0)
        if ious.size == 0:
            raise ResultsError("no frames to score (every frame after the first has cover label 0)")
        return ious

    def metrics(self) -> dict[str, float]:
        """AO, SR0.5 and SR0.75 in percent over the pooled frames."""
        ious = self.pooled()
        return {
            "ao": float(np.mean(ious)) * 100.0,
            "sr50": float(np.mean(ious > 0.5)) * 100.0,
            "sr75": float(np.mean(ious > 0.75)) * 100.0,
        }

    def curves(self) -> dict[str, np.ndarray]:
        """The success curve in percent: fraction of pooled IoUs above each of 101 thresholds."""
        ious = np.sort(self.pooled())
        above = len(ious) - np.searchsorted(ious, SUCCESS_THRESHOLDS, side="right")
        return {"success": above / len(ious) * 100.0}

    def sequence_metrics(self) -> dict[str, dict[str, float | int | None]]:
        """AO, SR0.5, SR0.75 per sequence (None where no frame counts) and the number of frames counted."""
        return {
            name: {
                "frames": int(ious.size),
                "ao": _percent_or_none(ious, np.mean),
                "sr50": _percent_or_none(ious, lambda v: np.mean(v > 0.5)),
                "sr75": _percent_or_none(ious, lambda v: np.mean(v > 0.75)),
            }
            for name, ious in zip(self.names, self.ious)
        }


def sequence_ious(pred: np.ndarray, seq: Sequence, source: str = "predictions") -> np.ndarray:
    """IoUs of the frames the toolkit counts in one sequence (frame 0 and cover-0 frames left out)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(seq.ground_truth, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ResultsError(f"{source}: {len(pred)} boxes for {len(gt)} ground-truth frames of {seq.name}")
    nan_rows = np.flatnonzero(np.isnan(pred).any(axis=1))
    if nan_rows.size:
        raise ResultsError(f"{source}:{nan_rows[0] + 1}: NaN in predicted box")
    if seq.cover is None:
        raise DatasetError(f"GOT-10k sequence {seq.name} has no cover labels (cover.label)")
    cover = np.asarray(seq.cover)
    if len(cover) != len(gt):
        raise DatasetError(f"sequence {seq.name}: {len(cover)} cover labels for {len(gt)} ground-truth frames")
    ious = rect_iou(pred[1:], gt[1:], bound=seq.image_size())
    return ious[cover[1:] > 0]


def evaluate_got10k(
    sequences: SequenceOf[Sequence],
    predictions: SequenceOf[np.ndarray],
    sources: SequenceOf[str] | None = None,
) -> GOT10kResult:
    """Score one tracker's predictions (one (n, 4) array per sequence) as the GOT-10k toolkit does."""
    if len(sequences) != len(predictions):
        raise ValueError("one prediction array per sequence")
    if sources is None:
        sources = [f"predictions of {seq.name}" for seq in sequences]
    return GOT10kResult(
        names=[seq.name for seq in sequences],
        ious=[sequence_ious(pred, seq, source) for seq, pred, source in zip(sequences, predictions, sources)],
    )
