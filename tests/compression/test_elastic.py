"""Elastic replacement training: the supernet student, its paths, sampling, cut-out students and runs."""
import functools

import pytest
import torch
from safetensors.torch import load_file

from compresstracker.checkpoints import inspect_checkpoint, load_model, save_native
from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.elastic import ElasticPath, ElasticSpace, extract_student, sort_hidden_units
from compresstracker.compression.plan import plan_stages
from compresstracker.compression.replacement import ReplacementModel
from compresstracker.compression.run import compress_tracker
from compresstracker.compression.student import init_student
from compresstracker.errors import ConfigError
from compresstracker.training.recipe import load_recipe
from tests.training.conftest import train_killed_then_resumed


@pytest.fixture
def teacher(make_model):
    return make_model("tiny_64_ce", seed=4).eval()


def _inputs(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = net.config
    return (torch.randn(2, 3, c.template_size, c.template_size, generator=g),
            torch.randn(2, 3, c.search_size, c.search_size, generator=g))


def _supernet(teacher, stages=2, depth=2):
    plan = plan_stages(adapter_for(teacher).depth(teacher), stages=stages, layers_per_stage=depth)
    student = init_student(teacher, plan)
    return plan, student


def test_sorting_hidden_units_keeps_the_function_and_puts_important_units_first(teacher):
    plan, student = _supernet(teacher)
    z, x = _inputs(student)
    before = student(z, x)["pred_boxes"]
    adapter = adapter_for(student)
    sort_hidden_units(student, adapter)
    after = student(z, x)["pred_boxes"]
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    fc1, fc2 = student.backbone.blocks[0].mlp.fc1.weight, student.backbone.blocks[0].mlp.fc2.weight
    score = fc1.norm(dim=1) * fc2.norm(dim=0)
    assert bool((score[:-1] >= score[1:]).all())


def test_paths_of_a_space_and_the_sampling_rules():
    space = ElasticSpace(stages=3, depths=(1, 2, 3), hidden=(256, 128, 64), sampling="sandwich", random_paths=2)
    assert space.size() == 9 ** 3
    g = torch.Generator().manual_seed(0)
    paths = space.training_paths(g)
    assert paths[0] == ElasticPath((3, 3, 3), (256, 256, 256)) and paths[1] == ElasticPath((1, 1, 1), (64, 64, 64))
    assert 3 <= len(paths) <= 4 and all(space.check(p) for p in paths)
    again = space.training_paths(torch.Generator().manual_seed(0))
    assert again == paths  # seeded: the same paths on every rank and after a resume
    single = ElasticSpace(3, (1, 2, 3), (256, 128, 64), "single", 2)
    assert len(single.training_paths(g)) == 1
    fixed = ElasticSpace(2, (1,), (256,), "sandwich", 2)
    state = g.get_state()
    assert fixed.training_paths(g) == [fixed.largest()] and torch.equal(g.get_state(), state)  # draws nothing
    assert ElasticPath.decode(paths[1].encode()) == paths[1]
    with pytest.raises(ConfigError, match="is not an elastic path"):
        ElasticPath.decode("d1.2")
    with pytest.raises(ConfigError, match="is not a path of this space"):
        space.check(ElasticPath((4, 1, 1), (64, 64, 64)))
    assert space.layers(plan_stages(12, stages=3, layers_per_stage=3), ElasticPath((1, 2, 3), (64, 128, 256))) == [
        (2, 64), (4, 128), (5, 128), (6, 256), (7, 256), (8, 256)]  # the last d layers of each stage


def test_a_cut_out_student_computes_what_its_path_computes_in_the_supernet(teacher, tmp_path):
    plan, student = _supernet(teacher)
    adapter = adapter_for(student)
    sort_hidden_units(student, adapter)
    space = ElasticSpace(2, (1, 2), (128, 64, 32))
    path = ElasticPath((2, 1), (32, 128))
    model = ReplacementModel(teacher, student, plan, elastic=space).eval()
    z, x = _inputs(student, 1)
    with torch.no_grad():
        inside = model(z, x, [True, True], None, [path])[0]
        net = extract_student(student, plan, space, path, adapter)
        alone = net(z, x)
    assert [b.mlp.fc1.out_features for b in net.backbone.blocks] == [32, 32, 128]
    torch.testing.assert_close(alone["pred_boxes"], inside["pred_boxes"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone["score_map"], inside["score_map"], atol=1e-5, rtol=1e-5)
    # an ordinary checkpoint: loads with no flags (its config carries the per-block widths)
    file = save_native(net, net.config, tmp_path / "student.safetensors")
    loaded = load_model(file)
    assert loaded.config.mlp_hidden == (32, 32, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z, x)["pred_boxes"], alone["pred_boxes"], atol=0, rtol=0)
    uniform = extract_student(student, plan, space, ElasticPath((1, 1), (64, 64)), adapter)
    assert uniform.config.mlp_hidden == () and uniform.config.mlp_ratio == 2.0  # a plain ratio where every block agrees


def _overrides(synth, *extra):
    return ["data.workers=0", "model.drop_path=0.0", "compress.stages=2", "train.batch_size=2", "data.samples_per_epoch=4",
            f"data.train.0.root={synth}", "data.train.0.split=all", "data.val=[]", "compress.teacher_precision=fp32", *extra]


def test_an_elastic_run_writes_a_supernet_and_resumes_exactly(make_model, tmp_path, synth, monkeypatch):
    net = make_model("tiny_64_ce", seed=4)
    teacher = save_native(net, net.config, tmp_path / "teacher.safetensors")
    elastic = ["compress.elastic.enabled=true", "compress.elastic.depths=[1,2]", "compress.elastic.mlp_ratios=[4,1]", "compress.elastic.sampling=sandwich",
               "train.checkpoint_every_steps=1", "train.epochs=2"]
    recipe = load_recipe("compresstracker_tiny", _overrides(synth, *elastic))
    whole = compress_tracker(recipe, tmp_path / "whole", progress=False, threads=1, teacher=teacher)
    info = inspect_checkpoint(whole["supernet"])
    assert info["plan"]["elastic"] == {"stages": 2, "depths": [1, 2], "hidden": [128, 32], "sampling": "sandwich", "random_paths": 2}
    assert info["config"]["depth"] == 4 and whole["plan"]["elastic"]["size"] == 16
    assert whole["plan"]["elastic"]["smallest"]["macs"] < whole["plan"]["elastic"]["largest"]["macs"]
    run = functools.partial(compress_tracker, threads=1, teacher=teacher)
    train_killed_then_resumed(recipe, tmp_path / "half", monkeypatch, run)  # killed in epoch 2, resumed
    resumed = {"supernet": tmp_path / "half" / "supernet.safetensors"}
    a, b = load_file(whole["supernet"]), load_file(resumed["supernet"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_choice_per_knob_is_todays_fixed_run_bit_for_bit(make_model, tmp_path, synth):
    net = make_model("tiny_64_ce", seed=4)
    teacher = save_native(net, net.config, tmp_path / "teacher.safetensors")
    fixed = compress_tracker(load_recipe("compresstracker_tiny", _overrides(synth, "train.epochs=1")),
                             tmp_path / "fixed", progress=False, threads=1, teacher=teacher)
    one = compress_tracker(load_recipe("compresstracker_tiny", _overrides(
        synth, "train.epochs=1", "compress.elastic.enabled=true", "compress.elastic.depths=[1]", "compress.elastic.mlp_ratios=[4]")),
        tmp_path / "one", progress=False, threads=1, teacher=teacher)
    a, b = load_file(fixed["student"]), load_file(one["supernet"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("override, message", [
    ("compress.elastic.depths=[]", "compress.elastic.depths must be a non-empty list of integers >= 1"),
    ("compress.elastic.depths=[0,1]", "compress.elastic.depths must be a non-empty list of integers >= 1"),
    ("compress.elastic.mlp_ratios=[4,-1]", r"compress.elastic.mlp_ratios must be a non-empty list of numbers in \(0, 16\]"),
    ("compress.elastic.sampling=greedy", "compress.elastic.sampling must be one of sandwich, single"),
    ("compress.elastic.random_paths=-1", "compress.elastic.random_paths must be >= 0"),
])
def test_the_elastic_space_is_validated_like_every_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_recipe("compresstracker_tiny", [override])


def test_a_ratio_wider_than_the_teachers_mlp_is_refused(make_model, tmp_path, synth):
    net = make_model("tiny_64_ce", seed=4)
    teacher = save_native(net, net.config, tmp_path / "teacher.safetensors")
    recipe = load_recipe("compresstracker_tiny", _overrides(synth, "train.epochs=0", "compress.elastic.enabled=true",
                                                           "compress.elastic.mlp_ratios=[8,4]"))
    with pytest.raises(ConfigError, match="the teacher's MLP has 128 hidden units"):
        compress_tracker(recipe, tmp_path / "run", progress=False, threads=1, teacher=teacher)
