"""Build the student from the teacher and a stage plan: same family, fewer blocks, teacher-copied weights."""
from __future__ import annotations

import torch
from torch import nn

from compresstracker.compression.plan import StagePlan
from compresstracker.errors import ConfigError
from compresstracker.models import TrackerConfig, TrackerNet


def student_config(teacher: TrackerConfig, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> TrackerConfig:
    """The teacher's config with the student's depth; no candidate elimination unless ``ce``.

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


@torch.no_grad()
def init_student(teacher: nn.Module, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> nn.Module:
    """A student whose embeddings, final norm and head are copies of the teacher's, and whose
    layer j is a copy of teacher layer ``plan.student_init[j]`` (any family with an adapter)."""
    from compresstracker.compression.adapters import adapter_for

    adapter = adapter_for(teacher)
    if plan.teacher_depth != adapter.depth(teacher):
        raise ConfigError(f"the plan divides {plan.teacher_depth} layers but the teacher has {adapter.depth(teacher)}")
    student = adapter.build_student(teacher, plan, ce, drop_path)
    source = teacher.state_dict()
    target = {key: source[adapter.student_key_source(key, plan)].clone() for key in student.state_dict()}
    student.load_state_dict(target, strict=True)
    return student.eval()
