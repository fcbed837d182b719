"""Build the student from the teacher and a stage plan: same family, fewer blocks, teacher-copied weights."""
from __future__ import annotations

import torch
from torch import nn

from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.plan import StagePlan
from compresstracker.errors import ConfigError


@torch.no_grad()
def init_student(teacher: nn.Module, plan: StagePlan, ce: bool = False, drop_path: float = 0.0) -> nn.Module:
    """A student whose embeddings, final norm and head are copies of the teacher's, and whose
    layer j is a copy of teacher layer ``plan.student_init[j]`` (any family with an adapter)."""
    adapter = adapter_for(teacher)
    if plan.teacher_depth != adapter.depth(teacher):
        raise ConfigError(f"the plan divides {plan.teacher_depth} layers but the teacher has {adapter.depth(teacher)}")
    student = adapter.build_student(teacher, plan, ce, drop_path)
    source = teacher.state_dict()
    target = {key: source[adapter.student_key_source(key, plan)].clone() for key in student.state_dict()}
    student.load_state_dict(target, strict=True)
    return student.eval()
