"""Device selection: CPU by default, CUDA when asked for and present."""
from __future__ import annotations

import torch

from compresstracker.errors import CTrackError


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present) -> torch.device."""
    name = (name or "cpu").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CTrackError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CTrackError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CTrackError(f"{name}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif device.type != "cpu":
        raise CTrackError(f"device {name!r} is not supported; use cpu or cuda")
    return device


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (AVX-512 BF16 or AMX); without it bf16 is emulated, and slow."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def fast_dtype(device: torch.device) -> "torch.dtype | None":
    """A half precision that makes torch faster on ``device``, or None: CUDA bf16 (fp16 without it);
    CPUs with AMX bf16. AVX-512 BF16 alone runs bf16 natively but measured no faster than fp32 in
    torch here (docs/speed.md), so it keeps fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and torch.cpu._is_amx_tile_supported() else None
