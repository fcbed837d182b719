"""The ONNX Runtime backend: .onnx files from ``ctrack export --format onnx`` (fp32, or int8 with
dynamic quantisation), or checkpoints exported on the fly. The optional extra ``ctrack[onnx]``."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import nn

from compresstracker.deploy.backends import Backend, register_backend
from compresstracker.deploy.family import DeployedFile, GraphNetwork, deployed_differences, family_named
from compresstracker.deploy.onnx import export_onnx, ort_runner, read_onnx, require_onnx
from compresstracker.deploy.quantize import quantize_onnx_int8

if TYPE_CHECKING:
    from compresstracker.checkpoints import LoadedCheckpoint

__all__ = ["OnnxRuntimeBackend"]


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime: .onnx files from ``ctrack export`` (fp32, or int8 with dynamic quantisation)."""

    name = "onnxruntime"
    title = "ONNX Runtime"
    precisions = ("fp32", "int8")
    precision_notes = {"int8": "ONNX Runtime dynamic"}
    suffixes = (".onnx",)
    formats = ("onnx",)
    modules = ("onnx", "onnxruntime")
    install = 'pip install "ctrack[onnx]"'

    def describe(self, path: Path) -> DeployedFile:
        require_onnx()
        return read_onnx(path)

    def from_file(self, path: Path, device: torch.device, threads: Optional[int]) -> GraphNetwork:
        deployed = read_onnx(path)
        runners = {name: ort_runner(p, device, threads) for name, p in deployed.graphs.items()}
        return family_named(deployed.family, path.name).network(runners, deployed, device)

    def from_model(
        self, model: nn.Module, precision: str, device: torch.device, threads: Optional[int], calib: Optional[str] = None,
    ) -> GraphNetwork:
        """Exported (and verified) into a temporary folder; the sessions hold the graphs, the files go."""
        with tempfile.TemporaryDirectory(prefix="ctrack-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            export_onnx(model, path)
            if precision == "int8":
                quantize_onnx_int8(path, Path(tmp) / "model.int8.onnx")
                path = Path(tmp) / "model.int8.onnx"
            return self.from_file(path, device, threads)

    def export(
        self, loaded: LoadedCheckpoint, fmt: str, out: Path, precision: Optional[str], ce: Optional[bool], calib: Optional[str], opset: int,
    ) -> dict[str, Any]:
        """fp32: the verified export; int8: an fp32 export quantised, then that file compared with PyTorch fp32."""
        model = loaded.model
        if precision in (None, "fp32"):
            return export_onnx(model, out, opset=opset, ce=ce)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="ctrack-export-") as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            info = export_onnx(model, fp32, opset=opset, ce=ce)
            info.update(quantize_onnx_int8(fp32, out))
            info.pop("source")
        diffs = deployed_differences(model, self.from_file(Path(out), torch.device("cpu"), None))
        info.update(max_abs_diff=max(diffs.values()), max_abs_diff_per_output=diffs, seconds=round(time.perf_counter() - start, 3))
        return info

    def file_kind(self, info: dict[str, Any]) -> str:
        return f"ONNX opset {info['opset']}"


register_backend(OnnxRuntimeBackend())
