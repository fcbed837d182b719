"""The torch backend: PyTorch eager (or torch.compile) on CPU or CUDA, and the weights files it exports.

It is the reference every other backend is compared with. ``ctrack export`` writes its weights in
ctrack's native safetensors (with the config that builds them) or in a family's own release layout
(OSTrack's .pth.tar, ...: every layout a family's plug-in registers is a format here).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import nn

from compresstracker.deploy.backends import Backend, register_backend
from compresstracker.deploy.family import deploy_family_of
from compresstracker.deploy.family import inference_form
from compresstracker.devices import cpu_has_bf16
from compresstracker.errors import ConfigError

if TYPE_CHECKING:
    from compresstracker.checkpoints import LoadedCheckpoint

__all__ = ["DTYPES", "CastNetwork", "TorchBackend", "torch_compile"]

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

    def forward(self, *inputs: Optional[torch.Tensor]) -> dict:
        """The family's own call with every floating-point input cast (index and mask inputs as they are)."""
        out = self.model(*(t.to(self.dtype) if t is not None and t.is_floating_point() else t for t in inputs))
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
    title = "PyTorch"
    precisions = ("fp32", "bf16", "fp16")
    precision_notes = {"bf16": "weights cast once; CPUs with bf16 support", "fp16": "CUDA"}
    modules = ("torch",)
    compiles = True

    @property
    def formats(self) -> tuple[str, ...]:  # type: ignore[override]
        """ctrack's native file and every family's release layout."""
        from compresstracker.checkpoints.writers import release_layouts

        return (*sorted({layout.name for layout in release_layouts().values()}), "safetensors")

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

    def compile(self, network: nn.Module, device: torch.device) -> nn.Module:
        return torch_compile(network, device)

    def export(
        self, loaded: LoadedCheckpoint, fmt: str, out: Path, precision: Optional[str], ce: Optional[bool], calib: Optional[str], opset: int,
    ) -> dict[str, Any]:
        """The family's release layout or native safetensors (plan and provenance carried over)."""
        from compresstracker.checkpoints import release_layout, save_native, save_release

        if (out.suffix.lower() == ".safetensors") != (fmt == "safetensors"):  # what a file holds, its name says
            raise ConfigError(f"--out {out.name}: --format {fmt} " + ("files are named NAME.safetensors" if fmt == "safetensors"
                              else "writes a pickled file, which a .safetensors name would misdescribe"))
        if fmt != "safetensors":
            layout = release_layout(loaded.config)
            if layout.name != fmt:
                raise ConfigError(f"{loaded.config.name} is written in the {layout.name} layout, not {fmt}; use --format {layout.name}")
            path = save_release(loaded.model, out)
        else:
            extras = {k: loaded.metadata[k] for k in ("plan", "provenance") if k in loaded.metadata}
            path = save_native(loaded.model, loaded.config, out, **extras)
        return {"path": str(path), "arch": loaded.config.name, "size_bytes": path.stat().st_size}


register_backend(TorchBackend())
