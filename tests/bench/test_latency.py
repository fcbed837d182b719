"""``ctrack bench`` and the latency helpers: JSON shape, counts, speed-ups, errors."""
from __future__ import annotations

import pytest
import torch

from compresstracker.bench.flops import count_params
from compresstracker.families.ostrack.macs import count_macs
from compresstracker.bench.latency import bench_models, load_report
from compresstracker.checkpoints import save_native
from compresstracker.errors import ConfigError

ROW_KEYS = {
    "path", "backend", "precision", "params", "macs", "latency_ms", "track_ms", "fps", "speedup", "max_abs_diff",
    "latency_spread_ms", "track_spread_ms",
}
STUDENT = {"depth": 4, "ce_layers": (), "ce_keep_ratios": ()}


@pytest.fixture
def checkpoints(make_model, tmp_path):
    teacher, student = make_model("tiny_64_ce", seed=0), make_model("tiny_64_ce", seed=1, **STUDENT)
    paths = [save_native(m, m.config, tmp_path / f"{name}.safetensors") for name, m in (("teacher", teacher), ("student", student))]
    return (teacher, student), [str(p) for p in paths]


def test_bench_json_shape(checkpoints, run_cli):
    pytest.importorskip("onnxruntime")
    (teacher, student), paths = checkpoints
    threads_before = torch.get_num_threads()
    result = run_cli(
        "bench", *paths, "--backend", "torch", "--backend", "onnxruntime", "--threads", "1", "--runs", "50", "--json",
    )
    assert result.exit_code == 0, result.output
    report = result.json()
    assert report["device"] == "cpu" and report["threads"] == 1 and report["runs"] == 50
    assert torch.get_num_threads() == threads_before  # the thread setting is restored
    rows = report["models"]
    assert [(r["path"], r["backend"]) for r in rows] == [(p, b) for p in paths for b in ("torch", "onnxruntime")]
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["latency_ms"] > 0 and row["track_ms"] > 0
        assert row["fps"] == pytest.approx(1000 / row["track_ms"])
        assert row["speedup"] == pytest.approx(rows[0]["track_ms"] / row["track_ms"])
        assert 0 <= row["max_abs_diff"] < 1e-4 and row["track_spread_ms"] >= 0
    assert rows[0]["speedup"] == 1.0
    for i, model in ((0, teacher), (2, student)):  # both backends count the same architecture
        assert rows[i]["params"] == rows[i + 1]["params"] == count_params(model)
        assert rows[i]["macs"] == rows[i + 1]["macs"] == count_macs(model)
    assert rows[2]["macs"] < rows[0]["macs"] and [r["ce"] for r in rows] == [True, True, False, False]


