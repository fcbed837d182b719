"""The printable/JSON description of a plan: stages, init, params and MACs of teacher and student."""
from __future__ import annotations

from compresstracker.bench.flops import count_macs, count_params
from compresstracker.compression.plan import StagePlan
from compresstracker.compression.student import student_config
from compresstracker.models import TrackerNet


def describe_plan(teacher: TrackerNet, plan: StagePlan, student_ce: bool = False) -> dict:
    """Keys: teacher_depth, stages, student_init, student_depth, teacher/student params and MACs, expected speed-up.

    Student figures are counted on a freshly built student of the planned config; the expected
    speed-up is the MACs ratio (what a compute-bound device approaches).
    """
    student = TrackerNet(student_config(teacher.config, plan, ce=student_ce)).eval()
    teacher_macs = count_macs(teacher)
    student_macs = count_macs(student)
    return {
        "teacher_arch": teacher.config.arch,
        "teacher_depth": plan.teacher_depth,
        "teacher_ce": bool(teacher.ce_enabled),
        "stages": [list(s) for s in plan.stages],
        "stage_ends": plan.stage_ends,
        "layers_per_stage": plan.layers_per_stage,
        "student_depth": plan.student_depth,
        "student_init": list(plan.student_init),
        "init": plan.init,
        "student_ce": bool(student.ce_enabled),
        "teacher_params": count_params(teacher),
        "student_params": count_params(student),
        "teacher_macs": teacher_macs,
        "student_macs": student_macs,
        "expected_speedup": teacher_macs / max(student_macs, 1),
    }
