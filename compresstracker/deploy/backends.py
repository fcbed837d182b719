"""Runtime backends behind one registry: what runs a tracker network, at which precision.

A backend turns a checkpoint (any file ctrack reads) or a file deployed for it into the object the
tracker calls. The torch backend returns the family's network itself; graph backends (ONNX Runtime,
OpenVINO) compile the family's graphs (see :mod:`~compresstracker.deploy.family`) and return a
:class:`~compresstracker.deploy.family.GraphNetwork`. A new runtime is one ``register_backend``.
"""
from __future__ import annotations

import importlib
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from compresstracker.deploy.family import GraphNetwork, Runner, family_named, inference_form
from compresstracker.deploy.family import family_of as deploy_family_of
from compresstracker.devices import cpu_has_bf16
from compresstracker.errors import CheckpointError, ConfigError, CTrackError

__all__ = [
    "DTYPES", "Backend", "CastNetwork", "Network", "backend_names", "check_backend", "deployed_backend",
    "get_backend", "load_network", "ort_runner", "register_backend", "torch_compile",
]

Network = Union[nn.Module, GraphNetwork]


class Backend(ABC):
    """A runtime: its name, the precisions it runs, the deployed files it reads and how to install it."""

    name: str = ""
    precisions: tuple[str, ...] = ("fp32",)
    suffixes: tuple[str, ...] = ()  # deployed files this backend runs as they are
    modules: tuple[str, ...] = ()  # what must be importable
    install: str = ""
    calibrated: tuple[str, ...] = ()  # precisions whose conversion from a checkpoint calibrates on data (--calib)

    def available(self) -> bool:
        try:
            for module in self.modules:
                importlib.import_module(module)
        except ImportError:
            return False
        return True

    def require(self) -> None:
        if not self.available():
            raise CTrackError(f"the {self.name} backend needs {', '.join(self.modules)}: {self.install}")

    def check_precision(self, precision: str) -> None:
        if precision not in self.precisions:
            raise ConfigError(f"the {self.name} backend runs {', '.join(self.precisions)}, not {precision}")

    def supports(self, precision: str, device: torch.device) -> bool:
        """Whether ``precision`` runs natively here (bench skips the rows that do not)."""
        return precision in self.precisions

    def runs_file(self, path: Path) -> bool:
        return path.name.lower().endswith(self.suffixes) if self.suffixes else False

    @abstractmethod
    def from_model(
        self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int], calib: Optional[str] = None,
    ) -> Network:
        """The network of a loaded torch model on this backend at ``precision`` (``calib``: what static
        quantisation calibrates on, NAME=ROOT[:SPLIT]; default generated sequences)."""

    def from_file(self, path: Path, device: torch.device, threads: Optional[int]) -> GraphNetwork:
        """The network of a file deployed for this backend (its precision is the file's)."""
        raise CheckpointError(f"the {self.name} backend reads checkpoints, not {path.name}")


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    _BACKENDS[backend.name] = backend
    return backend


def backend_names() -> list[str]:
    return list(_BACKENDS)


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(_BACKENDS)}")
    return _BACKENDS[name]


def deployed_backend(path: str | Path) -> Optional[Backend]:
    """The first backend that reads ``path`` as a deployed file (None: a checkpoint)."""
    return next((b for b in _BACKENDS.values() if b.runs_file(Path(path))), None)


def check_backend(path: str | Path, backend: str, precision: Optional[str] = None) -> None:
    """An error unless ``backend`` is known, installed, runs ``precision`` and can read ``path``."""
    chosen = get_backend(backend)
    if precision is not None:
        chosen.check_precision(precision)
    owner = deployed_backend(path)
    if owner is not None and not chosen.runs_file(Path(path)):
        readers = [b.name for b in _BACKENDS.values() if b.runs_file(Path(path))]
        raise CheckpointError(f"{Path(path).name} is a deployed model: run it with --backend {' or --backend '.join(readers)}")
    chosen.require()


CALIB_ONLY = "--calib applies where a checkpoint is quantised with calibration: --backend openvino --precision int8"


def calib_applies(path: str | Path, backend: str, precision: Optional[str]) -> bool:
    """Whether running ``path`` on ``backend`` at ``precision`` calibrates on data (uses ``--calib``)."""
    chosen = get_backend(backend)
    return not chosen.runs_file(Path(path)) and (precision or "fp32") in chosen.calibrated


