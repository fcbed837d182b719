"""Elastic replacement training: one compression run trains a whole family of students.

The student of an elastic run is a *supernet*: every stage holds ``max(depths)`` layers (copied
from the teacher as a fixed run's are) with the teacher's full MLP width. A *path* picks, per
student stage, a depth ``d`` (the stage's last ``d`` layers run: with stage-end init, depth 1 is
the stage-end layer, the paper's best single-layer init) and an MLP ratio ``r`` (each layer of the
stage keeps its first ``int(embed_dim * r)`` hidden units). Before training the hidden units of
every layer are sorted by importance (the product of the L2 norms of a unit's input row and
output column), which leaves the network's function unchanged, so a narrower MLP is a slice of a
wider one and starts from the units that matter most.

Sampling rule (``compress.elastic.sampling``): ``single`` (default; SPOS) trains one uniformly
drawn path per step, a fixed run's cost per step; ``sandwich`` (BigNAS/OFA) trains per step the
largest path, the smallest path and ``random_paths`` uniformly drawn ones, their losses averaged
into one backward pass, so the two ends of the space are trained every step, at 2 + random_paths
paths' cost. ``single`` is the default because it measured better per unit of compute on the
built-in teacher (docs/elastic.md: at about the same training time, its 4-layer paths scored 69
inherited where sandwich's scored 61). All draws come from the compression task's seeded
generator (saved for exact resume, the same on every DDP rank). A space with one choice per knob
draws nothing and trains exactly as a fixed run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from compresstracker.compression.adapters import TeacherAdapter
from compresstracker.compression.plan import StagePlan
from compresstracker.errors import ConfigError

SAMPLING = ("sandwich", "single")
PLAN_KEY = "elastic"  # where a supernet file's plan metadata keeps the space


@dataclass(frozen=True)
class ElasticPath:
    """One student of the space: per stage, its depth and its layers' MLP hidden units."""

    depths: tuple[int, ...]
    hidden: tuple[int, ...]

    def encode(self) -> str:
        """``d1.2.1-h64.128.256``: what search logs and best.json store."""
        return f"d{'.'.join(map(str, self.depths))}-h{'.'.join(map(str, self.hidden))}"

    @classmethod
    def decode(cls, text: str) -> "ElasticPath":
        try:
            d, h = str(text).split("-")
            if not (d.startswith("d") and h.startswith("h")):
                raise ValueError
            return cls(tuple(int(v) for v in d[1:].split(".")), tuple(int(v) for v in h[1:].split(".")))
        except ValueError:
            raise ConfigError(f"{text!r} is not an elastic path (d<depths>-h<hidden>, e.g. d1.2-h128.64)") from None


@dataclass(frozen=True)
class ElasticSpace:
    """Depth and MLP-width choices per student stage (the same choices for every stage)."""

    stages: int
    depths: tuple[int, ...]  # ascending, each >= 1
    hidden: tuple[int, ...]  # MLP hidden-unit choices, descending
    sampling: str = "single"
    random_paths: int = 2

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    def size(self) -> int:
        return (len(self.depths) * len(self.hidden)) ** self.stages

    def largest(self) -> ElasticPath:
        return ElasticPath((self.depths[-1],) * self.stages, (self.hidden[0],) * self.stages)

    def smallest(self) -> ElasticPath:
        return ElasticPath((self.depths[0],) * self.stages, (self.hidden[-1],) * self.stages)

    def check(self, path: ElasticPath) -> ElasticPath:
        if len(path.depths) != self.stages or len(path.hidden) != self.stages or any(
                d not in self.depths for d in path.depths) or any(h not in self.hidden for h in path.hidden):
            raise ConfigError(f"{path.encode()} is not a path of this space ({self.stages} stages, depths "
                              f"{list(self.depths)}, MLP widths {list(self.hidden)})")
        return path

    def sample(self, generator: torch.Generator) -> ElasticPath:
        """Every stage's depth and width uniformly at random (torch generator: resumable, rank-independent)."""
        d = torch.randint(len(self.depths), (self.stages,), generator=generator).tolist()
        h = torch.randint(len(self.hidden), (self.stages,), generator=generator).tolist()
        return ElasticPath(tuple(self.depths[i] for i in d), tuple(self.hidden[i] for i in h))

    def training_paths(self, generator: torch.Generator) -> list[ElasticPath]:
        """The paths one training step runs (see the module docstring), duplicates dropped."""
        if self.size() == 1:
            return [self.largest()]
        if self.sampling == "single":
            return [self.sample(generator)]
        paths = [self.largest(), self.smallest(), *(self.sample(generator) for _ in range(self.random_paths))]
        return list(dict.fromkeys(paths))

    def layers(self, plan: StagePlan, path: ElasticPath) -> list[tuple[int, int]]:
        """(supernet layer index, hidden units) of every layer the path runs, in order."""
        out = []
        for stage, (depth, hidden) in enumerate(zip(path.depths, path.hidden)):
            out += [(j, hidden) for j in list(plan.student_layers(stage))[-depth:]]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"stages": self.stages, "depths": list(self.depths), "hidden": list(self.hidden),
                "sampling": self.sampling, "random_paths": self.random_paths}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ElasticSpace":
        return cls(int(data["stages"]), tuple(int(d) for d in data["depths"]), tuple(int(h) for h in data["hidden"]),
                   str(data["sampling"]), int(data["random_paths"]))


