"""Replacement training: student stages embedded in the frozen teacher.

Stage i of the replacement path runs either the student's layers or the teacher's frozen layers
of that stage. The teacher's stage 0 includes the teacher's own patch/position embedding, so a
path that begins with teacher stages is exactly the teacher up to the first student stage: those
tokens are taken from the full-teacher pass that also provides the guidance targets, never
recomputed. The path always ends with the student's final norm and head. The full teacher runs
every block plain (no candidate elimination), so its stage-end tokens line up with the student's
token for token. Everything model-specific goes through the teacher's adapter
(:mod:`compresstracker.compression.adapters`), so any registered tracker family can be compressed.
"""
from __future__ import annotations

from dataclasses import dataclass
import copy
from typing import Optional

import torch
from torch import nn

from compresstracker.compression.adapters import TeacherAdapter, adapter_for
from compresstracker.compression.elastic import ElasticPath, ElasticSpace, run_path
from compresstracker.compression.plan import StagePlan


@dataclass
class TeacherPass:
    """What one no-grad full-teacher forward provides: stage-end tokens and the head's outputs (fp32)."""

    stage_tokens: list[torch.Tensor]
    outputs: dict[str, torch.Tensor]

    @property
    def pred_boxes(self) -> torch.Tensor:
        return self.outputs["pred_boxes"]


class ReplacementModel(nn.Module):
    """The student (trainable, registered) and the frozen teacher (held aside, always eval, no grad)."""

    def __init__(
        self, teacher: nn.Module, student: nn.Module, plan: StagePlan, adapter: Optional[TeacherAdapter] = None,
        teacher_dtype: Optional[torch.dtype] = None, elastic: Optional[ElasticSpace] = None,
    ):
        super().__init__()
        self.student = student
        self.plan = plan
        self.elastic = elastic  # the student is an elastic supernet of this space
        self.adapter = adapter or adapter_for(teacher)
        self.adapter.prepare_teacher(teacher)
        # Not a registered submodule: its weights stay out of state_dict, DDP and the optimiser.
        self.__dict__["teacher"] = teacher
        # The no-grad guidance pass may run a copy cast once to a half precision (most of a step's
        # extra cost); teacher stages on the replacement path, which gradients cross, stay fp32.
        self.teacher_dtype = teacher_dtype
        self.__dict__["guide"] = copy.deepcopy(teacher).to(teacher_dtype).eval() if teacher_dtype else teacher

    @property
    def config(self):
        """The trained network's config (the student's): what a training checkpoint records."""
        return getattr(self.student, "config", None)

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self.teacher._apply(fn, recurse)
        if self.guide is not self.teacher:
            self.guide._apply(fn, recurse)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        self.guide.eval()
        return self

    @torch.no_grad()
    def teacher_pass(self, template: torch.Tensor, search: torch.Tensor) -> TeacherPass:
        """The full frozen teacher once (in ``teacher_dtype`` when set): stage-end tokens and boxes, fp32."""
        teacher, adapter = self.guide, self.adapter
        if self.teacher_dtype is not None:
            template, search = template.to(self.teacher_dtype), search.to(self.teacher_dtype)
        layers = adapter.layers(teacher)
        tokens = adapter.embed(teacher, template, search)
        stage_tokens = []
        for stage in self.plan.stages:
            for layer in stage:
                tokens = layers[layer](tokens)
            stage_tokens.append(tokens.float())
        out = adapter.head(teacher, tokens)
        return TeacherPass(stage_tokens, {k: v.float() for k, v in out.items() if isinstance(v, torch.Tensor)})

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        pattern: Optional[list[bool]] = None,
        teacher: Optional[TeacherPass] = None,
        paths: Optional[list[ElasticPath]] = None,
    ) -> dict | list[dict]:
        """Run the path given by ``pattern`` (True = student stage; None = all student).

        Returns the head outputs plus ``stage_tokens`` (the tokens at each stage end) and
        ``computed_teacher_stages`` (teacher stages actually run here, for the cost check).
        With ``paths`` (an elastic run's supernet student), one such dict per elastic path, every
        path through the same stage pattern: one call, so DDP sees one forward per backward.
        """
        if paths is not None:
            if teacher is None and not all(pattern or [True]):
                teacher = self.teacher_pass(template, search)
            return [self._forward(template, search, pattern, teacher, self.elastic.layers(self.plan, p)) for p in paths]
        return self._forward(template, search, pattern, teacher)

    def _forward(self, template, search, pattern, teacher, picks: Optional[list[tuple[int, int]]] = None) -> dict:
        plan, adapter = self.plan, self.adapter
        student_layers, teacher_layers = adapter.layers(self.student), adapter.layers(self.teacher)
        pattern = pattern if pattern is not None else [True] * plan.num_stages
        first_student = pattern.index(True) if True in pattern else plan.num_stages
        stage_tokens: list[torch.Tensor] = []
        computed = 0
        if first_student > 0:
            if teacher is None:
                teacher = self.teacher_pass(template, search)
            tokens = teacher.stage_tokens[first_student - 1]
            stage_tokens.extend(teacher.stage_tokens[:first_student])
        else:
            tokens = adapter.embed(self.student, template, search)
        for i in range(first_student, plan.num_stages):
            if pattern[i] and picks is not None:
                stage = set(plan.student_layers(i))
                tokens = run_path(adapter, student_layers, tokens, [pick for pick in picks if pick[0] in stage])
            elif pattern[i]:
                for j in plan.student_layers(i):
                    tokens = student_layers[j](tokens)
            else:
                computed += 1
                for layer in plan.stages[i]:
                    tokens = teacher_layers[layer](tokens)
            stage_tokens.append(tokens)
        out = adapter.head(self.student, tokens)
        out["stage_tokens"] = stage_tokens
        out["computed_teacher_stages"] = computed
        return out
