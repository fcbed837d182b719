"""Run a tracker over a dataset's sequences: pytracking result layout, atomic files, resumable, N workers.

Each sequence's ``<seq>.txt`` (boxes truncated to int, tab-separated, as the reference writes
them: published numbers are computed on those ints) and ``<seq>_time.txt`` appear only when the
sequence is complete; a rerun skips sequences whose result file exists. ``.ctrack_run.json``
records which checkpoint (sha256) and options produced the folder, on which data, and each box
file written with digests of its sequence's ground truth and frames, so results of another
checkpoint, other data or unknown origin are refused (or tracked again where ctrack owns the
folder) and a sequence whose data changed is tracked again, instead of silently scored. One process at a time
writes a folder (an exclusive lock on it).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from compresstracker.data.registry import Dataset
from compresstracker.data.sequence import Sequence, content_sha256
from compresstracker.errors import ResultsError, TrackingError
from compresstracker.fileio import FolderBusy, atomic_write_json, atomic_write_text, file_sha256, folder_lock

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
    preset: Optional[str] = None  # tracker preset (LightTrack), None: the family's default
    params: tuple[tuple[str, str], ...] = ()  # tracker parameter overrides, key=value


def result_files(results_dir: Path, name: str) -> tuple[Path, Path]:
    return results_dir / f"{name}.txt", results_dir / f"{name}_time.txt"


def write_result(results_dir: Path, name: str, boxes: np.ndarray, times: list[float]) -> None:
    """Time file first, then the box file: a box file present means the sequence is complete."""
    box_path, time_path = result_files(results_dir, name)
    atomic_write_text(time_path, "".join(f"{t:.6f}\n" for t in times))
    ints = np.asarray(boxes, dtype=np.float64).astype(int)
    atomic_write_text(box_path, "".join("\t".join(str(v) for v in row) + "\n" for row in ints))


RECORD_FORMAT = "ctrack-results/2"


def run_record(spec: ModelSpec) -> dict:
    """What identifies the tracker behind a results folder (the device does not change the boxes' meaning).

    Defaults are recorded as None, however they were asked for: ``--precision fp32`` on a checkpoint
    is the default, a deployed file's precision is its own (its sha256 says it), and ``--calib`` is
    kept only where it calibrates (see :func:`~compresstracker.deploy.calib_applies`).
    """
    from compresstracker.checkpoints import unfinished_run
    from compresstracker.deploy import calib_applies, deployed_backend

    deployed = deployed_backend(spec.checkpoint) is not None
    precision = None if deployed or spec.precision in (None, "fp32") else spec.precision
    calib = spec.calib if spec.calib is not None and calib_applies(spec.checkpoint, spec.backend, spec.precision) else None
    return {
        "checkpoint": Path(spec.checkpoint).name, "sha256": file_sha256(spec.checkpoint), "ce": spec.ce,
        "backend": spec.backend, "precision": precision, "calib": calib, "preset": spec.preset, "params": dict(spec.params) or None,
        "unfinished": unfinished_run(spec.checkpoint),  # a student exported before its run ended: epoch E of N
    }


def dataset_record(dataset: Dataset) -> dict:
    """Which data a results folder was tracked on: registry name and resolved root (the split is noted, not compared)."""
    return {"name": dataset.name, "root": str(Path(dataset.root).resolve()), "split": dataset.split}


def _describe_tracker(tracker: dict) -> str:
    options = [f"sha256 {str(tracker.get('sha256'))[:12]}"]
    if tracker.get("ce") is not None:
        options.append("CE on" if tracker["ce"] else "CE off")
    if tracker.get("backend") not in (None, "torch"):
        options.append(f"backend {tracker['backend']}")
    if tracker.get("precision"):
        options.append(tracker["precision"])
    if tracker.get("preset"):
        options.append(f"preset {tracker['preset']}")
    if tracker.get("params"):
        options.append(", ".join(f"{k}={v}" for k, v in sorted(tracker["params"].items())))
    return f"{tracker.get('checkpoint')} ({', '.join(options)})"


def _read_record(path: Path) -> dict | None:
    """The folder's run record; None when missing; an empty dict when unreadable or of another format."""
    import json

    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return {}
    ok = (
        isinstance(record, dict) and record.get("format") == RECORD_FORMAT
        and all(isinstance(record.get(key), dict) for key in ("tracker", "dataset", "sequences"))
    )
    return record if ok else {}


def _folder_problem(previous: dict | None, tracker: dict, data: dict, results_dir: Path) -> str | None:
    """Why the folder's existing results cannot be this run's, or None when they can."""
    if previous is None:
        stray = [p.name for p in results_dir.glob("*.txt")]
        if not stray:
            return None
        return f"{results_dir} holds {len(stray)} result file(s) but no run record ({RUN_RECORD}), so their tracker is unknown"
    if not previous:
        return f"{results_dir} has an unreadable run record ({RUN_RECORD}, corrupt or from an older ctrack)"
    if {k: previous["tracker"].get(k) for k in tracker} != tracker:
        old_tracker = previous["tracker"]
        if old_tracker.get("sha256") == tracker["sha256"]:  # the same file: say which option differs
            changed = ", ".join(f"{k} {old_tracker.get(k)!r} there, {tracker[k]!r} now" for k in tracker if old_tracker.get(k) != tracker[k])
            return f"{results_dir} holds results of the same checkpoint run with other options ({changed})"
        return f"{results_dir} holds results of another tracker, {_describe_tracker(old_tracker)}"
    old = previous["dataset"]
    if (old.get("name"), old.get("root")) != (data["name"], data["root"]):
        return f"{results_dir} holds results on other data ({old.get('name')} at {old.get('root')})"
    return None


def _remove_result(results_dir: Path, name: str) -> None:
    for path in result_files(results_dir, name):
        path.unlink(missing_ok=True)


def _entry(results_dir: Path, seq: Sequence, frames: int) -> dict:
    """The record of one tracked sequence: its box file's frame count and sha256, and the sequence's
    data (ground truth and frames, see :func:`content_sha256`), so changed data is tracked again."""
    return {"frames": frames, "sha256": file_sha256(result_files(results_dir, seq.name)[0]), "data": content_sha256(seq)}


def _refusal(problem: str) -> ResultsError:
    return ResultsError(f"{problem}; give another --name or --out, or delete the folder")


def _busy(results_dir: Path) -> ResultsError:
    return ResultsError(f"another ctrack process is writing to {results_dir}; wait for it or choose another --out")


def check_results_dir(spec: ModelSpec, dataset: Dataset, results_dir: Path) -> None:
    """Refuse now what :func:`run_tracker` would refuse (it checks again under its lock): for a CLI
    to fail before it shows any progress."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return
    try:
        with folder_lock(results_dir):
            problem = _folder_problem(_read_record(results_dir / RUN_RECORD), run_record(spec), dataset_record(dataset), results_dir)
    except FolderBusy:
        raise _busy(results_dir) from None
    if problem:
        raise _refusal(problem)


def claim_results_dir(spec: ModelSpec, dataset: Dataset, results_dir: Path, replace_stale: bool = False) -> dict:
    """Make ``results_dir`` this run's, checking what it already holds; returns the record to keep updating.

    The record (``.ctrack_run.json``) names the tracker (checkpoint sha256 and options), the data
    (dataset name, root, split) and, per sequence, the frame count and sha256 of the box file
    ctrack wrote and the digests of the sequence's ground truth and frames. Result files without
    a readable record, or a record of another tracker or other data, are refused with a ResultsError; where ctrack owns the folder (``replace_stale``, e.g. a
    compression run's evaluation) they are deleted and tracked again. In a folder that is this
    run's, a box file the record does not vouch for (not written by this run, edited, of
    another length than its sequence, or of a sequence whose ground truth or frames changed since)
    is deleted and its sequence tracked again.
    Call with the folder locked (``folder_lock``).
    """
    tracker, data = run_record(spec), dataset_record(dataset)
    path = results_dir / RUN_RECORD
    previous = _read_record(path)
    problem = _folder_problem(previous, tracker, data, results_dir)
    if problem and not replace_stale:
        raise _refusal(problem)
    sequences = {} if problem or previous is None else dict(previous["sequences"])
    if problem:
        for entry in results_dir.iterdir():
            if entry.is_file() and entry.suffix == ".txt":
                entry.unlink()
    for seq in dataset.sequences:
        box = result_files(results_dir, seq.name)[0]
        if box.exists() and sequences.get(seq.name) != _entry(results_dir, seq, len(seq)):
            _remove_result(results_dir, seq.name)
        if not box.exists():
            sequences.pop(seq.name, None)
    record = {"format": RECORD_FORMAT, "tracker": tracker, "dataset": data, "sequences": sequences}
    atomic_write_json(path, record)
    return record


def pending_sequences(sequences: list[Sequence], results_dir: Path) -> list[Sequence]:
    return [s for s in sequences if not result_files(results_dir, s.name)[0].exists()]


_WORKER: dict = {}


def build_tracker(spec: ModelSpec):
    """The tracker of the checkpoint's family for ``spec`` on its backend (a checkpoint, or a file
    deployed for that backend), with the spec's preset and parameters."""
    from compresstracker.deploy import load_network
    from compresstracker.devices import resolve_device
    from compresstracker.tracking import make_tracker

    device = resolve_device(spec.device)
    network = load_network(spec.checkpoint, spec.backend, spec.ce, device, precision=spec.precision, calib=spec.calib)
    return make_tracker(network, device, spec.preset, dict(spec.params))


