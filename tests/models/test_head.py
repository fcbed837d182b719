"""The centre head: output shapes, clamping, box decoding by hand."""
from __future__ import annotations

import torch

from compresstracker.models import build_model
from compresstracker.families.ostrack.head import decode_boxes


def test_decode_boxes_by_hand():
    feat = 16
    score = torch.rand(2, 1, feat, feat) * 0.5
    score[0, 0, 3, 11] = 0.9  # row 3, column 11
    score[1, 0, 15, 0] = 0.8
    size = torch.rand(2, 2, feat, feat)
    offset = torch.rand(2, 2, feat, feat)
    boxes = decode_boxes(score, size, offset)
    expected = torch.tensor([
        [(11 + offset[0, 0, 3, 11]) / 16, (3 + offset[0, 1, 3, 11]) / 16, size[0, 0, 3, 11], size[0, 1, 3, 11]],
        [(0 + offset[1, 0, 15, 0]) / 16, (15 + offset[1, 1, 15, 0]) / 16, size[1, 0, 15, 0], size[1, 1, 15, 0]],
    ])
    torch.testing.assert_close(boxes, expected)


def test_decode_boxes_on_a_24_grid():
    score = torch.zeros(1, 1, 24, 24)
    score[0, 0, 23, 5] = 1.0
    size = torch.full((1, 2, 24, 24), 0.25)
    offset = torch.full((1, 2, 24, 24), 0.5)
    torch.testing.assert_close(decode_boxes(score, size, offset), torch.tensor([[5.5 / 24, 23.5 / 24, 0.25, 0.25]]))


def test_head_shapes_and_clamp():
    model = build_model("tiny_64_ce").eval()
    with torch.no_grad():
        model.box_head.conv5_ctr.bias.fill_(100.0)  # sigmoid saturates high
        model.box_head.conv5_size.bias.fill_(-100.0)  # and low
        model.box_head.conv5_offset.bias.copy_(torch.tensor([-3.0, 7.0]))  # offsets are not squashed
        out = model(torch.randn(3, 3, 32, 32), torch.randn(3, 3, 64, 64))
    assert out["score_map"].shape == (3, 1, 8, 8)
    assert out["size_map"].shape == out["offset_map"].shape == (3, 2, 8, 8)
    assert out["pred_boxes"].shape == (3, 1, 4)
    assert torch.all(out["score_map"] == torch.tensor(1 - 1e-4))
    assert torch.all(out["size_map"] == torch.tensor(1e-4))
    assert out["offset_map"][:, 0].max() < -2 and out["offset_map"][:, 1].min() > 6


def test_head_reads_only_the_search_tokens():
    model = build_model("tiny_64_ce").eval()
    tokens = torch.randn(1, 16 + 64, 32)
    changed = tokens.clone()
    changed[:, :16] = 0  # template tokens do not reach the head
    with torch.no_grad():
        torch.testing.assert_close(model.head(tokens)["score_map"], model.head(changed)["score_map"])
