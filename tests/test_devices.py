"""devices: the AMX and bf16 checks honour oneDNN's ISA cap, so both paths run on any machine."""
import pytest
import torch

from compresstracker import devices


@pytest.fixture
def amx_cpu(monkeypatch):
    """A CPU that reports AMX tiles and AVX-512 BF16, whatever this one has; no ISA cap set."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    for variable in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_amx_is_used_without_a_cap(amx_cpu):
    assert devices.cpu_has_amx() and devices.cpu_has_bf16()
    assert devices.fast_dtype(torch.device("cpu")) == torch.bfloat16


@pytest.mark.parametrize("cap", ["AVX512_CORE_BF16", "avx512_core_bf16", "AVX2", "AVX512_CORE_VNNI"])
def test_a_cap_below_amx_hides_it(amx_cpu, cap):
    amx_cpu.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert not devices.cpu_has_amx()
    assert devices.fast_dtype(torch.device("cpu")) is None
    assert devices.cpu_has_bf16() == (cap.upper() == "AVX512_CORE_BF16")  # AVX-512 BF16 stays under its own name


@pytest.mark.parametrize("cap", ["AVX512_CORE_AMX", "ALL", "NOT_AN_ISA"])
def test_a_cap_that_allows_amx_or_that_onednn_ignores_keeps_it(amx_cpu, cap):
    amx_cpu.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert devices.fast_dtype(torch.device("cpu")) == torch.bfloat16


def test_the_old_variable_name_caps_too(amx_cpu):
    amx_cpu.setenv("DNNL_MAX_CPU_ISA", "AVX2")
    assert not devices.cpu_has_amx() and not devices.cpu_has_bf16()


def test_no_amx_keeps_fp32(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert devices.fast_dtype(torch.device("cpu")) is None


def test_cpu_kernels_names_torch_dispatch():
    assert devices.cpu_kernels() == torch.backends.cpu.get_cpu_capability()