def _exit_with_parent(parent: int, period: float = 1.0) -> None:
    """Watch the parent process from a daemon thread; end this worker when it is gone.

    A killed ``ctrack eval`` must not leave its workers tracking (and writing) on their own.
    """
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(spec: ModelSpec, threads: int, cores: list[list[int]], counter, parent: int) -> None:
    import torch

    _exit_with_parent(parent)

    with counter.get_lock():
        slot = counter.value
        counter.value += 1
    import warnings

    from compresstracker.errors import CTrackWarning, print_warnings_on_one_line

    print_warnings_on_one_line()
    if slot:  # the first worker says what loading the checkpoint has to say; the others would repeat it
        warnings.simplefilter("ignore", CTrackWarning)
    if cores and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cores[slot % len(cores)])
        except OSError:
            pass
    torch.set_num_threads(threads)
    _WORKER["tracker"] = build_tracker(spec)


def _where(seq: Sequence) -> str:
    return f" (first row of {seq.groundtruth_file})" if seq.groundtruth_file else ""


def check_first_boxes(sequences: list[Sequence]) -> None:
    """Refuse, before anything is tracked or written, a sequence whose first ground-truth box cannot
    start a tracker (not finite, or no area), naming the sequence and its ground-truth file."""
    for seq in sequences:
        box = np.asarray(seq.init_box, dtype=np.float64)
        if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            shown = ",".join(f"{v:g}" for v in box)
            raise TrackingError(f"sequence {seq.name}{_where(seq)}: the first box {shown} needs finite values and a positive "
                                "size, as tracking starts from it")


