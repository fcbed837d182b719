"""One-pass evaluation (OPE) exactly as pytracking's analysis code (vendored in OSTrack) computes it.

The rules, quirks included (specs/benchmarks.md), per sequence with predictions P and ground truth G:
NaN in G is an error except on UAV123; NaN or negative w/h in P is an error; a zero-size
prediction at frame i >= 1 takes the previous (possibly already replaced) prediction unless
G[i] has NaN; a longer P is truncated, a shorter one is an error on LaSOT and zero-padded
elsewhere; P[0] := G[0]; IoU and centre errors use the "-1/+1" pixel convention; invalid frames
get IoU -1, centre error +inf (UAV123: -1) and normalised centre error -1; on LaSOT frames
whose target is not visible get +inf for both centre errors. Curves count frames over all
frames of the sequence, are divided in float32 as the reference does and averaged over
sequences in float32 in the order torch adds them (reproduced in numpy: scoring imports no torch),
so printed numbers match the reference's to the last digit.

Everything per frame is vectorised over all sequences at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence as SequenceOf

import numpy as np

from compresstracker.data.sequence import Sequence
from compresstracker.errors import DatasetError, ResultsError

# torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64) as start + i * step: 21 thresholds.
OVERLAP_THRESHOLDS = 0.0 + np.arange(21, dtype=np.float64) * 0.05
CENTER_THRESHOLDS = np.arange(51, dtype=np.float64)  # pixels
NORM_CENTER_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0
OP50_INDEX, OP75_INDEX = 10, 15  # overlap thresholds 0.50 and 0.75
PRECISION_INDEX = 20  # 20 pixels
NORM_PRECISION_INDEX = 20  # 0.20

UAV_PROTOCOL = "uav"  # NaN ground-truth rows allowed; invalid frames pass precision
LASOT_PROTOCOL = "lasot"  # shorter predictions are an error; invisible frames fail precision
METRIC_NAMES = ("auc", "op50", "op75", "precision", "norm_precision")


@dataclass
class FrameErrors:
    """Per-frame errors of one or more sequences, after the reference's invalid-frame rules."""

    overlap: np.ndarray  # (N,) IoU; -1 on invalid frames
    center: np.ndarray  # (N,) centre error in pixels; +inf (UAV123: -1) on invalid frames
    norm_center: np.ndarray  # (N,) normalised centre error; -1 on invalid frames
    valid: np.ndarray  # (N,) bool


def _row_line(source: str, row: int) -> str:
    return f"{source}:{row + 1}"


def align_predictions(pred: np.ndarray, seq: Sequence, source: str = "predictions") -> np.ndarray:
    """Check predictions and apply the reference's repairs: zero-size carry-forward, length rule, P[0] := G[0].

    ``source`` names the result file in error messages (row i is line i + 1).
    """
    gt = np.asarray(seq.ground_truth, dtype=np.float64)
    pred = np.array(pred, dtype=np.float64).reshape(-1, 4)
    if gt.ndim != 2 or gt.shape[1] != 4 or len(gt) == 0:
        raise DatasetError(f"ground truth of sequence {seq.name} is not a non-empty (N, 4) array")
    nan_rows = np.flatnonzero(np.isnan(pred).any(axis=1))
    if nan_rows.size:
        raise ResultsError(f"{_row_line(source, nan_rows[0])}: NaN in predicted box")
    negative_rows = np.flatnonzero((pred[:, 2:] < 0.0).any(axis=1))
    if negative_rows.size:
        raise ResultsError(f"{_row_line(source, negative_rows[0])}: negative width or height in predicted box")
    gt_nan = np.isnan(gt).any(axis=1)
    if gt_nan.any() and seq.protocol != UAV_PROTOCOL:
        raise DatasetError(
            f"ground truth of sequence {seq.name} has NaN in frame {int(np.flatnonzero(gt_nan)[0])} "
            f"(allowed only on UAV123)"
        )
    if len(pred) < len(gt) and seq.protocol == LASOT_PROTOCOL:
        raise ResultsError(f"{source}: {len(pred)} boxes for {len(gt)} ground-truth frames of {seq.name} (LaSOT needs all)")
    # The reference repairs zero-size boxes over the full prediction, before truncating; rows past
    # the ground truth cannot influence earlier ones, so truncating first gives the same boxes.
    pred = pred[: len(gt)]
    replace = (pred[:, 2:] == 0.0).any(axis=1) & ~gt_nan[: len(pred)]
    replace[0] = False
    if replace.any():
        # Each replaced row takes the last row before it that was kept (chains carry one box forward).
        source_row = np.maximum.accumulate(np.where(replace, 0, np.arange(len(pred))))
        pred = pred[source_row]
    if len(pred) < len(gt):
        pred = np.concatenate([pred, np.zeros((len(gt) - len(pred), 4))])
    pred[0] = gt[0]
    return pred


