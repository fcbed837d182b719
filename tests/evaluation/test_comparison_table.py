"""The teacher-vs-student table fits an 80-column terminal, one line per model."""
from rich.console import Console

from compresstracker.evaluation.compare import comparison_table


def _row(auc: float, params: float, macs: float, fps: float) -> dict:
    return {"params": params, "macs": macs, "fps": fps, "metrics": {"auc": auc, "precision": 0.0}}


def test_table_puts_the_metric_in_the_header_and_each_model_on_one_line():
    report = {
        "dataset": "lasot", "split": "all", "metric": "auc",
        "teacher": _row(19.47, 0.70e6, 97.5e6, 81.0), "student": _row(14.96, 0.30e6, 48.2e6, 172.7),
        "kept": 14.96 / 19.47, "speedup_fps": 172.7 / 81.0, "speedup_macs": 97.5 / 48.2,
    }
    console = Console(width=80, record=True, color_system=None)
    console.print(comparison_table([report]))
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "dataset" in line)
    assert "AUC" in header and "speed-up" in header
    student = next(line for line in lines if "student" in line and "vs" not in line)
    assert "14.96" in student and "76.8%" in student and "2.13x" in student
    teacher = next(line for line in lines if "teacher" in line and "vs" not in line)
    assert "19.47" in teacher and "81.0" in teacher


def test_speed_up_comes_from_interleaved_bench_rows_with_the_same_threads(monkeypatch):
    import compresstracker.bench.latency as latency
    from compresstracker.evaluation.compare import bench_speedup

    calls = []
    track_ms = {"t.safetensors": iter([10.0, 30.0, 11.0]), "s.safetensors": iter([4.0, 12.0, 5.0])}  # a load burst in round 2

    def fake_bench(paths, device="cpu", threads=None, runs=100, **kwargs):
        calls.append((paths[0], threads, runs))
        return {"models": [{"track_ms": next(track_ms[paths[0]])}], "threads": threads}

    monkeypatch.setattr(latency, "bench_models", fake_bench)
    speed = bench_speedup("t.safetensors", "s.safetensors", threads=2, rounds=3)
    assert [c[0] for c in calls] == ["t.safetensors", "s.safetensors"] * 3
    assert {c[1] for c in calls} == {2} and speed["threads"] == 2
    assert speed["teacher_track_ms"] == 11.0 and speed["student_track_ms"] == 5.0 and speed["speedup"] == 11.0 / 5.0
