"""Teacher and student side by side on a benchmark: AUC (or AO), params, MACs, FPS, share kept.

FPS and the speed-up come from a back-to-back bench of the two networks (teacher, student,
teacher, student, ... with the same threads; medians), not from the tracking runs, whose frame
rates depend on whatever else the machine was doing while each of them ran.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from compresstracker.evaluation.report import TrackerScore
from compresstracker.fileio import atomic_write_json


def _parse_spec(spec: str) -> tuple[str, str, str | None]:
    from compresstracker.errors import ConfigError
    from compresstracker.data.registry import split_root

    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"--eval {spec!r} must look like NAME=ROOT[:SPLIT]")
    root, split = split_root(rest)
    return name, root, split


def eval_datasets(specs: Iterable[str]) -> list:
    """Open every NAME=ROOT[:SPLIT] of ``specs`` (a missing root or split is a DatasetError now): a run
    checks them before it trains, so a typo never costs a whole run."""
    from compresstracker.data import get_dataset

    return [get_dataset(name, root, split=split) for name, root, split in map(_parse_spec, specs)]


def evaluate_model(checkpoint: str, name: str, dataset, results_root: Path, device: str = "cpu", workers: int = 1,
                   threads: int | None = None, on_done: Callable[[str, int, float], None] | None = None) -> dict:
    """Track and score one checkpoint; returns metrics plus params, MACs and the tracking run's FPS (``eval_fps``).

    ``on_done(sequence, frames, seconds)`` is called as each sequence is finished (progress).
    """
    from compresstracker import load_model
    from compresstracker.bench.flops import count_family_macs, count_params
    from compresstracker.evaluation.report import score_trackers
    from compresstracker.evaluation.runner import ModelSpec, result_files, run_tracker

    out = results_root / name
    # This folder belongs to the run: a retrained student replaces its earlier results.
    run_tracker(ModelSpec(checkpoint=str(checkpoint), device=device), dataset, out, workers=workers, on_done=on_done,
                replace_stale=True, threads=threads)
    score = score_trackers(dataset, [out])[0]
    times = []
    for seq in dataset.sequences:
        lines = result_files(out, seq.name)[1].read_text().split()
        times.extend(float(t) for t in lines[1:])  # frame 0 is initialisation
    model = load_model(checkpoint)
    return {
        "name": name,
        "checkpoint": str(checkpoint),
        "metrics": score.metrics(),
        "params": count_params(model),
        "macs": count_family_macs(model)[0],
        "eval_fps": len(times) / sum(times) if times and sum(times) > 0 else None,
    }


def bench_speedup(teacher: str, student: str, device: str = "cpu", threads: int | None = None, rounds: int = 3, runs: int = 50) -> dict:
    """Tracking-step times of teacher and student benched alternately (T, S, T, S, ...), same threads.

    Load on a shared machine then hits both alike; the speed-up is the ratio of the medians.
    """
    from compresstracker.bench.latency import bench_models

    times: dict[str, list[float]] = {"teacher": [], "student": []}
    used = None
    for _ in range(rounds):
        for role, path in (("teacher", teacher), ("student", student)):
            result = bench_models([path], device=device, threads=threads, runs=runs)
            times[role].append(result["models"][0]["track_ms"])
            used = result["threads"]
    teacher_ms, student_ms = statistics.median(times["teacher"]), statistics.median(times["student"])
    return {
        "teacher_track_ms": teacher_ms, "student_track_ms": student_ms, "speedup": teacher_ms / student_ms,
        "threads": used, "rounds": rounds, "runs": runs, "device": device,
    }


def compare_on(specs: Iterable[str], teacher: str, student: str, out_dir: str | Path, device: str = "cpu", workers: int = 1,
               threads: int | None = None, student_name: str = "student", progress: str | None = None) -> list[dict]:
    """Evaluate teacher and student on each NAME=ROOT[:SPLIT] and bench them back to back; writes OUT/report.json.

    ``threads`` for tracking and for the bench (default: the thread policy of compresstracker.threads);
    the student's results folder and table row carry ``student_name`` (the CLI: the run folder's name);
    ``progress`` 'bar' or 'lines' reports the tracking per sequence on stderr (compresstracker.progress).
    """
    from compresstracker.progress import SequenceProgress

    def evaluate(checkpoint: str, name: str, dataset, results: Path) -> dict:
        with SequenceProgress(progress, f"{name} on {dataset.name}", len(dataset.sequences)) as bar:
            return evaluate_model(checkpoint, name, dataset, results, device, workers, threads,
                                  on_done=lambda seq, frames, seconds: bar.sequence_done(seq, frames, seconds, workers))

    out_dir = Path(out_dir)
    reports = []
    speed = bench_speedup(teacher, student, device, threads)
    specs = list(specs)
    for spec, dataset in zip(specs, eval_datasets(specs)):
        split = _parse_spec(spec)[2]
        results = out_dir / "results" / dataset.name
        rows = [evaluate(teacher, "teacher", dataset, results), evaluate(student, student_name, dataset, results)]
        main_metric = "auc" if "auc" in rows[0]["metrics"] else "ao"
        t, s = rows
        t["fps"], s["fps"] = 1000 / speed["teacher_track_ms"], 1000 / speed["student_track_ms"]
        reports.append({
            "dataset": dataset.name,
            "split": split,
            "metric": main_metric,
            "teacher": t,
            "student": s,
            # Percent of the teacher's score, like the metrics themselves (AUC 64.1 -> kept 97.3).
            "kept": 100 * s["metrics"][main_metric] / t["metrics"][main_metric] if t["metrics"][main_metric] else None,
            "speedup_fps": speed["speedup"],
            "bench": speed,
            "speedup_macs": t["macs"] / s["macs"] if s["macs"] else None,
        })
    atomic_write_json(out_dir / "report.json", reports)
    return reports


def kept_standard_error(teacher: TrackerScore, student: TrackerScore, metric: str = "auc") -> float:
    """Standard error, in points, of "kept" (100 x student / teacher mean score) over the scored sequences.

    How far "kept" would move on another draw of sequences like these (the delta method for a ratio
    of means on paired per-sequence scores): the spread to read it with.
    """
    per_teacher, per_student = teacher.result.sequence_metrics(), student.result.sequence_metrics()
    t = np.array([per_teacher[name][metric] for name in teacher.result.names], dtype=np.float64)
    s = np.array([per_student[name][metric] for name in teacher.result.names], dtype=np.float64)
    if len(t) < 2 or t.mean() == 0:
        return float("nan")
    residual = s - (s.mean() / t.mean()) * t
    return float(100 * np.sqrt((residual ** 2).sum() / (len(t) * (len(t) - 1))) / t.mean())


def comparison_table(reports: list[dict]):
    """One rich table: a row per model per dataset."""
    from compresstracker.console import make_table

    metrics = {report["metric"] for report in reports}
    score_header = metrics.pop().upper() if len(metrics) == 1 else "score"
    table = make_table("teacher vs student", *[
        (column, {"justify": "right" if column not in ("dataset", "model") else "left", "no_wrap": True})
        for column in ("dataset", "model", "params M", "GMACs", "FPS", score_header, "kept", "speed-up")])
    for report in reports:
        metric = report["metric"]
        for role in ("teacher", "student"):
            row = report[role]
            student = role == "student"
            score = f"{row['metrics'][metric]:.2f}"
            table.add_row(
                report["dataset"], row.get("name", role), f"{row['params'] / 1e6:.2f}", f"{row['macs'] / 1e9:.3f}",
                f"{row['fps']:.1f}" if row["fps"] else "-", score if score_header != "score" else f"{metric.upper()} {score}",
                f"{report['kept']:.1f}%" if student and report["kept"] is not None else "",
                f"{report['speedup_fps']:.2f}x" if student and report["speedup_fps"] else "",
            )
    return table
