"""pytracking OPE rules, one hand-computed case per quirk."""
from __future__ import annotations

import numpy as np
import pytest

from compresstracker.errors import DatasetError, ResultsError
from compresstracker.evaluation import evaluate_ope, sequence_errors
from compresstracker.evaluation.ope import (
    CENTER_THRESHOLDS,
    NORM_CENTER_THRESHOLDS,
    OVERLAP_THRESHOLDS,
    align_predictions,
    frame_errors,
)

BOX = [0.0, 0.0, 10.0, 10.0]
FAR = [500.0, 500.0, 10.0, 10.0]


def test_thresholds_replicate_torch_arange_construction():
    assert len(OVERLAP_THRESHOLDS) == 21
    assert OVERLAP_THRESHOLDS[3] == 3 * 0.05 != 0.15  # start + i * step, not the decimal 0.15
    assert OVERLAP_THRESHOLDS[10] == 0.5 and OVERLAP_THRESHOLDS[15] == 0.75 and OVERLAP_THRESHOLDS[20] == 1.0
    assert CENTER_THRESHOLDS[20] == 20.0 and len(CENTER_THRESHOLDS) == 51
    assert NORM_CENTER_THRESHOLDS[20] == 0.2 and NORM_CENTER_THRESHOLDS[-1] == 0.5


def test_success_is_strictly_greater_than_threshold(make_seq):
    seq = make_seq("s", [BOX, BOX])
    # IoU of [0,0,10,5] with [0,0,10,10] is exactly 50 / 100.
    result = evaluate_ope([seq], [np.array([FAR, [0, 0, 10, 5]])])
    assert sequence_errors(np.array([FAR, [0, 0, 10, 5]]), seq).overlap.tolist() == [1.0, 0.5]
    np.testing.assert_array_equal(result.success[0], [1.0] * 10 + [0.5] * 10 + [0.0])
    metrics = result.metrics()
    assert metrics["op50"] == 50.0  # 0.5 > 0.5 fails
    assert metrics["op75"] == 50.0
    assert metrics["auc"] == pytest.approx(1500 / 21, abs=1e-4)


def test_precision_is_less_or_equal_threshold(make_seq):
    seq = make_seq("s", [BOX, BOX])
    result = evaluate_ope([seq], [np.array([BOX, [20, 0, 10, 10]])])  # centre error exactly 20 px
    assert result.precision[0, 20] == 1.0 and result.precision[0, 19] == 0.5
    gt = [[0, 0, 8, 8], [0, 0, 8, 8]]
    norm = evaluate_ope([make_seq("n", gt)], [np.array([gt[0], [2, 0, 8, 8]])])  # normalised error 2 / 8 = 0.25
    assert norm.norm_precision[0, 25] == 1.0 and norm.norm_precision[0, 24] == 0.5


def test_first_prediction_is_replaced_by_ground_truth(make_seq):
    seq = make_seq("s", [[3, 4, 20, 30], BOX])
    errors = sequence_errors(np.array([[900, 900, 1, 1], BOX]), seq)
    assert errors.overlap.tolist() == [1.0, 1.0]
    assert errors.center.tolist() == [0.0, 0.0]


def test_zero_size_boxes_carry_the_previous_box_forward_in_chains(make_seq):
    seq = make_seq("s", [BOX] * 5)
    pred = np.array([[1, 1, 5, 5], [2, 2, 6, 6], [3, 3, 0, 6], [4, 4, 6, 0], [5, 5, 7, 7]], dtype=float)
    aligned = align_predictions(pred, seq)
    np.testing.assert_array_equal(aligned, [BOX, [2, 2, 6, 6], [2, 2, 6, 6], [2, 2, 6, 6], [5, 5, 7, 7]])


