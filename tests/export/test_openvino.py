"""The OpenVINO backend's tests (openvino_cases.py), run in a pytest process of their own.

A process that trained with torch and then ran OpenVINO fp32 and bf16 networks side by side
(OpenVINO 2026.4, this CPU: AVX-512 BF16 without AMX) died with SIGSEGV later, while it only
waited on a subprocess: a heap corruption (Python's allocator faulting on its own arena map).
Reproduced outside pytest in ~40 s with `ctrack train` + `ctrack bench --backend openvino
--precision fp32 --precision bf16` in-process + a torchrun child; either part alone does not
crash. A ctrack command loads one backend and exits, so a process of their own is also the
faithful setting for these tests (tests/test_examples.py runs its OpenVINO examples the same way).
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).with_name("openvino_cases.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("openvino", "nncf", "onnx")),
    reason="the openvino extra is not installed (pip install \"ctrack[openvino]\")",
)
def test_openvino_cases_in_their_own_process():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(CASES), "-q", "-p", "no:cacheprovider", "-rfEs"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b7 passed\b", summary) and not re.search(r"skipped|failed|error", summary), report
