"""Teacher adapters: the OSTrack family is registered, and a foreign tracker family is one more entry."""
import pytest
import torch
from torch import nn

from compresstracker.compression.adapters import TeacherAdapter, adapter_for, register_adapter, unregister_adapter
from compresstracker.families.ostrack.compression import OneStreamViTAdapter
from compresstracker.compression.plan import plan_stages
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.report import describe_plan
from compresstracker.compression.student import init_student
from compresstracker.errors import ConfigError
from compresstracker.models import build_model


class ToyTracker(nn.Module):
    """A made-up two-input transformer tracker with its own module names (not a OSTrackNet)."""

    def __init__(self, depth: int, dim: int = 8):
        super().__init__()
        self.tokenizer = nn.Conv2d(3, dim, 4, 4)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, 2, 16, dropout=0.0, batch_first=True) for _ in range(depth)
        )
        self.box = nn.Linear(dim, 4)

    def tokens(self, template, search):
        z = self.tokenizer(template).flatten(2).transpose(1, 2)
        x = self.tokenizer(search).flatten(2).transpose(1, 2)
        return torch.cat([z, x], 1)

    def predict(self, tokens):
        return {"pred_boxes": self.box(tokens[:, 4:].mean(1)).sigmoid().view(-1, 1, 4)}


class ToyAdapter(TeacherAdapter):
    name = "toy"
    layer_prefix = "encoder."

    def matches(self, model):
        return isinstance(model, ToyTracker)

    def layers(self, model):
        return model.encoder

    def embed(self, model, template, search):
        return model.tokens(template, search)

    def head(self, model, tokens):
        return model.predict(tokens)

    def num_template_tokens(self, model):
        return 4

    def build_student(self, teacher, plan, ce=False, drop_path=0.0):
        return ToyTracker(plan.student_depth)

    def macs(self, model):
        return 1000 * len(model.encoder)


@pytest.fixture
def toy_adapter():
    adapter = register_adapter(ToyAdapter())
    yield adapter
    unregister_adapter("toy")


def test_the_ostrack_family_has_its_adapter():
    assert isinstance(adapter_for(build_model("tiny_64_ce")), OneStreamViTAdapter)


def test_a_model_without_adapter_is_a_clear_error():
    with pytest.raises(ConfigError, match="no teacher adapter for Linear"):
        adapter_for(nn.Linear(2, 2))


def test_names_are_unique(toy_adapter):
    with pytest.raises(ValueError, match="already registered"):
        register_adapter(ToyAdapter())


def test_a_registered_family_is_planned_initialised_and_replacement_trained(toy_adapter):
    torch.manual_seed(0)
    teacher = ToyTracker(6).eval()
    plan = plan_stages(adapter_for(teacher).depth(teacher), stages=3)
    student = init_student(teacher, plan)
    assert len(student.encoder) == 3
    for j, source in enumerate(plan.student_init):
        for a, b in zip(student.encoder[j].parameters(), teacher.encoder[source].parameters()):
            assert torch.equal(a, b)
    assert torch.equal(student.tokenizer.weight, teacher.tokenizer.weight)

    description = describe_plan(teacher, plan)
    assert description["adapter"] == "toy" and description["teacher_arch"] == "ToyTracker"
    assert (description["teacher_macs"], description["student_macs"]) == (6000, 3000)

    model = ReplacementModel(teacher, student, plan)
    assert all(not p.requires_grad for p in teacher.parameters())
    template, search = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model(template, search, [False, True, False])
        tokens = teacher.tokens(template, search)
        for layer in plan.stages[0]:
            tokens = teacher.encoder[layer](tokens)
        tokens = student.encoder[1](tokens)
        for layer in plan.stages[2]:
            tokens = teacher.encoder[layer](tokens)
        expected = student.predict(tokens)["pred_boxes"]
    torch.testing.assert_close(out["pred_boxes"], expected)
    assert out["computed_teacher_stages"] == 1  # stage 0 came from the full-teacher pass

    with pytest.raises(ConfigError, match="divides 4 layers but the teacher has 6"):
        init_student(teacher, plan_stages(4, stages=2))
