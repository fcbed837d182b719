"""GOT-10k toolkit rules: clipping to the image, frame 0 and cover-0 frames excluded, pooled frames."""
from __future__ import annotations

import numpy as np
import pytest

from compresstracker.errors import DatasetError, ResultsError
from compresstracker.evaluation import evaluate_got10k, rect_iou
from compresstracker.evaluation.got10k import SUCCESS_THRESHOLDS, clip_boxes, sequence_ious


def test_clip_boxes_like_the_toolkit():
    boxes = np.array([[90, 40, 20, 20], [-5, -5, 10, 10], [120, 10, 5, 5]], dtype=float)
    np.testing.assert_array_equal(
        clip_boxes(boxes, (100, 50)), [[90, 40, 10, 10], [0, 0, 10, 10], [100, 10, 0, 5]]
    )


def test_boxes_are_clipped_to_the_image_before_iou():
    pred = np.array([[90, 40, 20, 20]], dtype=float)
    gt = np.array([[90, 40, 10, 10]], dtype=float)
    assert rect_iou(pred, gt)[0] == pytest.approx(0.25)  # unclipped: 100 / 400
    assert rect_iou(pred, gt, bound=(100, 50))[0] == pytest.approx(1.0)


def test_iou_is_continuous_with_eps_and_clipped_to_unit_range():
    iou = rect_iou(np.array([[0, 0, 10, 5]], float), np.array([[0, 0, 10, 10]], float))[0]
    assert iou == 50 / (100 + np.finfo(float).eps)
    assert rect_iou(np.zeros((1, 4)), np.zeros((1, 4)))[0] == 0.0


def test_frame_zero_and_cover_zero_frames_are_excluded(make_seq):
    gt = [[10, 10, 20, 20]] * 4
    pred = np.array([[80, 80, 5, 5], [10, 10, 20, 20], [80, 80, 5, 5], [10, 10, 20, 10]], dtype=float)
    seq = make_seq("g", gt, protocol="got10k", cover=[8, 8, 0, 8], image_size=(100, 100))
    ious = sequence_ious(pred, seq)
    np.testing.assert_allclose(ious, [1.0, 0.5])  # frame 0 and frame 2 (cover 0) left out


def test_ious_are_pooled_over_frames_not_averaged_over_sequences(make_seq):
    box = [10, 10, 20, 20]
    one = make_seq("one", [box] * 2, protocol="got10k", cover=[1, 1], image_size=(100, 100))
    four = make_seq("four", [box] * 4, protocol="got10k", cover=[1] * 4, image_size=(100, 100))
    far = [70, 70, 5, 5]
    result = evaluate_got10k([one, four], [np.array([box, box]), np.array([box, far, far, box])])
    metrics = result.metrics()
    assert metrics["ao"] == pytest.approx(50.0)  # 2 of 4 pooled frames; per-sequence mean would be 66.7
    assert metrics["sr50"] == pytest.approx(50.0)
    per_seq = result.sequence_metrics()
    assert per_seq["four"]["ao"] == pytest.approx(100 / 3) and per_seq["four"]["frames"] == 3
    assert per_seq["one"]["sr75"] == pytest.approx(100.0)


def test_success_rates_use_strict_thresholds(make_seq):
    gt = [[0, 0, 10, 10]] * 3
    # IoUs: 0.8 (> 0.75), 0.6 (> 0.5 only)
    pred = np.array([gt[0], [0, 0, 10, 8], [0, 0, 10, 6]], dtype=float)
    seq = make_seq("g", gt, protocol="got10k", cover=[1, 1, 1], image_size=(50, 50))
    metrics = evaluate_got10k([seq], [pred]).metrics()
    assert metrics["sr50"] == pytest.approx(100.0)
    assert metrics["sr75"] == pytest.approx(50.0)
    assert metrics["ao"] == pytest.approx(70.0)


def test_success_curve_has_101_points(make_seq):
    gt = [[0, 0, 10, 10]] * 3
    seq = make_seq("g", gt, protocol="got10k", cover=[1, 1, 1], image_size=(50, 50))
    curve = evaluate_got10k([seq], [np.array([gt[0], gt[0], [0, 0, 10, 6]], float)]).curves()["success"]
    assert len(curve) == len(SUCCESS_THRESHOLDS) == 101
    assert curve[0] == 100.0 and curve[50] == 100.0 and curve[70] == 50.0 and curve[100] == 0.0


def test_length_mismatch_nan_and_missing_cover_are_errors(make_seq):
    gt = [[0, 0, 10, 10]] * 3
    seq = make_seq("g", gt, protocol="got10k", cover=[1, 1, 1], image_size=(50, 50))
    with pytest.raises(ResultsError, match="2 boxes for 3"):
        sequence_ious(np.array(gt[:2]), seq, source="r/g.txt")
    with pytest.raises(ResultsError, match=r"r/g\.txt:2: NaN"):
        sequence_ious(np.array([gt[0], [np.nan] * 4, gt[0]]), seq, source="r/g.txt")
    with pytest.raises(DatasetError, match="cover"):
        sequence_ious(np.array(gt), make_seq("g", gt, protocol="got10k", image_size=(50, 50)))
