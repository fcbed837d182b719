"""Device selection: CPU by default, CUDA when asked for and present."""
from __future__ import annotations

import os

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


# oneDNN's ISA names, lowest first (its ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA values; ALL: no cap).
ONEDNN_ISAS = (
    "SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
    "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX", "AVX10_1_512_AMX_FP16",
    "AVX512_CORE_AMX_FP16", "ALL",
)
AMX_ISA, BF16_ISA = "AVX10_1_512_AMX", "AVX512_CORE_BF16"  # the lowest names that allow AMX tiles, AVX-512 BF16


def onednn_isa_cap() -> str | None:
    """The ISA oneDNN is capped at by ``ONEDNN_MAX_CPU_ISA`` (or its old name ``DNNL_MAX_CPU_ISA``); None: no cap.

    oneDNN ignores a name it does not know, and so does this.
    """
    for variable in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = os.environ.get(variable, "").strip().upper()
        if value in ONEDNN_ISAS:
            return None if value == "ALL" else value
    return None


def isa_allowed(isa: str) -> bool:
    """Whether the ONEDNN_MAX_CPU_ISA cap (if any) lets oneDNN use ``isa`` (a name of ONEDNN_ISAS)."""
    cap = onednn_isa_cap()
    return cap is None or ONEDNN_ISAS.index(cap) >= ONEDNN_ISAS.index(isa)


def cpu_has_amx() -> bool:
    """AMX tiles on this CPU that oneDNN may use: present, and not hidden by ONEDNN_MAX_CPU_ISA
    (``AVX512_CORE_BF16`` or any lower name hides them, which makes the no-AMX path testable anywhere)."""
    return bool(torch.cpu._is_amx_tile_supported()) and isa_allowed(AMX_ISA)


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU (AVX-512 BF16 or AMX, as far as ONEDNN_MAX_CPU_ISA allows);
    without it bf16 is emulated, and slow."""
    return bool(torch.cpu._is_avx512_bf16_supported() and isa_allowed(BF16_ISA)) or cpu_has_amx()


def fast_dtype(device: torch.device) -> "torch.dtype | None":
    """A half precision that makes torch faster on ``device``, or None: CUDA bf16 (fp16 without it);
    CPUs with AMX bf16 (:func:`cpu_has_amx`). AVX-512 BF16 alone runs bf16 natively but measured no
    faster than fp32 in torch here (docs/speed.md), so it keeps fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_amx() else None


def cpu_kernels() -> str:
    """The CPU kernel family torch dispatches to here (``AVX2``, ``AVX512``, ...): fp32 sums may differ
    in the last digits between families, so runs record it beside their results."""
    return torch.backends.cpu.get_cpu_capability()
