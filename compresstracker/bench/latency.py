"""Latency and FPS of tracker networks and of the whole tracking step, on either backend.

Per model: the network's per-frame call alone (batch 1, inputs already on the device; OSTrack:
template + search, LightTrack: the search branch against the stored template features) and a
full tracking step of the family's own tracker on a synthetic 640x480 frame (crop + resize,
normalisation, forward, window, decoding, mapping back). Each figure is the median of ``runs``
timed calls after warm-up; CUDA work is synchronised before a clock is read. FPS is
1000 / track_ms and the speed-up is the first model's track_ms over this one's.
"""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
import torch

from compresstracker.bench.flops import count_family_macs, count_params
from compresstracker.errors import ConfigError
from compresstracker.models import TrackerNet, family_of
from compresstracker.tracking import make_tracker, round_half_away, sample_target, siamese_crop
from compresstracker.deploy import GraphNetwork, Network, load_network

__all__ = ["BENCH_BOX", "DTYPES", "MIN_RUNS", "ModelBench", "bench_models", "bench_network", "synthetic_frame"]

MIN_RUNS = 50
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # None: no autocast
FRAME_SIZE = (480, 640)  # height, width
BENCH_BOX = (270.0, 200.0, 100.0, 80.0)  # x, y, w, h of the target in the synthetic frame


@dataclass
class ModelBench:
    """One row of a benchmark: sizes and median times (ms) of one model on one backend."""

    path: str
    backend: str
    precision: str  # torch: the autocast dtype; onnxruntime: the exported graph's (fp32, int8)
    ce: bool
    params: int
    macs: int
    macs_counted: str  # how ``macs`` was counted (each family by its published convention)
    latency_ms: float
    track_ms: float
    fps: float
    speedup: float

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


def _median_ms(call: Callable[[], object], runs: int, warmup: int, device: torch.device, before: Optional[Callable[[], object]] = None) -> float:
    """Median wall time of ``call`` in ms; ``before`` runs untimed ahead of every call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    for i in range(warmup + runs):
        if before is not None:
            before()
        sync()
        start = time.perf_counter()
        call()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _ostrack_call(tracker, frame: np.ndarray) -> Callable[[], object]:
    """OSTrack's per-frame network call: template + search crop around BENCH_BOX."""
    cfg = tracker.config
    patch, _ = sample_target(frame, BENCH_BOX, cfg.search_factor, cfg.search_size)
    search = tracker.normalize(patch)
    return lambda: tracker.network(tracker.template, search, tracker.template_mask)


def _lighttrack_call(tracker, frame: np.ndarray) -> Callable[[], object]:
    """LightTrack's per-frame network call: the search branch on the tracker's own search crop."""
    x, y, w, h = BENCH_BOX
    p = tracker.params
    pad = p.context_amount * (w + h)
    s_x = np.sqrt((w + pad) * (h + pad)) * tracker.instance_size / p.exemplar_size
    patch = siamese_crop(frame, (x + w / 2, y + h / 2), tracker.instance_size, round_half_away(float(s_x)), tracker.avg_chans)
    search = tracker.normalize(patch)
    return lambda: tracker.network.track(search, tracker.zf)


# Per model family: (initialised tracker, frame) -> the per-frame network call to time.
NETWORK_CALLS: dict[str, Callable[[object, np.ndarray], Callable[[], object]]] = {
    "ostrack": _ostrack_call,
    "lighttrack": _lighttrack_call,
}


def bench_network(
    network: Network, device: torch.device, runs: int = 100, dtype: str = "fp32", frame: Optional[np.ndarray] = None
) -> tuple[float, float]:
    """(latency_ms, track_ms): median forward time and median full tracking-step time."""
    if runs < MIN_RUNS:
        raise ConfigError(f"--runs {runs}: take at least {MIN_RUNS} timed runs for a stable median")
    frame = synthetic_frame() if frame is None else frame
    warmup = max(10, runs // 5)
    tracker = make_tracker(network, device)
    autocast = (
        torch.autocast(device.type, dtype=DTYPES[dtype]) if DTYPES[dtype] is not None else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        tracker.initialize(frame, BENCH_BOX)
        call = NETWORK_CALLS[family_of(network.config).name](tracker, frame)
        latency = _median_ms(call, runs, warmup, device)
        # Every timed step starts from the same state, so each crops and resizes the same region.
        track = _median_ms(lambda: tracker.track(frame), runs, warmup, device, before=lambda: tracker.initialize(frame, BENCH_BOX))
    return latency, track


def _prepare(
    path: str, backend: str, ce: Optional[bool], device: torch.device, threads: int, compile: bool
) -> tuple[Network, TrackerNet]:
    """(network to time, torch network of the same architecture for params and MACs)."""
    network = load_network(path, backend, ce, device, threads)
    if isinstance(network, GraphNetwork):
        return network, network.architecture()
    counted = network
    if compile:
        # CUDA graphs on a GPU (reduce-overhead), Inductor kernels on a CPU.
        network = torch.compile(network, mode="reduce-overhead" if device.type == "cuda" else None)
    return network, counted


def bench_models(
    paths: Sequence[str | Path],
    backends: Sequence[str] = ("torch",),
    device: str | torch.device = "cpu",
    threads: Optional[int] = None,
    ce: Optional[bool] = None,
    compile: bool = False,
    runs: int = 100,
    dtype: str = "fp32",
    on_model: Optional[Callable[[ModelBench], None]] = None,
) -> dict:
    """Benchmark every path on every backend (path-major order); speed-ups are against the first row.

    ``threads`` sets PyTorch's intra-op threads (restored afterwards) and ONNX Runtime's pool alike
    (default: torch's current setting). Returns ``{"models": [...], "device", "threads", ...}``.
    """
    from compresstracker.devices import resolve_device

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if (compile or dtype != "fp32") and "onnxruntime" in backends:
        raise ConfigError("--compile and --dtype bf16/fp16 apply to the torch backend only")
    device = resolve_device(str(device))
    previous_threads = torch.get_num_threads()
    threads = threads or previous_threads
    frame = synthetic_frame()
    rows: list[ModelBench] = []
    torch.set_num_threads(threads)
    try:
        for path in paths:
            for backend in backends:
                network, counted = _prepare(str(path), backend, ce, device, threads, compile)
                latency, track = bench_network(network, device, runs, dtype, frame)
                macs, counted_how = count_family_macs(counted)
                row = ModelBench(
                    path=str(path), backend=backend,
                    precision=network.precision if isinstance(network, GraphNetwork) else dtype,
                    ce=bool(getattr(network, "ce_enabled", False)), params=count_params(counted), macs=macs,
                    macs_counted=counted_how,
                    latency_ms=latency, track_ms=track, fps=1000.0 / track,
                    speedup=rows[0].track_ms / track if rows else 1.0,
                )
                rows.append(row)
                if on_model is not None:
                    on_model(row)
    finally:
        torch.set_num_threads(previous_threads)
    return {
        "models": [r.to_dict() for r in rows],
        "device": str(device),
        "threads": threads,
        "runs": runs,
        "dtype": dtype,
        "compile": compile,
        "frame": list(FRAME_SIZE[::-1]),
    }
