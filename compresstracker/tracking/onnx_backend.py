"""Backends that run the tracker network: PyTorch, or ONNX Runtime behind the same call contract.

:class:`OnnxNetwork` answers ``network(template, search, template_mask)`` with the dict of maps a
:class:`~compresstracker.models.TrackerNet` returns (torch tensors), so the OSTrack tracking
loop in :class:`~compresstracker.tracking.Tracker` runs unchanged on either backend.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional, Union

import torch

from compresstracker.checkpoints.onnx_export import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    export_onnx,
    is_onnx_path,
    make_session,
    read_onnx_metadata,
)
from compresstracker.errors import CheckpointError, ConfigError
from compresstracker.models import TrackerNet

__all__ = ["BACKENDS", "Network", "OnnxNetwork", "check_backend", "load_network"]

BACKENDS = ("torch", "onnxruntime")


class OnnxNetwork:
    """An exported tracker network in an ONNX Runtime session, called like a TrackerNet.

    Config and CE setting come from the file's metadata. CE is part of the graph (its CTR_POINT
    row is a constant), so the ``template_mask`` argument is accepted and not used.
    """

    def __init__(self, path: str | Path, device: str | torch.device = "cpu", threads: Optional[int] = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"ONNX model not found: {self.path}")
        self.session = make_session(self.path, device, threads)
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.config, self.ce_enabled, self.precision = read_onnx_metadata(metadata, self.path.name)
        self.device = torch.device(device)

    def to(self, device: str | torch.device) -> "OnnxNetwork":
        """Where the output maps are put (the session keeps the device it was made for)."""
        self.device = torch.device(device)
        return self

    def eval(self) -> "OnnxNetwork":
        return self

    def __call__(
        self, template: torch.Tensor, search: torch.Tensor, template_mask: Optional[torch.Tensor] = None
    ) -> dict[str, torch.Tensor]:
        feeds = {name: t.detach().cpu().numpy() for name, t in zip(INPUT_NAMES, (template, search))}
        maps = self.session.run(list(OUTPUT_NAMES), feeds)
        return {name: torch.from_numpy(m).to(self.device) for name, m in zip(OUTPUT_NAMES, maps)}

    def architecture(self) -> TrackerNet:
        """An untrained TrackerNet of the same config and CE setting: for counting params and MACs."""
        model = TrackerNet(self.config).eval()
        model.ce_enabled = self.ce_enabled
        return model


Network = Union[TrackerNet, OnnxNetwork]


def check_backend(path: str | Path, backend: str) -> None:
    """An error unless ``backend`` is known and can run ``path`` (.onnx files need onnxruntime)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch" and is_onnx_path(path):
        raise CheckpointError(f"{Path(path).name} is an ONNX model: run it with --backend onnxruntime")


def load_network(
    path: str | Path,
    backend: str = "torch",
    ce: Optional[bool] = None,
    device: str | torch.device = "cpu",
    threads: Optional[int] = None,
) -> Network:
    """The network of ``path`` on ``backend``.

    torch: any checkpoint ctrack reads. onnxruntime: a file written by ``ctrack export`` (.onnx),
    or any checkpoint, exported (and verified) on the fly into a temporary file. ``ce`` as in
    :func:`~compresstracker.checkpoints.load_model`; an .onnx file has CE fixed at export time.
    """
    from compresstracker.checkpoints import load_model

    check_backend(path, backend)
    if backend == "torch":
        return load_model(path, ce=ce, device=device)
    if is_onnx_path(path):
        network = OnnxNetwork(path, device, threads)
        if ce is not None and ce != network.ce_enabled:
            state = "with" if network.ce_enabled else "without"
            raise CheckpointError(
                f"{Path(path).name} was exported {state} candidate elimination (CE); run `ctrack export` "
                f"again {'without' if ce else 'with'} --no-ce to change that"
            )
        return network
    model = load_model(path, ce=ce)
    with tempfile.TemporaryDirectory(prefix="ctrack-onnx-") as tmp:
        onnx_path = Path(tmp) / f"{Path(path).name.split('.')[0]}.onnx"
        export_onnx(model, onnx_path)
        return OnnxNetwork(onnx_path, device, threads)  # the session holds the graph; the file can go
