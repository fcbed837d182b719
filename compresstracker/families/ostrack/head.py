"""OSTrack's centre head (CENTER): score, offset and size branches, and box decoding."""
from __future__ import annotations

import torch
from torch import nn


def _branch(in_ch: int, channels: int, out_ch: int, stage: str, parent: nn.Module) -> None:
    """Register conv1..conv4 (conv+BN+ReLU, halving channels) and conv5 under OSTrack's names."""
    widths = [in_ch, channels, channels // 2, channels // 4, channels // 8]
    for i in range(4):
        layer = nn.Sequential(
            nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, padding=1, bias=True),
            nn.BatchNorm2d(widths[i + 1]),
            nn.ReLU(inplace=True),
        )
        parent.add_module(f"conv{i + 1}_{stage}", layer)
    parent.add_module(f"conv5_{stage}", nn.Conv2d(widths[4], out_ch, kernel_size=1))


class CenterHead(nn.Module):
    """Three parallel conv towers on the search feature map (B, C, H, W)."""

    BRANCHES = (("ctr", 1), ("offset", 2), ("size", 2))

    def __init__(self, in_channels: int, channels: int, feat_size: int):
        super().__init__()
        self.feat_size = feat_size
        for stage, out_ch in self.BRANCHES:
            _branch(in_channels, channels, out_ch, stage, self)
        self._init_weights()

    def _init_weights(self) -> None:
        """Xavier-uniform conv weights (as OSTrack initialises this head), and the score bias set to
        CenterNet's prior of 0.1, so a head trained from scratch is not swamped by the focal loss of
        the background cells at the start (loaded checkpoints overwrite both)."""
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        nn.init.constant_(self.conv5_ctr.bias, -2.19)

    def _tower(self, stage: str, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{stage}")(x)
        return x

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(score_map, size_map, offset_map); score and size are sigmoids clamped to [1e-4, 1-1e-4]."""
        feat = feat.contiguous()  # one copy of the (transposed) token map, not one per tower
        score = torch.clamp(self._tower("ctr", feat).sigmoid(), min=1e-4, max=1 - 1e-4)
        size = torch.clamp(self._tower("size", feat).sigmoid(), min=1e-4, max=1 - 1e-4)
        offset = self._tower("offset", feat)
        return score, size, offset


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of ``conv`` followed by ``bn`` in eval mode, as one convolution."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = (conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)) - bn.running_mean
    return weight, bias * scale + bn.bias


class FusedCenterHead(nn.Module):
    """The centre head rewritten for inference: BatchNorm folded into the convolutions, and the three
    towers run side by side as one convolution per stage.

    Stage 1 reads the same feature map in every tower, so its three convolutions become one with
    3x the output channels; stages 2-4 become grouped convolutions (3 groups), and the 1x1 output
    convolutions one grouped 1x1 (the 1-channel score output padded to 2). Same arithmetic as
    :class:`CenterHead` in eval mode (up to float rounding), a quarter of the kernel launches and
    bigger, better-shaped matrix products. Built from a trained head; not for training.
    """

    def __init__(self, head: CenterHead):
        super().__init__()
        self.feat_size = head.feat_size
        stages = []
        for i in range(1, 5):
            weights, biases = zip(*(_folded(*getattr(head, f"conv{i}_{stage}")[:2]) for stage, _ in head.BRANCHES))
            first = getattr(head, f"conv{i}_ctr")[0]
            conv = nn.Conv2d(
                first.in_channels * (1 if i == 1 else 3), 3 * first.out_channels, 3, padding=1, groups=1 if i == 1 else 3,
            )
            conv.weight.data.copy_(torch.cat(weights))
            conv.bias.data.copy_(torch.cat(biases))
            stages += [conv, nn.ReLU(inplace=True)]
        self.towers = nn.Sequential(*stages)
        last = [getattr(head, f"conv5_{stage}") for stage, _ in head.BRANCHES]
        out = nn.Conv2d(3 * last[0].in_channels, 6, 1, groups=3)
        pad = lambda t: torch.cat([t, torch.zeros_like(t[:1])]) if t.shape[0] == 1 else t  # noqa: E731
        out.weight.data.copy_(torch.cat([pad(c.weight) for c in last]))
        out.bias.data.copy_(torch.cat([pad(c.bias) for c in last]))
        self.out = out

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        maps = self.out(self.towers(feat.contiguous()))
        score = torch.clamp(maps[:, 0:1].sigmoid(), min=1e-4, max=1 - 1e-4)
        offset = maps[:, 2:4]
        size = torch.clamp(maps[:, 4:6].sigmoid(), min=1e-4, max=1 - 1e-4)
        return score, size, offset


def decode_boxes(score_map: torch.Tensor, size_map: torch.Tensor, offset_map: torch.Tensor) -> torch.Tensor:
    """Boxes (B, 4) as normalised (cx, cy, w, h), read at the arg-max of ``score_map``."""
    feat = score_map.shape[-1]
    idx = score_map.flatten(1).argmax(dim=1, keepdim=True)  # (B, 1)
    iy = torch.div(idx, feat, rounding_mode="floor")
    ix = idx % feat
    gather_idx = idx.unsqueeze(1).expand(-1, 2, -1)  # (B, 2, 1)
    size = size_map.flatten(2).gather(2, gather_idx).squeeze(-1)
    offset = offset_map.flatten(2).gather(2, gather_idx).squeeze(-1)
    cx = (ix.to(torch.float) + offset[:, :1]) / feat
    cy = (iy.to(torch.float) + offset[:, 1:]) / feat
    return torch.cat([cx, cy, size], dim=1)
