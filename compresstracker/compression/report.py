"""The printable/JSON description of a plan: stages, init, params and MACs of teacher and student."""
from __future__ import annotations

from torch import nn

from compresstracker.bench.flops import count_params
from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.plan import StagePlan


def describe_plan(teacher: nn.Module, plan: StagePlan, student_ce: bool = False) -> dict:
    """Keys: teacher_depth, stages, student_init, student_depth, teacher/student params and MACs, expected speed-up.

    Student figures are counted on a freshly built student of the planned config; the expected
    speed-up is the MACs ratio (what a compute-bound device approaches).
    """
    adapter = adapter_for(teacher)
    student = adapter.build_student(teacher, plan, ce=student_ce).eval()
    teacher_macs = adapter.macs(teacher)
    student_macs = adapter.macs(student)
    return {
        "adapter": adapter.name,
        "teacher_arch": getattr(getattr(teacher, "config", None), "arch", type(teacher).__name__),
        "teacher_depth": plan.teacher_depth,
        "teacher_ce": bool(getattr(teacher, "ce_enabled", False)),
        "stages": [list(s) for s in plan.stages],
        "stage_ends": plan.stage_ends,
        "layers_per_stage": plan.layers_per_stage,
        "student_depth": plan.student_depth,
        "student_init": list(plan.student_init),
        "init": plan.init,
        "student_ce": bool(getattr(student, "ce_enabled", False)),
        "teacher_params": count_params(teacher),
        "student_params": count_params(student),
        "teacher_macs": teacher_macs,
        "student_macs": student_macs,
        "expected_speedup": teacher_macs / max(student_macs, 1),
    }
