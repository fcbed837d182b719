"""Run a tracker over a dataset's sequences: pytracking result layout, atomic files, resumable, N workers.

Each sequence's ``<seq>.txt`` (boxes truncated to int, tab-separated, as the reference writes
them: published numbers are computed on those ints) and ``<seq>_time.txt`` appear only when the
sequence is complete; a rerun skips sequences whose result file exists. ``.ctrack_run.json``
records which checkpoint (sha256) and options produced the folder, so a rerun with another
checkpoint under the same tracker name is refused instead of silently reusing stale results.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from compresstracker.data.sequence import Sequence
from compresstracker.errors import ResultsError
from compresstracker.fileio import atomic_write_json, atomic_write_text, file_sha256

RUN_RECORD = ".ctrack_run.json"


@dataclass(frozen=True)
class ModelSpec:
    """How a worker gets its tracker: a checkpoint path and options, loaded inside the worker."""

    checkpoint: str
    ce: Optional[bool] = None
    device: str = "cpu"
    backend: str = "torch"
    precision: Optional[str] = None  # None: the backend's fp32, or a deployed file's own
    calib: Optional[str] = None  # static int8: NAME=ROOT[:SPLIT] to calibrate on (default generated sequences)


def result_files(results_dir: Path, name: str) -> tuple[Path, Path]:
    return results_dir / f"{name}.txt", results_dir / f"{name}_time.txt"


def write_result(results_dir: Path, name: str, boxes: np.ndarray, times: list[float]) -> None:
    """Time file first, then the box file: a box file present means the sequence is complete."""
    box_path, time_path = result_files(results_dir, name)
    atomic_write_text(time_path, "".join(f"{t:.6f}\n" for t in times))
    ints = np.asarray(boxes, dtype=np.float64).astype(int)
    atomic_write_text(box_path, "".join("\t".join(str(v) for v in row) + "\n" for row in ints))


def run_record(spec: ModelSpec) -> dict:
    """What identifies the tracker behind a results folder (the device does not change the boxes' meaning)."""
    return {"checkpoint": Path(spec.checkpoint).name, "sha256": file_sha256(spec.checkpoint), "ce": spec.ce, "backend": spec.backend,
            "precision": spec.precision, "calib": spec.calib}


def claim_results_dir(spec: ModelSpec, results_dir: Path, replace_stale: bool = False) -> None:
    """Write the folder's run record, or refuse when it records a different tracker.

    ``replace_stale`` (folders ctrack owns, e.g. a compression run's evaluation): results of a
    different tracker are deleted and tracked again instead.
    """
    import json

    record = run_record(spec)
    path = results_dir / RUN_RECORD
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = None
        stale = isinstance(previous, dict) and {k: previous.get(k) for k in record} != record
        if stale and replace_stale:
            for entry in results_dir.iterdir():
                if entry.is_file() and entry.suffix == ".txt":
                    entry.unlink()
        elif stale:
            raise ResultsError(
                f"{results_dir} holds results of another tracker ({previous.get('checkpoint')}, "
                f"sha256 {str(previous.get('sha256'))[:12]}, ce={previous.get('ce')}, backend {previous.get('backend')}); "
                "give another --tracker-name or --results-dir, or delete the folder"
            )
        if previous == record:
            return
    atomic_write_json(path, record)


def pending_sequences(sequences: list[Sequence], results_dir: Path) -> list[Sequence]:
    return [s for s in sequences if not result_files(results_dir, s.name)[0].exists()]


_WORKER: dict = {}


def build_tracker(spec: ModelSpec):
    """A tracker for ``spec`` on its backend (a checkpoint, or a file deployed for that backend)."""
    from compresstracker.deploy import load_network
    from compresstracker.devices import resolve_device
    from compresstracker.tracking import Tracker

    device = resolve_device(spec.device)
    return Tracker(load_network(spec.checkpoint, spec.backend, spec.ce, device, precision=spec.precision, calib=spec.calib), device)


def _init_worker(spec: ModelSpec, threads: int, cores: list[list[int]], counter) -> None:
    import torch

    with counter.get_lock():
        slot = counter.value
        counter.value += 1
    if cores and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cores[slot % len(cores)])
        except OSError:
            pass
    torch.set_num_threads(threads)
    _WORKER["tracker"] = build_tracker(spec)


def track_sequence(tracker, seq: Sequence) -> tuple[np.ndarray, list[float]]:
    """Run ``tracker`` over one sequence from its first ground-truth box."""
    from compresstracker.tracking import read_rgb, run_sequence

    frames = (read_rgb(path) for path in seq.frames)
    return run_sequence(tracker, frames, seq.ground_truth[0])


def _run_in_worker(seq: Sequence, results_dir: str) -> tuple[str, int, float]:
    start = time.perf_counter()
    boxes, times = track_sequence(_WORKER["tracker"], seq)
    write_result(Path(results_dir), seq.name, boxes, times)
    return seq.name, len(boxes), time.perf_counter() - start


def _core_shares(workers: int) -> list[list[int]]:
    if not hasattr(os, "sched_getaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    if workers > len(cores):
        return []
    per = len(cores) // workers
    return [cores[i * per : (i + 1) * per] for i in range(workers)]


def run_tracker(
    spec: ModelSpec,
    sequences: list[Sequence],
    results_dir: Path,
    workers: int = 1,
    on_done: Optional[Callable[[str, int, float], None]] = None,
    replace_stale: bool = False,
) -> dict:
    """Track every pending sequence; returns counts and throughput (frames per second of wall time)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    claim_results_dir(spec, results_dir, replace_stale)
    todo = pending_sequences(sequences, results_dir)
    frames = 0
    start = time.perf_counter()
    if todo and workers <= 1:
        tracker = build_tracker(spec)
        for seq in todo:
            t0 = time.perf_counter()
            boxes, times = track_sequence(tracker, seq)
            write_result(results_dir, seq.name, boxes, times)
            frames += len(boxes)
            if on_done:
                on_done(seq.name, len(boxes), time.perf_counter() - t0)
    elif todo:
        import multiprocessing as mp

        cores = _core_shares(workers)
        threads = max(1, (len(cores[0]) if cores else (os.cpu_count() or 1) // workers))
        ctx = mp.get_context("spawn")
        counter = ctx.Value("i", 0)
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(spec, threads, cores, counter)) as pool:
            futures = [pool.submit(_run_in_worker, seq, str(results_dir)) for seq in todo]
            for future in as_completed(futures):
                name, count, seconds = future.result()
                frames += count
                if on_done:
                    on_done(name, count, seconds)
    wall = time.perf_counter() - start
    return {
        "sequences": len(sequences),
        "tracked": len(todo),
        "skipped": len(sequences) - len(todo),
        "frames": frames,
        "seconds": wall,
        "fps": frames / wall if wall > 0 and frames else None,
    }
