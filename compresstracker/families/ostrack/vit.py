"""One-stream ViT backbone of OSTrack, with candidate elimination (CE).

Parameter names match OSTrack's state dicts exactly (``backbone.*``), so released checkpoints load
without a key map. Plain blocks use PyTorch's fused attention; CE blocks compute the attention
probabilities explicitly, because the elimination scores are read off them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
from timm.layers import Attention, DropPath, LayerNorm, Mlp, PatchEmbed, trunc_normal_
from torch import nn

from compresstracker.families.ostrack.config import OSTrackConfig


class ProbAttention(Attention):
    """timm's attention, plus a path that also returns the softmax attention matrix."""

    def forward_with_probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        # Same operation order as the reference (scale after the product): the elimination
        # ranking depends on these values.
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        out = self.attn_drop(attn) @ v
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, self.attn_dim)))
        return out, attn


class Block(nn.Module):
    """Pre-norm transformer block; eliminates search tokens when called with keep_ratio < 1."""

    def __init__(self, dim: int, num_heads: int, hidden: int, qkv_bias: bool, drop_path: float):
        super().__init__()
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.attn = ProbAttention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden, act_layer=nn.GELU)

    def forward(self, x: torch.Tensor, state: Optional["TokenState"] = None, keep_ratio: float = 1.0) -> torch.Tensor:
        if state is None or keep_ratio >= 1.0:
            x = x + self.drop_path(self.attn(self.norm1(x)))
        else:
            attn_out, probs = self.attn.forward_with_probs(self.norm1(x))
            x = x + self.drop_path(attn_out)
            x = state.eliminate(x, probs, keep_ratio)
        return x + self.drop_path(self.mlp(self.norm2(x)))


def select_template_rows(attn: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The template query rows of ``attn`` (B, H, L_t, L_s) that score the search tokens.

    ``rows`` is a (B, L_t) bool mask (OSTrack's template mask) or a (K,) int64 index shared by the
    batch. Both pick the same values in the same order; the index keeps every shape static, which
    is what an ONNX graph needs (boolean indexing has a data-dependent shape).
    """
    if rows.dtype == torch.bool:
        B, H, _, ls = attn.shape
        picked = attn[rows[:, None, :, None].expand(-1, H, -1, ls)]
        return picked.view(B, H, -1, ls)
    return attn.index_select(2, rows)


@dataclass
class TokenState:
    """Bookkeeping of candidate elimination for one forward pass.

    ``search_index`` holds, for every search token still present, its original position;
    ``removed`` collects the original positions of eliminated tokens, block by block.
    """

    num_template: int
    num_search: int
    search_index: torch.Tensor  # (B, L_s) int64
    template_mask: Optional[torch.Tensor] = None  # CTR_POINT rows: (B, num_template) bool or (K,) int64
    removed: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def start(cls, batch: int, num_template: int, num_search: int, device, template_mask=None) -> "TokenState":
        index = torch.arange(num_search, device=device).unsqueeze(0).expand(batch, -1)
        return cls(num_template, num_search, index, template_mask)

    def eliminate(self, x: torch.Tensor, probs: torch.Tensor, keep_ratio: float) -> torch.Tensor:
        """Keep the ceil(keep_ratio * L_s) search tokens most attended by the template rows."""
        lt = self.num_template
        ls = x.shape[1] - lt
        keep = math.ceil(keep_ratio * ls)
        if keep >= ls:
            return x
        to_search = probs[:, :, :lt, lt:]  # (B, H, L_t, L_s)
        if self.template_mask is not None:
            to_search = select_template_rows(to_search, self.template_mask)
        scores = to_search.mean(dim=2).mean(dim=1)  # (B, L_s)
        order = torch.sort(scores, dim=1, descending=True).indices
        kept, dropped = order[:, :keep], order[:, keep:]
        self.removed.append(self.search_index.gather(1, dropped))
        self.search_index = self.search_index.gather(1, kept)
        search = x[:, lt:].gather(1, kept.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return torch.cat([x[:, :lt], search], dim=1)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """Put search tokens back in their original order, zeros where eliminated."""
        if not self.removed:
            return x
        B, _, C = x.shape
        lt = self.num_template
        search = x[:, lt:]
        padded = torch.cat([search, search.new_zeros(B, self.num_search - search.shape[1], C)], dim=1)
        index = torch.cat([self.search_index, *self.removed], dim=1)
        restored = torch.zeros_like(padded).scatter_(1, index.unsqueeze(-1).expand(-1, -1, C), padded)
        return torch.cat([x[:, :lt], restored], dim=1)


class VisionTransformerTracker(nn.Module):
    """Patch embedding, separate template/search position tables, blocks, final norm."""

    def __init__(self, config: OSTrackConfig):
        super().__init__()
        c = config
        self.config = c
        self.patch_embed = PatchEmbed(
            img_size=None, patch_size=c.patch_size, in_chans=3, embed_dim=c.embed_dim, strict_img_size=False
        )
        # Unused by the forward pass; kept so released checkpoints load strictly and round-trip.
        if c.legacy_pos_len:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, c.legacy_pos_len, c.embed_dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, c.num_template_tokens, c.embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, c.num_search_tokens, c.embed_dim))
        # Stochastic depth grows linearly to drop_path at the last block (plain floats: meta-device safe).
        rates = [c.drop_path * i / max(c.depth - 1, 1) for i in range(max(c.depth, 1))]
        self.blocks = nn.ModuleList(
            Block(c.embed_dim, c.num_heads, c.hidden(i), c.qkv_bias, rates[i]) for i in range(c.depth)
        )
        self.norm = LayerNorm(c.embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.pos_embed_z, self.pos_embed_x):
            trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def embed(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """Tokens [template; search] with their position embeddings."""
        z = self.patch_embed(template) + self.pos_embed_z
        x = self.patch_embed(search) + self.pos_embed_x
        return torch.cat([z, x], dim=1)

    def start_state(self, tokens: torch.Tensor, template_mask: Optional[torch.Tensor] = None) -> TokenState:
        c = self.config
        return TokenState.start(tokens.shape[0], c.num_template_tokens, c.num_search_tokens, tokens.device, template_mask)

    def finish(self, tokens: torch.Tensor, state: TokenState) -> torch.Tensor:
        """Final norm, then eliminated search positions filled with zeros, original order restored."""
        return state.restore(self.norm(tokens))

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        template_mask: Optional[torch.Tensor] = None,
        keep_ratios: Optional[list[float]] = None,
    ) -> torch.Tensor:
        """All tokens after the final norm, search tokens in original order: (B, N_z + N_x, C)."""
        tokens = self.embed(template, search)
        state = self.start_state(tokens, template_mask)
        ratios = keep_ratios if keep_ratios is not None else [1.0] * len(self.blocks)
        for block, ratio in zip(self.blocks, ratios):
            tokens = block(tokens, state, ratio)
        return self.finish(tokens, state)
