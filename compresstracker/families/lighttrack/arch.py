"""LightTrack architectures as values: the searched path (:class:`LightTrackArch`) and every other
number that builds a network (:class:`LightTrackConfig`).

A path is what LightTrack's search picks: a (kernel, expansion) choice per backbone block, the
block whose output feeds the correlation, and per head a width and eight tower layers. It converts
exactly to and from the official path string, e.g. LightTrack-Mobile::

    back_04502514044521042540+cls_211000022+reg_100000111_ops_32

``back_``: a leading 0 (the fixed depthwise-separable block), one choice digit per block of the
stages of 2, 4, 4, 4, 4 blocks (24, 40, 80, 96 and 192 channels; the 192-channel genes are kept in
the string but never built), a trailing 0. ``cls_`` / ``reg_``: a width index, then eight layer
ops (0: DSConv 3x3, 1: DSConv 5x5, 2: skip; the first layer never skips). ``_ops_XY``: the output
block, stage X (0 = the 24-channel stage) and block Y within it, both 0-based.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from compresstracker.errors import ConfigError

__all__ = [
    "BACKBONE_CHOICES", "HEAD_OPS", "LIMITS", "MOBILE_PATH", "STAGE_BLOCKS", "TOWER_LAYERS", "UNUSED_STAGE_BLOCKS",
    "HeadArch", "LightTrackArch", "LightTrackConfig", "backbone_choice",
]

# Choice index -> (depthwise kernel, expansion ratio), the official order.
BACKBONE_CHOICES: tuple[tuple[int, int], ...] = ((3, 4), (3, 6), (5, 4), (5, 6), (7, 4), (7, 6))
# Tower layer op index -> depthwise kernel of a DSConv layer; None is skip.
HEAD_OPS: tuple[int | None, ...] = (3, 5, None)
SKIP = HEAD_OPS.index(None)
# Blocks of the searchable stages that can be built (24, 40, 80, 96 channels) ...
STAGE_BLOCKS: tuple[int, ...] = (2, 4, 4, 4)
# ... and of the 192-channel stage, whose genes the path string carries but no tracker builds.
UNUSED_STAGE_BLOCKS = 4
TOWER_LAYERS = 8
# Stages whose blocks may feed the correlation (stride 8 or 16): the official 12 output positions.
OUTPUT_STAGES: tuple[int, ...] = (1, 2, 3)
MOBILE_PATH = "back_04502514044521042540+cls_211000022+reg_100000111_ops_32"

_PATH_RE = re.compile(r"^back_(\d+)\+cls_(\d+)\+reg_(\d+)_ops_(\d)(\d)$")


def _construct(cls: type, data: dict[str, Any], what: str) -> Any:
    """``cls(**data)``; unknown keys or bad values are a ConfigError naming them."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ConfigError(f"unknown {what} keys: {', '.join(unknown)}")
    try:
        return cls(**data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {what} ({exc})") from None


def backbone_choice(kernel: int, expansion: int) -> int:
    """The choice index of a (kernel, expansion) pair."""
    try:
        return BACKBONE_CHOICES.index((kernel, expansion))
    except ValueError:
        raise ConfigError(
            f"no backbone choice has kernel {kernel} and expansion {expansion}; choices: {list(BACKBONE_CHOICES)}"
        ) from None


@dataclass(frozen=True)
class HeadArch:
    """One head: ``width`` indexes the config's head widths; ``ops`` index :data:`HEAD_OPS` per layer."""

    width: int
    ops: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(int(o) for o in self.ops))
        if len(self.ops) != TOWER_LAYERS:
            raise ConfigError(f"a head has {TOWER_LAYERS} layer ops, got {len(self.ops)}")
        if any(not 0 <= o < len(HEAD_OPS) for o in self.ops):
            raise ConfigError(f"head layer ops must lie in 0..{len(HEAD_OPS) - 1}, got {list(self.ops)}")
        if self.ops[0] == SKIP:
            raise ConfigError("the first layer of a head cannot be skip")
        if not 0 <= self.width < 10:
            raise ConfigError(f"head width index must be one digit, got {self.width}")

    @property
    def kernels(self) -> tuple[int, ...]:
        """Kernel of each built tower layer, in order (skips removed)."""
        return tuple(HEAD_OPS[o] for o in self.ops if o != SKIP)

    @classmethod
    def from_kernels(cls, width: int, kernels: tuple[int, ...] | list[int]) -> "HeadArch":
        """The canonical head with these built layers: layers first, skips at the end.

        Where the skips sit does not change the network, so a head read off weights takes this form.
        """
        if not 1 <= len(kernels) <= TOWER_LAYERS:
            raise ConfigError(f"a head has 1 to {TOWER_LAYERS} layers, got {len(kernels)}")
        try:
            ops = [HEAD_OPS.index(k) for k in kernels]
        except ValueError:
            raise ConfigError(f"tower kernels must be 3 or 5, got {list(kernels)}") from None
        return cls(width, tuple(ops + [SKIP] * (TOWER_LAYERS - len(ops))))

    def to_digits(self) -> str:
        return f"{self.width}" + "".join(str(o) for o in self.ops)


