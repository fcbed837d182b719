"""Quantisation of exported graphs: ONNX Runtime dynamic int8 (weights int8, activations per call)."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any, Iterator

from compresstracker.deploy.onnx import deployed_metadata, graph_paths, read_onnx, require_onnx, write_metadata
from compresstracker.fileio import atomic_path

__all__ = ["quantize_onnx_int8"]


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice (run pre-processing) on the root logger; keep it off the CLI."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def quantize_onnx_int8(source: str | Path, path: str | Path) -> dict[str, Any]:
    """ONNX Runtime dynamic quantisation of an exported fp32 file (every graph of it) to ``path``.

    The linear layers (MatMul/Gemm with a weight) become MatMulInteger. Convolutions stay fp32
    (ORT's ConvInteger is slower than its fp32 Conv on CPUs) and so do the activation x activation
    products of attention. The metadata is carried over (precision int8).
    """
    require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = read_onnx(source)
    paths = graph_paths(path, list(fp32.graphs))
    deployed = dataclasses.replace(fp32, path=Path(path), precision="int8", graphs=paths)
    with contextlib.ExitStack() as stack, _quiet_root_logger():
        tmps = {name: stack.enter_context(atomic_path(p)) for name, p in paths.items()}
        for name, tmp in tmps.items():
            quantize_dynamic(fp32.graphs[name], tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
            write_metadata(tmp, deployed_metadata(deployed, name))
        size = sum(tmp.stat().st_size for tmp in tmps.values())
    return {"path": str(path), "source": str(source), "precision": "int8", "size_bytes": size}