def elastic_enabled(compress: dict) -> bool:
    return bool(compress.get("elastic", {}).get("enabled"))


def space_from_recipe(compress: dict, plan_stages: int, embed_dim: int, teacher_hidden: int) -> ElasticSpace:
    """The space of a recipe's ``compress.elastic`` on a teacher of ``embed_dim`` width and ``teacher_hidden`` MLP units."""
    e = compress["elastic"]
    depths = sorted({int(d) for d in e["depths"]})
    hidden = sorted({int(embed_dim * float(r)) for r in e["mlp_ratios"]}, reverse=True)
    if hidden[0] > teacher_hidden:
        raise ConfigError(f"compress.elastic.mlp_ratios {e['mlp_ratios']}: the teacher's MLP has {teacher_hidden} hidden units "
                          f"(ratio {teacher_hidden / embed_dim:g}); a student layer cannot be wider")
    if hidden[-1] < 1:
        raise ConfigError(f"compress.elastic.mlp_ratios {e['mlp_ratios']}: ratio {min(e['mlp_ratios'])} keeps no hidden unit")
    return ElasticSpace(plan_stages, tuple(depths), tuple(hidden), e["sampling"], int(e["random_paths"]))


def elastic_plan_depth(compress: dict) -> int:
    """Layers per student stage of an elastic run's supernet: its largest depth choice."""
    return max(int(d) for d in compress["elastic"]["depths"])


@torch.no_grad()
def sort_hidden_units(model: nn.Module, adapter: TeacherAdapter) -> None:
    """Reorder every layer's MLP hidden units, most important first (the network's function is unchanged).

    Importance of unit k: ||input row k|| * ||output column k||, what the unit can add to the
    residual stream. Ties keep their order (stable sort), so the result is deterministic.
    """
    for layer in adapter.layers(model):
        tensors = adapter.hidden_tensors(layer)  # [(tensor, axis)], the first two: input weight, output weight
        (w_in, a_in), (w_out, a_out) = tensors[0], tensors[1]
        score = w_in.norm(dim=1 - a_in) * w_out.norm(dim=1 - a_out)
        order = torch.sort(score, descending=True, stable=True).indices
        for tensor, axis in tensors:
            tensor.copy_(tensor.index_select(axis, order))


def run_path(adapter: TeacherAdapter, layers: Sequence[nn.Module], tokens: torch.Tensor, picks: list[tuple[int, int]]) -> torch.Tensor:
    """Run the supernet layers ``picks`` ((index, hidden units), from :meth:`ElasticSpace.layers`) on ``tokens``."""
    for index, hidden in picks:
        tokens = adapter.elastic_forward(layers[index], tokens, hidden)
    return tokens


@torch.no_grad()
def extract_student(supernet: nn.Module, plan: StagePlan, space: ElasticSpace, path: ElasticPath,
                    adapter: TeacherAdapter) -> nn.Module:
    """The path cut out of the supernet as a plain network of its family (loads, tracks, exports with no flags)."""
    picks = space.layers(plan, space.check(path))
    student = adapter.build_subnet(supernet, [h for _, h in picks]).eval()
    source = supernet.state_dict()
    prefix = adapter.layer_prefix
    slices = {name: axis for name, axis in adapter.hidden_tensor_names()}
    state = {}
    for key in student.state_dict():
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            src, hidden = picks[int(index)]
            tensor = source[f"{prefix}{src}.{rest}"]
            if rest in slices:
                tensor = tensor.narrow(slices[rest], 0, hidden)
            state[key] = tensor.clone()
        else:
            state[key] = source[key].clone()
    student.load_state_dict(state, strict=True)
    return student