def load_network(
    path: str | Path,
    backend: str = "torch",
    ce: Optional[bool] = None,
    device: str | torch.device = "cpu",
    threads: Optional[int] = None,
    precision: Optional[str] = None,
    calib: Optional[str] = None,
    compile: bool = False,
) -> Network:
    """The network of ``path`` on ``backend``: what the tracker, ``ctrack eval`` and ``ctrack bench`` run.

    ``path`` is any checkpoint ctrack reads (converted for the backend on the fly, at ``precision``,
    default fp32) or a file deployed for the backend (its precision and CE setting are the file's;
    asking for others is an error). ``ce`` as in :func:`~compresstracker.checkpoints.load_model`;
    ``calib`` as in :meth:`Backend.from_model`; ``compile``: torch.compile the torch backend's network.
    """
    from compresstracker.checkpoints import load_model

    check_backend(path, backend, precision)
    if calib is not None:
        from compresstracker.deploy.calibration import parse_calib

        parse_calib(calib)
        if not calib_applies(path, backend, precision):
            raise ConfigError(CALIB_ONLY)
    chosen, path, device = get_backend(backend), Path(path), torch.device(device)
    if compile and backend != "torch":
        raise ConfigError("--compile applies to the torch backend")
    if chosen.runs_file(path):
        network = chosen.from_file(path, device, threads)
        if ce is not None and ce != network.ce_enabled:
            state = "with" if network.ce_enabled else "without"
            raise CheckpointError(
                f"{path.name} was exported {state} candidate elimination (CE); run `ctrack export` "
                f"again {'without' if ce else 'with'} --no-ce to change that"
            )
        if precision is not None and precision != network.precision:
            raise CheckpointError(f"{path.name} holds a {network.precision} network; export {precision} from its checkpoint")
        return network
    precision = precision or "fp32"
    if not chosen.supports(precision, device):
        raise ConfigError(f"the {backend} backend has no native {precision} on {device.type} here; choose fp32")
    network = chosen.from_model(load_model(path, ce=ce), precision, device, threads, calib)
    return torch_compile(network, device) if compile else network


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class CastNetwork(nn.Module):
    """A torch network whose weights were cast once to ``dtype``: inputs are cast on the way in and
    the maps back to fp32 on the way out, so the tracker's decoding is unchanged. Unlike autocast,
    nothing is re-cast per call."""

    def __init__(self, model: nn.Module, precision: str):
        super().__init__()
        self.model = model.to(DTYPES[precision])
        self.dtype = DTYPES[precision]
        self.precision = precision
        self.config = model.config
        self.ce_enabled = model.ce_enabled

    def forward(self, template: torch.Tensor, search: torch.Tensor, template_mask: Optional[torch.Tensor] = None) -> dict:
        out = self.model(template.to(self.dtype), search.to(self.dtype), template_mask)
        return {k: v.float() if v.is_floating_point() else v for k, v in out.items()}


def torch_compile(network: nn.Module, device: torch.device) -> nn.Module:
    """torch.compile: CUDA graphs on a GPU (reduce-overhead); on a CPU Inductor with freezing (weights
    folded into the kernels as constants, which inference allows)."""
    if device.type == "cpu":
        import logging

        import torch._inductor.config as inductor

        inductor.freezing = True
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime is found" on a CPU host
    return torch.compile(network, mode="reduce-overhead" if device.type == "cuda" else None)


class TorchBackend(Backend):
    """PyTorch eager on CPU or CUDA, the reference every other backend is compared with.

    For inference the family's model is put in its inference form (OSTrack: BatchNorm folded into
    the head, towers side by side); bf16/fp16 cast the weights once (:class:`CastNetwork`).
    """

    name = "torch"
    precisions = ("fp32", "bf16", "fp16")
    modules = ("torch",)

    def supports(self, precision: str, device: torch.device) -> bool:
        if precision == "fp32":
            return True
        if device.type == "cuda":
            return precision == "fp16" or torch.cuda.is_bf16_supported()
        return precision == "bf16" and cpu_has_bf16()

    def from_model(
        self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int], calib: Optional[str] = None,
    ) -> nn.Module:
        model = inference_form(model.to(device).eval())
        if precision == "fp32":
            return model
        if not deploy_family_of(model).casts:
            raise ConfigError(f"torch {precision} does not run {type(model).__name__} networks; it runs fp32")
        return CastNetwork(model, precision)


def ort_runner(path: str | Path, device: str | torch.device = "cpu", threads: Optional[int] = None) -> Runner:
    """An ONNX Runtime session on ``device`` (CPU, or CUDA with onnxruntime-gpu) as a graph runner.

    ``threads`` (default: torch's intra-op thread count) bounds ORT's intra-op pool, so PyTorch and
    ONNX Runtime are compared on the same number of cores.
    """
    import onnxruntime as ort

    device = torch.device(device)
    providers: list = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise CTrackError("this onnxruntime has no CUDA provider: install onnxruntime-gpu, or use --device cpu")
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings and below stay quiet
    # Workers spin between the operators of one run (fast hand-offs) but stop when it returns: left
    # spinning they took the cores from everything else in the process (the crop and decode of the
    # next frame, LightTrack's other graph, the other rows of an interleaved bench: torch ran 3x
    # slower beside a spinning session). Tracking FPS alone is unchanged (docs/speed.md).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime's pybind errors (InvalidProtobuf, Fail, ...) share no useful base
        raise CheckpointError(f"onnxruntime cannot load {Path(path).name}: {str(exc).splitlines()[0]}") from None
    outputs = [o.name for o in session.get_outputs()]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, feeds)))

    run.session = session  # type: ignore[attr-defined]
    return run


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime: .onnx files from ``ctrack export`` (fp32, or int8 with dynamic quantisation)."""

    name = "onnxruntime"
    precisions = ("fp32", "int8")
    suffixes = (".onnx",)
    modules = ("onnx", "onnxruntime")
    install = 'pip install "ctrack[onnx]"'

    def from_file(self, path: Path, device: torch.device, threads: Optional[int]) -> GraphNetwork:
        from compresstracker.deploy.onnx import read_onnx

        deployed = read_onnx(path)
        runners = {name: ort_runner(p, device, threads) for name, p in deployed.graphs.items()}
        return family_named(deployed.family, path.name).network(runners, deployed, device)

    def from_model(
        self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int], calib: Optional[str] = None,
    ) -> GraphNetwork:
        """Exported (and verified) into a temporary folder; the sessions hold the graphs, the files go."""
        from compresstracker.deploy.onnx import export_onnx
        from compresstracker.deploy.quantize import quantize_onnx_int8

        with tempfile.TemporaryDirectory(prefix="ctrack-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            export_onnx(model, path)
            if precision == "int8":
                quantize_onnx_int8(path, Path(tmp) / "model.int8.onnx")
                path = Path(tmp) / "model.int8.onnx"
            return self.from_file(path, device, threads)


register_backend(TorchBackend())
register_backend(OnnxRuntimeBackend())
