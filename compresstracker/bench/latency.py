"""Latency and FPS of tracker networks and of the whole tracking step, on every backend and precision.

Rows are (model, backend, precision). Per row: a full tracking step of the model family's tracker
on a synthetic 640x480 frame (OSTrack: crop + resize, normalisation, forward, Hann window,
decoding, mapping back), and the network's share of it (the tracker's own model timing). The rows are timed
interleaved, one call of each row per round (A, B, C, A, B, C, ...), so load from other processes
on a shared machine hits every row alike; each figure is the median over ``runs`` rounds after
warm-up, with the interquartile range as its spread. CUDA work is synchronised before a clock is
read. ``max_abs_diff`` compares each row's maps with the torch fp32 network's on the same inputs.
"""
from __future__ import annotations

import copy
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
import torch

from compresstracker.bench.flops import count_family_macs, count_params
from compresstracker.deploy import Network, calib_applies, calib_only, deployed_backend, get_backend, load_network, pick_backend
from compresstracker.threads import available_cores
from compresstracker.errors import ConfigError
from compresstracker.tracking import make_tracker

__all__ = ["BENCH_BOX", "MIN_RUNS", "ModelBench", "bench_models", "busy_seconds", "load_report", "synthetic_frame"]

MIN_RUNS = 3  # fewer than 50 is a quick look; the report says so
QUICK_RUNS = 50
FRAME_SIZE = (480, 640)  # height, width
BENCH_BOX = (270.0, 200.0, 100.0, 80.0)  # x, y, w, h of the target in the synthetic frame
DISTURBED_LOAD = 0.5  # runnable processes beyond this bench's own threads, per the load average
OTHERS_CORES = 0.25  # CPU time of other processes while timing, in cores, that counts as competition
IDLE_CORES = 0.5  # ... when the machine had less than this idle
DISTURBED = "so absolute times are inflated and noisy; rows of this run were interleaved and compare fairly with each other"


@dataclass
class ModelBench:
    """One row of a benchmark: sizes, median times (ms) with their spread, and the difference to torch fp32."""

    path: str
    backend: str
    precision: str
    ce: bool
    params: int
    macs: int
    macs_counted: str  # how ``macs`` was counted (each family by its published convention)
    latency_ms: float
    track_ms: float
    fps: float
    speedup: float
    max_abs_diff: Optional[float]  # None for a deployed file (no torch network to compare with) or a loop with no probe_outputs
    latency_spread_ms: float  # interquartile range of the timed runs
    track_spread_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def synthetic_frame(seed: int = 0) -> np.ndarray:
    """A smooth, textured RGB uint8 frame (FRAME_SIZE) with a bright target at BENCH_BOX."""
    rng = np.random.default_rng(seed)
    height, width = FRAME_SIZE
    coarse = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    x, y, w, h = (int(v) for v in BENCH_BOX)
    frame[y : y + h, x : x + w] = (230, 40, 40)
    return frame


class _Row:
    """A row being timed: its family's tracker on the synthetic frame, and the times so far."""

    def __init__(self, path: str, backend: str, precision: str, network: Network, device: torch.device, frame: np.ndarray):
        self.path, self.backend, self.precision, self.device, self.frame = path, backend, precision, device, frame
        self.tracker = make_tracker(network, device)
        self.latency: list[float] = []
        self.track: list[float] = []

    def maps(self) -> Optional[dict[str, torch.Tensor]]:
        """The network's outputs on the frame's template and search crops (loops that can show them:
        ``probe_outputs``; None otherwise)."""
        probe = getattr(self.tracker, "probe_outputs", None)
        if probe is None:
            return None
        with torch.inference_mode():
            return probe(self.frame, BENCH_BOX)

    @torch.inference_mode()
    def step(self, record: bool) -> None:
        """One tracking step from the same state (so each crops the same region); the network's share
        of it is the tracker's own model timing (CUDA synchronised)."""
        self.tracker.initialize(self.frame, BENCH_BOX)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        self.tracker.track(self.frame)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if record:
            self.track.append(1000 * (time.perf_counter() - start))
            self.latency.append(1000 * self.tracker.timing.model_s)


def _baseline(rows: list[_Row]) -> _Row:
    """The row speed-ups are against: the first model's torch fp32 row (the first torch fp32 row of any
    model when the first has none), else the first row."""
    torch_fp32 = [r for r in rows if (r.backend, r.precision) == ("torch", "fp32")]
    first = [r for r in torch_fp32 if r.path == rows[0].path]
    return (first or torch_fp32 or rows)[0]