def test_zero_size_carry_forward_uses_the_raw_first_prediction(make_seq):
    # Frame 1 copies P[0] as the tracker wrote it; P[0] := G[0] happens afterwards.
    seq = make_seq("s", [BOX] * 3)
    aligned = align_predictions(np.array([[1, 1, 0, 0], [2, 2, 0, 5], [3, 3, 4, 4]], dtype=float), seq)
    np.testing.assert_array_equal(aligned, [BOX, [1, 1, 0, 0], [3, 3, 4, 4]])


def test_zero_size_box_is_kept_where_ground_truth_has_nan(make_seq):
    nan = [np.nan] * 4
    seq = make_seq("u", [BOX, BOX, nan, BOX], protocol="uav")
    pred = np.array([BOX, [2, 2, 6, 6], [3, 3, 0, 6], [4, 4, 6, 0]], dtype=float)
    aligned = align_predictions(pred, seq)
    # Row 2 is kept (G NaN); row 3 then copies row 2, zero size and all.
    np.testing.assert_array_equal(aligned, [BOX, [2, 2, 6, 6], [3, 3, 0, 6], [3, 3, 0, 6]])


def test_lasot_invisible_frames_fail_precision_and_norm_precision(make_seq):
    gt, visible = [BOX] * 3, [True, False, True]
    pred = np.array(gt)  # perfect boxes: only the visibility rule can fail frame 1
    lasot = sequence_errors(pred, make_seq("l", gt, protocol="lasot", target_visible=visible))
    assert lasot.overlap.tolist() == [1.0, -1.0, 1.0]
    assert lasot.center.tolist() == [0.0, np.inf, 0.0]
    assert lasot.norm_center.tolist() == [0.0, np.inf, 0.0]
    result = evaluate_ope([make_seq("l", gt, protocol="lasot", target_visible=visible)], [pred])
    assert result.norm_precision[0].tolist() == pytest.approx([2 / 3] * 51)
    assert result.precision[0].tolist() == pytest.approx([2 / 3] * 51)


def test_lasot_ext_is_not_lasot_and_invalid_frames_pass_norm_precision(make_seq):
    gt, visible = [BOX] * 3, [True, False, True]
    pred = np.array(gt)
    ext = sequence_errors(pred, make_seq("e", gt, protocol="lasot_ext", target_visible=visible))
    assert ext.overlap.tolist() == [1.0, -1.0, 1.0]  # the flags still make the frame invalid
    assert ext.center.tolist() == [0.0, np.inf, 0.0]
    assert ext.norm_center.tolist() == [0.0, -1.0, 0.0]  # ... but -1 passes every normalised threshold
    generic_gt = [BOX, [0, 0, 0, 10], BOX]  # zero-width ground truth: invalid
    generic = evaluate_ope([make_seq("g", generic_gt)], [np.array(generic_gt)])
    assert generic.norm_precision[0].tolist() == [1.0] * 51
    assert generic.precision[0].tolist() == pytest.approx([2 / 3] * 51)
    assert generic.success[0, 0] == pytest.approx(2 / 3)


def test_lasot_needs_visibility_flags(make_seq):
    with pytest.raises(DatasetError, match="visibility"):
        sequence_errors(np.array([BOX]), make_seq("l", [BOX], protocol="lasot"))


def test_uav_nan_rows_pass_precision_and_fail_success(make_seq):
    gt = [BOX, [np.nan] * 4]
    errors = sequence_errors(np.array([BOX, BOX]), make_seq("u", gt, protocol="uav"))
    assert errors.center.tolist() == [0.0, -1.0]
    assert errors.overlap.tolist() == [1.0, -1.0]
    result = evaluate_ope([make_seq("u", gt, protocol="uav")], [np.array([BOX, FAR])])
    assert result.precision[0].tolist() == [1.0] * 51
    assert result.success[0, 0] == 0.5


def test_nan_ground_truth_is_an_error_outside_uav(make_seq):
    for protocol in ("generic", "lasot_ext", "otb"):
        with pytest.raises(DatasetError, match="NaN"):
            sequence_errors(np.array([BOX, BOX]), make_seq("s", [BOX, [np.nan] * 4], protocol=protocol))


