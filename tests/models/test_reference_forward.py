"""OSTrackNet against a plain re-computation of OSTrack's forward pass, written from the spec.

Everything below uses explicit matmuls, softmax, LayerNorm and BatchNorm on the model's own
parameters (in float64), one sample at a time, with candidate elimination by a Python sort.
"""
from __future__ import annotations

import math

import pytest
import torch

from compresstracker.families.ostrack.config import OSTrackConfig
from compresstracker.families.ostrack.network import OSTrackNet, ctr_point_mask

CONFIG = OSTrackConfig(
    arch="reference_test", embed_dim=32, depth=5, num_heads=2, patch_size=8, template_size=32,
    search_size=64, ce_layers=(1, 3), ce_keep_ratios=(0.7, 0.5), head_channels=16, legacy_pos_len=0,
)


def layer_norm(x, w, b, eps=1e-6):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def softmax(a):
    e = torch.exp(a - a.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def linear(x, P, name):
    return x @ P[f"{name}.weight"].T + P[f"{name}.bias"]


def patch_tokens(img, P, p):
    """(C, H, W) -> (H/p * W/p, D): row-major patches times the flattened conv kernel."""
    C, H, W = img.shape
    patches = img.reshape(C, H // p, p, W // p, p).permute(1, 3, 0, 2, 4).reshape(-1, C * p * p)
    weight = P["backbone.patch_embed.proj.weight"]
    return patches @ weight.reshape(weight.shape[0], -1).T + P["backbone.patch_embed.proj.bias"]


def attention(x, P, name, heads):
    n, dim = x.shape
    d = dim // heads
    q, k, v = linear(x, P, f"{name}.qkv").reshape(n, 3, heads, d).permute(1, 2, 0, 3)  # each (heads, n, d)
    probs = softmax((q @ k.transpose(-2, -1)) * d**-0.5)
    out = (probs @ v).transpose(0, 1).reshape(n, dim)
    return linear(out, P, f"{name}.proj"), probs


def conv(x, weight, bias, padding):
    """Convolution as a matmul over unfolded patches: (Cin, H, W) -> (Cout, H, W)."""
    cin, h, w = x.shape
    k = weight.shape[-1]
    cols = torch.nn.functional.unfold(x[None], k, padding=padding)[0]  # (Cin*k*k, H*W)
    return (weight.reshape(weight.shape[0], -1) @ cols + bias[:, None]).reshape(-1, h, w)


def tower(feat, P, branch):
    x = feat
    for j in range(1, 5):
        x = conv(x, P[f"box_head.conv{j}_{branch}.0.weight"], P[f"box_head.conv{j}_{branch}.0.bias"], 1)
        bn = f"box_head.conv{j}_{branch}.1"
        x = (x - P[f"{bn}.running_mean"][:, None, None]) / torch.sqrt(P[f"{bn}.running_var"][:, None, None] + 1e-5)
        x = torch.relu(x * P[f"{bn}.weight"][:, None, None] + P[f"{bn}.bias"][:, None, None])
    return conv(x, P[f"box_head.conv5_{branch}.weight"], P[f"box_head.conv5_{branch}.bias"], 0)


def reference(model, template, search, mask, ce: bool) -> dict[str, torch.Tensor]:
    """One sample: template (3, Hz, Wz), search (3, Hx, Wx), mask (L_t,) bool or None."""
    c = model.config
    P = {k: v.double() for k, v in model.state_dict().items()}
    z = patch_tokens(template.double(), P, c.patch_size) + P["backbone.pos_embed_z"][0]
    x = patch_tokens(search.double(), P, c.patch_size) + P["backbone.pos_embed_x"][0]
    lt = z.shape[0]
    tokens = torch.cat([z, x])
    position = list(range(x.shape[0]))  # original search position of each search token still present
    rows = mask.nonzero()[:, 0].tolist() if mask is not None else list(range(lt))
    for i in range(c.depth):
        name = f"backbone.blocks.{i}"
        h = layer_norm(tokens, P[f"{name}.norm1.weight"], P[f"{name}.norm1.bias"])
        attn_out, probs = attention(h, P, f"{name}.attn", c.num_heads)
        tokens = tokens + attn_out
        if ce and i in c.ce_layers:
            ls = tokens.shape[0] - lt
            score = probs[:, rows, lt:].mean(dim=1).mean(dim=0)  # over selected template rows, then heads
            order = sorted(range(ls), key=lambda j: -float(score[j]))
            kept = order[: math.ceil(c.keep_ratio(i) * ls)]
            tokens = torch.cat([tokens[:lt], tokens[lt:][kept]])
            position = [position[j] for j in kept]
        h = layer_norm(tokens, P[f"{name}.norm2.weight"], P[f"{name}.norm2.bias"])
        tokens = tokens + linear(gelu(linear(h, P, f"{name}.mlp.fc1")), P, f"{name}.mlp.fc2")
    tokens = layer_norm(tokens, P["backbone.norm.weight"], P["backbone.norm.bias"])
    search_tokens = torch.zeros(c.num_search_tokens, c.embed_dim, dtype=torch.float64)
    search_tokens[position] = tokens[lt:]
    f = c.search_feat
    feat = search_tokens.T.reshape(c.embed_dim, f, f)  # token k -> row k // f, column k % f
    score_map = torch.sigmoid(tower(feat, P, "ctr")).clamp(1e-4, 1 - 1e-4)
    size_map = torch.sigmoid(tower(feat, P, "size")).clamp(1e-4, 1 - 1e-4)
    offset_map = tower(feat, P, "offset")
    idx = int(score_map.flatten().argmax())
    iy, ix = idx // f, idx % f
    off, size = offset_map[:, iy, ix], size_map[:, iy, ix]
    box = torch.stack([(ix + off[0]) / f, (iy + off[1]) / f, size[0], size[1]])
    return {
        "tokens": torch.cat([tokens[:lt], search_tokens]), "score_map": score_map, "size_map": size_map,
        "offset_map": offset_map, "pred_boxes": box,
    }


@pytest.fixture(scope="module")
def model() -> OSTrackNet:
    torch.manual_seed(0)
    net = OSTrackNet(CONFIG).eval()
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            elif tensor.is_floating_point():  # independent of the default init: norm scales near 1, the rest near 0
                centre = 1.0 if name.endswith("weight") and tensor.dim() == 1 else 0.0
                tensor.copy_(centre + torch.randn_like(tensor) * 0.2)
    return net


@pytest.mark.parametrize("ce", [True, False], ids=["ce", "no-ce"])
@pytest.mark.parametrize("with_mask", [True, False], ids=["ctr-point", "no-mask"])
def test_tracker_net_matches_the_reference(model, ce, with_mask):
    g = torch.Generator().manual_seed(3)
    template, search = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 64, 64, generator=g)
    mask = ctr_point_mask(CONFIG, batch=2) if with_mask else None
    model.ce_enabled = ce
    with torch.no_grad():
        out = model(template, search, mask)
    for b in range(2):
        ref = reference(model, template[b], search[b], None if mask is None else mask[b], ce)
        for key in ("tokens", "score_map", "size_map", "offset_map"):
            torch.testing.assert_close(out[key][b].double(), ref[key], rtol=0, atol=1e-5, msg=key)
        torch.testing.assert_close(out["pred_boxes"][b, 0].double(), ref["pred_boxes"], rtol=0, atol=1e-5)
    zero_rows = int((out["tokens"][:, 16:].abs().sum(-1) == 0).sum())
    assert zero_rows == (2 * (64 - 23) if ce else 0)  # CE keeps 64 -> ceil(0.7 * 64) = 45 -> ceil(0.5 * 45) = 23


def test_mask_changes_the_eliminated_set(model):
    """CTR_POINT scores with one template row, the unmasked path with all rows: kept sets differ."""
    g = torch.Generator().manual_seed(4)
    template, search = torch.randn(1, 3, 32, 32, generator=g), torch.randn(1, 3, 64, 64, generator=g)
    model.ce_enabled = True
    with torch.no_grad():
        masked = model(template, search, ctr_point_mask(CONFIG))["tokens"][0, 16:]
        unmasked = model(template, search)["tokens"][0, 16:]
    assert not torch.equal(masked.abs().sum(-1) == 0, unmasked.abs().sum(-1) == 0)
