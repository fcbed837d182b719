"""Runtime backends behind one registry: what runs a tracker network, at which precision.

A backend turns a checkpoint (any file ctrack reads) or a file deployed for it into the object the
tracker calls. The torch backend returns the TrackerNet itself; graph backends (ONNX Runtime,
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

from compresstracker.deploy.family import DeployedFile, GraphNetwork, Runner, family_named
from compresstracker.errors import CheckpointError, ConfigError, CTrackError

__all__ = [
    "Backend", "Network", "backend_names", "check_backend", "deployed_backend", "get_backend", "load_network",
    "ort_runner", "register_backend",
]

Network = Union[nn.Module, GraphNetwork]


class Backend(ABC):
    """A runtime: its name, the precisions it runs, the deployed files it reads and how to install it."""

    name: str = ""
    precisions: tuple[str, ...] = ("fp32",)
    suffixes: tuple[str, ...] = ()  # deployed files this backend runs as they are
    modules: tuple[str, ...] = ()  # what must be importable
    install: str = ""

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

    def runs_file(self, path: Path) -> bool:
        return path.name.lower().endswith(self.suffixes) if self.suffixes else False

    @abstractmethod
    def from_model(self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int]) -> Network:
        """The network of a loaded torch model on this backend at ``precision``."""

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


def load_network(
    path: str | Path,
    backend: str = "torch",
    ce: Optional[bool] = None,
    device: str | torch.device = "cpu",
    threads: Optional[int] = None,
    precision: Optional[str] = None,
) -> Network:
    """The network of ``path`` on ``backend``: what the tracker, ``ctrack eval`` and ``ctrack bench`` run.

    ``path`` is any checkpoint ctrack reads (converted for the backend on the fly, at ``precision``,
    default fp32) or a file deployed for the backend (its precision and CE setting are the file's;
    asking for others is an error). ``ce`` as in :func:`~compresstracker.checkpoints.load_model`.
    """
    from compresstracker.checkpoints import load_model

    check_backend(path, backend, precision)
    chosen, path, device = get_backend(backend), Path(path), torch.device(device)
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
    return chosen.from_model(load_model(path, ce=ce), precision or "fp32", device, threads)


class TorchBackend(Backend):
    """PyTorch eager on CPU or CUDA, the reference every other backend is compared with."""

    name = "torch"
    modules = ("torch",)

    def from_model(self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int]) -> nn.Module:
        return model.to(device).eval()


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

    def from_model(self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int]) -> GraphNetwork:
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
