"""Candidate elimination: token counts, CTR_POINT mask, restoring eliminated positions."""
from __future__ import annotations

import torch

from compresstracker.models import build_model, get_config
from compresstracker.families.ostrack.network import ctr_point_mask


def search_counts(model, template_mask=None) -> list[int]:
    """Search tokens leaving each block, read from the forward hooks."""
    counts: list[int] = []
    hooks = [
        block.register_forward_hook(lambda m, i, out: counts.append(out.shape[1] - model.config.num_template_tokens))
        for block in model.backbone.blocks
    ]
    c = model.config
    template, search = torch.randn(1, 3, c.template_size, c.template_size), torch.randn(1, 3, c.search_size, c.search_size)
    with torch.no_grad():
        out = model(template, search, template_mask)
    for hook in hooks:
        hook.remove()
    return counts, out


def test_ce_token_counts_256_180_126_89():
    torch.manual_seed(0)
    model = build_model("tiny_256_ce").eval()
    mask = ctr_point_mask(model.config)
    counts, out = search_counts(model, mask)
    assert counts == [256] * 3 + [180] * 3 + [126] * 3 + [89] * 3
    search = out["tokens"][0, 64:]
    assert search.shape == (256, 32)
    assert int((search.abs().sum(-1) == 0).sum()) == 256 - 89  # eliminated positions are zero vectors


def test_ce_state_records_original_positions():
    torch.manual_seed(1)
    model = build_model("tiny_256_ce").eval()
    seen = {}
    original = model.backbone.finish

    def spy(tokens, state):
        seen["index"], seen["removed"] = state.search_index.clone(), [r.clone() for r in state.removed]
        return original(tokens, state)

    model.backbone.finish = spy
    search_counts(model)  # no template mask: all template rows score
    assert seen["index"].shape == (1, 89) and [r.shape[1] for r in seen["removed"]] == [76, 54, 37]
    every = torch.cat([seen["index"], *seen["removed"]], dim=1)[0]
    assert sorted(every.tolist()) == list(range(256))  # each original position exactly once


def test_ce_off_keeps_every_token():
    model = build_model("tiny_256_ce").eval()
    model.ce_enabled = False
    counts, out = search_counts(model, ctr_point_mask(model.config))
    assert counts == [256] * 12
    assert int((out["tokens"][0, 64:].abs().sum(-1) == 0).sum()) == 0


def test_ctr_point_mask_centres():
    m8 = ctr_point_mask(get_config("ostrack_vitb_256_ce"), batch=2)
    assert m8.shape == (2, 64) and m8.dtype == torch.bool
    assert m8.sum(1).tolist() == [1, 1] and m8[0].view(8, 8)[3, 3]
    m12 = ctr_point_mask(get_config("ostrack_vitb_384_ce"))
    assert m12.shape == (1, 144) and m12.sum() == 1 and m12[0].view(12, 12)[5, 5]
    assert int(m12[0].nonzero()) == 5 * 12 + 5