def test_bench_table_goes_to_stdout(checkpoints, run_cli):
    _, paths = checkpoints
    result = run_cli("bench", paths[1], "--threads", "1", "--runs", "50")
    assert result.exit_code == 0, result.output
    assert "student.safetensors: torch fp32 ready" in result.stderr and "1.00x" in result.stdout and "speed-up" in result.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--runs", "2"], "2 is not in the range x>=3"),
        (["--device", "cuda:7"], "cuda"),
        (["--backend", "tensorrt"], "unknown backend 'tensorrt'"),
    ],
)
def test_bench_errors_exit_2_without_traceback(extra, message, checkpoints, run_cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _, paths = checkpoints
    result = run_cli("bench", paths[1], *extra)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message in result.stderr


def test_bench_models_library_call(checkpoints):
    (teacher, _), paths = checkpoints
    report = bench_models(paths[:1], threads=1, runs=50)
    (row,) = report["models"]
    assert row["backend"] == "torch" and row["precision"] == "fp32" and row["params"] == count_params(teacher)
    assert 0 < row["latency_ms"] and 0 < row["track_ms"]
    assert row["max_abs_diff"] < 1e-5  # the inference form (folded BatchNorm) against the network as loaded
    with pytest.raises(ConfigError, match="at least 3"):
        bench_models(paths[:1], threads=1, runs=2)


def test_unsupported_pairs_are_skipped_with_the_reason(checkpoints):
    pytest.importorskip("onnxruntime")
    _, paths = checkpoints
    report = bench_models(paths[1:], backends=["torch", "onnxruntime"], precisions=["fp16", "int8"], threads=1, runs=3)
    assert [(r["backend"], r["precision"]) for r in report["models"]] == [("onnxruntime", "int8")]
    assert report["quick_look"] and 0 < report["models"][0]["max_abs_diff"] < 1  # int8 differs, but not wildly
    reasons = {(s["backend"], s["precision"]): s["reason"] for s in report["skipped"]}
    assert reasons == {
        ("torch", "fp16"): "no native fp16 on this cpu", ("torch", "int8"): "not a precision of this backend",
        ("onnxruntime", "fp16"): "not a precision of this backend",
    }


def test_the_load_line_warns_only_when_others_compete():
    quiet = load_report(before=0.2, after=1.1, threads=1)  # the bench's own thread raised the average
    assert quiet["warning"] is None and quiet["load_before"] == 0.2
    busy = load_report(before=3.5, after=4.0, threads=2)
    assert "load average 4.0" in busy["warning"] and "interleaved" in busy["warning"]
    # Measured CPU time of other processes decides where it is known, not the sluggish average:
    own_setup = load_report(before=2.8, after=2.8, threads=2, others=0.05, machine_cpus=2)
    assert own_setup["warning"] is None and own_setup["other_cores"] == 0.05
    shared = load_report(before=0.1, after=2.5, threads=2, others=1.2, machine_cpus=2)
    assert "took 1.2 of the 2 core(s)" in shared["warning"]
    big_host = load_report(before=9.0, after=9.0, threads=2, others=10.0, machine_cpus=64)  # cores to spare
    assert big_host["warning"] is None


def test_busy_seconds_reads_the_busy_fields_of_proc_stat(tmp_path):
    import os
    import time
    from pathlib import Path

    from compresstracker.bench.latency import busy_seconds

    ticks = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice: idle and iowait are not busy
    stat.write_text(f"cpu  {ticks} {ticks} {ticks} {50 * ticks} {7 * ticks} {ticks} {ticks} {ticks} 0 0\ncpu0 1 2 3\n")
    assert busy_seconds(stat) == 6.0
    assert busy_seconds(tmp_path / "absent") is None
    stat.write_text("intr 1 2 3\n")
    assert busy_seconds(stat) is None
    if Path("/proc/stat").is_file():  # Linux, as CI: the machine-wide busy time includes this process's work
        start, own = busy_seconds(), time.process_time()
        spin_until = time.perf_counter() + 0.3
        while time.perf_counter() < spin_until:
            pass
        assert busy_seconds() - start >= 0.8 * (time.process_time() - own) - 0.05


def test_speedups_are_against_torch_fp32_wherever_it_is_listed_and_an_empty_bench_is_an_error(checkpoints, run_cli):
    pytest.importorskip("onnxruntime")
    _, paths = checkpoints
    report = bench_models(paths[:1], backends=["onnxruntime", "torch"], threads=1, runs=3)
    assert [r["backend"] for r in report["models"]] == ["onnxruntime", "torch"]
    assert report["baseline"] == {"path": str(paths[0]), "backend": "torch", "precision": "fp32"}
    onnx_row, torch_row = report["models"]
    assert torch_row["speedup"] == 1.0
    assert onnx_row["speedup"] == pytest.approx(torch_row["track_ms"] / onnx_row["track_ms"])
    with pytest.raises(ConfigError, match=r"nothing to time: .* on torch fp16: no native fp16 on this cpu"):
        bench_models(paths[:1], precisions=["fp16"], threads=1, runs=3)
    result = run_cli("bench", paths[0], "--calib", "synthetic=/nowhere", "--runs", "3")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--calib applies where a checkpoint is quantised" in result.stderr and "no row here is one" in result.stderr


@pytest.mark.parametrize("arch", ["lighttrack_tiny", "mixformerv2_tiny"])
def test_every_family_row_says_how_far_its_outputs_moved(arch, make_model, tmp_path):
    """Issue 23 item 20: rows of LightTrack and MixFormerV2 carry a max_abs_diff, like OSTrack's (their probe)."""
    model = make_model(arch, seed=0)
    path = save_native(model, model.config, tmp_path / f"{arch}.safetensors")
    (row,) = bench_models([str(path)], threads=1, runs=3)["models"]
    assert row["max_abs_diff"] is not None and 0 <= row["max_abs_diff"] < 1e-4
