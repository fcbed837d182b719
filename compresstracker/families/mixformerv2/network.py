"""MixFormerV2's network, with the state-dict layout of the official release files.

A plain ViT runs over one sequence [template, online template, search, 4 prediction tokens]. Its
attention is mixed and asymmetric: the template queries see only the template keys (so the
templates' features do not depend on the search region), the search and token queries see all
keys. Only the 4 prediction tokens feed the heads: the box head turns each into a distribution
over ``bins`` positions along the search crop (token order left, right, top, bottom), whose
expectation is that side's coordinate; the score head averages one logit per token.

The forward is cut into ``embed`` -> ``blocks`` -> ``head`` so a stage-wise runner (replacement
training) can run any range of blocks on its own and get exactly what ``forward`` gets.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from timm.layers import Mlp, PatchEmbed, trunc_normal_
from torch import nn

from compresstracker.families.mixformerv2.config import NUM_PREDICTION_TOKENS, MixFormerV2Config

__all__ = ["MixFormerV2Net", "MixedAttention", "MixedBlock", "sincos_pos_embed_2d"]


def sincos_pos_embed_2d(dim: int, side: int) -> torch.Tensor:
    """(side * side, dim) fixed 2-D sin-cos table (MAE style), computed in float32, rows in row-major token order.

    The first dim/2 channels encode the column, the last dim/2 the row; each half is
    [sin(p w_k), cos(p w_k)] with w_k = 10000^(-k / (dim / 4)), k = 0 .. dim/4 - 1.
    """
    quarter = dim // 4
    omega = 1.0 / np.float32(10000.0) ** (np.arange(quarter, dtype=np.float32) / np.float32(quarter))
    rows, cols = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32), indexing="ij")

    def encode(positions: np.ndarray) -> np.ndarray:
        angles = np.outer(positions.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    table = np.concatenate([encode(cols), encode(rows)], axis=1).astype(np.float32)
    return torch.from_numpy(table)


class MixedAttention(nn.Module):
    """Multi-head attention where the first ``num_template`` queries see only the first ``num_template`` keys."""

    def __init__(self, dim: int, num_heads: int, num_template: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.num_template = num_template  # both templates' tokens together
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        t = self.num_template
        templates = F.scaled_dot_product_attention(q[:, :, :t], k[:, :, :t], v[:, :, :t], scale=self.scale)
        rest = F.scaled_dot_product_attention(q[:, :, t:], k, v, scale=self.scale)
        out = torch.cat([templates, rest], dim=2).transpose(1, 2).reshape(B, N, C)
        return self.proj(out)


class MixedBlock(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, erf GELU) around :class:`MixedAttention`."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, num_template: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MixedAttention(dim, num_heads, num_template)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_hidden, act_layer=nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Backbone(nn.Module):
    """Patch embedding, fixed position tables, the prediction tokens and the blocks (no final norm)."""

    def __init__(self, config: MixFormerV2Config):
        super().__init__()
        D = config.embed_dim
        # Fixed sin-cos tables, stored as frozen parameters: the release files hold them and count them.
        self.pos_embed_s = nn.Parameter(sincos_pos_embed_2d(D, config.search_feat)[None], requires_grad=False)
        self.pos_embed_t = nn.Parameter(sincos_pos_embed_2d(D, config.template_feat)[None], requires_grad=False)
        self.reg_tokens = nn.Parameter(torch.zeros(1, NUM_PREDICTION_TOKENS, D))
        self.pos_embed_reg = nn.Parameter(torch.zeros(1, NUM_PREDICTION_TOKENS, D))
        self.patch_embed = PatchEmbed(img_size=None, patch_size=config.patch_size, in_chans=3, embed_dim=D)
        self.blocks = nn.ModuleList(
            MixedBlock(D, config.num_heads, config.mlp_hidden, 2 * config.num_template_tokens) for _ in range(config.depth)
        )
        # Unit scale, as large as the patch tokens: the four side tokens must start apart. At the usual
        # 0.02 the first attention output swamps them, all four decode the same position, and a network
        # trained from scratch sits at zero-width boxes (release files bring their own tokens).
        trunc_normal_(self.reg_tokens, std=1.0)

    def embed(self, template: torch.Tensor, online_template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        tokens = self.reg_tokens + self.pos_embed_reg
        return torch.cat([
            self.patch_embed(template) + self.pos_embed_t,
            self.patch_embed(online_template) + self.pos_embed_t,
            self.patch_embed(search) + self.pos_embed_s,
            tokens.expand(search.shape[0], -1, -1),
        ], dim=1)


class BoxHead(nn.Module):
    """Per token: Linear -> LayerNorm -> ReLU -> Linear -> LayerNorm to ``bins`` logits (shared by the 4 tokens)."""

    def __init__(self, dim: int, bins: int, search_size: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.ReLU()),
            nn.Sequential(nn.Linear(dim, bins), nn.LayerNorm(bins)),
        )
        stride = search_size / bins
        # Bin positions in pixels of the search crop (float32, as the reference), divided by its size
        # written as bins * stride (the reference's float, not always exactly search_size).
        self.register_buffer("positions", torch.arange(bins, dtype=torch.float32) * stride, persistent=False)
        self.crop_size = bins * stride

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., D) tokens -> (..., bins) logits of the side distributions."""
        return self.layers(tokens)

    def decode(self, prob: torch.Tensor) -> torch.Tensor:
        """Side distributions (..., bins) -> their expected coordinates, normalised by the search size."""
        return (prob * self.positions).sum(dim=-1) / self.crop_size


class ScoreHead(nn.Module):
    """Per token: Linear -> ReLU -> Linear to one logit; the mean over the tokens is the score logit."""

    def __init__(self, dim: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, dim), nn.ReLU()), nn.Linear(dim, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.layers(tokens).mean(dim=1)


class MixFormerV2Net(nn.Module):
    """MixFormerV2 (online tracker network): ``forward(template, online_template, search)`` -> outputs dict.

    Outputs: ``pred_boxes`` (B, 1, 4) cx, cy, w, h normalised by the search size (w or h may be
    negative before training); ``score`` (B, 1) logit; ``prob`` (B, 4, bins) side distributions and
    ``logits`` their pre-softmax values, in token order l, r, t, b; ``tokens`` the final sequence.
    """

    def __init__(self, config: MixFormerV2Config):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config)
        self.box_head = BoxHead(config.embed_dim, config.bins, config.search_size)
        self.score_head = ScoreHead(config.embed_dim)

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer blocks; each maps a (B, N, D) token sequence to the next."""
        return self.backbone.blocks

    @property
    def num_template_tokens(self) -> int:
        """Tokens of both templates together: the queries that see only the templates."""
        return 2 * self.config.num_template_tokens

    def embed(self, template: torch.Tensor, online_template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """Normalised images -> the (B, N, D) token sequence the first block takes."""
        return self.backbone.embed(template, online_template, search)

    def head(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """The final token sequence -> the outputs dict (only the last 4 tokens are read)."""
        predict = tokens[:, -NUM_PREDICTION_TOKENS:]
        logits = self.box_head(predict)
        prob = logits.softmax(dim=-1)
        left, right, top, bottom = self.box_head.decode(prob).unbind(dim=1)
        boxes = torch.stack([(left + right) / 2, (top + bottom) / 2, right - left, bottom - top], dim=1)
        return {
            "pred_boxes": boxes[:, None],
            "score": self.score_head(predict),
            "prob": prob,
            "logits": logits,
            "tokens": tokens,
        }

    def forward(self, template: torch.Tensor, online_template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.embed(template, online_template, search)
        for block in self.blocks:
            x = block(x)
        return self.head(x)
