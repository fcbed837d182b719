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
- ``macs(model)``: multiply-accumulates of one tracking forward, for the plan's speed-up;
- ``tracking_loss(out, batch, weights)``: the family's own loss against ground truth;
- ``prediction_loss(out, teacher_out, weights)``: prediction guidance, the student's outputs
  against the teacher's (default: GIoU + L1 between their boxes).

A family's plug-in registers its adapter (a subclass of :class:`TeacherAdapter`); the rest of
compression is unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

from compresstracker.errors import ConfigError
from compresstracker.plugins import load_families
from compresstracker.training.losses import box_losses

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

    def tracking_loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], weights: dict[str, float],
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError

    def prediction_loss(
        self, out: dict[str, torch.Tensor], teacher_out: dict[str, torch.Tensor], weights: dict[str, float],
    ) -> torch.Tensor:
        """weights['giou'] * GIoU + weights['l1'] * L1 of the student's boxes against the teacher's."""
        giou, l1, _ = box_losses(out["pred_boxes"], cxcywh_to_xywh(teacher_out["pred_boxes"]))
        return weights["giou"] * giou + weights["l1"] * l1

    def prepare_teacher(self, model: nn.Module) -> None:
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)

    # ------------------------------------------------------------------ elastic compression (optional)
    # A family whose layers can run with fewer MLP hidden units takes part in ``compress --elastic``.
    def hidden_tensor_names(self) -> list[tuple[str, int]]:
        """Parameter names inside one layer that carry its MLP hidden units, with the axis of the units:
        the input weight first, the output weight second, then any others (biases)."""
        raise ConfigError(f"the {self.name} family has no elastic compression (its adapter gives no MLP slicing hooks)")

    def hidden_tensors(self, layer: nn.Module) -> list[tuple[torch.Tensor, int]]:
        return [(layer.get_parameter(name), axis) for name, axis in self.hidden_tensor_names()]

    def elastic_forward(self, layer: nn.Module, tokens: torch.Tensor, hidden: int) -> torch.Tensor:
        """``layer`` on ``tokens`` with only its first ``hidden`` MLP units."""
        raise ConfigError(f"the {self.name} family has no elastic compression")

    def build_subnet(self, supernet: nn.Module, hidden: Sequence[int]) -> nn.Module:
        """A plain network like ``supernet`` with ``len(hidden)`` layers of the given MLP widths (weights unset)."""
        raise ConfigError(f"the {self.name} family has no elastic compression")

    def student_key_source(self, key: str, plan: "StagePlan") -> str:
        """The teacher state-dict key a student tensor is copied from."""
        prefix = self.layer_prefix
        if prefix and key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            return f"{prefix}{plan.student_init[int(index)]}.{rest}"
        return key


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
    load_families()
    return list(_ADAPTERS.values())


def adapter_for(model: nn.Module) -> TeacherAdapter:
    """The first registered adapter that accepts ``model``; a clear error when none does."""
    load_families()
    for adapter in _ADAPTERS.values():
        if adapter.matches(model):
            return adapter
    known = ", ".join(_ADAPTERS) or "none"
    raise ConfigError(
        f"no teacher adapter for {type(model).__name__} (registered: {known}); "
        "a family's plug-in registers one (compresstracker.families)"
    )


def cxcywh_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) centre boxes -> (N, 4) corner-size boxes."""
    cx, cy, w, h = boxes.reshape(-1, 4).unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, w, h], dim=-1)

