"""The ViT elastic space: costs per unit, the latency table, and `ctrack search` on an elastic compression run."""
import json

import numpy as np
import pytest
import torch

from compresstracker.bench.flops import count_params
from compresstracker.checkpoints import load_model, save_native
from compresstracker.compression.adapters import adapter_for
from compresstracker.compression.run import compress_tracker
from compresstracker.errors import ConfigError
from compresstracker.families.elastic_space import ElasticSupernet, ElasticViTSpace, cost_units
from compresstracker.training.recipe import load_recipe


@pytest.fixture(scope="module")
def elastic_run(tmp_path_factory, synth_search):
    """An elastic run of the tiny teacher (initialised, not trained: its costs and cut-outs are what is tested)."""
    from tests.conftest import randomize_model
    from compresstracker.models import build_model

    root = tmp_path_factory.mktemp("elastic")
    net = randomize_model(build_model("tiny_64_ce"), 4)
    teacher = save_native(net, net.config, root / "teacher.safetensors")
    recipe = load_recipe("compresstracker_tiny", [
        "train.epochs=0", "data.workers=0", "compress.stages=2", f"data.train.0.root={synth_search / 'train'}",
        "data.train.0.split=all", "compress.elastic.enabled=true", "compress.elastic.depths=[1,2]",
        "compress.elastic.mlp_ratios=[4,2,1]", "train.batch_size=4", "compress.teacher_precision=fp32"])
    compress_tracker(recipe, root / "run", progress=False, threads=1, teacher=teacher)
    return root / "run"


def test_unit_costs_add_up_to_every_cut_out_students_count(elastic_run):
    supernet = ElasticSupernet.load(elastic_run)
    space = ElasticViTSpace(supernet.config)
    assert space.size() == 36 and len(space.genes) == 4
    units = cost_units(supernet)
    rng = np.random.default_rng(0)
    for _ in range(4):
        genes = space.sample(rng)
        net = supernet.extract(space.to_arch(genes))
        assert sum(units[u]["macs"] for u in space.units(genes)) == adapter_for(net).macs(net)
        assert sum(units[u]["params"] for u in space.units(genes)) == count_params(net)
        assert space.decode(space.encode(genes)) == genes
    low, high = space.minmax(lambda u: units[u]["macs"])
    assert space.to_arch(low).encode() == "d1.1-h32.32" and space.to_arch(high).encode() == "d2.2-h128.128"


def test_latency_table_is_a_fit_of_whole_students(elastic_run, monkeypatch):
    """Units solved from uniform students timed whole: with a timer that is linear in the layers, exact."""
    import compresstracker.bench.latency as latency

    def fake(models, *args, **kwargs):  # 1 ms of base, 0.01 ms per hidden unit per layer
        return [1.0 + sum(b.mlp.fc1.out_features * 0.01 for b in m.backbone.blocks) for m in models]

    monkeypatch.setattr(latency, "time_models", fake)
    supernet = ElasticSupernet.load(elastic_run)
    space = ElasticViTSpace(supernet.config)
    units = space.time_units(supernet, "torch", "fp32", 1, 5)
    assert units["base"] == pytest.approx(1.0) and units["block.64"] == pytest.approx(0.64)
    genes = space.sample(np.random.default_rng(3))
    net = space.extract(supernet, genes)
    assert sum(units[u] for u in space.units(genes)) == pytest.approx(fake([net])[0])
    assert space.time_path(supernet, genes, "torch", "fp32", 1, 5) == pytest.approx(fake([net])[0])
    with pytest.raises(ConfigError, match="runs fp32"):
        space.check_latency("onnxruntime", "bf16")


def test_a_single_depth_space_cannot_tell_layers_from_the_rest(elastic_run):
    from compresstracker.compression.elastic import ElasticSpace

    supernet = ElasticSupernet.load(elastic_run)
    supernet.elastic = ElasticSpace(2, (2,), (128, 64))
    with pytest.raises(ConfigError, match="needs at least two depth choices"):
        cost_units(supernet)


