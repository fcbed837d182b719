"""MixFormerV2: configs, the network against the release layout and an independent forward, release files."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from compresstracker import load_model
from compresstracker.checkpoints import save_release
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.families.mixformerv2 import MixFormerV2Config, MixFormerV2Net, config_from_state, named_config
from compresstracker.families.mixformerv2.weights import FORMAT


def release_keys_match(state) -> bool:
    return FORMAT.matches(set(state), {})
from tests.conftest import randomize_model


def _meta(name: str, **overrides) -> MixFormerV2Net:
    with torch.device("meta"):
        return MixFormerV2Net(named_config(name, **overrides))


def _count(state, prefix: str = "") -> int:
    return sum(v.numel() for k, v in state.items() if k.startswith(prefix))


@pytest.fixture(scope="module")
def tiny() -> MixFormerV2Net:
    return randomize_model(MixFormerV2Net(named_config("mixformerv2_tiny")), seed=3).eval()


def _inputs(config: MixFormerV2Config, seed: int = 0, batch: int = 2):
    gen = torch.Generator().manual_seed(seed)
    t, s = config.template_size, config.search_size
    return (torch.randn(batch, 3, t, t, generator=gen), torch.randn(batch, 3, t, t, generator=gen),
            torch.randn(batch, 3, s, s, generator=gen))


# --- configs and parameter counts ------------------------------------------------------------------

def test_parameter_counts_are_the_releases():
    b = _meta("mixformerv2_b").state_dict()
    assert _count(b) == 58_855_201
    assert _count(b, "backbone.") == 57_597_696
    assert _count(b, "backbone.blocks.0.") == 7_087_872
    assert _count(b, "box_head.") == 666_144 and _count(b, "score_head.") == 591_361
    s_net = _meta("mixformerv2_s")
    s = s_net.state_dict()
    assert _count(s) == 16_228_897
    assert _count(s, "backbone.") == 14_971_392 and _count(s, "backbone.blocks.0.") == 3_546_624
    # the fixed position tables are parameters too (frozen)
    assert sum(p.numel() for p in s_net.parameters()) == 16_228_897
    assert not s_net.backbone.pos_embed_s.requires_grad and s_net.backbone.reg_tokens.requires_grad


def test_state_dict_is_the_release_layout():
    state = _meta("mixformerv2_b").state_dict()
    D, F_ = 768, 96
    expected = {
        "backbone.pos_embed_s": (1, 324, D), "backbone.pos_embed_t": (1, 64, D),
        "backbone.reg_tokens": (1, 4, D), "backbone.pos_embed_reg": (1, 4, D),
        "backbone.patch_embed.proj.weight": (D, 3, 16, 16), "backbone.patch_embed.proj.bias": (D,),
        "box_head.layers.0.0.weight": (D, D), "box_head.layers.0.0.bias": (D,),
        "box_head.layers.0.1.weight": (D,), "box_head.layers.0.1.bias": (D,),
        "box_head.layers.1.0.weight": (F_, D), "box_head.layers.1.0.bias": (F_,),
        "box_head.layers.1.1.weight": (F_,), "box_head.layers.1.1.bias": (F_,),
        "score_head.layers.0.0.weight": (D, D), "score_head.layers.0.0.bias": (D,),
        "score_head.layers.1.weight": (1, D), "score_head.layers.1.bias": (1,),
    }
    for i in range(8):
        p = f"backbone.blocks.{i}."
        expected.update({
            p + "norm1.weight": (D,), p + "norm1.bias": (D,), p + "norm2.weight": (D,), p + "norm2.bias": (D,),
            p + "attn.qkv.weight": (3 * D, D), p + "attn.qkv.bias": (3 * D,),
            p + "attn.proj.weight": (D, D), p + "attn.proj.bias": (D,),
            p + "mlp.fc1.weight": (4 * D, D), p + "mlp.fc1.bias": (4 * D,),
            p + "mlp.fc2.weight": (D, 4 * D), p + "mlp.fc2.bias": (D,),
        })
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert release_keys_match(state)
    assert not release_keys_match({"backbone.blocks.0.norm1.weight": 0, "box_head.conv1_ctr.0.weight": 0})


def test_config_dict_round_trip_and_strictness():
    config = named_config("mixformerv2_s")
    data = config.to_dict()
    assert data["family"] == "mixformerv2" and data["search_factor"] == 4.4
    assert MixFormerV2Config.from_dict(data) == config
    with pytest.raises(ConfigError, match="unknown MixFormerV2 config keys: heads"):
        MixFormerV2Config.from_dict({**data, "heads": 12})
    with pytest.raises(ConfigError, match="not a MixFormerV2 config"):
        MixFormerV2Config.from_dict({**data, "family": "lighttrack"})
    with pytest.raises(ConfigError, match="not a multiple of patch_size"):
        config.replace(search_size=230)
    with pytest.raises(ConfigError, match="search_factor must be a positive finite number"):
        config.replace(search_factor=float("nan"))
    with pytest.raises(ConfigError, match="unknown MixFormerV2 config 'mixformerv2_l'"):
        named_config("mixformerv2_l")


@pytest.mark.parametrize("name", ["mixformerv2_b", "mixformerv2_s", "mixformerv2_tiny"])
def test_config_read_off_the_shapes(name):
    assert config_from_state(_meta(name).state_dict(), "x.pth.tar") == named_config(name)


def test_other_networks_get_a_custom_config():
    # a 4-block student of MixFormerV2-B: B's sizes and search factor, 12 heads of 64
    student = config_from_state(_meta("mixformerv2_b", depth=4).state_dict(), "student.pth.tar")
    assert (student.name, student.depth, student.num_heads, student.mlp_ratio) == ("mixformerv2_custom", 4, 12, 4.0)
    assert (student.search_size, student.template_size, student.search_factor, student.bins) == (288, 128, 5.0, 96)
    assert config_from_state(_meta("mixformerv2_s", bins=72).state_dict(), "s").bins == 72


def test_shape_reading_is_strict():
    state = _meta("mixformerv2_s").state_dict()
    missing = {k: v for k, v in state.items() if k != "box_head.layers.1.0.weight"}
    with pytest.raises(CheckpointError, match="key box_head.layers.1.0.weight is missing"):
        config_from_state(missing, "s.pth.tar")
    odd = {**state, "backbone.pos_embed_s": torch.empty(1, 195, 768, device="meta")}
    with pytest.raises(CheckpointError, match="backbone.pos_embed_s has shape .*square"):
        config_from_state(odd, "s.pth.tar")
    gap = {k: v for k, v in state.items() if not k.startswith("backbone.blocks.1.")}
    with pytest.raises(CheckpointError, match=r"blocks \[0, 2, 3\] are not numbered"):
        config_from_state(gap, "s.pth.tar")
    narrow = _meta("mixformerv2_tiny", embed_dim=96, num_heads=4).state_dict()
    with pytest.raises(CheckpointError, match="head count cannot be told"):
        config_from_state(narrow, "n.pth.tar")


# --- the network ---------------------------------------------------------------------------------

def test_position_tables_are_the_2d_sincos_of_the_spec():
    net = MixFormerV2Net(named_config("mixformerv2_tiny"))
    D, side = 64, 8
    table = net.backbone.pos_embed_s[0]
    k = torch.arange(D // 4, dtype=torch.float32)
    w = 1.0 / 10000 ** (k / (D // 4))
    for token in (0, 5, 13, 63):
        row, col = divmod(token, side)
        want = torch.cat([torch.sin(col * w), torch.cos(col * w), torch.sin(row * w), torch.cos(row * w)])
        torch.testing.assert_close(table[token], want, rtol=0, atol=1e-6)
    assert table.dtype == torch.float32 and net.backbone.pos_embed_t.shape == (1, 16, D)


def test_template_tokens_do_not_see_the_search_region(tiny):
    t, ot, s = _inputs(tiny.config)
    nt = tiny.num_template_tokens
    with torch.no_grad():
        base = tiny(t, ot, s)["tokens"]
        other_search = tiny(t, ot, s.flip(-1))["tokens"]
        other_template = tiny(t.flip(-1), ot, s)["tokens"]
    assert nt == 2 * 16 and base.shape == (2, tiny.config.num_tokens, 64)
    torch.testing.assert_close(other_search[:, :nt], base[:, :nt], rtol=0, atol=0)
    assert (other_search[:, nt:] - base[:, nt:]).abs().max() > 1e-3
    assert (other_template[:, nt:] - base[:, nt:]).abs().max() > 1e-3


def test_stage_wise_run_equals_forward(tiny):
    t, ot, s = _inputs(tiny.config, seed=1)
    with torch.no_grad():
        full = tiny(t, ot, s)
        x = tiny.embed(t, ot, s)
        for start, stop in ((0, 1), (1, 3), (3, 4)):
            for block in tiny.blocks[start:stop]:
                x = block(x)
        staged = tiny.head(x)
    for key in ("pred_boxes", "score", "prob", "tokens"):
        torch.testing.assert_close(staged[key], full[key], rtol=0, atol=0)
    assert full["pred_boxes"].shape == (2, 1, 4) and full["score"].shape == (2, 1) and full["prob"].shape == (2, 4, 32)


def test_box_decode_is_the_bin_expectation():
    for name in ("mixformerv2_b", "mixformerv2_s"):
        net = MixFormerV2Net(named_config(name, depth=1))
        S, bins = net.config.search_size, net.config.bins
        stride = S / bins
        for i in (0, 1, 40, bins - 1):
            one_hot = F.one_hot(torch.tensor(i), bins).float()
            assert math.isclose(float(net.box_head.decode(one_hot)), i * stride / S, rel_tol=1e-6, abs_tol=1e-7)
    assert math.isclose(stride, 7 / 3)


class _FixedSides(torch.nn.Module):
    """Box-head layers whose token k puts all probability on bin ``bins[k]``."""

    def __init__(self, bins: list[int], size: int):
        super().__init__()
        self.logits = 100.0 * F.one_hot(torch.tensor(bins), size).float()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(tokens.shape[0], -1, -1)


def test_tokens_are_left_right_top_bottom():
    net = MixFormerV2Net(named_config("mixformerv2_tiny")).eval()
    net.box_head.layers = _FixedSides([2, 10, 4, 20], 32)  # l, r, t, b in bins of 2 px on a 64 px crop
    with torch.no_grad():
        box = net(*_inputs(net.config, batch=1))["pred_boxes"][0, 0]
    l, r, t, b = (v * 2 / 64 for v in (2, 10, 4, 20))
    torch.testing.assert_close(box, torch.tensor([(l + r) / 2, (t + b) / 2, r - l, b - t]))


def _reference_forward(state: dict, D: int, heads: int, patch: int, bins: int, size: int, t, ot, s) -> tuple:
    """MixFormerV2 written out from the spec with plain torch ops: (pred_boxes, score logit)."""
    def linear(x, name):
        return x @ state[name + ".weight"].T + state[name + ".bias"]

    def layer_norm(x, name, eps):
        return F.layer_norm(x, (x.shape[-1],), state[name + ".weight"], state[name + ".bias"], eps)

    def patches(img):
        x = F.conv2d(img, state["backbone.patch_embed.proj.weight"], state["backbone.patch_embed.proj.bias"], stride=patch)
        return x.flatten(2).transpose(1, 2)

    x = torch.cat([
        patches(t) + state["backbone.pos_embed_t"], patches(ot) + state["backbone.pos_embed_t"],
        patches(s) + state["backbone.pos_embed_s"],
        (state["backbone.reg_tokens"] + state["backbone.pos_embed_reg"]).expand(t.shape[0], -1, -1),
    ], dim=1)
    n_t = 2 * state["backbone.pos_embed_t"].shape[1]
    B, N, _ = x.shape
    depth = len({k.split(".")[2] for k in state if k.startswith("backbone.blocks.")})
    for i in range(depth):
        p = f"backbone.blocks.{i}."
        h = layer_norm(x, p + "norm1", 1e-6)
        q, k, v = linear(h, p + "attn.qkv").view(B, N, 3, heads, D // heads).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) * (D // heads) ** -0.5
        allowed = torch.ones(N, N, dtype=torch.bool)
        allowed[:n_t, n_t:] = False  # template queries see only template keys
        attn = logits.masked_fill(~allowed, float("-inf")).softmax(-1)
        x = x + linear((attn @ v).transpose(1, 2).reshape(B, N, D), p + "attn.proj")
        h = linear(layer_norm(x, p + "norm2", 1e-6), p + "mlp.fc1")
        x = x + linear(0.5 * h * (1 + torch.erf(h / math.sqrt(2))), p + "mlp.fc2")
    tokens = x[:, -4:]
    h = torch.relu(layer_norm(linear(tokens, "box_head.layers.0.0"), "box_head.layers.0.1", 1e-5))
    prob = layer_norm(linear(h, "box_head.layers.1.0"), "box_head.layers.1.1", 1e-5).softmax(-1)
    side = (prob * torch.arange(bins) * (size / bins)).sum(-1) / size  # l, r, t, b
    l, r, top, bot = side.unbind(1)
    boxes = torch.stack([(l + r) / 2, (top + bot) / 2, r - l, bot - top], 1)[:, None]
    score = linear(torch.relu(linear(tokens, "score_head.layers.0.0")), "score_head.layers.1").mean(1)
    return boxes, score


def test_forward_matches_an_independent_implementation(tiny):
    c = tiny.config
    inputs = _inputs(c, seed=2)
    with torch.no_grad():
        out = tiny(*inputs)
        boxes, score = _reference_forward(tiny.state_dict(), c.embed_dim, c.num_heads, c.patch_size, c.bins, c.search_size, *inputs)
    torch.testing.assert_close(out["pred_boxes"], boxes, rtol=0, atol=1e-5)
    torch.testing.assert_close(out["score"], score, rtol=0, atol=1e-5)
    assert out["pred_boxes"].std() > 1e-3  # random weights give varied boxes, not a degenerate match


# --- release files -------------------------------------------------------------------------------

def test_release_file_round_trip(tiny, tmp_path):
    path = save_release(tiny, tmp_path / "tiny.pth.tar")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert all(type(v) is torch.Tensor for v in raw["net"].values())
    assert set(raw["net"]) == set(tiny.state_dict())
    loaded = load_model(path)
    assert loaded.config == tiny.config and not loaded.training
    inputs = _inputs(tiny.config, seed=4)
    with torch.no_grad():
        a, b = tiny(*inputs), loaded(*inputs)
    for key in ("pred_boxes", "score", "prob"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_official_style_file_reads_the_config_off_the_shapes(tmp_path):
    net = MixFormerV2Net(named_config("mixformerv2_tiny", depth=2, num_heads=1))
    path = tmp_path / "official.pth.tar"
    torch.save({"net": net.state_dict(), "epoch": 500, "net_type": "MixFormer"}, path)
    loaded = load_model(path)
    assert (loaded.config.name, loaded.config.depth, loaded.config.num_heads) == ("mixformerv2_custom", 2, 1)
    torch.save({"net": {**net.state_dict(), "backbone.extra": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="unexpected 1 keys: backbone.extra"):
        load_model(path)
    torch.save({"net": {k: v for k, v in net.state_dict().items() if not k.startswith("score_head.")}}, path)
    with pytest.raises(CheckpointError):  # no score head: not in MixFormerV2's layout
        load_model(path)
