"""Stage division: which teacher layers form each stage and which teacher layer seeds each student layer."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from compresstracker.errors import ConfigError


@dataclass(frozen=True)
class StagePlan:
    """Teacher layers per stage, student layers per stage, and the init source of each student layer."""

    teacher_depth: int
    stages: tuple[tuple[int, ...], ...]
    layers_per_stage: int
    student_init: tuple[int, ...]  # teacher layer copied into student layer j
    init: str  # how student_init was chosen

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    @property
    def student_depth(self) -> int:
        return self.num_stages * self.layers_per_stage

    @property
    def stage_ends(self) -> list[int]:
        return [stage[-1] for stage in self.stages]

    def student_layers(self, stage: int) -> range:
        k = self.layers_per_stage
        return range(stage * k, (stage + 1) * k)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stages"] = [list(s) for s in self.stages]
        data["student_init"] = list(self.student_init)
        data["student_depth"] = self.student_depth
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "StagePlan":
        return cls(
            teacher_depth=int(data["teacher_depth"]),
            stages=tuple(tuple(int(i) for i in s) for s in data["stages"]),
            layers_per_stage=int(data["layers_per_stage"]),
            student_init=tuple(int(i) for i in data["student_init"]),
            init=str(data["init"]),
        )


def plan_stages(
    teacher_depth: int,
    stages: int | None = None,
    split: Sequence[int] | None = None,
    init: str | Sequence[int] = "stage-end",
    layers_per_stage: int = 1,
) -> StagePlan:
    """Divide ``teacher_depth`` layers into contiguous stages.

    Even split by default (ratio = L // N; the remainder goes to the last stage, so the stage
    ends match the paper's whenever N divides L); ``split`` gives explicit sizes that must
    cover L exactly. ``init``: ``stage-end`` (copy the last layer(s) of each stage, the paper's
    best), ``stage-start`` (the first layer(s)), or explicit teacher layer indices.
    """
    if teacher_depth < 1:
        raise ConfigError("the teacher has no transformer layers to divide")
    if layers_per_stage < 1:
        raise ConfigError("--layers-per-stage must be >= 1")
    if split is not None:
        sizes = [int(s) for s in split]
        if any(s < 1 for s in sizes):
            raise ConfigError(f"split {sizes} has an empty stage")
        if sum(sizes) != teacher_depth:
            raise ConfigError(f"split {sizes} covers {sum(sizes)} layers but the teacher has {teacher_depth}")
        if stages is not None and stages != len(sizes):
            raise ConfigError(f"--stages {stages} disagrees with the split's {len(sizes)} stages")
    else:
        if stages is None or stages < 1:
            raise ConfigError("give --stages N (N >= 1) or an explicit --split")
        if stages > teacher_depth:
            raise ConfigError(f"--stages {stages} exceeds the teacher's {teacher_depth} layers")
        ratio = teacher_depth // stages
        sizes = [ratio] * (stages - 1) + [teacher_depth - ratio * (stages - 1)]
    bounds, start = [], 0
    for size in sizes:
        bounds.append(tuple(range(start, start + size)))
        start += size
    k = layers_per_stage
    if isinstance(init, str) and init in ("stage-end", "stage-start"):
        if any(len(stage) < k for stage in bounds):
            raise ConfigError(f"a stage has fewer than {k} teacher layers to initialise {k} student layers from")
        pick = (lambda s: s[-k:]) if init == "stage-end" else (lambda s: s[:k])
        student_init = tuple(layer for stage in bounds for layer in pick(stage))
        init_name = init
    else:
        layers = _parse_layers(init)
        if len(layers) != len(bounds) * k:
            raise ConfigError(f"--init lists {len(layers)} layers; the student has {len(bounds) * k}")
        if any(not 0 <= i < teacher_depth for i in layers):
            raise ConfigError(f"--init layers {layers} must lie in [0, {teacher_depth - 1}]")
        student_init = tuple(layers)
        init_name = "layers"
    return StagePlan(teacher_depth, tuple(bounds), k, student_init, init_name)


def _parse_layers(init: str | Sequence[int]) -> list[int]:
    if isinstance(init, str):
        try:
            return [int(p) for p in init.split(",") if p.strip()]
        except ValueError:
            raise ConfigError(f"--init {init!r}: use stage-end, stage-start or comma-separated layer indices") from None
    return [int(i) for i in init]
