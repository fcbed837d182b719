"""LightTrack networks: parameter counts, key layout, and a float64 forward written from the spec."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from compresstracker.families.lighttrack.network import LightTrackNet, MBConvBlock
from compresstracker.families.lighttrack.arch import LightTrackConfig
from tests.conftest import randomize_model

MOBILE = LightTrackConfig()
# A small config with a stride-8 output and skips inside a tower (CPU-cheap).
SMALL = LightTrackConfig(
    name="small",
    arch="back_00123450123450123450+cls_010201222+reg_200000000_ops_12",
    stem_channels=8, stage_channels=(8, 16, 24, 24), head_widths=(8, 12, 16), adj_channels=16,
    template_size=64, search_size=128,
)


def test_mobile_has_exactly_1969397_parameters():
    with torch.device("meta"):
        net = LightTrackNet(MOBILE)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(net) == 1_969_397
    # The spec's split: backbone, neck BN, correlation/fusion, heads.
    assert (count(net.features), count(net.neck), count(net.feature_fusor), count(net.head)) == (
        1_252_656, 384, 16_640, 699_717,
    )


def test_official_key_layout():
    with torch.device("meta"):
        keys = set(LightTrackNet(MOBILE).state_dict())
    for key in (
        "features.conv_stem.weight", "features.bn1.num_batches_tracked",
        "features.blocks.0.0.conv_dw.weight", "features.blocks.0.0.se.conv_reduce.bias", "features.blocks.0.0.conv_pw.weight",
        "features.blocks.1.0.conv_pw.weight", "features.blocks.4.2.conv_pwl.weight", "features.blocks.4.2.bn3.running_var",
        "features.blocks.2.3.se.conv_expand.weight",
        "neck.BN_z.weight", "neck.BN_x.running_mean",
        "feature_fusor.pw_corr.CA_layer.fc1.weight", "feature_fusor.pw_corr.CA_layer.fc2.bias",
        "feature_fusor.adj_layer.weight", "feature_fusor.adj_layer.bias",
        "head.cls_tower.5.conv1.weight", "head.cls_tower.5.pointwise.weight", "head.cls_tower.5.BN.weight",
        "head.reg_tower.7.BN.running_mean", "head.cls_perd.cls_pred.weight", "head.reg_pred.bbox_pred.bias",
    ):
        assert key in keys, key
    assert "features.blocks.4.3.conv_pw.weight" not in keys  # the output is c96 block 2
    assert not any(k.startswith(("head.cls_tower.6", "features.blocks.5")) for k in keys)
    with torch.device("meta"):
        net = LightTrackNet(MOBILE)
    assert tuple(net.features.blocks[1][0].conv_dw.weight.shape) == (64, 1, 7, 7)  # 16 x 4
    assert tuple(net.features.blocks[1][1].se.conv_reduce.weight.shape) == (40, 144, 1, 1)  # make_divisible(36, 8)


def test_block_is_a_reusable_building_block():
    block = MBConvBlock(16, 24, kernel=5, expansion=6, stride=2).eval()
    assert block(torch.zeros(1, 16, 32, 32)).shape == (1, 24, 16, 16)
    assert not block.has_residual and MBConvBlock(24, 24, 3, 4).has_residual


# --- float64 reference written from the spec -------------------------------------------------------

def _bn(sd, prefix, t):
    shape = (1, -1, 1, 1)
    mean, var = sd[f"{prefix}.running_mean"].view(shape), sd[f"{prefix}.running_var"].view(shape)
    return (t - mean) / torch.sqrt(var + 1e-5) * sd[f"{prefix}.weight"].view(shape) + sd[f"{prefix}.bias"].view(shape)


def _swish(t):
    return t * torch.sigmoid(t)


def _conv(sd, prefix, t, stride=1, depthwise=False, bias=False):
    w = sd[f"{prefix}.weight"]
    b = sd[f"{prefix}.bias"] if bias else None
    return F.conv2d(t, w, b, stride=stride, padding=w.shape[-1] // 2, groups=t.shape[1] if depthwise else 1)


def _se(sd, prefix, t):
    s = t.mean((2, 3), keepdim=True)
    s = torch.relu(_conv(sd, f"{prefix}.conv_reduce", s, bias=True))
    s = _conv(sd, f"{prefix}.conv_expand", s, bias=True)
    return t * torch.clamp(s + 3, 0, 6) / 6  # hard sigmoid: relu6(x + 3) / 6


def _backbone(sd, config, img):
    t = _swish(_bn(sd, "features.bn1", _conv(sd, "features.conv_stem", img, stride=2)))
    p = "features.blocks.0.0"
    u = _swish(_bn(sd, f"{p}.bn1", _conv(sd, f"{p}.conv_dw", t, depthwise=True)))
    t = t + _bn(sd, f"{p}.bn2", _conv(sd, f"{p}.conv_pw", _se(sd, f"{p}.se", u)))
    for stage, block, _, _ in config.arch.built_blocks():
        p = f"features.blocks.{stage + 1}.{block}"
        stride = config.stage_strides[stage] if block == 0 else 1
        u = _swish(_bn(sd, f"{p}.bn1", _conv(sd, f"{p}.conv_pw", t)))
        u = _swish(_bn(sd, f"{p}.bn2", _conv(sd, f"{p}.conv_dw", u, stride=stride, depthwise=True)))
        u = _bn(sd, f"{p}.bn3", _conv(sd, f"{p}.conv_pwl", _se(sd, f"{p}.se", u)))
        t = u + t if u.shape == t.shape and stride == 1 else u
    return t


def reference_forward(sd, config, z, x):
    zf = _bn(sd, "neck.BN_z", _backbone(sd, config, z))
    xf = _bn(sd, "neck.BN_x", _backbone(sd, config, x))
    # Pixel-wise correlation: channel i = template pixel i (row-major) as a 1x1 kernel.
    kernels = zf.flatten(2).transpose(1, 2)  # (B, Nz, C)
    corr = torch.einsum("bnc,bchw->bnhw", kernels, xf)
    a = torch.relu(_conv(sd, "feature_fusor.pw_corr.CA_layer.fc1", corr.mean((2, 3), keepdim=True), bias=True))
    corr = corr * torch.sigmoid(_conv(sd, "feature_fusor.pw_corr.CA_layer.fc2", a, bias=True))
    feat = _conv(sd, "feature_fusor.adj_layer", corr, bias=True)
    outs = {}
    for head, tower in (("cls", "cls_tower"), ("reg", "reg_tower")):
        t = feat
        for i in range(len(getattr(config.arch, head).kernels)):
            p = f"head.{tower}.{i}"
            t = torch.relu(_bn(sd, f"{p}.BN", _conv(sd, f"{p}.pointwise", _conv(sd, f"{p}.conv1", t, depthwise=True))))
        outs[head] = t
    return {
        "cls": 0.1 * _conv(sd, "head.cls_perd.cls_pred", outs["cls"], bias=True),
        "reg": 16 * torch.relu(_conv(sd, "head.reg_pred.bbox_pred", outs["reg"], bias=True)),
    }


@pytest.mark.parametrize("config, sizes", [
    (MOBILE, [(127, 256), (128, 288)]),
    (SMALL, [(64, 128), (63, 144)]),
])
def test_forward_matches_float64_reference(config, sizes):
    net = randomize_model(LightTrackNet(config), seed=3).double()
    sd = {k: v.double() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    for tz, sx in sizes:
        z = torch.randn(1, 3, tz, tz, generator=gen, dtype=torch.float64)
        x = torch.randn(1, 3, sx, sx, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            out, ref = net(z, x), reference_forward(sd, config, z, x)
        side = math.ceil(sx / config.stride)
        assert out["cls"].shape == (1, 1, side, side) and out["reg"].shape == (1, 4, side, side)
        torch.testing.assert_close(out["cls"], ref["cls"], rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(out["reg"], ref["reg"], rtol=1e-9, atol=1e-9)
        assert ref["reg"].abs().max() > 0 and ref["cls"].std() > 0  # not a degenerate comparison


def test_template_and_track_split_the_forward():
    net = randomize_model(LightTrackNet(SMALL), seed=1)
    z, x = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        whole = net(z, x)
        zf = net.template(z)
        tracked, explicit = net.track(x), net.track(x, zf)
    assert zf.shape == (1, 16, 8, 8)
    for out in (tracked, explicit):
        assert torch.equal(out["cls"], whole["cls"]) and torch.equal(out["reg"], whole["reg"])