def test_search_an_elastic_run_under_a_latency_budget(elastic_run, synth_search, tmp_path, run_cli):
    args = ["search", "--supernet", str(elastic_run), "--data", f"got10k={synth_search / 'got10k'}:val", "--population", "3",
            "--generations", "2", "--parents", "2", "--threads", "1", "--seed", "5", "--calib-batches", "1", "--calib-batch-size", "2"]
    dry = run_cli(*args, "--max-latency-ms", "1000", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    info = json.loads(dry.stdout)
    assert info["space_size"] == 36 and info["macs_range"][0] < info["macs_range"][1] and info["budget_share"] == 1.0
    cheapest, dearest = info["latency_ms_range_sampled"]
    assert len(info["latency_check"]["paths"]) >= 1 and info["latency_check"]["mean_abs_error"] >= 0
    budget = (cheapest + dearest) / 2
    result = run_cli(*args, "--max-latency-ms", str(budget), "--out", str(tmp_path / "a"), "--json", "--mark", f"CT-init={elastic_run.parent / 'teacher.safetensors'}")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] and all(r["latency_ms"] <= budget for r in summary["records"])
    assert summary["latency_check"]["paths"] >= 1 and summary["marks"]["CT-init"]["latency_ms"] > 0
    best = json.loads((tmp_path / "a" / "best.json").read_text())
    student = load_model(tmp_path / "a" / "student.safetensors")  # a plain student, no flags
    space = ElasticViTSpace(ElasticSupernet.load(elastic_run).config)
    assert student.config.to_dict() == best["config"] and len(student.backbone.blocks) == sum(space.to_arch(space.decode(best["arch"])).depths)
    with torch.no_grad():
        out = student(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 64, 64))
    assert out["pred_boxes"].shape == (1, 1, 4)
    again = run_cli(*args, "--max-latency-ms", str(budget), "--out", str(tmp_path / "b"), "--json")
    assert json.loads(again.stdout)["best"]["arch"] == summary["best"]["arch"]  # same seed, same student
    refused = run_cli(*args, "--max-latency-ms", str(cheapest / 2), "--out", str(tmp_path / "c"))
    assert refused.exit_code != 0 and "no architecture of the space meets it" in refused.stderr
    # compress --from-search: the found path alone, started from the supernet, written as a plain student
    tuned = run_cli("compress", "--from-search", str(tmp_path / "a"), "-r", "compresstracker_tiny", "--epochs", "0",
                    "--data", f"lasot={synth_search / 'train'}:all", "--out", str(tmp_path / "ft"), "--threads", "1")
    assert tuned.exit_code == 0, tuned.output
    fine = load_model(tmp_path / "ft" / "student.safetensors")
    assert fine.config.to_dict() == best["config"]
    found = student.state_dict()
    assert all(torch.equal(found[k], v) for k, v in fine.state_dict().items() if k.startswith("backbone."))
    mixed = run_cli("compress", "--from-search", str(tmp_path / "a"), "--stages", "3", "--out", str(tmp_path / "x"))
    assert mixed.exit_code == 2 and "--from-search takes the stages" in mixed.stderr


def test_students_trained_apart_are_priced_by_the_same_table(elastic_run):
    """A fixed student of the teacher's family (here: a path cut out and re-saved, as a CT-k is) gets the units a
    path runs, so its predicted latency and MACs are on the candidates' footing; a network the units do not
    describe (the CE teacher) gets none, and a mark then keeps its measured figure, labelled so."""
    from compresstracker.search.costs import CostTable
    from compresstracker.search.run import mark_latency

    supernet = ElasticSupernet.load(elastic_run)
    space = ElasticViTSpace(supernet.config)
    units = cost_units(supernet)
    table = CostTable(space, units, {"backend": "torch", "precision": "fp32", "threads": 1, "overhead_ms": 0.5,
                                     "units": {"base": 2.0, "block.128": 1.0, "block.64": 0.7, "block.32": 0.6}})
    for arch in ("d1.2-h128.32", "d2.2-h64.64"):
        genes = space.decode(arch)
        net = supernet.extract(space.to_arch(genes))
        assert space.units_of(net) == space.units(genes)
        assert sum(units[u]["macs"] for u in space.units_of(net)) == adapter_for(net).macs(net)
        assert mark_latency(table, net, 9.0) == {"latency_ms": table.predict_latency(genes), "measured_latency_ms": 9.0,
                                                 "latency_source": "predicted"}
    teacher = load_model(elastic_run.parent / "teacher.safetensors")
    assert space.units_of(teacher) is None
    assert mark_latency(table, teacher, 9.0) == {"latency_ms": 9.0, "latency_source": "measured"}
    wide = supernet.extract(space.to_arch(space.decode("d1.1-h128.128")))
    wide.config = type(wide.config)(**{**wide.config.__dict__, "mlp_hidden": (256, 256)})  # a width the table has no unit for
    assert mark_latency(table, wide, 9.0)["latency_source"] == "measured"


