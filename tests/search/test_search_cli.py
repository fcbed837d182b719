"""`ctrack search` end to end on a 1-epoch tiny supernet: dry run, budgets, outputs, same seed same winner, resume."""
import json

import pytest

from .conftest import supernet_overrides


@pytest.fixture(scope="module")
def supernet_run(synth_search, tmp_path_factory):
    from compresstracker.training.recipe import load_recipe
    from compresstracker.training.run import train_tracker

    out = tmp_path_factory.mktemp("supernet")
    train_tracker(load_recipe("lighttrack_supernet_tiny", supernet_overrides(synth_search)), out, progress=False)
    return out


def _search(run_cli, supernet_run, synth_search, out, budget, *extra):
    return run_cli("search", "--supernet", supernet_run, "--data", f"got10k={synth_search / 'got10k'}:val",
                   "--population", "4", "--generations", "2", "--parents", "2", "--max-macs", budget,
                   "--calib-batches", "2", "--calib-batch-size", "4", "--seed", "3", "--out", out, "--json", *extra)


def test_dry_run_search_outputs_and_same_seed(run_cli, supernet_run, synth_search, tmp_path):
    dry = run_cli("search", "--supernet", supernet_run, "--max-macs", "20M", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    info = dry.json()
    low, high = info["macs_range"]
    assert 0 < low < high and info["params_range"][0] < info["params_range"][1]
    assert info["space_size"] > 1e15 and 0 <= info["budget_share"] <= 1
    budget = str(int((low + high) / 2))
    first = _search(run_cli, supernet_run, synth_search, tmp_path / "s1", budget)
    assert first.exit_code == 0, first.output
    out = tmp_path / "s1"
    records = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    assert len(records) == 8 and len({r["arch"] for r in records}) == 8
    assert all(r["macs"] <= int(budget) for r in records)
    assert all({"arch", "macs", "params", "latency_ms", "fitness", "generation"} <= set(r) for r in records)
    best = json.loads((out / "best.json").read_text())
    assert best["fitness"] == max(r["fitness"] for r in records)
    assert (out / "pareto.png").stat().st_size > 1000
    # the winner is an ordinary checkpoint: inspect reports its MACs within budget, track runs it
    info = run_cli("inspect", out / "subnet.safetensors", "--json")
    assert info.exit_code == 0, info.output
    assert info.json()["macs"] == best["macs"] <= int(budget)
    seq = sorted((synth_search / "got10k" / "val").iterdir())[0]
    box = (seq / "groundtruth.txt").read_text().splitlines()[0]
    tracked = run_cli("track", "-c", out / "subnet.safetensors", "--frames", seq, "--init-box", box, "-o", tmp_path / "boxes.txt")
    assert tracked.exit_code == 0, tracked.output
    assert len((tmp_path / "boxes.txt").read_text().splitlines()) == 12
    # same seed, same winner; changed settings on resume are refused in one line
    second = _search(run_cli, supernet_run, synth_search, tmp_path / "s2", budget)
    assert json.loads((tmp_path / "s2" / "best.json").read_text())["arch"] == best["arch"]
    refused = _search(run_cli, supernet_run, synth_search, tmp_path / "s2", str(int(budget) - 1), "--resume")
    assert refused.exit_code == 2 and "max-macs" in refused.stderr and refused.stderr.count("\n") <= 2


def test_bad_input_is_one_line(run_cli, tmp_path):
    missing = run_cli("search", "--supernet", tmp_path / "none", "--dry-run")
    assert missing.exit_code == 2 and "no supernet" in missing.stderr
    bad = run_cli("search", "--supernet", tmp_path, "--max-macs", "lots", "--dry-run")
    assert bad.exit_code == 2 and "lots" in bad.stderr
