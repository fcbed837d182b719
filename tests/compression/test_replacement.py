"""Student initialisation, the replacement path, teacher-output reuse and the compression task."""
import pytest
import torch

from compresstracker.compression.plan import plan_stages
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.student import init_student
from compresstracker.families.ostrack.compression import student_config
from compresstracker.compression.task import CompressionTask, feature_mimic_loss
from compresstracker.training.recipe import load_recipe


@pytest.fixture
def teacher(make_model):
    return make_model("tiny_64_ce", seed=1)


def _inputs(batch=2):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, 32, 32, generator=gen), torch.randn(batch, 3, 64, 64, generator=gen)


def test_student_copies_stage_end_layers_and_shared_parts(teacher):
    plan = plan_stages(12, 4)
    student = init_student(teacher, plan)
    assert student.config.depth == 4 and not student.config.has_ce
    t, s = teacher.state_dict(), student.state_dict()
    for j, layer in enumerate(plan.student_init):
        assert torch.equal(s[f"backbone.blocks.{j}.attn.qkv.weight"], t[f"backbone.blocks.{layer}.attn.qkv.weight"])
        assert torch.equal(s[f"backbone.blocks.{j}.mlp.fc2.bias"], t[f"backbone.blocks.{layer}.mlp.fc2.bias"])
    for key in ("backbone.patch_embed.proj.weight", "backbone.pos_embed_x", "backbone.norm.weight", "box_head.conv5_ctr.weight"):
        assert torch.equal(s[key], t[key])
    # copies, not shared storage: training the student leaves the teacher untouched
    assert s["backbone.norm.weight"].data_ptr() != t["backbone.norm.weight"].data_ptr()


def test_student_ce_maps_teacher_ce_layers_into_stages(teacher):
    plan = plan_stages(12, 4)
    cfg = student_config(teacher.config, plan, ce=True)
    assert cfg.ce_layers == (1, 2, 3)  # teacher CE layers 3, 6, 9 sit in stages 1, 2, 3


def test_all_student_path_equals_student_network(teacher):
    plan = plan_stages(12, 3)
    student = init_student(teacher, plan)
    model = ReplacementModel(teacher, student, plan).eval()
    z, x = _inputs()
    with torch.no_grad():
        out = model(z, x, [True, True, True])
        ref = student(z, x)
    assert torch.allclose(out["score_map"], ref["score_map"], atol=1e-6)
    assert torch.allclose(out["pred_boxes"], ref["pred_boxes"], atol=1e-6)


def test_teacher_prefix_is_reused_not_recomputed(teacher):
    plan = plan_stages(12, 4)
    model = ReplacementModel(teacher, init_student(teacher, plan), plan).eval()
    z, x = _inputs()
    cached = model.teacher_pass(z, x)
    calls = []
    hooks = [b.register_forward_hook(lambda *a, i=i: calls.append(i)) for i, b in enumerate(teacher.backbone.blocks)]
    out = model(z, x, [False, False, True, False], cached)
    for h in hooks:
        h.remove()
    assert calls == [9, 10, 11]  # stages 0 and 1 come from the cache; only stage 3 runs
    assert out["computed_teacher_stages"] == 1
    assert out["stage_tokens"][1] is cached.stage_tokens[1]


def test_teacher_pass_matches_plain_teacher(teacher):
    plan = plan_stages(12, 4)
    model = ReplacementModel(teacher, init_student(teacher, plan), plan)
    z, x = _inputs()
    cached = model.teacher_pass(z, x)
    teacher.ce_enabled = False
    with torch.no_grad():
        ref = teacher(z, x)
    assert torch.allclose(cached.pred_boxes, ref["pred_boxes"], atol=1e-6)


def test_teacher_frozen_and_out_of_state_dict(teacher):
    plan = plan_stages(12, 4)
    model = ReplacementModel(teacher, init_student(teacher, plan), plan)
    model.train()
    assert not teacher.training and model.student.training
    assert all(not p.requires_grad for p in teacher.parameters())
    assert all(k.startswith("student.") for k in model.state_dict())
    assert {id(p) for p in model.parameters()}.isdisjoint({id(p) for p in teacher.parameters()})


def test_gradients_reach_only_the_student(teacher):
    plan = plan_stages(12, 4)
    model = ReplacementModel(teacher, init_student(teacher, plan), plan).train()
    recipe = load_recipe("compresstracker_tiny")
    task = CompressionTask(model, recipe)
    task.begin_epoch(0)
    z, x = _inputs(4)
    batch = {"template": z, "search": x, "search_box": torch.tensor([[0.4, 0.4, 0.2, 0.2]] * 4),
             "heatmap": torch.zeros(4, 8, 8)}
    batch["heatmap"][:, 4, 4] = 1
    loss, logs = task.step(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert {"track", "pred", "feat", "p", "student_stages"} <= set(logs)
    from compresstracker.compression.schedule import replacement_probability

    assert logs["p"] == replacement_probability(1, recipe["train"]["epochs"]) < 1
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.parameters())


def test_feature_mimic_averages_template_and_search():
    a = [torch.zeros(1, 5, 2)]
    b = [torch.cat([torch.ones(1, 1, 2), torch.full((1, 4, 2), 2.0)], dim=1)]
    # template MSE 1, search MSE 4 -> (1 + 4) / 2
    assert feature_mimic_loss(a, b, num_template=1).item() == pytest.approx(2.5)


def test_task_state_resumes_sampling(teacher):
    plan = plan_stages(12, 4)
    recipe = load_recipe("compresstracker_tiny")
    task = CompressionTask(ReplacementModel(teacher, init_student(teacher, plan), plan), recipe)
    from compresstracker.compression.schedule import sample_pattern

    sample_pattern(4, 0.5, task.generator)
    state = task.state_dict()
    expected = [sample_pattern(4, 0.5, task.generator) for _ in range(5)]
    task.load_state_dict(state)
    assert [sample_pattern(4, 0.5, task.generator) for _ in range(5)] == expected


def test_a_half_precision_guidance_pass_gives_fp32_targets_close_to_fp32(make_model):
    """teacher_dtype runs the no-grad teacher pass on a bf16 copy; targets come back fp32 and close,
    and the replacement path's teacher stages (which gradients cross) stay on the fp32 teacher."""
    teacher = make_model("tiny_64_ce", seed=0)
    plan = plan_stages(12, stages=4)
    student = init_student(teacher, plan)
    exact = ReplacementModel(teacher, student, plan)
    fast = ReplacementModel(teacher, student, plan, teacher_dtype=torch.bfloat16)
    assert fast.guide is not fast.teacher and next(fast.guide.parameters()).dtype == torch.bfloat16
    assert next(fast.teacher.parameters()).dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    z, x = torch.randn(2, 3, 32, 32, generator=g), torch.randn(2, 3, 64, 64, generator=g)
    a, b = exact.teacher_pass(z, x), fast.teacher_pass(z, x)
    for t32, t16 in zip(a.stage_tokens, b.stage_tokens):
        assert t16.dtype == torch.float32
        assert 0 < float((t32 - t16).norm() / t32.norm()) < 0.05
    out = fast(z, x, [False, True, False, True], b)
    out["pred_boxes"].sum().backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None for p in student.parameters())