def valid_frames(seq: Sequence) -> np.ndarray:
    """Frames the reference scores: G w > 0 and h > 0, and the target visible where the sequence says."""
    gt = np.asarray(seq.ground_truth, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = (gt[:, 2] > 0.0) & (gt[:, 3] > 0.0)
    if seq.target_visible is not None:
        # pytracking uses the flags whenever the dataset provides them (LaSOT and LaSOT_ext).
        visible = np.asarray(seq.target_visible).astype(bool)
        if visible.shape != valid.shape:
            raise DatasetError(f"sequence {seq.name}: {len(visible)} visibility flags for {len(gt)} ground-truth frames")
        valid &= visible
    elif seq.protocol == LASOT_PROTOCOL:
        raise DatasetError(f"LaSOT sequence {seq.name} has no visibility flags (full_occlusion.txt, out_of_view.txt)")
    return valid


def frame_errors(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray,
    invalid_center: np.ndarray | float = np.inf,
    invisible: np.ndarray | None = None,
) -> FrameErrors:
    """IoU, centre and normalised centre error per frame with the reference's arithmetic, in float64.

    ``invalid_center`` is the centre error of invalid frames (+inf, or -1 on UAV123); frames in
    ``invisible`` (LaSOT) get +inf for both centre errors afterwards.
    """
    p_xy, p_wh = pred[:, :2], pred[:, 2:]
    g_xy, g_wh = gt[:, :2], gt[:, 2:]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        tl = np.maximum(p_xy, g_xy)
        br = np.minimum(p_xy + p_wh - 1.0, g_xy + g_wh - 1.0)
        size = np.clip(br - tl + 1.0, 0.0, None)
        intersection = size[:, 0] * size[:, 1]
        union = p_wh[:, 0] * p_wh[:, 1] + g_wh[:, 0] * g_wh[:, 1] - intersection
        overlap = intersection / union
        p_center = p_xy + 0.5 * (p_wh - 1.0)
        g_center = g_xy + 0.5 * (g_wh - 1.0)
        center = np.sqrt(((p_center - g_center) ** 2).sum(axis=1))
        norm_center = np.sqrt(((p_center / g_wh - g_center / g_wh) ** 2).sum(axis=1))
    invalid = ~valid
    center[invalid] = np.broadcast_to(invalid_center, center.shape)[invalid]
    norm_center[invalid] = -1.0
    overlap[invalid] = -1.0
    if invisible is not None:
        center[invisible] = np.inf
        norm_center[invisible] = np.inf
    return FrameErrors(overlap=overlap, center=center, norm_center=norm_center, valid=valid)


def sequence_errors(pred: np.ndarray, seq: Sequence, source: str = "predictions") -> FrameErrors:
    """Per-frame errors of one sequence, as pytracking's calc_seq_err_robust returns them."""
    return _errors_of([seq], [pred], [source])[0]


def _errors_of(
    sequences: SequenceOf[Sequence], predictions: SequenceOf[np.ndarray], sources: SequenceOf[str]
) -> tuple[FrameErrors, np.ndarray]:
    """Frame errors of all sequences concatenated, and each sequence's frame count."""
    preds, gts, valids, invalid_center, invisible = [], [], [], [], []
    for seq, pred, source in zip(sequences, predictions, sources):
        preds.append(align_predictions(pred, seq, source))
        gts.append(np.asarray(seq.ground_truth, dtype=np.float64))
        valid = valid_frames(seq)
        valids.append(valid)
        n = len(valid)
        invalid_center.append(np.full(n, -1.0 if seq.protocol == UAV_PROTOCOL else np.inf))
        if seq.protocol == LASOT_PROTOCOL:
            invisible.append(~np.asarray(seq.target_visible).astype(bool))
        else:
            invisible.append(np.zeros(n, dtype=bool))
    lengths = np.array([len(v) for v in valids], dtype=np.int64)
    errors = frame_errors(
        np.concatenate(preds),
        np.concatenate(gts),
        np.concatenate(valids),
        np.concatenate(invalid_center),
        np.concatenate(invisible),
    )
    nan_frames = np.flatnonzero(np.isnan(errors.overlap))
    if nan_frames.size:
        seq_index = int(np.searchsorted(np.cumsum(lengths), nan_frames[0], side="right"))
        row = int(nan_frames[0] - (lengths[:seq_index].sum()))
        raise ResultsError(f"{_row_line(sources[seq_index], row)}: predicted box gives NaN overlap (infinite values?)")
    return errors, lengths


def _counts(values: np.ndarray, seq_ids: np.ndarray, n_seq: int, thresholds: np.ndarray, above: bool) -> np.ndarray:
    """Per-sequence counts of frames with value > t (above) or value <= t, for every threshold t."""
    k = len(thresholds)
    # Number of thresholds strictly below each value: value > t[j] exactly for j < bins,
    # value <= t[j] exactly for j >= bins (NaN sorts last, failing every <=).
    bins = np.searchsorted(thresholds, values, side="left")
    hist = np.bincount(seq_ids * (k + 1) + bins, minlength=n_seq * (k + 1)).reshape(n_seq, k + 1)
    if above:
        return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return np.cumsum(hist, axis=1)[:, :k]


# Summation order of PyTorch's float32 sums on x86 CPUs (what the reference's numbers come from),
# reproduced with numpy so that scoring needs no torch import yet gives the same bits. Every sum
# along an axis is a 4-level cascade (runs of 2**power elements feed the next level). Reducing
# the rows of (S, K): columns in blocks of 4 vectors (VEC lanes each) sum each column straight
# down; the other columns take the rows in interleaved groups of ILP partial sums (row i to
# partial i % ILP, leftover rows to partial 0), added in order at the end. A contiguous last-axis
# sum adds VEC-wide vectors the interleaved way, then its scalar tail, then the lanes one by one.
ILP = 4
LEVELS = 4
VEC = 8  # float32 lanes of the reduction kernel (AVX2 and AVX-512 builds alike)


def _ceil_log2(value: int) -> int:
    return (value - 1).bit_length() if value > 1 else 0


def _cascade(rows: np.ndarray) -> np.ndarray:
    """float32 sum over the leading axis of ``rows`` with torch's 4-level cascade."""
    n = rows.shape[0]
    power = max(4, _ceil_log2(n) // LEVELS)
    step, mask = 1 << power, (1 << power) - 1
    acc = np.zeros((LEVELS,) + rows.shape[1:], dtype=np.float32)
    i = 0
    while i + step <= n:
        for _ in range(step):
            acc[0] += rows[i]
            i += 1
        for k in range(1, LEVELS):
            acc[k] += acc[k - 1]
            acc[k - 1] = 0
            if i & (mask << (k * power)):
                break
    while i < n:
        acc[0] += rows[i]
        i += 1
    for k in range(1, LEVELS):
        acc[0] += acc[k]
    return acc[0]


def _interleaved(rows: np.ndarray) -> np.ndarray:
    """float32 sum over the leading axis in ILP interleaved partial sums, as torch's ``row_sum``."""
    n = rows.shape[0] // ILP
    partials = _cascade(rows[: n * ILP].reshape((n, ILP) + rows.shape[1:]))
    for row in rows[n * ILP :]:
        partials[0] += row
    total = partials[0].copy()
    for k in range(1, ILP):
        total += partials[k]
    return total


def _sum_axis0(values: np.ndarray) -> np.ndarray:
    """float32 sum over axis 0 of (S, K), bit-identical to ``torch.sum(t, 0)`` on a contiguous tensor."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    block = (values.shape[1] // (ILP * VEC)) * ILP * VEC
    return np.concatenate([_cascade(values[:, :block]), _interleaved(values[:, block:])])


def _mean_last(values: np.ndarray) -> np.float32:
    """float32 mean of a 1-D array, bit-identical to ``torch.mean(t, -1)`` on a contiguous tensor."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    n_vec = len(values) // VEC
    lanes = _interleaved(values[: n_vec * VEC].reshape(n_vec, VEC)) if n_vec else np.zeros(VEC, np.float32)
    total = np.float32(0)
    for value in values[n_vec * VEC :]:
        total = np.float32(total + value)
    for value in lanes:
        total = np.float32(total + value)
    return np.float32(total / np.float32(len(values)))


def _reference_average(curves: np.ndarray) -> np.ndarray:
    """(S, K) per-sequence curves -> (K,) float32: mean over sequences x 100, as the reference's torch
    computes it on a (sequences, trackers, K) float32 tensor (same additions in the same order)."""
    return (_sum_axis0(curves) / np.float32(len(curves))).astype(np.float32) * np.float32(100.0)


@dataclass
class OPEResult:
    """Per-sequence OPE curves (fractions, float32 as the reference stores them) of one tracker."""

    names: list[str]
    frames: np.ndarray  # (S,) frames per sequence
    success: np.ndarray  # (S, 21) fraction of frames with IoU > t
    precision: np.ndarray  # (S, 51) fraction with centre error <= t px
    norm_precision: np.ndarray  # (S, 51) fraction with normalised centre error <= t

    def subset(self, names: SequenceOf[str]) -> "OPEResult":
        """The result restricted to ``names`` (in that order)."""
        index = {name: i for i, name in enumerate(self.names)}
        rows = np.array([index[name] for name in names], dtype=np.int64)
        return OPEResult(
            list(names), self.frames[rows], self.success[rows], self.precision[rows], self.norm_precision[rows]
        )

    def curves(self) -> dict[str, np.ndarray]:
        """Aggregate curves in percent (float32): success (21), precision (51), norm_precision (51)."""
        return {
            "success": _reference_average(self.success),
            "precision": _reference_average(self.precision),
            "norm_precision": _reference_average(self.norm_precision),
        }

    def metrics(self) -> dict[str, float]:
        """AUC, OP50, OP75, Precision and Norm. precision in percent, as the reference prints them."""
        success = _reference_average(self.success)
        return {
            "auc": float(_mean_last(success)),
            "op50": float(success[OP50_INDEX]),
            "op75": float(success[OP75_INDEX]),
            "precision": float(_reference_average(self.precision)[PRECISION_INDEX]),
            "norm_precision": float(_reference_average(self.norm_precision)[NORM_PRECISION_INDEX]),
        }

    def sequence_metrics(self) -> dict[str, dict[str, float]]:
        """The same five numbers per sequence, plus its frame count."""
        success = self.success.astype(np.float64) * 100.0
        precision = self.precision.astype(np.float64) * 100.0
        norm_precision = self.norm_precision.astype(np.float64) * 100.0
        return {
            name: {
                "frames": int(self.frames[i]),
                "auc": float(success[i].mean()),
                "op50": float(success[i, OP50_INDEX]),
                "op75": float(success[i, OP75_INDEX]),
                "precision": float(precision[i, PRECISION_INDEX]),
                "norm_precision": float(norm_precision[i, NORM_PRECISION_INDEX]),
            }
            for i, name in enumerate(self.names)
        }


def evaluate_ope(
    sequences: SequenceOf[Sequence],
    predictions: SequenceOf[np.ndarray],
    sources: SequenceOf[str] | None = None,
) -> OPEResult:
    """Score one tracker's predictions (one (n, 4) array per sequence) with the pytracking OPE rules.

    ``sources`` names each prediction's file for error messages.
    """
    if len(sequences) != len(predictions):
        raise ValueError("one prediction array per sequence")
    if sources is None:
        sources = [f"predictions of {seq.name}" for seq in sequences]
    n_seq = len(sequences)
    if n_seq == 0:
        raise ResultsError("no sequences to score")
    errors, lengths = _errors_of(sequences, predictions, sources)
    seq_ids = np.repeat(np.arange(n_seq), lengths)
    denominators = lengths.astype(np.float32)[:, None]
    # count.float() / seq_length: float32 division, identical to torch's.
    success = _counts(errors.overlap, seq_ids, n_seq, OVERLAP_THRESHOLDS, above=True)
    precision = _counts(errors.center, seq_ids, n_seq, CENTER_THRESHOLDS, above=False)
    norm_precision = _counts(errors.norm_center, seq_ids, n_seq, NORM_CENTER_THRESHOLDS, above=False)
    return OPEResult(
        names=[seq.name for seq in sequences],
        frames=lengths,
        success=success.astype(np.float32) / denominators,
        precision=precision.astype(np.float32) / denominators,
        norm_precision=norm_precision.astype(np.float32) / denominators,
    )
