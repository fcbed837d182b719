"""Teacher adapters: what compression needs to know about a tracker family.

The planner, the student builder and replacement training never reach into a model's modules
directly; they ask the model's adapter:

- ``layers(model)``: the ordered list of transformer layers that stages divide;
- ``embed(model, template, search)``: the tokens entering layer 0;
- ``head(model, tokens)``: the tokens leaving the last layer -> the head's outputs (a dict with at
  least ``pred_boxes`` (B, 1, 4) as normalised cx, cy, w, h, plus whatever the tracking loss reads);
- ``layer_prefix``: the state-dict prefix of the layer list (``<prefix><index>.<rest>``), so a
  student layer is initialised by copying a teacher layer's tensors;
- ``build_student(teacher, plan, ...)``: a model of the same family with ``plan.student_depth``
  layers, every other part the same shape as the teacher's;
- ``num_template_tokens(model)``: how many leading tokens are the template's (feature mimicking
  weighs template and search tokens separately);
- ``prepare_teacher(model)``: freeze it and switch off anything that changes the token count
  (candidate elimination), so stage-end tokens of teacher and student line up;
- ``macs(model)``: multiply-accumulates of one tracking forward, for the plan's speed-up.

Supporting another transformer tracker is one more :func:`register_adapter` call with a subclass
of :class:`TeacherAdapter`; the rest of compression is unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from compresstracker.errors import ConfigError
from compresstracker.models import TrackerConfig, TrackerNet

if TYPE_CHECKING:
    from compresstracker.compression.plan import StagePlan


class TeacherAdapter:
    """Base class; subclasses fill in the methods for one tracker family."""

    name: str = ""
    description: str = ""
    layer_prefix: str = ""

    def matches(self, model: nn.Module) -> bool:
        raise NotImplementedError

    def layers(self, model: nn.Module) -> Sequence[nn.Module]:
        raise NotImplementedError

    def depth(self, model: nn.Module) -> int:
        return len(self.layers(model))

    def embed(self, model: nn.Module, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def head(self, model: nn.Module, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def num_template_tokens(self, model: nn.Module) -> int:
        raise NotImplementedError

    def build_student(self, teacher: nn.Module, plan: "StagePlan", ce: bool = False, drop_path: float = 0.0) -> nn.Module:
        raise NotImplementedError

    def macs(self, model: nn.Module) -> int:
        raise NotImplementedError

    def prepare_teacher(self, model: nn.Module) -> None:
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)

    def student_key_source(self, key: str, plan: "StagePlan") -> str:
        """The teacher state-dict key a student tensor is copied from."""
        prefix = self.layer_prefix
        if prefix and key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            return f"{prefix}{plan.student_init[int(index)]}.{rest}"
        return key


def student_config(teacher: TrackerConfig, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> TrackerConfig:
    """A one-stream ViT teacher's config with the student's depth; no candidate elimination unless ``ce``.

    With ``ce`` the student eliminates tokens in the student layer that stands in for each
    teacher CE layer's stage (at that stage's first student layer).
    """
    depth = plan.student_depth
    ce_layers: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()
    if ce and teacher.has_ce:
        pairs = {}
        for layer, ratio in zip(teacher.ce_layers, teacher.ce_keep_ratios):
            stage = next(i for i, s in enumerate(plan.stages) if layer in s)
            pairs.setdefault(plan.student_layers(stage)[0], ratio)
        ce_layers, ratios = tuple(sorted(pairs)), tuple(pairs[k] for k in sorted(pairs))
    arch = f"{teacher.arch}_student{depth}" if "_student" not in teacher.arch else teacher.arch
    return teacher.replace(arch=arch, depth=depth, ce_layers=ce_layers, ce_keep_ratios=ratios, drop_path=drop_path)


class OneStreamViTAdapter(TeacherAdapter):
    """OSTrack's one-stream ViT with the centre head (:class:`TrackerNet`), any width and depth."""

    name = "one_stream_vit"
    description = "OSTrack-style one-stream ViT + centre head (OSTrack, CompressTracker and ctrack checkpoints)"
    layer_prefix = "backbone.blocks."

    def matches(self, model: nn.Module) -> bool:
        return isinstance(model, TrackerNet)

    def layers(self, model: TrackerNet) -> Sequence[nn.Module]:
        return model.backbone.blocks

    def embed(self, model: TrackerNet, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return model.backbone.embed(template, search)

    def head(self, model: TrackerNet, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        return model.head(model.backbone.norm(tokens))

    def num_template_tokens(self, model: TrackerNet) -> int:
        return model.config.num_template_tokens

    def build_student(self, teacher: TrackerNet, plan: "StagePlan", ce: bool = False, drop_path: float = 0.0) -> TrackerNet:
        return TrackerNet(student_config(teacher.config, plan, ce, drop_path))

    def macs(self, model: TrackerNet) -> int:
        from compresstracker.bench.flops import count_macs

        return count_macs(model)

    def prepare_teacher(self, model: TrackerNet) -> None:
        super().prepare_teacher(model)
        model.ce_enabled = False


_ADAPTERS: dict[str, TeacherAdapter] = {}


def register_adapter(adapter: TeacherAdapter) -> TeacherAdapter:
    """Add an adapter (first registered, first tried); a name already taken is an error."""
    if not adapter.name:
        raise ValueError("a teacher adapter needs a name")
    if adapter.name in _ADAPTERS:
        raise ValueError(f"teacher adapter {adapter.name!r} is already registered")
    _ADAPTERS[adapter.name] = adapter
    return adapter


def unregister_adapter(name: str) -> None:
    _ADAPTERS.pop(name, None)


def list_adapters() -> list[TeacherAdapter]:
    return list(_ADAPTERS.values())


def adapter_for(model: nn.Module) -> TeacherAdapter:
    """The first registered adapter that accepts ``model``; a clear error when none does."""
    for adapter in _ADAPTERS.values():
        if adapter.matches(model):
            return adapter
    known = ", ".join(_ADAPTERS) or "none"
    raise ConfigError(
        f"no teacher adapter for {type(model).__name__} (registered: {known}); "
        "add one with compresstracker.compression.adapters.register_adapter"
    )


register_adapter(OneStreamViTAdapter())