def _spread(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q3 - q1


def busy_seconds(stat_path: str | Path = "/proc/stat") -> Optional[float]:
    """CPU seconds every process of the machine has run so far (Linux ``/proc/stat``: user, nice,
    system, irq, softirq and steal, the last being time the hypervisor gave to other machines), or
    None where that is not readable."""
    try:
        with open(stat_path) as stat:
            fields = stat.readline().split()
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks


def load_report(
    before: float, after: float, threads: int, others: Optional[float] = None, machine_cpus: Optional[int] = None,
) -> dict:
    """The load seen around the run, and a warning line when other processes competed for the cores.

    ``others``: cores' worth of CPU time that other processes (and other virtual machines, as steal)
    took while the rows were timed: the machine's busy time over that span minus this process's
    own, per second. It warns when they took more than a quarter core while the machine had less
    than half a core idle. Without it (no ``/proc/stat``) the 1-minute load average decides, which
    also counts this process's own recent work (loading and converting the networks).
    """
    cores = available_cores()
    warning = None
    if others is not None:
        idle = (machine_cpus or cores) - threads - others
        if others > OTHERS_CORES and idle < IDLE_CORES:
            warning = (f"other processes took {others:.1f} of the {machine_cpus or cores} core(s) while timing with "
                       f"{threads} thread(s), {DISTURBED}")
    elif max(before, after - threads) > DISTURBED_LOAD:
        warning = (f"load average {max(before, after):.1f} on {cores} core(s) while timing with {threads} thread(s): other "
                   f"processes competed for the cores, {DISTURBED}")
    return {
        "cores": cores, "load_before": round(before, 2), "load_after": round(after, 2),
        "other_cores": None if others is None else round(others, 2), "warning": warning,
    }


def _rows_of(path: str, backends: Sequence[str], precisions: Sequence[str], device: torch.device) -> tuple[list, list]:
    """(backend, precision) pairs to time for ``path`` and the skipped ones with the reason."""
    owner = deployed_backend(path)
    todo, skipped = [], []
    for backend in backends:
        chosen = get_backend(backend)
        if owner is not None:  # a deployed file runs at its own precision, on backends that read it
            if chosen.runs_file(Path(path)):
                todo.append((backend, None))
            else:
                skipped.append({"path": path, "backend": backend, "precision": None, "reason": "does not read this file"})
            continue
        for precision in precisions:
            if precision not in chosen.precisions:
                skipped.append({"path": path, "backend": backend, "precision": precision, "reason": "not a precision of this backend"})
            elif not chosen.supports(precision, device):
                skipped.append({"path": path, "backend": backend, "precision": precision, "reason": f"no native {precision} on this {device.type}"})
            else:
                todo.append((backend, precision))
    return todo, skipped


def bench_models(
    paths: Sequence[str | Path],
    backends: Optional[Sequence[str]] = None,
    precisions: Sequence[str] = ("fp32",),
    device: str | torch.device = "cpu",
    threads: Optional[int] = None,
    ce: Optional[bool] = None,
    compile: bool = False,
    runs: int = 100,
    calib: Optional[str] = None,
    on_row: Optional[Callable[[str], None]] = None,
) -> dict:
    """Benchmark every (path, backend, precision) row, interleaved; speed-ups are against :func:`_baseline`.

    ``threads`` sets PyTorch's intra-op threads (restored afterwards) and the graph runtimes' pools
    alike (default: the cores this process may use). Unsupported (backend, precision) pairs are
    listed under ``skipped``. ``backends`` None: torch for checkpoints, an exported file on the runtime it
    was written for (never dropped for want of a ``--backend``). Returns ``{"models": [...], "load": {...}, "device", "threads", ...}``.
    """
    from compresstracker.checkpoints import load_model
    from compresstracker.devices import resolve_device

    if runs < MIN_RUNS:
        raise ConfigError(f"--runs {runs}: take at least {MIN_RUNS} timed runs")
    for backend in backends or ():
        get_backend(backend)
    device = resolve_device(str(device))
    previous_threads = torch.get_num_threads()
    threads = threads or min(previous_threads, available_cores())
    frame = synthetic_frame()
    torch.set_num_threads(threads)
    rows: list[_Row] = []
    sizes: dict[str, tuple[int, int, bool]] = {}
    references: dict[str, dict[str, torch.Tensor]] = {}  # deployed files have none: no torch network to compare
    skipped: list[dict] = []
    plans = {path: _rows_of(path, backends or [pick_backend(path)], precisions, device) for path in map(str, paths)}
    if calib is not None and not any(calib_applies(p, b, r) for p, (todo, _) in plans.items() for b, r in todo):
        raise ConfigError(f"{calib_only()}, and no row here is one")
    try:
        for path, (todo, skip) in plans.items():
            skipped += skip
            for backend, precision in todo:
                row_calib = calib if calib_applies(path, backend, precision) else None
                try:
                    network = load_network(path, backend, ce, device, threads, precision, row_calib, compile and get_backend(backend).compiles)
                except ConfigError as exc:  # a family this backend or precision does not run yet (bad files still fail)
                    skipped.append({"path": path, "backend": backend, "precision": precision, "reason": str(exc)})
                    continue
                rows.append(_Row(path, backend, getattr(network, "precision", precision or "fp32"), network, device, frame))
                if on_row is not None:
                    on_row(f"{Path(path).name}: {backend} {rows[-1].precision} ready")
            if not any(r.path == path for r in rows):
                continue
            network = next(r for r in rows if r.path == path).tracker.network
            if deployed_backend(path) is None:  # the trained network as loaded is the reference and is counted
                counted = load_model(path, ce=ce).to(device)
                references[path] = _Row(path, "torch", "fp32", counted, device, frame).maps() or {}
            else:
                counted = network.architecture()
            sizes[path] = (count_params(counted), *count_family_macs(counted), bool(getattr(network, "ce_enabled", False)))
        if not rows:
            raise ConfigError("nothing to time: " + "; ".join(
                f"{Path(s['path']).name} on {s['backend']}{' ' + s['precision'] if s['precision'] else ''}: {s['reason']}" for s in skipped
            ))
        warmup = max(2, min(10, runs // 5))
        before = os.getloadavg()[0]
        busy_start, own_start, wall_start = busy_seconds(), time.process_time(), time.perf_counter()
        for i in range(warmup + runs):
            for row in rows:
                row.step(record=i >= warmup)
        after = os.getloadavg()[0]
        busy_end, own_end, wall = busy_seconds(), time.process_time(), time.perf_counter() - wall_start
        others = None
        if busy_start is not None and busy_end is not None and wall > 0:
            others = max(0.0, (busy_end - busy_start) - (own_end - own_start)) / wall
    finally:
        torch.set_num_threads(previous_threads)
    baseline = _baseline(rows)
    report_rows = []
    for row in rows:
        params, macs, macs_counted, row_ce = sizes[row.path]
        maps, ref = row.maps(), references.get(row.path)
        diff = max(float((maps[m] - ref[m]).abs().max()) for m in ref) if ref and maps else None
        track = statistics.median(row.track)
        report_rows.append(ModelBench(
            path=row.path, backend=row.backend, precision=row.precision, ce=row_ce, params=params, macs=macs, macs_counted=macs_counted,
            latency_ms=statistics.median(row.latency), track_ms=track, fps=1000.0 / track,
            speedup=statistics.median(baseline.track) / track, max_abs_diff=diff,
            latency_spread_ms=_spread(row.latency), track_spread_ms=_spread(row.track),
        ).to_dict())
    return {
        "models": report_rows,
        "baseline": {"path": baseline.path, "backend": baseline.backend, "precision": baseline.precision},
        "skipped": skipped,
        "load": load_report(before, after, threads, others, os.cpu_count()),
        "device": str(device),
        "threads": threads,
        "runs": runs,
        "quick_look": runs < QUICK_RUNS,
        "compile": compile,
        "frame": list(FRAME_SIZE[::-1]),
    }


def time_models(
    models: Sequence[torch.nn.Module], backend: str = "torch", precision: str = "fp32", device: str | torch.device = "cpu",
    threads: int = 1, runs: int = 20, statistic: str = "median", calib: Optional[str] = None,
) -> list[float]:
    """Each model's network share of a tracking step in ms on ``backend`` at ``precision`` (what
    ``ctrack bench`` reports as latency), the models timed interleaved so load hits all alike;
    ``statistic`` median (as bench) or min (the stable figure on a shared machine, for cost tables).

    For callers that hold networks rather than files (a search timing the students it cuts out).
    """
    pick = {"median": statistics.median, "min": min}[statistic]
    from compresstracker.devices import resolve_device

    chosen = get_backend(backend)
    chosen.require()
    chosen.check_precision(precision)
    device = resolve_device(str(device))
    if not chosen.supports(precision, device):
        raise ConfigError(f"the {backend} backend has no native {precision} on {device.type} here; choose fp32")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        frame = synthetic_frame()
        # a copy each: a backend may rebuild the module it is given (torch fuses the head's towers)
        rows = [_Row(f"model{i}", backend, precision, chosen.from_model(copy.deepcopy(m).to(device).eval(), precision, device, threads, calib),
                     device, frame) for i, m in enumerate(models)]
        warmup = max(2, min(10, runs // 5))
        for i in range(warmup + runs):
            for row in rows:
                row.step(record=i >= warmup)
    finally:
        torch.set_num_threads(previous)
    return [pick(row.latency) for row in rows]
