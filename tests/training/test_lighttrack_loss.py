"""LightTrack's labels and losses against values computed by hand."""
import math

import pytest
import torch

from compresstracker.families.lighttrack.losses import (
    balanced_bce, iou_loss, lighttrack_labels, lighttrack_loss, normalized_to_xyxy, score_grid,
)


def test_score_grid_is_the_trackers():
    assert score_grid(16, 16, 256).tolist() == [16.0 * j for j in range(16)]  # (j - 8) * 16 + 128
    assert score_grid(18, 16, 288).tolist()[:2] == [0.0, 16.0]  # (0 - 9) * 16 + 144
    assert score_grid(8, 16, 128).tolist()[-1] == 112.0
    assert score_grid(5, 8, 64).tolist() == [16.0, 24.0, 32.0, 40.0, 48.0]  # (j - 2) * 8 + 32


def test_labels_of_a_centred_box():
    # 128-pixel search, stride 16: grid 0, 16, ..., 112; the centre 64 is cell 4.
    labels = lighttrack_labels(torch.tensor([[44.0, 44.0, 84.0, 84.0]]), 8, 16, 128)
    positives = {(i, j) for i, j in torch.nonzero(labels.cls[0, 0]).tolist()}
    assert positives == {(4, 4), (3, 4), (5, 4), (4, 3), (4, 5)}  # L1 distance <= 1 cell
    assert labels.reg[0, :, 4, 4].tolist() == [20.0, 20.0, 20.0, 20.0]
    # cell (row 3, col 5) looks at pixel (x 80, y 48): l 36, t 4, r 4, b 36
    assert labels.reg[0, :, 3, 5].tolist() == [36.0, 4.0, 4.0, 36.0]
    inside = {(i, j) for i, j in torch.nonzero(labels.inside[0, 0]).tolist()}
    assert inside == {(i, j) for i in (3, 4, 5) for j in (3, 4, 5)}  # pixels 48, 64, 80 in (44, 84)


def test_labels_measure_distance_from_the_true_centre():
    # Centre (72, 64) sits between cells 4 and 5: both are 0.5 cells away, the others 1.5 or more.
    labels = lighttrack_labels(torch.tensor([[52.0, 44.0, 92.0, 84.0]]), 8, 16, 128)
    assert {tuple(p) for p in torch.nonzero(labels.cls[0, 0]).tolist()} == {(4, 4), (4, 5)}
    wider = lighttrack_labels(torch.tensor([[52.0, 44.0, 92.0, 84.0]]), 8, 16, 128, pos_radius=1.5)
    assert int(wider.cls.sum()) == 4 + 2 + 2  # row 4: cols 3-6; rows 3 and 5: cols 4 and 5
    # A box whose edge passes through a grid pixel does not train that cell (strictly inside only).
    edge = lighttrack_labels(torch.tensor([[48.0, 48.0, 80.0, 80.0]]), 8, 16, 128)
    assert {tuple(p) for p in torch.nonzero(edge.inside[0, 0]).tolist()} == {(4, 4)}


def test_balanced_bce_by_hand():
    label = torch.zeros(1, 1, 3, 3)
    label[0, 0, 1, 1] = 1
    logits = torch.full((1, 1, 3, 3), -1.0)
    logits[0, 0, 1, 1] = 2.0
    total, pos, neg = balanced_bce(logits, label)
    assert pos.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)
    assert neg.item() == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-6)
    assert total.item() == pytest.approx(0.5 * (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))), rel=1e-6)
    # Means are per side, not per cell: 8 negatives weigh as much as 1 positive.
    zero, _, _ = balanced_bce(torch.zeros(1, 1, 3, 3), label)
    assert zero.item() == pytest.approx(math.log(2.0), rel=1e-6)
    # No positive on the grid: only the negative half remains.
    only_neg, pos, _ = balanced_bce(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3, 3))
    assert pos.item() == 0 and only_neg.item() == pytest.approx(0.5 * math.log(2.0), rel=1e-6)


def test_iou_loss_by_hand():
    pred = torch.zeros(1, 4, 2, 2)
    target = torch.zeros(1, 4, 2, 2)
    mask = torch.zeros(1, 1, 2, 2, dtype=torch.bool)
    pred[0, :, 0, 1] = torch.tensor([10.0, 10.0, 10.0, 10.0])
    target[0, :, 0, 1] = torch.tensor([20.0, 20.0, 20.0, 20.0])
    pred[0, :, 1, 0] = torch.tensor([5.0, 0.0, 15.0, 10.0])  # 20 x 10 box
    target[0, :, 1, 0] = torch.tensor([10.0, 5.0, 10.0, 5.0])  # 20 x 10 box, shifted
    mask[0, 0, 0, 1] = mask[0, 0, 1, 0] = True
    pred[0, :, 1, 1] = 99.0  # not masked: ignored
    loss, iou = iou_loss(pred, target, mask)
    # Cell (0, 1): I = 20 * 20 = 400, U = 1600 + 400 - 400 = 1600.
    # Cell (1, 0): I = (5 + 10) * (0 + 5) = 75, U = 200 + 200 - 75 = 325.
    expected = (-math.log(401 / 1601) - math.log(76 / 326)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert iou.item() == pytest.approx((400 / 1600 + 75 / 325) / 2, rel=1e-6)
    perfect, one = iou_loss(target, target, mask)
    assert perfect.item() == pytest.approx(0.0, abs=1e-7) and one.item() == pytest.approx(1.0)


def test_iou_loss_without_cells_is_zero_with_a_graph():
    pred = torch.ones(2, 4, 3, 3, requires_grad=True)
    loss, iou = iou_loss(pred, torch.ones(2, 4, 3, 3), torch.zeros(2, 1, 3, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0 and iou.item() == 0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_total_loss_composes_the_terms():
    torch.manual_seed(0)
    out = {"cls": torch.randn(2, 1, 8, 8), "reg": torch.rand(2, 4, 8, 8) * 40}
    boxes = torch.tensor([[0.34375, 0.34375, 0.3125, 0.3125], [0.1, 0.5, 0.25, 0.2]])  # x y w h / 128
    assert normalized_to_xyxy(boxes, 128)[0].tolist() == [44.0, 44.0, 84.0, 84.0]
    total, logs = lighttrack_loss(out, boxes, stride=16, search_size=128, cls_weight=0.7, iou_weight=1.2)
    labels = lighttrack_labels(normalized_to_xyxy(boxes, 128), 8, 16, 128)
    cls, _, _ = balanced_bce(out["cls"], labels.cls)
    iou, _ = iou_loss(out["reg"], labels.reg, labels.inside)
    assert total.item() == pytest.approx(0.7 * cls.item() + 1.2 * iou.item(), rel=1e-6)
    assert logs["cls"].item() == pytest.approx(cls.item()) and logs["iou_loss"].item() == pytest.approx(iou.item())