def test_nan_or_negative_prediction_is_an_error_naming_the_line(make_seq):
    seq = make_seq("s", [BOX] * 3)
    with pytest.raises(ResultsError, match=r"res/s\.txt:3: NaN"):
        sequence_errors(np.array([BOX, BOX, [1, np.nan, 2, 2]]), seq, source="res/s.txt")
    with pytest.raises(ResultsError, match=r"res/s\.txt:2: negative"):
        sequence_errors(np.array([BOX, [1, 1, -2, 2], BOX]), seq, source="res/s.txt")


def test_longer_predictions_are_truncated(make_seq):
    seq = make_seq("s", [BOX] * 3)
    extra = np.array([BOX, BOX, [0, 0, 10, 5], [1, 1, 0, 0], FAR])
    short = extra[:3]
    np.testing.assert_array_equal(sequence_errors(extra, seq).overlap, sequence_errors(short, seq).overlap)


def test_shorter_predictions_are_zero_padded_except_on_lasot(make_seq):
    gt = [BOX] * 4
    aligned = align_predictions(np.array([BOX, [2, 2, 6, 6]]), make_seq("s", gt))
    np.testing.assert_array_equal(aligned[2:], np.zeros((2, 4)))  # padding is not carried forward
    assert sequence_errors(np.array([BOX, BOX]), make_seq("s", gt)).overlap.tolist() == [1.0, 1.0, 0.0, 0.0]
    lasot = make_seq("l", gt, protocol="lasot", target_visible=[True] * 4)
    with pytest.raises(ResultsError, match=r"r/l\.txt: 2 boxes for 4"):
        sequence_errors(np.array([BOX, BOX]), lasot, source="r/l.txt")


def test_iou_with_pixel_convention_equals_continuous_iou():
    rng = np.random.default_rng(1)
    n = 500
    gt = np.concatenate([rng.uniform(0, 100, (n, 2)), rng.uniform(1, 60, (n, 2))], axis=1)
    pred = np.concatenate([gt[:, :2] + rng.normal(0, 15, (n, 2)), gt[:, 2:] * rng.uniform(0.3, 2.0, (n, 2))], axis=1)
    errors = frame_errors(pred, gt, np.ones(n, dtype=bool))
    x1 = np.maximum(pred[:, 0], gt[:, 0])
    y1 = np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    continuous = inter / (pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter)
    np.testing.assert_allclose(errors.overlap, continuous, rtol=1e-9, atol=1e-12)
    assert (continuous > 0).sum() > n // 2  # the case exercises overlapping boxes


def test_sequences_weigh_the_same_regardless_of_length(make_seq):
    short = make_seq("short", [BOX] * 2)
    long = make_seq("long", [BOX] * 4)
    result = evaluate_ope([short, long], [np.array([BOX, BOX]), np.array([BOX, BOX, FAR, FAR])])
    assert result.metrics()["op50"] == 75.0  # (100% + 50%) / 2, not 4 / 6 of frames
    per_seq = result.sequence_metrics()
    assert per_seq["long"]["op50"] == 50.0 and per_seq["long"]["frames"] == 4
    assert per_seq["short"]["auc"] == pytest.approx(100.0 * 20 / 21)


def test_curves_are_divided_in_float32_like_the_reference(make_seq):
    seq = make_seq("s", [BOX] * 3)
    result = evaluate_ope([seq], [np.array([BOX, FAR, FAR])])
    assert result.success.dtype == np.float32
    expected = float(np.float32(np.float32(1) / np.float32(3)) * np.float32(100))
    assert result.metrics()["op50"] == expected
    assert expected != 100 / 3


def test_evaluate_ope_needs_sequences():
    with pytest.raises(ResultsError):
        evaluate_ope([], [])
