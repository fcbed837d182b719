"""Runtime backends behind one registry: what runs a tracker network, at which precision, and what
``ctrack export`` writes for it.

A backend turns a checkpoint (any file ctrack reads) or a file deployed for it into the object the
tracker calls, and writes the export formats it owns. The torch backend (:mod:`.pytorch`) returns
the family's network itself; graph backends (:mod:`.onnxruntime`, :mod:`.openvino`) compile the family's
graphs (see :mod:`~compresstracker.deploy.family`) and return a
:class:`~compresstracker.deploy.family.GraphNetwork`. A new runtime is one module that subclasses
:class:`Backend` and calls ``register_backend``; the commands build their choices from here.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import torch
from torch import nn

from compresstracker.deploy.family import DeployedFile, GraphNetwork
from compresstracker.errors import CheckpointError, ConfigError, CTrackError

if TYPE_CHECKING:
    from compresstracker.checkpoints import LoadedCheckpoint

__all__ = [
    "Backend", "Network", "all_precisions", "backend_names", "calib_applies", "calib_only", "check_backend", "default_backend",
    "deployed_backend", "export_backend", "export_formats", "get_backend", "load_network", "pick_backend", "register_backend", "unregister_backend",
]

Network = Union[nn.Module, GraphNetwork]


class Backend(ABC):
    """A runtime: its name, the precisions it runs, the deployed files it reads and writes, how to install it.

    A backend with ``suffixes`` deploys: ``ctrack export`` writes it files that fix their precision
    (one of ``precisions``) and CE setting, and it runs them as they are. One without writes weights
    files (the torch backend), which carry neither.
    """

    name: str = ""
    title: str = ""  # the runtime's name in sentences ("ONNX Runtime")
    precisions: tuple[str, ...] = ("fp32",)
    precision_notes: dict[str, str] = {}  # a word on a precision for --help ("fp16": "CUDA")
    suffixes: tuple[str, ...] = ()  # deployed files this backend runs as they are; the first is what export writes
    formats: tuple[str, ...] = ()  # the `ctrack export --format` names this backend writes
    modules: tuple[str, ...] = ()  # what must be importable
    install: str = ""
    calibrated: tuple[str, ...] = ()  # precisions whose conversion from a checkpoint calibrates on data (--calib)
    compiles: bool = False  # whether --compile (torch.compile) applies

    @property
    def deploys(self) -> bool:
        """Whether this backend's export formats are deployed files (precision and CE fixed in them)."""
        return bool(self.suffixes)

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

    def describe(self, path: Path) -> DeployedFile:
        """What a file deployed for this backend says about itself (family, config, CE, precision, graphs),
        checked as :meth:`from_file` checks it, without compiling it (``ctrack inspect``)."""
        raise CheckpointError(f"the {self.name} backend reads checkpoints, not {path.name}")

    def compile(self, network: Network, device: torch.device) -> Network:
        """``network`` compiled for ``device`` (backends that set :attr:`compiles`)."""
        raise ConfigError(f"--compile does not apply to the {self.name} backend")

    def export(
        self, loaded: LoadedCheckpoint, fmt: str, out: Path, precision: Optional[str], ce: Optional[bool], calib: Optional[str], opset: int,
    ) -> dict[str, Any]:
        """Write ``loaded`` as ``fmt`` (one of :attr:`formats`) at ``out``; what was written, for the report.

        A deploying backend verifies the file it wrote against the torch fp32 network and reports
        ``max_abs_diff``; ``opset`` is the ONNX opset of graphs traced through ONNX.
        """
        raise ConfigError(f"the {self.name} backend exports nothing")

    def file_kind(self, info: dict[str, Any]) -> str:
        """What an exported file is, in words, from its :meth:`export` report ("ONNX opset 17")."""
        return f"{self.title} model"


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    """Add (or replace) a runtime; every command offers it from then on."""
    _BACKENDS[backend.name] = backend
    return backend


def unregister_backend(name: str) -> None:
    """Remove a runtime (a test's, or one replaced by a plug-in); unknown names are ignored."""
    _BACKENDS.pop(name, None)


def backend_names() -> list[str]:
    return list(_BACKENDS)


def all_precisions(deploying: bool = False) -> list[str]:
    """Every precision some backend runs (``deploying``: some backend exports), in the order backends name them."""
    every = dict.fromkeys(p for b in _BACKENDS.values() for p in b.precisions)
    return [p for p in every if not deploying or any(b.deploys and p in b.precisions for b in _BACKENDS.values())]


def default_backend() -> str:
    """The backend a command runs unless told otherwise: the first registered (torch, the reference)."""
    return next(iter(_BACKENDS))


def export_formats(deploying: bool = False) -> list[str]:
    """The ``ctrack export --format`` names, sorted (``deploying``: only those of deploying backends)."""
    return sorted(f for b in _BACKENDS.values() if b.deploys or not deploying for f in b.formats)


def export_backend(fmt: str) -> Backend:
    """The backend that writes export format ``fmt``."""
    found = next((b for b in _BACKENDS.values() if fmt in b.formats), None)
    if found is None:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(export_formats())}")
    return found


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(_BACKENDS)}")
    return _BACKENDS[name]


def deployed_backend(path: str | Path) -> Optional[Backend]:
    """The first backend that reads ``path`` as a deployed file (None: a checkpoint)."""
    return next((b for b in _BACKENDS.values() if b.runs_file(Path(path))), None)


def pick_backend(path: str | Path, backend: Optional[str] = None) -> str:
    """``backend`` when given; else the runtime an exported ``path`` was written for; else the default."""
    if backend is not None:
        return backend
    owner = deployed_backend(path)
    return owner.name if owner is not None else default_backend()


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


def calib_only() -> str:
    """The refusal of a --calib that no conversion uses, naming the (backend, precision) pairs that do."""
    pairs = " or ".join(f"--backend {b.name} --precision {p}" for b in _BACKENDS.values() for p in b.calibrated)
    return f"--calib applies where a checkpoint is quantised with calibration: {pairs}"


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
            raise ConfigError(calib_only())
    chosen, path, device = get_backend(backend), Path(path), torch.device(device)
    if compile and not chosen.compiles:
        names = " or ".join(b.name for b in _BACKENDS.values() if b.compiles)
        raise ConfigError(f"--compile applies to the {names} backend")
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
    return chosen.compile(network, device) if compile else network