def track_sequence(tracker, seq: Sequence) -> tuple[np.ndarray, list[float]]:
    """Run ``tracker`` over one sequence from its first ground-truth box."""
    from compresstracker.tracking import read_rgb, run_sequence
    from compresstracker.tracking.video import read_ahead

    frames = read_ahead(read_rgb(path) for path in seq.frames)
    try:
        return run_sequence(tracker, frames, seq.ground_truth[0])
    except TrackingError as exc:  # a first box the image refuses (outside it): say which sequence and file
        raise TrackingError(f"sequence {seq.name}{_where(seq)}: {exc}") from None


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
    dataset: Dataset,
    results_dir: Path,
    workers: int = 1,
    on_done: Optional[Callable[[str, int, float], None]] = None,
    replace_stale: bool = False,
    tracker=None,
    threads: Optional[int] = None,
) -> dict:
    """Track every pending sequence of ``dataset``; returns counts and throughput (frames per second of wall time).

    ``tracker``: one already built from ``spec`` (by :func:`build_tracker`), used when tracking in this process.
    ``threads`` per tracker process (default: this process's cores shared by the workers, see
    compresstracker.threads), so N workers never oversubscribe the machine.
    """
    results_dir = Path(results_dir)
    check_first_boxes(dataset.sequences)
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(results_dir):
            return _run_claimed(spec, dataset, results_dir, workers, on_done, replace_stale, tracker, threads)
    except FolderBusy:
        raise _busy(results_dir) from None


def _run_claimed(spec, dataset, results_dir, workers, on_done, replace_stale, tracker, threads) -> dict:
    from compresstracker.threads import resolve_threads, set_threads

    record = claim_results_dir(spec, dataset, results_dir, replace_stale)
    sequences = dataset.sequences
    by_name = {seq.name: seq for seq in sequences}
    todo = pending_sequences(sequences, results_dir)
    frames = 0
    start = time.perf_counter()

    def finished(name: str, count: int, seconds: float) -> None:
        nonlocal frames
        frames += count
        record["sequences"][name] = _entry(results_dir, by_name[name], count)
        atomic_write_json(results_dir / RUN_RECORD, record)
        if on_done:
            on_done(name, count, seconds)

    if todo and workers <= 1:
        set_threads(resolve_threads(threads))
        tracker = tracker or build_tracker(spec)
        for seq in todo:
            t0 = time.perf_counter()
            boxes, times = track_sequence(tracker, seq)
            write_result(results_dir, seq.name, boxes, times)
            finished(seq.name, len(boxes), time.perf_counter() - t0)
    elif todo:
        import multiprocessing as mp

        cores = _core_shares(workers)
        threads = resolve_threads(threads, processes=workers)
        ctx = mp.get_context("spawn")
        counter = ctx.Value("i", 0)
        initargs = (spec, threads, cores, counter, os.getpid())
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=initargs) as pool:
            futures = [pool.submit(_run_in_worker, seq, str(results_dir)) for seq in todo]
            for future in as_completed(futures):
                finished(*future.result())
    wall = time.perf_counter() - start
    return {
        "sequences": len(sequences),
        "tracked": len(todo),
        "skipped": len(sequences) - len(todo),
        "frames": frames,
        "seconds": wall,
        "fps": frames / wall if wall > 0 and frames else None,
    }