@dataclass(frozen=True)
class LightTrackArch:
    """A LightTrack path: backbone choices, output block, and the two heads."""

    backbone: tuple[int, ...]  # one index into BACKBONE_CHOICES per block of STAGE_BLOCKS
    output: tuple[int, int]  # (stage, block) as the official "_ops_XY" suffix encodes it
    cls: HeadArch
    reg: HeadArch
    unused: tuple[int, ...] = (0,) * UNUSED_STAGE_BLOCKS  # the 192-channel genes: kept, never built

    def __post_init__(self) -> None:
        object.__setattr__(self, "backbone", tuple(int(c) for c in self.backbone))
        object.__setattr__(self, "output", tuple(int(c) for c in self.output))
        object.__setattr__(self, "unused", tuple(int(c) for c in self.unused))
        for name in ("cls", "reg"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, HeadArch(int(value["width"]), tuple(value["ops"])))
        if len(self.backbone) != sum(STAGE_BLOCKS):
            raise ConfigError(f"a backbone path has {sum(STAGE_BLOCKS)} choices, got {len(self.backbone)}")
        if len(self.unused) != UNUSED_STAGE_BLOCKS:
            raise ConfigError(f"the unused 192-channel stage has {UNUSED_STAGE_BLOCKS} genes, got {len(self.unused)}")
        if any(not 0 <= c < len(BACKBONE_CHOICES) for c in self.backbone + self.unused):
            raise ConfigError(f"backbone choices must lie in 0..{len(BACKBONE_CHOICES) - 1}")
        if len(self.output) != 2:
            raise ConfigError(f"the output position is (stage, block), got {list(self.output)}")
        stage, block = self.output
        if stage not in OUTPUT_STAGES or not 0 <= block < STAGE_BLOCKS[stage]:
            positions = ", ".join(f"{s}{b}" for s in OUTPUT_STAGES for b in range(STAGE_BLOCKS[s]))
            raise ConfigError(f"output position {stage}{block} is not one of {positions}")

    # Structure -------------------------------------------------------------------------------
    def stage_choices(self, stage: int) -> tuple[int, ...]:
        """The choices of one searchable stage (0 = 24 channels), built or not."""
        start = sum(STAGE_BLOCKS[:stage])
        return self.backbone[start:start + STAGE_BLOCKS[stage]]

    def built_blocks(self) -> list[tuple[int, int, int, int]]:
        """(stage, block, kernel, expansion) of every built MBConv block, up to the output block."""
        out_stage, out_block = self.output
        blocks = []
        for stage in range(out_stage + 1):
            last = out_block if stage == out_stage else STAGE_BLOCKS[stage] - 1
            for block, choice in enumerate(self.stage_choices(stage)[:last + 1]):
                blocks.append((stage, block, *BACKBONE_CHOICES[choice]))
        return blocks

    # Path string -----------------------------------------------------------------------------
    def to_path(self) -> str:
        """The official path string."""
        back = "0" + "".join(map(str, self.backbone + self.unused)) + "0"
        return f"back_{back}+cls_{self.cls.to_digits()}+reg_{self.reg.to_digits()}_ops_{self.output[0]}{self.output[1]}"

    @classmethod
    def from_path(cls, path: str) -> "LightTrackArch":
        """Parse an official path string; anything else is a ConfigError naming what is wrong."""
        match = _PATH_RE.match(path.strip())
        if match is None:
            raise ConfigError(
                f"{path!r} is not a LightTrack path string (expected back_<digits>+cls_<9 digits>+reg_<9 digits>_ops_<2 digits>, "
                f"e.g. {MOBILE_PATH})"
            )
        back, cls_digits, reg_digits, stage, block = match.groups()
        genes = sum(STAGE_BLOCKS) + UNUSED_STAGE_BLOCKS
        if len(back) != genes + 2 or back[0] != "0" or back[-1] != "0":
            raise ConfigError(
                f"backbone digits {back!r} must be a 0, {genes} block choices, and a 0 ({genes + 2} digits)"
            )
        for name, digits in (("cls", cls_digits), ("reg", reg_digits)):
            if len(digits) != TOWER_LAYERS + 1:
                raise ConfigError(f"{name} digits {digits!r} must be a width index and {TOWER_LAYERS} layer ops")
        choices = [int(d) for d in back[1:-1]]
        head = lambda d: HeadArch(int(d[0]), tuple(int(x) for x in d[1:]))  # noqa: E731
        return cls(
            backbone=tuple(choices[:sum(STAGE_BLOCKS)]),
            output=(int(stage), int(block)),
            cls=head(cls_digits),
            reg=head(reg_digits),
            unused=tuple(choices[sum(STAGE_BLOCKS):]),
        )

    # JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": list(self.backbone),
            "output": list(self.output),
            "cls": {"width": self.cls.width, "ops": list(self.cls.ops)},
            "reg": {"width": self.reg.width, "ops": list(self.reg.ops)},
            "unused": list(self.unused),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LightTrackArch":
        if not isinstance(data, dict):
            raise ConfigError(f"a LightTrack architecture is a dict or a path string, got {type(data).__name__}")
        return _construct(cls, data, "LightTrack architecture")

    @classmethod
    def from_json(cls, text: str) -> "LightTrackArch":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"LightTrack architecture is not valid JSON ({exc})") from None
        return cls.from_path(data) if isinstance(data, str) else cls.from_dict(data)

    @classmethod
    def parse(cls, value: "str | dict[str, Any] | LightTrackArch") -> "LightTrackArch":
        """An architecture from a path string, a JSON text, a dict or an architecture."""
        if isinstance(value, LightTrackArch):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        text = str(value).strip()
        return cls.from_json(text) if text.startswith(("{", '"')) else cls.from_path(text)


