"""LightTrack networks built from a :class:`LightTrackConfig`, with the official state-dict key names.

Layout (keys): ``features`` (``conv_stem``, ``bn1``, ``blocks.{s}.{b}``: blocks.0 the fixed
depthwise-separable block, blocks.1.. the MBConv stages), ``neck`` (``BN_z``, ``BN_x``),
``feature_fusor`` (``pw_corr.CA_layer.fc1/fc2``, ``adj_layer``), ``head`` (``cls_tower.{i}``,
``reg_tower.{i}``, ``cls_perd.cls_pred`` (sic), ``reg_pred.bbox_pred``). Released checkpoints load
with no key map. The blocks are standalone modules so a supernet can hold every choice and cut a
path out into this layout.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from timm.layers import Swish, hard_sigmoid, make_divisible
from torch import nn

from compresstracker.families.lighttrack.arch import LightTrackConfig

__all__ = [
    "ChannelAttention", "ClsPredictor", "DepthwiseSeparableBlock", "LightTrackBackbone", "LightTrackHead",
    "LightTrackNet", "MBConvBlock", "NeckBN", "PixelwiseFusor", "RegPredictor", "SqueezeExcite", "TowerLayer",
    "pixelwise_correlation",
]

BN_EPS = 1e-5


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    """A convolution with symmetric padding kernel // 2."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=bias)


class SqueezeExcite(nn.Module):
    """Squeeze-excite: global mean, 1x1 reduce (bias), ReLU, 1x1 expand (bias), hard-sigmoid gate."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act1 = nn.ReLU()
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x))))
        return x * hard_sigmoid(scale)


class DepthwiseSeparableBlock(nn.Module):
    """dw kxk -> BN -> Swish -> SE -> pw 1x1 -> BN (no activation); residual when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, se_ratio: float = 0.25, divisor: int = 8):
        super().__init__()
        self.has_residual = stride == 1 and in_ch == out_ch
        self.conv_dw = _conv(in_ch, in_ch, kernel, stride, groups=in_ch)
        self.bn1 = nn.BatchNorm2d(in_ch, eps=BN_EPS)
        self.act1 = Swish()
        self.se = SqueezeExcite(in_ch, make_divisible(in_ch * se_ratio, divisor))
        self.conv_pw = _conv(in_ch, out_ch, 1)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv_pw(self.se(self.act1(self.bn1(self.conv_dw(x))))))
        return out + x if self.has_residual else out


class MBConvBlock(nn.Module):
    """Inverted residual: pw expand -> BN -> Swish -> dw kxk -> BN -> Swish -> SE -> pw linear -> BN.

    The expanded width is ``make_divisible(in_ch * expansion, divisor)``, the SE width
    ``make_divisible(expanded * se_ratio, divisor)``; residual when stride 1 and in_ch == out_ch.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, expansion: int, stride: int = 1,
        se_ratio: float = 0.25, divisor: int = 8,
    ):
        super().__init__()
        mid = make_divisible(in_ch * expansion, divisor)
        self.has_residual = stride == 1 and in_ch == out_ch
        self.conv_pw = _conv(in_ch, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.act1 = Swish()
        self.conv_dw = _conv(mid, mid, kernel, stride, groups=mid)
        self.bn2 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.act2 = Swish()
        self.se = SqueezeExcite(mid, make_divisible(mid * se_ratio, divisor))
        self.conv_pwl = _conv(mid, out_ch, 1)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv_pw(x)))
        out = self.se(self.act2(self.bn2(self.conv_dw(out))))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_residual else out


class LightTrackBackbone(nn.Module):
    """Stem (3x3 stride 2, BN, Swish), the depthwise-separable block, MBConv blocks up to the output."""

    def __init__(self, config: LightTrackConfig):
        super().__init__()
        c = config
        self.conv_stem = _conv(3, c.stem_channels, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(c.stem_channels, eps=BN_EPS)
        self.act1 = Swish()
        stages: list[nn.Sequential] = [
            nn.Sequential(DepthwiseSeparableBlock(c.stem_channels, c.stem_channels, 3, 1, c.se_ratio, c.divisor))
        ]
        in_ch = c.stem_channels
        for stage, block, kernel, expansion in c.arch.built_blocks():
            if block == 0:
                stages.append(nn.Sequential())
            out_ch = c.stage_channels[stage]
            stride = c.stage_strides[stage] if block == 0 else 1
            stages[-1].append(MBConvBlock(in_ch, out_ch, kernel, expansion, stride, c.se_ratio, c.divisor))
            in_ch = out_ch
        self.blocks = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.act1(self.bn1(self.conv_stem(x))))


class NeckBN(nn.Module):
    """Separate BatchNorms for template and search features before the correlation."""

    def __init__(self, channels: int):
        super().__init__()
        self.BN_z = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.BN_x = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.BN_z(zf), self.BN_x(xf)


def pixelwise_correlation(zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
    """Every template pixel as a 1x1 kernel over the search features: (B, Hz*Wz, Hx, Wx).

    Channel i is template pixel i in row-major order; computed as one batched matrix product.
    """
    b, c, h, w = xf.shape
    return torch.matmul(zf.reshape(b, c, -1).transpose(1, 2), xf.reshape(b, c, -1)).reshape(b, -1, h, w)


class ChannelAttention(nn.Module):
    """Channel attention without bottleneck: mean -> 1x1 (bias) -> ReLU -> 1x1 (bias) -> sigmoid, times x."""

    def __init__(self, channels: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels, 1, bias=True)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(channels, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class _PixelwiseCA(nn.Module):
    """Holds the channel attention under the official name ``pw_corr.CA_layer``."""

    def __init__(self, channels: int):
        super().__init__()
        self.CA_layer = ChannelAttention(channels)

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return self.CA_layer(pixelwise_correlation(zf, xf))


class PixelwiseFusor(nn.Module):
    """Pixel-wise correlation, channel attention, 1x1 conv (bias) to ``out_channels``."""

    def __init__(self, correlation_channels: int, out_channels: int):
        super().__init__()
        self.pw_corr = _PixelwiseCA(correlation_channels)
        self.adj_layer = nn.Conv2d(correlation_channels, out_channels, 1, bias=True)

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return self.adj_layer(self.pw_corr(zf, xf))


class TowerLayer(nn.Module):
    """DSConv tower layer: dw kxk (no bias) -> pw 1x1 (no bias) -> BN -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int):
        super().__init__()
        self.conv1 = _conv(in_ch, in_ch, kernel, groups=in_ch)
        self.pointwise = _conv(in_ch, out_ch, 1)
        self.BN = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.ReLU = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ReLU(self.BN(self.pointwise(self.conv1(x))))


