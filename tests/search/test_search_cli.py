"""`ctrack search` end to end on a 1-epoch tiny supernet: dry run, budgets, outputs, same seed same winner, resume."""
import json

import pytest


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
    assert first.json()["best"]["arch"] == json.loads((out / "best.json").read_text())["arch"]  # stdout is the JSON alone
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
    assert second.exit_code == 0, second.output
    assert json.loads((tmp_path / "s2" / "best.json").read_text())["arch"] == best["arch"]
    refused = _search(run_cli, supernet_run, synth_search, tmp_path / "s2", str(int(budget) - 1), "--resume")
    assert refused.exit_code == 2 and "max-macs" in refused.stderr and refused.stderr.count("\n") <= 2


def test_bad_input_is_one_line(run_cli, tmp_path):
    missing = run_cli("search", "--supernet", tmp_path / "none", "--dry-run")
    assert missing.exit_code == 2 and "no supernet" in missing.stderr
    bad = run_cli("search", "--supernet", tmp_path, "--max-macs", "lots", "--dry-run")
    assert bad.exit_code == 2 and "lots" in bad.stderr


def test_a_changed_supernet_or_damaged_files_are_refused_or_rebuilt(run_cli, supernet_run, synth_search, tmp_path):
    import shutil

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "supernet"
    shutil.copytree(supernet_run, copy)
    weights = copy / "model.safetensors"
    (copy / "model.costs.json").write_text('{"key": ')  # a damaged cost cache is rebuilt
    dry = run_cli("search", "--supernet", copy, "--max-macs", "20M", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    budget = str(int(sum(dry.json()["macs_range"]) / 2))
    assert _search(run_cli, copy, synth_search, tmp_path / "s", budget).exit_code == 0
    with safe_open(str(weights), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(weights))
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name] = tensors[name] + 0.01  # trained further under the same name
    save_file(tensors, str(weights), metadata=metadata)
    changed = _search(run_cli, copy, synth_search, tmp_path / "s", budget, "--resume")
    assert changed.exit_code == 2 and "contents (sha256)" in changed.stderr and "Traceback" not in changed.output
    (tmp_path / "s" / "search_state.json").write_text('{"settings": {}')
    torn = _search(run_cli, copy, synth_search, tmp_path / "s", budget, "--resume")
    assert torn.exit_code == 2 and "not a readable search state" in torn.stderr and torn.stderr.count("\n") == 1
    weights.write_bytes(weights.read_bytes()[:1000])
    damaged = run_cli("search", "--supernet", weights, "--dry-run")
    assert damaged.exit_code == 2 and "not a readable safetensors file" in damaged.stderr and "Traceback" not in damaged.output


def test_the_search_demo_refuses_other_settings_and_flags_it_ignores(run_cli, tmp_path):
    from compresstracker.errors import ConfigError
    from compresstracker.search.demo import _check_settings

    settings = {"epochs": 1, "samples": 32, "population": 6, "generations": 3, "retrain_epochs": 3}
    _check_settings(tmp_path / "d", settings)
    _check_settings(tmp_path / "d", settings)  # a rerun with the same settings resumes
    with pytest.raises(ConfigError, match="other settings .epochs 1 there, 2 now.; choose another --out"):
        _check_settings(tmp_path / "d", {**settings, "epochs": 2})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no search demo run"):
        _check_settings(tmp_path / "other", settings)
    flags = run_cli("demo", "--search", "--stages", "3", "--out", tmp_path / "x")
    assert flags.exit_code == 2 and "--stages applies to the compression demo, not to --search" in flags.stderr
    assert not (tmp_path / "x").exists()


def test_the_top_table_says_which_latencies_were_measured():
    from rich.console import Console

    from compresstracker.cli.common import top_table

    records = [{"arch": "a", "macs": 2e6, "params": 3e3, "latency_ms": 1.5, "measured_latency_ms": 2.25, "fitness": 1.0},
               {"arch": "b", "macs": 2e6, "params": 3e3, "latency_ms": 1.75, "fitness": 0.5},
               {"arch": "c", "macs": 2e6, "params": 3e3, "fitness": 0.25}]
    console = Console(record=True, width=120)
    console.print(top_table(records))
    text = console.export_text()
    assert "2.25 m" in text and "1.75 p" in text and "1.50" not in text and "m = measured" in text