def test_a_noisy_latency_fit_keeps_wider_layers_no_cheaper(elastic_run, monkeypatch):
    """Timed figures that say a narrow layer costs more than a wide one (a busy machine) are pooled so that no
    width is cheaper than a narrower one and none below 0; MACs, counted, are left exact."""
    import compresstracker.bench.latency as latency
    from compresstracker.families.elastic_space import ROUNDS, _nondecreasing

    assert _nondecreasing([3.0, 1.0, 2.0, 5.0]) == [2.0, 2.0, 2.0, 5.0] and _nondecreasing([-1.0, 0.5]) == [0.0, 0.5]
    share = {32: 0.9, 64: 0.3, 128: 0.6}  # the narrowest measured dearest
    calls = []

    def noisy(models, *args, **kwargs):
        calls.append(len(models))
        return [1.0 + sum(share[b.mlp.fc1.out_features] for b in m.backbone.blocks) for m in models]

    monkeypatch.setattr(latency, "time_models", noisy)
    supernet = ElasticSupernet.load(elastic_run)
    units = ElasticViTSpace(supernet.config).time_units(supernet, "torch", "fp32", 1, 5)
    assert units["block.32"] <= units["block.64"] <= units["block.128"] and min(units.values()) >= 0
    assert units["block.32"] == pytest.approx(0.6) and units["block.128"] == pytest.approx(0.6)
    assert len(calls) == ROUNDS * 6 and set(calls) == {1}  # every uniform student timed alone, in every sweep
    assert cost_units(supernet)["block.32"]["macs"] < cost_units(supernet)["block.64"]["macs"]


def test_the_demos_random_architecture_is_a_draw_within_the_budget(elastic_run):
    """Both search demos' random baseline: the first path default_rng(1) draws within the budget other than the
    winner; none when the winner is the budget's only path."""
    from compresstracker.search.costs import CostTable
    from compresstracker.search.demo import random_within, randoms_within
    from compresstracker.search.evolution import Budget

    supernet = ElasticSupernet.load(elastic_run)
    space = ElasticViTSpace(supernet.config)
    table = CostTable(space, cost_units(supernet), {"backend": "torch", "precision": "fp32", "threads": 1, "overhead_ms": 0.0,
                                                     "units": {"base": 1.0, "block.128": 0.5, "block.64": 0.3, "block.32": 0.2}})
    budget, winner = Budget(max_latency_ms=3.0), "d1.1-h32.32"
    genes = random_within(table, budget, winner)
    assert space.encode(genes) != winner and table.predict_latency(genes) <= 3.0
    assert random_within(table, budget, winner) == genes  # seeded
    assert random_within(table, Budget(max_latency_ms=table.cheapest("latency_ms")), winner) is None  # the fastest alone fits
    # the LightTrack demo's several draws: the first is the one above, all distinct, within the budget, never the winner
    several = randoms_within(table, budget, winner, 3)
    names = [space.encode(g) for g in several]
    assert several[0] == genes and len(set(names)) == 3 and winner not in names
    assert all(table.predict_latency(g) <= 3.0 for g in several)
    assert randoms_within(table, Budget(max_latency_ms=table.cheapest("latency_ms")), winner, 3) == []