class ClsPredictor(nn.Module):
    """3x3 conv (bias) to one logit channel, times 0.1."""

    def __init__(self, in_ch: int):
        super().__init__()
        self.cls_pred = _conv(in_ch, 1, 3, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.1 * self.cls_pred(x)


class RegPredictor(nn.Module):
    """3x3 conv (bias) to the (l, t, r, b) distances, ReLU, times ``scale`` (the stride, 16)."""

    def __init__(self, in_ch: int, scale: float = 16.0):
        super().__init__()
        self.scale = scale
        self.bbox_pred = _conv(in_ch, 4, 3, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bbox_pred(x)) * self.scale


def tower(in_ch: int, width: int, kernels: tuple[int, ...]) -> nn.Sequential:
    """The built layers of a head tower (skips hold no layer, so indices count built layers)."""
    layers = [TowerLayer(in_ch if i == 0 else width, width, k) for i, k in enumerate(kernels)]
    return nn.Sequential(*layers)


class LightTrackHead(nn.Module):
    """Classification and regression towers on the fused features, and their predictors."""

    def __init__(self, config: LightTrackConfig):
        super().__init__()
        c = config
        cls_width, reg_width = c.head_widths[c.arch.cls.width], c.head_widths[c.arch.reg.width]
        self.cls_tower = tower(c.adj_channels, cls_width, c.arch.cls.kernels)
        self.reg_tower = tower(c.adj_channels, reg_width, c.arch.reg.kernels)
        self.cls_perd = ClsPredictor(cls_width)  # sic: the official name
        self.reg_pred = RegPredictor(reg_width, c.reg_scale)

    def forward(self, feat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"cls": self.cls_perd(self.cls_tower(feat)), "reg": self.reg_pred(self.reg_tower(feat))}


class LightTrackNet(nn.Module):
    """``forward(template, search)`` -> ``{"cls": (B,1,S,S) logits, "reg": (B,4,S,S) l,t,r,b pixels}``.

    :meth:`template` computes the template features once (kept on the module, as the official
    tracker keeps them); :meth:`track` runs the search branch against them.
    """

    def __init__(self, config: LightTrackConfig):
        super().__init__()
        self.config = config
        self.features = LightTrackBackbone(config)
        self.neck = NeckBN(config.output_channels)
        self.feature_fusor = PixelwiseFusor(config.correlation_channels, config.adj_channels)
        self.head = LightTrackHead(config)
        self.zf: Optional[torch.Tensor] = None

    def template(self, z: torch.Tensor) -> torch.Tensor:
        """Backbone features of the template crop (before the neck BN); also kept for :meth:`track`."""
        self.zf = self.features(z)
        return self.zf

    def track(self, x: torch.Tensor, zf: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """Search branch: backbone, neck BNs, correlation with ``zf`` (default: the kept template), heads."""
        if zf is None:
            if self.zf is None:
                raise RuntimeError("LightTrackNet.track() needs template features: call template(z) first")
            zf = self.zf
        zf, xf = self.neck(zf, self.features(x))
        return self.head(self.feature_fusor(zf, xf))

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.track(search, self.features(template))
