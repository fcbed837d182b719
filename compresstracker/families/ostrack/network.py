"""The tracker network: ViT backbone + centre head, with OSTrack's forward contract."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.families.ostrack.head import CenterHead, FusedCenterHead, decode_boxes
from compresstracker.families.ostrack.vit import VisionTransformerTracker


def ctr_point_mask(config: OSTrackConfig, batch: int = 1, device=None) -> torch.Tensor:
    """OSTrack's CTR_POINT template mask: only the template token at the grid centre, (B, N_z) bool.

    The centre cell is (n - 1) // 2 on an n x n grid: (3, 3) for 8 x 8, (5, 5) for 12 x 12.
    """
    n = config.template_feat
    mask = torch.zeros(batch, n, n, dtype=torch.bool, device=device)
    c = (n - 1) // 2
    mask[:, c, c] = True
    return mask.flatten(1)


def ctr_point_rows(config: OSTrackConfig, device=None) -> torch.Tensor:
    """The CTR_POINT template row as a (1,) int64 index: the static-shape form of :func:`ctr_point_mask`."""
    c = (config.template_feat - 1) // 2
    return torch.tensor([c * config.template_feat + c], dtype=torch.long, device=device)


class OSTrackNet(nn.Module):
    """``forward(template, search, template_mask=None)`` -> dict of maps and boxes, as OSTrack.

    ``template_mask`` selects the template rows that score search tokens in CE blocks: a (B, N_z)
    bool mask (:func:`ctr_point_mask`) or a (K,) int64 row index (:func:`ctr_point_rows`, the
    form ONNX export uses); both give identical outputs.
    """

    def __init__(self, config: OSTrackConfig):
        super().__init__()
        self.config = config
        self.backbone = VisionTransformerTracker(config)
        self.box_head = CenterHead(config.embed_dim, config.head_channels, config.search_feat)
        # Candidate elimination on by default when the config has it; `load_model(ce=False)` turns it off.
        self.ce_enabled = config.has_ce

    def keep_ratios(self, override: Optional[float] = None) -> list[float]:
        """Per-block search keep ratios in effect (all 1.0 with CE off).

        ``override`` replaces the ratio of every CE block (OSTrack's training ramp of the keep rate).
        """
        if not self.ce_enabled:
            return [1.0] * self.config.depth
        ratios = [self.config.keep_ratio(i) for i in range(self.config.depth)]
        if override is not None:
            ratios = [override if r < 1.0 else 1.0 for r in ratios]
        return ratios

    def fuse_head(self) -> "OSTrackNet":
        """Swap the centre head for its inference form (BatchNorm folded, towers side by side); the
        maps stay the same up to float rounding. For inference only: the fused head does not train."""
        if isinstance(self.box_head, CenterHead):
            self.box_head = FusedCenterHead(self.box_head.eval())
        return self

    def head_maps(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(score_map, size_map, offset_map) of the centre head on the last N_x tokens (the search part)."""
        feat_size = self.config.search_feat
        search = tokens[:, -self.config.num_search_tokens :]
        feat = search.transpose(1, 2).reshape(search.shape[0], -1, feat_size, feat_size)
        return self.box_head(feat)

    def head(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """The head's maps and the boxes decoded at the arg-max of the score map."""
        score_map, size_map, offset_map = self.head_maps(tokens)
        boxes = decode_boxes(score_map, size_map, offset_map)
        return {
            "pred_boxes": boxes.view(-1, 1, 4),
            "score_map": score_map,
            "size_map": size_map,
            "offset_map": offset_map,
        }

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        template_mask: Optional[torch.Tensor] = None,
        keep_ratio: Optional[float] = None,
    ) -> dict[str, torch.Tensor]:
        tokens = self.backbone(template, search, template_mask, self.keep_ratios(keep_ratio))
        out = self.head(tokens)
        out["tokens"] = tokens
        return out