# Sane ranges of a config read from a file (LightTrack-Mobile: 16-96 channels, 128-256 wide heads, 128/256 inputs).
LIMITS: dict[str, tuple[float, float]] = {
    "stem_channels": (1, 1024), "stage_channels": (1, 2048), "head_widths": (1, 2048), "adj_channels": (1, 2048),
    "se_ratio": (0, 1), "divisor": (1, 64), "reg_scale": (0, 1024), "template_size": (1, 1024), "search_size": (1, 1024),
}


@dataclass(frozen=True)
class LightTrackConfig:
    """Every number that builds a LightTrack network: the path plus channels and sizes.

    The defaults are LightTrack-Mobile's; tiny configs shrink channels and inputs for tests and
    CPU demos. ``template_size`` / ``search_size`` are the sizes the network is built and exported
    for; the convolutions accept other sizes (127/128, 256/288).
    """

    FAMILY: ClassVar[str] = "lighttrack"

    name: str = "lighttrack_mobile"
    arch: LightTrackArch = field(default_factory=lambda: LightTrackArch.from_path(MOBILE_PATH))
    stem_channels: int = 16
    stage_channels: tuple[int, ...] = (24, 40, 80, 96)
    stage_strides: tuple[int, ...] = (2, 2, 2, 1)
    head_widths: tuple[int, ...] = (128, 192, 256)
    adj_channels: int = 128  # correlation features after the 1x1 adjust conv: the heads' input
    se_ratio: float = 0.25
    divisor: int = 8  # channel rounding of expansions and squeeze-excite widths
    reg_scale: float = 16.0  # reg = reg_scale * relu(bbox_pred)
    template_size: int = 128
    search_size: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.arch, LightTrackArch):
            object.__setattr__(self, "arch", LightTrackArch.parse(self.arch))
        for name in ("stage_channels", "stage_strides", "head_widths"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        problems = []
        if len(self.stage_channels) != len(STAGE_BLOCKS) or len(self.stage_strides) != len(STAGE_BLOCKS):
            problems.append(f"stage_channels and stage_strides need {len(STAGE_BLOCKS)} entries")
        if any(s not in (1, 2) for s in self.stage_strides):
            problems.append("stage strides must be 1 or 2")
        if min(self.stage_channels + (self.stem_channels, self.adj_channels), default=0) <= 0:
            problems.append("channels must be positive")
        for head in ("cls", "reg"):
            if getattr(self.arch, head).width >= len(self.head_widths):
                problems.append(f"{head} width index {getattr(self.arch, head).width} has no entry in head_widths {list(self.head_widths)}")
        if self.template_size <= 0 or self.search_size <= 0:
            problems.append("template_size and search_size must be positive")
        if problems:
            raise ConfigError("invalid LightTrack config: " + "; ".join(problems))

    # Derived sizes -------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.FAMILY

    @property
    def path(self) -> str:
        return self.arch.to_path()

    @property
    def output_channels(self) -> int:
        """Channels of the backbone output (the neck's BatchNorm width)."""
        return self.stage_channels[self.arch.output[0]]

    @property
    def stride(self) -> int:
        """Total stride of the backbone output: the stem's 2 times the stage strides up to the output."""
        stride = 2
        for s in self.stage_strides[:self.arch.output[0] + 1]:
            stride *= s
        return stride

    def feature_size(self, image_size: int) -> int:
        """Side of the backbone output for a square input (each stride-2 conv halves, rounding up)."""
        side = -(-image_size // 2)
        for s in self.stage_strides[:self.arch.output[0] + 1]:
            side = -(-side // s)
        return side

    @property
    def correlation_channels(self) -> int:
        """One correlation channel per template feature pixel."""
        return self.feature_size(self.template_size) ** 2

    @property
    def score_size(self) -> int:
        return self.feature_size(self.search_size)

    # (De)serialisation -----------------------------------------------------------------------
    def replace(self, **changes: Any) -> "LightTrackConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["arch"] = self.path
        for name in ("stage_channels", "stage_strides", "head_widths"):
            out[name] = list(out[name])
        out["family"] = self.FAMILY
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LightTrackConfig":
        data = dict(data)
        family = data.pop("family", cls.FAMILY)
        if family != cls.FAMILY:
            raise ConfigError(f"a {family!r} config is not a LightTrack config")
        return _construct(cls, data, "LightTrack config")
